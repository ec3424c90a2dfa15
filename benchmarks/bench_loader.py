"""Is data loading the bottleneck? Training-loader rate vs the model's rate.

Two modes.

    nice python benchmarks/bench_loader.py --paper [--configs 'mfrgn'] [--items 24]
        [--locations 8] [--workers 8] [--tflops 989] [--mfu 0.2 0.3] [--cache-format npy]

Every configs/*/*_paper.yaml on synthetic data written at the real file sizes
(cvgl_core.synth.paper_sizes), through the config's own pair dataset: loader pairs/s in one
process (one worker's rate), without and with the pre-resized cache (data.cache, warmed
first; the warm-up is the one-time cost), against the model's pairs/s on a GPU estimated
from its forward FLOPs (3x for forward + backward) at `--mfu` of `--tflops` (an H200's dense
bf16 peak by default; mfu 0.2-0.3 reproduces the issue's estimate of 26-40 s for an LRFR
University-1652 epoch on one H200). The 8-worker rate is `--workers` x one worker's: an
extrapolation that assumes that many free cores (measured on whatever this machine has).
Target: loader >= 3x the model's rate.

    nice python benchmarks/bench_loader.py [--profile cpu] [--workers N] [--root CVUSA_DIR]
        [--batches 40] [--model convnext_atto] [--threads 1]

Data: a CVUSA layout at the profile's sizes: the synthetic world's, cached where the
notebooks keep it (cvgl_core.synth.ensure_dataset into data/synth/<profile>), when the
synthetic world exists, else a temporary folder of random JPEGs in the CVUSA layout at
the same sizes (--root reads a given folder, --random forces the random JPEGs).
Loader: build_dataset("cvusa", ..., "pair", augment=True) in a DataLoader with the
profile's batch size and workers. Model: a timm backbone (pretrained=False) + GeM,
shared by both views: forward + symmetric InfoNCE + backward + AdamW step on a ground
and a satellite batch of the same sizes. The two rates are measured one after the other
in this process; target loader / model >= 3.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

# this checkout's cvgl_core, not an installed one
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cvgl_core.data import build_dataset  # noqa: E402
from cvgl_core.profiles import get_profile  # noqa: E402


def write_random_cvusa(root: Path, n: int, sat: int, pano_hw: tuple[int, int]) -> None:
    rng = np.random.default_rng(0)
    lines = []
    for i in range(1, n + 1):
        s, p = f"bingmap/19/{i:07d}.jpg", f"streetview/panos/{i:07d}.jpg"
        for rel, hw in ((s, (sat, sat)), (p, pano_hw)):
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            a = rng.integers(0, 256, size=(*hw, 3), dtype=np.uint8)
            Image.fromarray(a).save(root / rel, quality=90)
        lines.append(f"{s},{p},streetview/annotations/{i:07d}.png")
    (root / "splits").mkdir(exist_ok=True)
    (root / "splits/train-19zl.csv").write_text("\n".join(lines) + "\n")
    (root / "splits/val-19zl.csv").write_text("\n".join(lines[: n // 5]) + "\n")


def make_data(args, prof, tmp: Path) -> tuple[Path, str]:
    if args.root:
        return Path(args.root), "given folder"
    try:
        from cvgl_core.synth import ensure_dataset
    except ImportError:
        ensure_dataset = None
    if ensure_dataset is not None and not args.random:
        data_dir = Path(__file__).resolve().parent.parent / "data" / "synth" / prof.name
        root = ensure_dataset("cvusa", data_dir, prof.name, seed=0)
        return root, f"synthetic world (cvgl_core.synth, {root})"
    root = tmp / "cvusa"
    write_random_cvusa(root, prof.num_locations, prof.sat_size, prof.pano_hw)
    return root, f"random JPEGs in the CVUSA layout ({prof.num_locations} locations)"


def loader_rate(ds, batch_size: int, workers: int, n_batches: int) -> float:
    loader = torch.utils.data.DataLoader(
        ds,
        batch_size=batch_size,
        shuffle=True,
        drop_last=True,
        num_workers=workers,
        persistent_workers=workers > 0,
    )
    seen, t0 = 0, None
    while seen < n_batches + 1:
        for _batch in loader:
            seen += 1
            if seen == 1:  # worker start-up excluded
                t0 = time.perf_counter()
            if seen == n_batches + 1:
                break
    return n_batches / (time.perf_counter() - t0)


def model_rate(name: str, batch_size: int, ground_hw, sat_hw, n_steps: int) -> float:
    import timm

    from cvgl_core.models.pooling import GeM

    net = torch.nn.Sequential(
        timm.create_model(name, pretrained=False, num_classes=0, global_pool=""), GeM()
    )
    opt = torch.optim.AdamW(net.parameters(), lr=1e-4)
    g = torch.randn(batch_size, 3, *ground_hw)
    s = torch.randn(batch_size, 3, *sat_hw)
    target = torch.arange(batch_size)

    def step():
        q, r = net(g), net(s)
        logits = q @ r.T / 0.07
        ce = torch.nn.functional.cross_entropy
        loss = (ce(logits, target) + ce(logits.T, target)) / 2  # symmetric InfoNCE
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(2):
        step()
    t0 = time.perf_counter()
    for _ in range(n_steps):
        step()
    return n_steps / (time.perf_counter() - t0)


def item_rate(ds, n_items: int) -> float:
    """Pairs/s of `ds[i]` in this process (one loader worker's rate), items cycled."""
    ds[0]  # first-touch costs (imports, page cache) excluded
    t0 = time.perf_counter()
    for i in range(n_items):
        ds[(i + 1) % len(ds)]
    return n_items / (time.perf_counter() - t0)


def paper_main(args) -> None:
    from paper_common import gpu_step_seconds, pair_flops, paper_config, paper_configs

    from cvgl_core.data.cache import warm_cache
    from cvgl_core.training.experiment import build_datasets, build_model

    data_dir = Path(args.data)
    print(
        f"load: os.getloadavg() = {tuple(round(x, 2) for x in os.getloadavg())}, "
        f"{len(os.sched_getaffinity(0))} cpus; GPU: {args.tflops} TFLOP/s x mfu {args.mfu}"
    )
    header = (
        f"{'config':28s} {'1 worker':>9s} {'cached':>8s} {'warm-up':>8s} "
        f"{args.workers:>2d} wkrs cached {'GFLOP/pair':>10s} {'GPU pairs/s':>14s} ratio"
    )
    print(header)
    for path in paper_configs(args.configs):
        cfg = paper_config(path, data_dir, args.locations, {"data.cache": False})
        ds = build_datasets(cfg, roles=("pair",))["pair"]
        plain = item_rate(ds, args.items)
        # a fresh cache, so the warm-up (the one-time cost) is measured
        cache_dir = Path(tempfile.mkdtemp(prefix="bench_cache_", dir=data_dir))
        cfg_c = paper_config(
            path,
            data_dir,
            args.locations,
            {
                "data.cache": True,
                "data.cache_dir": str(cache_dir),
                "data.cache_format": args.cache_format,
            },
        )
        ds_c = build_datasets(cfg_c, roles=("pair",))["pair"]
        t0 = time.perf_counter()
        warm_cache(ds_c)
        warm = (time.perf_counter() - t0) / len(ds_c)
        cached = item_rate(ds_c, args.items)
        shutil.rmtree(cache_dir, ignore_errors=True)
        model = build_model(cfg, ds)
        flops = pair_flops(model, ds)
        b = cfg.data.batch_size
        gpu = [b / gpu_step_seconds(flops, b, args.tflops, m) for m in args.mfu]
        loader = args.workers * cached
        ratio = [loader / g for g in gpu]
        name = f"{path.parent.name}/{path.stem}"
        print(
            f"{name:28s} {plain:9.1f} {cached:8.1f} {1000 * warm:6.0f}ms {loader:15.1f} "
            f"{flops / 1e9:10.1f} {gpu[1]:6.0f}-{gpu[0]:<6.0f} "
            f"{min(ratio):.1f}-{max(ratio):.1f}",
            flush=True,
        )


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--paper", action="store_true", help="every paper config at paper sizes")
    ap.add_argument("--configs", default="*", help="--paper: paper folders to run (a glob)")
    ap.add_argument("--items", type=int, default=24, help="--paper: pairs timed per config")
    ap.add_argument("--locations", type=int, default=8, help="--paper: synthetic locations")
    ap.add_argument("--data", default=".scratch/paper_sizes", help="--paper: data folder")
    ap.add_argument("--tflops", type=float, default=989.0, help="--paper: GPU peak TFLOP/s")
    ap.add_argument("--mfu", type=float, nargs=2, default=[0.2, 0.3], help="--paper: range")
    ap.add_argument("--cache-format", default="png", help="--paper: png or npy")
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--workers", type=int, default=None, help="default: the profile's")
    ap.add_argument("--root", default=None, help="an existing CVUSA-layout folder")
    ap.add_argument("--random", action="store_true", help="random JPEGs, not the synth world")
    ap.add_argument("--batches", type=int, default=40)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--model", default=None, help="default: the profile's convnext")
    ap.add_argument("--threads", type=int, default=1, help="torch threads of the model")
    ap.add_argument("--polar", action="store_true", help="polar-transform the satellite")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.paper:
        args.workers = 8 if args.workers is None else args.workers
        return paper_main(args)
    prof = get_profile(args.profile)
    workers = prof.num_workers if args.workers is None else args.workers
    sat_hw, ground_hw = (prof.sat_size, prof.sat_size), tuple(prof.pano_hw)
    with tempfile.TemporaryDirectory() as tmp:
        root, source = make_data(args, prof, Path(tmp))
        ds = build_dataset(
            "cvusa",
            root,
            "train",
            "pair",
            sizes={"ground": ground_hw, "satellite": sat_hw},
            augment=True,
            polar=args.polar,
        )
        ref_hw = tuple(ds[0]["reference"].shape[-2:])
        lr = loader_rate(ds, prof.batch_size, workers, args.batches)
    mr = model_rate(args.model or prof.convnext, prof.batch_size, ground_hw, ref_hw, args.steps)
    print(f"profile {prof.name}: batch {prof.batch_size}, ground {ground_hw}, reference {ref_hw}")
    print(f"data: {source}, {len(ds)} training pairs")
    print(f"load: os.getloadavg() = {tuple(round(x, 2) for x in os.getloadavg())}")
    print(f"loader : {lr:7.2f} batches/s with {workers} worker(s)")
    print(
        f"model  : {mr:7.2f} batches/s ({args.model or prof.convnext} + GeM, fwd+bwd both "
        f"views, {args.threads} thread(s))"
    )
    print(f"ratio loader/model = {lr / mr:.1f} (target >= 3)")


if __name__ == "__main__":
    main()
