"""Benchmark of the synthetic world's renderers and writers (run by hand, not a test).

    nice python benchmarks/bench_render.py [--n 200] [--skip-write] [--profile cpu]

Reports (1) ground panoramas rendered per second at 128 x 512 (target >= 50/s on a
2-core machine) beside a per-column baseline (the same ray casting, one Python iteration
per panorama column) run in the same process, so the ratio is meaningful on a busy
machine; (2) satellite tiles and drone views per second; (3) the time to write every
layout at the chosen profile (target: the whole cpu set in under a minute). Wall-clock
and CPU seconds are both reported: on a shared machine CPU time is what an idle one
would take. numpy runs single-threaded here (OMP/OPENBLAS threads = 1).
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from cvgl_core.synth import (  # noqa: E402
    drone_view,
    make_world,
    panorama,
    satellite_tile,
    write_dataset,
)
from cvgl_core.synth.io import rng_for, sample_sites  # noqa: E402
from cvgl_core.synth.render import EYE_M, _heights  # noqa: E402


def timed(fn, items):
    w0, c0 = time.perf_counter(), time.process_time()
    for it in items:
        fn(it)
    return time.perf_counter() - w0, time.process_time() - c0


def per_column_baseline(world, pos, hw, steps=128, max_dist=160.0):
    """The same skyline ray cast, but one Python iteration per column and per row."""
    H, W = hw
    d = np.geomspace(0.3, max_dist, steps)
    elev = np.deg2rad(45 - (np.arange(H) + 0.5) * 90 / H)
    out = np.zeros((H, W, 3), np.float32)
    for j in range(W):
        az = np.deg2rad(180 + 360 * j / W)
        f, h = _heights(
            world,
            pos[0] - np.cos(az) * d / world.mpp,
            pos[1] + np.sin(az) * d / world.mpp,
        )
        sky = np.maximum.accumulate((h - EYE_M) / d)
        for i in range(H):
            s = int(np.searchsorted(sky, np.tan(elev[i])))
            out[i, j] = world.albedo.reshape(-1, 3)[f[min(s, steps - 1)]]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200, help="panoramas to render")
    ap.add_argument("--profile", default="cpu", help="profile for the layout write times")
    ap.add_argument("--skip-write", action="store_true", help="only time the renderers")
    args = ap.parse_args()

    world = make_world("suburb", 384, seed=0)
    sites = sample_sites(world, args.n, rng_for(0, "bench"), 5.0, 20.0)
    print(f"world: 384 m suburb, {len(sites)} camera sites; numpy threads = 1")
    panorama(world, sites[0], (128, 512))  # warm-up (world table, caches)
    wall, cpu = timed(lambda p: panorama(world, p, (128, 512)), sites)
    n = len(sites)
    print(f"panorama 128x512: {n / wall:.1f}/s wall, {n / cpu:.1f}/s CPU ({n} renders)")
    nb = 3
    bwall, bcpu = timed(lambda p: per_column_baseline(world, p, (128, 512)), sites[:nb])
    print(
        f"per-column baseline: {nb / bwall:.2f}/s wall, {nb / bcpu:.2f}/s CPU -> vectorised is "
        f"{(n / cpu) / (nb / bcpu):.0f}x faster (CPU time)"
    )
    wall, cpu = timed(lambda p: satellite_tile(world, p, 192, 96), sites)
    print(f"satellite tile 192 px -> 96 px: {n / wall:.1f}/s wall, {n / cpu:.1f}/s CPU")
    m = min(n, 60)
    wall, cpu = timed(lambda p: drone_view(world, p, 40.0, 30.0, 40.0, 96), sites[:m])
    print(f"drone view 96 px: {m / wall:.1f}/s wall, {m / cpu:.1f}/s CPU")
    if args.skip_write:
        return
    print(f"\nwriting every layout at profile {args.profile}:")
    tot_w = tot_c = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for layout in ("cvusa", "cvact", "vigor", "university1652", "sues200"):
            w0, c0 = time.perf_counter(), time.process_time()
            counts = write_dataset(layout, f"{tmp}/{layout}", args.profile, seed=0)
            dw, dc = time.perf_counter() - w0, time.process_time() - c0
            tot_w, tot_c = tot_w + dw, tot_c + dc
            print(f"  {layout:<15} {dw:6.1f} s wall {dc:6.1f} s CPU  {sum(counts.values())} images")
    print(f"  {'total':<15} {tot_w:6.1f} s wall {tot_c:6.1f} s CPU (one process)")
    with tempfile.TemporaryDirectory() as tmp:
        w0 = time.perf_counter()
        write_dataset("all", f"{tmp}/all", args.profile, seed=0, workers=2)
        print(f"  all, --workers 2: {time.perf_counter() - w0:.1f} s wall")


if __name__ == "__main__":
    main()
