"""Is data loading the bottleneck? Training-loader rate vs the baseline model's rate.

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
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from cvgl_core.data import build_dataset
from cvgl_core.profiles import get_profile


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


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
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
