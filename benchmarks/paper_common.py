"""Shared by bench_loader.py and gpu_check.py: a paper config on synthetic data written at the
real file sizes (cvgl_core.synth.paper_sizes), its pair dataset and model, FLOPs per pair.

The data is written once per layout under --data (default .scratch/paper_sizes) and reused.
"""

from __future__ import annotations

import sys
from fnmatch import fnmatch
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cvgl_core.config import load_config  # noqa: E402

# The GPU each paper trained on, as its text states (papers in the design's papers/ folder):
# name, memory in GB (None: not stated; MFRGN says "Titan V GPUs", 12 GB each, count unstated).
PAPER_GPUS = {
    "awm": ("TITAN RTX", 24),  # Sec. 4.1 "a TITAN RTX GPU with 24 GB of memory"
    "lrfr": ("RTX A6000", 48),  # Sec. III-A "NVIDIA RTX A6000 for training"
    "mfrgn": ("Titan V (several)", 12),  # Sec. 4.1 "trained on Nvidia Titan V GPUs"
    "frg": (None, None),  # not stated
    "glqinet": (None, None),  # not stated
}

H200_BF16_TFLOPS = 989.0  # dense bf16 peak (NVIDIA H200 SXM datasheet)


def paper_configs(pattern: str = "*") -> list[Path]:
    """configs/*/*_paper.yaml whose folder ("awm") or folder/stem ("awm/cvusa_paper")
    matches the glob `pattern`."""
    files = sorted((ROOT / "configs").glob("*/*_paper.yaml"))
    keep = [
        f
        for f in files
        if fnmatch(f.parent.name, pattern) or fnmatch(f"{f.parent.name}/{f.stem}", pattern)
    ]
    if not keep:
        raise FileNotFoundError(f"no paper config matches {pattern!r} under {ROOT / 'configs'}")
    return keep


def paper_config(path, data_dir: Path, locations: int = 8, overrides: dict | None = None):
    """The config at `path` on its layout written at paper sizes (written once), pretrained
    off (no weights needed), progress off."""
    from cvgl_core.synth.api import MANIFEST
    from cvgl_core.synth.paper_sizes import write_paper_sized

    cfg = load_config(path)
    layout = cfg.data.dataset
    root = Path(data_dir) / f"{layout}_{locations}"
    if not (root / MANIFEST).is_file():
        write_paper_sized(
            layout,
            root,
            num_locations=locations,
            num_buildings=max(2, locations // 2),
            overwrite=True,
        )
    base = {
        "data.root": str(root),
        "model.kwargs.pretrained": False,
        "train.progress": False,
    }
    return load_config(path, overrides={**base, **(overrides or {})})


def pair_flops(model: torch.nn.Module, pair_ds) -> int:
    """Forward FLOPs of one training pair (query + reference) at the dataset's sizes."""
    from cvgl_core.models.flops import count_flops
    from cvgl_core.training.trainer import PairForward

    item = pair_ds[0]
    pair = PairForward(model, pair_ds.query_view, pair_ds.reference_view)
    q, r = item["query"][None], item["reference"][None]
    # batch 2 (BatchNorm in train mode needs more than one value per channel), halved
    return count_flops(pair, q.expand(2, -1, -1, -1), r.expand(2, -1, -1, -1)) // 2


def gpu_step_seconds(flops_pair: int, batch: int, tflops: float, mfu: float) -> float:
    """Estimated optimizer-step time: forward + backward = 3 x forward FLOPs, at `mfu` of
    the GPU's peak (what a real run reaches: typically 0.25-0.4 for convnets in bf16)."""
    return 3 * flops_pair * batch / (tflops * 1e12 * mfu)
