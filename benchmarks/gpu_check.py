"""GPU check: each paper config trains a fixed number of steps; images/s, peak memory against
the paper's GPU, and the loader's share of the step time.

    python benchmarks/gpu_check.py [--configs '*'] [--steps 30] [--workers auto] [--cache]
    python benchmarks/gpu_check.py --device cpu --steps 1 --batch 2 --workers 0   # exercised

Data: synthetic, written at the real file sizes (cvgl_core.synth.paper_sizes) under --data,
items repeated so the config's batch fills `--steps` steps (throughput does not depend on
which pairs are drawn; the sampler is a plain shuffle). Model: the config's, pretrained off
(weights do not change speed), the config's AMP and channels_last on CUDA, cudnn benchmark.
The first steps (cudnn autotuning, worker start-up) are included: use --steps >= 30.

Columns: images/s (query + reference images over the whole fit), peak GPU memory (GB,
torch.cuda.max_memory_allocated) beside the memory of the GPU the paper trained on
(paper_common.PAPER_GPUS), and data wait: the share of the wall time the training loop
spent waiting for the next batch (0 = the loader keeps up). On CPU memory is not measured.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from paper_common import PAPER_GPUS, paper_config, paper_configs


class Repeated(torch.utils.data.Dataset):
    """`pairs` cycled to `n` items, with the attributes the Trainer reads."""

    def __init__(self, pairs, n: int):
        self.pairs, self.n = pairs, max(n, len(pairs))
        self.query_view, self.reference_view = pairs.query_view, pairs.reference_view
        self.labels = [pairs.labels[i % len(pairs)] for i in range(self.n)]

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict:
        return self.pairs[i % len(self.pairs)]


def check(path: Path, args) -> dict:
    from cvgl_core.training.experiment import build_datasets, build_loss, build_model
    from cvgl_core.training.trainer import Trainer

    with tempfile.TemporaryDirectory() as out:
        overrides = {
            "train.device": args.device,
            "train.epochs": 1,
            "train.max_steps": args.steps,
            "eval.every": 0,
            "data.sampler": "shuffle",
            "data.num_workers": args.workers,
            "data.cache": args.cache,
            "data.cache_dir": str(Path(args.data) / "cache"),
            "output.dir": out,
        }
        if args.batch:
            overrides["data.batch_size"] = args.batch
        cfg = paper_config(path, Path(args.data), args.locations, overrides)
        pairs = build_datasets(cfg, roles=("pair",))["pair"]
        model, loss = build_model(cfg, pairs), build_loss(cfg)
        data = Repeated(pairs, cfg.data.batch_size * args.steps)
        trainer = Trainer(model, loss, data, cfg)
        cuda = trainer.cuda
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        row = trainer.fit()[-1]
        wall = time.perf_counter() - t0
    paper = path.parent.name
    gpu, gb = PAPER_GPUS.get(paper, (None, None))
    peak = torch.cuda.max_memory_allocated() / 1e9 if cuda else None
    return {
        "config": f"{paper}/{path.stem}",
        "batch": cfg.data.batch_size,
        "steps": row["step"],
        "images_per_s": row["images_per_s"],
        "data_wait_share": row["data_wait_share"],
        "peak_gb": peak,
        "paper_gpu": f"{gpu} {gb} GB" if gpu else "not stated",
        "fits_paper_gpu": None if peak is None or gb is None else peak <= gb,
        "wall_s": wall,
    }


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", default="*", help="paper folders (a glob: awm, 'mfrgn', *)")
    ap.add_argument("--device", default="cuda", help="cuda | cpu")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--batch", type=int, default=None, help="default: the config's")
    ap.add_argument("--workers", default="auto", help="loader workers (or auto)")
    ap.add_argument("--cache", action="store_true", help="use the pre-resized cache")
    ap.add_argument("--locations", type=int, default=8)
    ap.add_argument("--data", default=".scratch/paper_sizes")
    args = ap.parse_args(argv)
    args.workers = int(args.workers) if str(args.workers).isdigit() else args.workers
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA device: run with --device cpu (tiny steps) to exercise it")
    rows = []
    print(f"{'config':28s} {'batch':>5s} {'img/s':>8s} {'peak GB':>8s} {'paper GPU':>22s} wait")
    for path in paper_configs(args.configs):
        r = check(path, args)
        peak = f"{r['peak_gb']:8.1f}" if r["peak_gb"] is not None else f"{'n/a':>8s}"
        print(
            f"{r['config']:28s} {r['batch']:5d} {r['images_per_s']:8.1f} {peak} "
            f"{r['paper_gpu']:>22s} {100 * r['data_wait_share']:3.0f}%",
            flush=True,
        )
        rows.append(r)
    return rows


if __name__ == "__main__":
    main()
