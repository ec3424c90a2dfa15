"""What does one training step of each paper's model cost at a profile's sizes?

For budgeting notebooks (`make results` must stay under 30 minutes on 2 cores): times a
forward + backward of a batch of pairs for the baseline and every paper model, built as a
cpu-profile notebook would build it, and reports seconds per step, the ratio to the
baseline measured in the same process, and the implied seconds per epoch.

    PYTHONPATH=. python benchmarks/bench_models.py [--profile cpu] [--batch 32] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from cvgl_core.models import create_model
from cvgl_core.profiles import get_profile


def specs(p) -> dict[str, tuple[dict, tuple, tuple, tuple[str, str]]]:
    """name -> (create_model kwargs, query size, reference size, (query view, reference view))."""
    sat, pano, drone = (p.sat_size, p.sat_size), tuple(p.pano_hw), (p.drone_size, p.drone_size)
    awm_ground = (pano[0], int(90 / 360 * pano[1]))  # a 90-degree crop of the panorama
    cells = max(1, (sat[0] // 16) * (sat[1] // 16))
    return {
        "baseline (cvusa)": (
            dict(name="baseline", backbone=p.convnext), pano, sat, ("ground", "satellite"),
        ),
        "lrfr gsra+salad (cvusa, polar)": (
            dict(name="lrfr", backbone=p.convnext, input_size=pano, num_clusters=4, cluster_dim=16),
            pano, pano, ("ground", "satellite"),
        ),
        "lrfr gsra+salad (univ1652)": (
            # shared weights + size-tied GSRA: drone images are resized to the tile size
            dict(name="lrfr", backbone=p.convnext, input_size=sat,
                 num_clusters=max(2, cells // 2), cluster_dim=16),
            sat, sat, ("drone", "satellite"),
        ),
        "awm 90deg (cvusa, polar)": (
            dict(name="awm", fov=90, satellite_size=pano),
            awm_ground, pano, ("ground", "satellite"),
        ),
        "mfrgn (cvusa)": (
            dict(name="mfrgn", backbone=p.convnext, ground_hw=pano, satellite_hw=sat,
                 d_model=64, ffn_dim=256,
                 pps_ground=((1, 1), (2, 4)), pps_satellite=((1, 1), (2, 2))),
            pano, sat, ("ground", "satellite"),
        ),
        "frg mc_gra+mixvpr (cvusa, polar)": (
            dict(name="frg", backbone=p.resnet_deep, input_size=pano,
                 mixvpr_kwargs=dict(out_channels=128, out_rows=2)),
            pano, pano, ("ground", "satellite"),
        ),
        "glqinet (univ1652)": (
            dict(name="glqinet", num_classes=p.num_buildings, backbone=p.convnext, head_dim=128),
            drone, sat, ("drone", "satellite"),
        ),
    }  # fmt: skip


def step_seconds(model, q, r, views, repeats: int) -> float:
    model.train()
    times = []
    for i in range(repeats + 1):
        t = time.perf_counter()
        out_q, out_r = model(q, view=views[0]), model(r, view=views[1])
        if isinstance(out_q, dict):  # GLQINet's training output: logits and features per head
            loss = sum(f.pow(2).mean() for f in out_q["features"] + out_r["features"])
        else:
            loss = (out_q * out_r).sum()
        model.zero_grad(set_to_none=True)
        loss.backward()
        if i:  # the first step warms allocators and oneDNN kernels
            times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--batch", type=int, default=None, help="pairs per step (profile's)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    p = get_profile(args.profile)
    batch = args.batch or p.batch_size
    pairs = int(0.8 * p.num_locations)  # the CVUSA-like training split
    print(f"profile {p.name}, batch {batch} pairs, {args.threads} thread(s), "
          f"load {os.getloadavg()[0]:.2f}")  # fmt: skip
    print(f"{'model':36s} {'s/step':>8s} {'x baseline':>10s} {'s/epoch*':>9s}")
    base = None
    for name, (kw, qs, rs, views) in specs(p).items():
        torch.manual_seed(0)
        model = create_model(kw.pop("name"), **kw)
        q, r = torch.randn(batch, 3, *qs), torch.randn(batch, 3, *rs)
        s = step_seconds(model, q, r, views, args.repeats)
        base = base or s
        print(f"{name:36s} {s:8.3f} {s / base:10.2f} {s * pairs / batch:9.1f}")
    print(f"* epoch = {pairs} pairs (the cpu CVUSA-like training split), forward + backward only")


if __name__ == "__main__":
    main()
