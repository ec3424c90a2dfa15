"""Polar transform throughput: N aerial images S x S -> H x W in one batched op.

    nice python benchmarks/bench_polar.py [--n 1000] [--size 256] [--out 128 512]
        [--threads 1] [--device cpu] [--repeats 3]

Target (issue 3): >= 500 images/s for 1,000 images 256x256 -> 128x512 on a 2-core CPU.
Reports the best of --repeats timed runs (one warm-up first) and, as the in-process
baseline, the same images transformed one by one.
"""

from __future__ import annotations

import argparse
import time

import torch

from cvgl_core.data.polar import polar_transform


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def bench(fn, device, repeats: int) -> float:
    fn()  # warm-up: grid cache, allocator
    _sync(device)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        _sync(device)
        best = min(best, time.perf_counter() - t0)
    return best


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--out", type=int, nargs=2, default=(128, 512))
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 on a shared box)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    out_hw = tuple(args.out)
    x = torch.rand(args.n, 3, args.size, args.size, device=device)
    batched = bench(lambda: polar_transform(x, out_hw), device, args.repeats)
    per_image = bench(lambda: [polar_transform(xi, out_hw) for xi in x], device, 1)
    print(
        f"polar {args.n} x {args.size}x{args.size} -> {out_hw[0]}x{out_hw[1]} on {device} "
        f"({torch.get_num_threads()} thread(s))"
    )
    print(f"  batched op  : {args.n / batched:8.1f} images/s ({batched:.3f} s)")
    print(f"  one by one  : {args.n / per_image:8.1f} images/s ({per_image:.3f} s)")
    print(f"  target >= 500 images/s: {'met' if args.n / batched >= 500 else 'NOT met'}")


if __name__ == "__main__":
    main()
