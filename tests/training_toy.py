"""A tiny in-memory pair dataset and model for trainer tests, and a script that trains them.

    python tests/training_toy.py --out DIR [--epochs 3] [--kill-at-item K] [key=value ...]
    torchrun --nproc_per_node=2 tests/training_toy.py --out DIR ...

The dataset draws augmentation noise from the global torch RNG (so exact resume must restore
it) and can SIGKILL its own process when its K-th item is fetched (a crash mid-epoch).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


class ToyPairs(torch.utils.data.Dataset):
    query_view, reference_view = "ground", "satellite"

    def __init__(
        self,
        n: int = 24,
        size: int = 8,
        noise: float = 0.3,
        seed: int = 0,
        kill_at_item: int | None = None,
        nan_after_item: int | None = None,
        kill_after_file: str | Path | None = None,
    ):
        g = torch.Generator().manual_seed(seed)
        self.base = torch.randn(n, 3, size, size, generator=g)
        self.mix = torch.randn(3, 3, generator=g)
        self.noise = noise
        self.kill_at_item, self.nan_after_item = kill_at_item, nan_after_item
        self.kill_after_file = kill_after_file
        self.fetched = 0

    def __len__(self) -> int:
        return len(self.base)

    def reference(self, i: int) -> torch.Tensor:
        # the "other view": colours mixed, image flipped
        return torch.einsum("cd,dhw->chw", self.mix, self.base[i]).flip(-1)

    def __getitem__(self, i: int) -> dict:
        self.fetched += 1
        if self.kill_at_item is not None and self.fetched == self.kill_at_item:
            # in a loader worker: wait until the trainer has checkpointed, so the crash
            # falls after a mid-epoch checkpoint however the prefetching is timed
            for _ in range(300):
                if self.kill_after_file is None or Path(self.kill_after_file).exists():
                    break
                time.sleep(0.1)
            os.kill(os.getpid(), signal.SIGKILL)
        q = self.base[i] + self.noise * torch.randn(self.base[i].shape)
        r = self.reference(i) + self.noise * torch.randn(self.base[i].shape)
        if self.nan_after_item is not None and self.fetched > self.nan_after_item:
            q = q * float("nan")
        return {"query": q, "reference": r, "label": i, "index": i}


class ToyModel(nn.Module):
    """Two small conv branches (no BatchNorm, so DDP and one process normalise alike)."""

    def __init__(self, width: int = 8, dropout: float = 0.1):
        super().__init__()
        self.backbone = nn.ModuleDict(
            {v: nn.Conv2d(3, width, 3, padding=1) for v in ("ground", "satellite")}
        )
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(width, width)

    def forward(self, x, view="ground"):
        f = F.relu(self.backbone[view](x)).mean(dim=(2, 3))  # (B, C)
        return F.normalize(self.head(self.drop(f)), dim=1)


def toy_evaluate(dataset: ToyPairs):
    """R@1 / R@5 of clean queries against clean references (percent)."""

    def evaluate(model) -> dict:
        q = model(dataset.base, view="ground")
        r = model(
            torch.stack([dataset.reference(i) for i in range(len(dataset))]), view="satellite"
        )
        rank = (q @ r.T).argsort(dim=1, descending=True)
        hit = rank == torch.arange(len(dataset))[:, None]
        return {
            "R@1": 100 * hit[:, :1].any(1).float().mean().item(),
            "R@5": 100 * hit[:, :5].any(1).float().mean().item(),
        }

    return evaluate


class ToyViews(torch.utils.data.Dataset):
    """One clean view of ToyPairs as an evaluation set ({"image", "label"} items)."""

    def __init__(self, pairs: ToyPairs, view: str, n: int | None = None):
        self.pairs, self.view = pairs, view
        self.labels = list(range(n if n is not None else len(pairs)))

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict:
        x = self.pairs.base[i] if self.view == "ground" else self.pairs.reference(i)
        return {"image": x, "label": i, "index": i}


def retrieval_evaluate(dataset: ToyPairs):
    """The library's evaluation (evaluate_retrieval), sharded over ranks under torchrun:
    23 queries (uneven shards) against 24 references."""
    from cvgl_core.evaluation import evaluate_retrieval
    from cvgl_core.training import distributed as D

    queries, references = ToyViews(dataset, "ground", 23), ToyViews(dataset, "satellite")

    def evaluate(model) -> dict:
        return evaluate_retrieval(
            model,
            queries,
            references,
            batch_size=5,
            progress=False,
            distributed=D.get_world_size() > 1,
        )

    evaluate.collective = True
    return evaluate


def toy_config(out: str | Path, epochs: int = 3, overrides: list[str] | None = None):
    from cvgl_core.config import config_from_dict

    base = {
        "name": "toy",
        "data": {"batch_size": 8, "num_workers": 0},
        "loss": {"name": "infonce"},
        "optim": {"name": "adamw", "lr": 3e-2, "backbone_lr": 2e-2},
        "schedule": {"name": "cosine", "warmup_epochs": 0.5},
        "train": {
            "epochs": epochs,
            "seed": 0,
            "device": "cpu",
            "progress": False,
            "grad_clip": 5.0,
        },
        "output": {"dir": str(out)},
    }
    return config_from_dict(base, overrides or [])


def run(
    out,
    epochs=3,
    kill_at_item=None,
    nan_after_item=None,
    noise=0.3,
    dropout=0.1,
    overrides=None,
    kill_after_file=None,
    retrieval=False,
):
    from cvgl_core.losses import create_loss
    from cvgl_core.training.trainer import Trainer
    from cvgl_core.utils import seed_everything

    cfg = toy_config(out, epochs, overrides)
    seed_everything(cfg.train.seed)
    model = ToyModel(dropout=dropout)
    loss = create_loss(cfg.loss.name, **cfg.loss.kwargs)
    ds = ToyPairs(
        noise=noise,
        kill_at_item=kill_at_item,
        nan_after_item=nan_after_item,
        kill_after_file=kill_after_file,
    )
    evaluate = retrieval_evaluate(ds) if retrieval else toy_evaluate(ds)
    trainer = Trainer(model, loss, ds, cfg, evaluate=evaluate)
    return trainer.fit()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--kill-at-item", type=int, default=None)
    ap.add_argument("--noise", type=float, default=0.3)
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--retrieval", action="store_true", help="evaluate with evaluate_retrieval")
    ap.add_argument("overrides", nargs="*")
    a = ap.parse_args()
    torch.set_num_threads(1)
    run(
        a.out,
        a.epochs,
        a.kill_at_item,
        noise=a.noise,
        dropout=a.dropout,
        overrides=a.overrides,
        retrieval=a.retrieval,
    )
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()
