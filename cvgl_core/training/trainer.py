"""The trainer every model of the study plugs into.

    trainer = Trainer(model, loss, pair_dataset, cfg, evaluate=lambda m: {...})
    history = trainer.fit()

One step: the query and reference batches go through `model(x, view=...)` (under autocast on
CUDA), the loss sees both outputs and the labels, the optimizer updates the model's and the
loss's parameters. Per epoch: evaluation (rank 0), metrics.csv and last.pt (and best.pt) in
the output folder, written atomically by rank 0 only.

Exact resume: a checkpoint holds model, optimizer, scheduler, GradScaler, loss parameters,
the RNG states of python/numpy/torch/CUDA and of the data-loader generator of every rank,
epoch, step, best metric, history and config. The batch order is a function of
(seed, epoch), so restarting after the last completed epoch replays the interrupted epoch
bit for bit on CPU. Checkpoints hold only tensors, numbers, strings, lists and dicts and load
with `torch.load(weights_only=True)`.
"""

from __future__ import annotations

import csv
import io
import random
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from cvgl_core.training import distributed as D
from cvgl_core.training.optim import build_optimizer
from cvgl_core.training.sampling import DistributedBatchSampler, ShuffleBatchSampler
from cvgl_core.training.schedules import build_scheduler
from cvgl_core.utils import atomic_write_bytes, atomic_write_text

CHECKPOINT_FORMAT = "cvgl_core.trainer/1"


class NonFiniteLossError(ValueError):
    """The loss became NaN/inf; the message names the step. The last checkpoint is untouched."""


class PairForward(nn.Module):
    """One forward for both views, so that DDP sees one forward per backward."""

    def __init__(self, model: nn.Module, query_view: str, reference_view: str):
        super().__init__()
        self.model = model
        self.query_view, self.reference_view = query_view, reference_view

    def forward(self, q: torch.Tensor, r: torch.Tensor):
        return self.model(q, view=self.query_view), self.model(r, view=self.reference_view)


def _to_float(x):
    """Loss inputs in float32: the losses' exp/log are computed outside autocast."""
    if isinstance(x, torch.Tensor):
        return x.float() if x.is_floating_point() else x
    if isinstance(x, dict):
        return {k: _to_float(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x)(_to_float(v) for v in x)
    return x


def load_model_state(model: nn.Module, state: dict, source: str) -> None:
    """load_state_dict that names the mismatched keys (missing, unexpected, wrong shape)."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [
        f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}"
        for k in own
        if k in state and tuple(state[k].shape) != tuple(own[k].shape)
    ]
    if missing or unexpected or shapes:
        parts = []
        for label, keys in (("missing", missing), ("unexpected", unexpected), ("shape", shapes)):
            if keys:
                more = f" (+{len(keys) - 8} more)" if len(keys) > 8 else ""
                parts.append(f"{label} keys: {', '.join(keys[:8])}{more}")
        raise KeyError(
            f"{source} does not match the model ({type(model).__name__}): " + "; ".join(parts)
        )
    model.load_state_dict(state)


def load_checkpoint(path: str | Path, map_location="cpu") -> dict:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    ckpt = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(ckpt, dict) or "model" not in ckpt:
        raise ValueError(f"{path} is not a cvgl_core checkpoint (no 'model' entry)")
    return ckpt


def _rng_state(loader_gen: torch.Generator) -> dict:
    py = random.getstate()
    npst = np.random.get_state()
    state = {
        "python": [py[0], list(py[1]), py[2]],
        "numpy": {
            "key": torch.from_numpy(npst[1].astype(np.int64)),
            "pos": int(npst[2]),
            "has_gauss": int(npst[3]),
            "gauss": float(npst[4]),
        },
        "torch": torch.get_rng_state(),
        "loader": loader_gen.get_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict, loader_gen: torch.Generator) -> None:
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = state["numpy"]
    np.random.set_state(
        ("MT19937", n["key"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"])
    )
    torch.set_rng_state(state["torch"])
    loader_gen.set_state(state["loader"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class Trainer:
    """Train `model` with `loss` on a pair dataset under `cfg` (a cvgl_core.config.Config).

    evaluate: optional callable(model) -> dict of metrics (percent), run on rank 0 in eval
        mode every `cfg.eval.every` epochs and after the last one.
    batch_sampler: optional sampler of global batches (with set_epoch); default: a seeded
        shuffle of the whole dataset, last incomplete batch dropped.
    """

    def __init__(
        self,
        model: nn.Module,
        loss: nn.Module,
        dataset,
        cfg,
        *,
        evaluate: Callable[[nn.Module], dict] | None = None,
        batch_sampler=None,
    ):
        self.cfg = cfg
        self.device = D.init_from_env(cfg.train.device)
        self.rank, self.world = D.get_rank(), D.get_world_size()
        self.cuda = self.device.type == "cuda"
        self.model = model.to(self.device)
        if self.cuda and cfg.train.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.loss = loss.to(self.device)
        if getattr(model, "pairwise", False):
            self._use_pairwise_similarity(model)
        self.dataset = dataset
        self.evaluate = evaluate
        self.out_dir = cfg.output_dir
        self.epochs = int(cfg.train.epochs)
        if cfg.train.grad_clip_mode not in ("norm", "value"):
            raise ValueError(
                f"train.grad_clip_mode must be 'norm' or 'value', got {cfg.train.grad_clip_mode!r}"
            )

        # data: the same global batches whatever the number of ranks
        sampler = batch_sampler or ShuffleBatchSampler(
            len(dataset), cfg.data.batch_size, cfg.train.seed
        )
        if self.world > 1:
            sampler = DistributedBatchSampler(sampler, self.rank, self.world)
        self.sampler = sampler
        self.loader_gen = torch.Generator().manual_seed(cfg.train.seed + self.rank)
        workers = cfg.data.num_workers or 0
        self.loader = torch.utils.data.DataLoader(
            dataset,
            batch_sampler=sampler,
            num_workers=workers,
            pin_memory=self.cuda,
            generator=self.loader_gen,
            persistent_workers=False,
        )
        self.steps_per_epoch = len(sampler)
        if self.steps_per_epoch == 0:
            raise ValueError(
                f"no training batch: {len(dataset)} pairs, batch {cfg.data.batch_size}"
            )

        self.pair = PairForward(self.model, dataset.query_view, dataset.reference_view)
        if self.world > 1:
            if cfg.train.sync_bn:
                self.pair = nn.SyncBatchNorm.convert_sync_batchnorm(self.pair)
            self.pair = nn.parallel.DistributedDataParallel(
                self.pair, device_ids=[self.device.index] if self.cuda else None
            )
        self.optimizer = build_optimizer(self.model, self.loss, cfg.optim)
        self.scheduler = build_scheduler(
            self.optimizer, cfg.schedule, self.steps_per_epoch, self.epochs
        )
        amp = cfg.train.amp.lower()
        if amp not in ("none", "bf16", "fp16"):
            raise ValueError(f"train.amp must be none, bf16 or fp16, got {cfg.train.amp!r}")
        self.amp_dtype = (
            {"bf16": torch.bfloat16, "fp16": torch.float16}.get(amp) if self.cuda else None
        )
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype is torch.float16)

        self.epoch = 0  # completed epochs
        self.step = 0  # optimizer steps
        self.best_metric: float | None = None
        self.best_epoch: int | None = None
        self.history: list[dict] = []
        self._resumed = False
        last = self.out_dir / "last.pt"
        if last.exists():
            if not cfg.train.resume:
                raise FileExistsError(
                    f"{last} exists; set train.resume=true to continue it, or another output.dir"
                )
            self.load(last)

    def _use_pairwise_similarity(self, model: nn.Module) -> None:
        """Pairwise models (packed records, e.g. AWM without FCA) are scored by their own
        `similarity`: hand it to the loss once. Records cannot be gathered across ranks."""
        if not hasattr(self.loss, "similarity"):
            raise ValueError(
                f"{type(model).__name__} is pairwise (model.similarity scores its packed "
                f"outputs) but loss {type(self.loss).__name__} takes no similarity; use "
                "infonce, soft_triplet, soft_triplet_hard or semi_soft_triplet"
            )
        if self.world > 1 and getattr(self.loss, "gather", False):
            raise ValueError(
                f"{type(model).__name__} is pairwise: its packed records cannot be gathered "
                f"across {self.world} ranks; train on one process or set the loss's gather=False"
            )
        self.loss.similarity = model.similarity

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict:
        rngs = [None] * self.world
        mine = _rng_state(self.loader_gen)
        if self.world > 1:
            torch.distributed.all_gather_object(rngs, mine)
        else:
            rngs = [mine]
        return {
            "format": CHECKPOINT_FORMAT,
            "model": self.model.state_dict(),
            "loss": self.loss.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "rng": rngs,
            "world_size": self.world,
            "epoch": self.epoch,
            "step": self.step,
            "best_metric": self.best_metric,
            "best_epoch": self.best_epoch,
            "history": self.history,
            "config": self.cfg.to_dict(),
        }

    def load(self, path: str | Path) -> None:
        ckpt = load_checkpoint(path, map_location=self.device)
        load_model_state(self.model, ckpt["model"], str(path))
        self.loss.load_state_dict(ckpt["loss"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scheduler.load_state_dict(ckpt["scheduler"])
        self.scaler.load_state_dict(ckpt["scaler"])
        self.epoch, self.step = ckpt["epoch"], ckpt["step"]
        self.best_metric, self.best_epoch = ckpt["best_metric"], ckpt["best_epoch"]
        self.history = list(ckpt["history"])
        # With another number of ranks the batch order is kept but the random streams are new.
        if ckpt.get("world_size") == self.world:
            _set_rng_state(ckpt["rng"][self.rank], self.loader_gen)
        self._resumed = True

    def _save(self) -> None:
        state = self.state_dict()  # collective under DDP: every rank calls it
        if D.is_main():
            buf = io.BytesIO()
            torch.save(state, buf)
            data = buf.getvalue()
            atomic_write_bytes(self.out_dir / "last.pt", data)
            if self.best_epoch == self.epoch:
                atomic_write_bytes(self.out_dir / "best.pt", data)
            self._write_csv()
        D.barrier()

    def _write_csv(self) -> None:
        keys: list[str] = []
        for row in self.history:
            keys += [k for k in row if k not in keys]
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=keys)
        w.writeheader()
        w.writerows(self.history)
        atomic_write_text(self.out_dir / "metrics.csv", buf.getvalue())

    # ------------------------------------------------------------------ training
    def _batch_to(self, batch: dict):
        q = batch["query"].to(self.device, non_blocking=True)
        r = batch["reference"].to(self.device, non_blocking=True)
        if self.cuda and self.cfg.train.channels_last:
            q = q.contiguous(memory_format=torch.channels_last)
            r = r.contiguous(memory_format=torch.channels_last)
        return q, r, torch.as_tensor(batch["label"]).to(self.device)

    def _check_finite(self, loss: torch.Tensor, batch_idx: int) -> None:
        bad = torch.tensor(
            [0.0 if torch.isfinite(loss.detach()).all() else 1.0], device=self.device
        )
        if self.world > 1:
            torch.distributed.all_reduce(bad)
        if bad.item():
            raise NonFiniteLossError(
                f"non-finite loss ({loss.item()}) at step {self.step} (epoch {self.epoch + 1}, "
                f"batch {batch_idx}); training stopped, last good checkpoint left intact: "
                f"{self.out_dir / 'last.pt'}"
            )

    def train_epoch(self) -> dict:
        self.pair.train()
        self.loss.train()
        self.sampler.set_epoch(self.epoch)
        params = [p for g in self.optimizer.param_groups for p in g["params"]]
        loss_sum, n_batches, n_images = torch.zeros((), dtype=torch.float64), 0, 0
        bar = None
        if self.cfg.train.progress and D.is_main():
            from tqdm.auto import tqdm

            bar = tqdm(
                total=self.steps_per_epoch,
                desc=f"epoch {self.epoch + 1}/{self.epochs}",
                dynamic_ncols=True,
                leave=False,
            )
        t0 = time.perf_counter()
        for i, batch in enumerate(self.loader):
            q, r, labels = self._batch_to(batch)
            with torch.autocast("cuda", dtype=self.amp_dtype, enabled=self.amp_dtype is not None):
                q_out, r_out = self.pair(q, r)
            loss = self.loss(_to_float(q_out), _to_float(r_out), labels)
            self._check_finite(loss, i)
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            if self.cfg.train.grad_clip:
                self.scaler.unscale_(self.optimizer)
                if self.cfg.train.grad_clip_mode == "value":  # clamp each gradient element
                    torch.nn.utils.clip_grad_value_(params, self.cfg.train.grad_clip)
                else:
                    torch.nn.utils.clip_grad_norm_(params, self.cfg.train.grad_clip)
            self.scaler.step(self.optimizer)
            self.scaler.update()
            self.scheduler.step()
            self.step += 1
            loss_sum += loss.detach().double().cpu()
            n_batches += 1
            n_images += (q.shape[0] + r.shape[0]) * self.world
            if bar is not None:
                rate = n_images / max(time.perf_counter() - t0, 1e-9)
                bar.set_postfix(
                    loss=f"{loss.item():.4f}",
                    lr=f"{self.optimizer.param_groups[-1]['lr']:.2e}",
                    img_s=f"{rate:.1f}",
                )
                bar.update()
        if bar is not None:
            bar.close()
        seconds = time.perf_counter() - t0
        # mean over every batch of every rank (contrastive losses are identical across ranks)
        total, count = D.reduce_sum([float(loss_sum), float(n_batches)], self.device)
        return {
            "train_loss": total / count,
            "images_per_s": n_images / max(seconds, 1e-9),
            "train_seconds": seconds,
        }

    def run_evaluation(self) -> dict:
        metrics = {}
        if self.evaluate is not None and D.is_main():
            self.model.eval()
            with torch.no_grad():
                metrics = {
                    k: float(v)
                    for k, v in self.evaluate(self.model).items()
                    if isinstance(v, (int, float))
                }
            self.model.train()
        return D.broadcast_object(metrics)

    def fit(self) -> list[dict]:
        if D.is_main():
            self.out_dir.mkdir(parents=True, exist_ok=True)
            if self._resumed:
                self._write_csv()  # drop rows of an epoch that never reached its checkpoint
        while self.epoch < self.epochs:
            row = {"epoch": self.epoch + 1}
            row.update(self.train_epoch())
            every = self.cfg.eval.every
            last = self.epoch + 1 == self.epochs
            if self.evaluate is not None and every and ((self.epoch + 1) % every == 0 or last):
                metrics = self.run_evaluation()
                row.update(metrics)
                m = metrics.get(self.cfg.eval.metric)
                if m is not None and (self.best_metric is None or m > self.best_metric):
                    self.best_metric, self.best_epoch = m, self.epoch + 1
            self.epoch += 1
            row.update(step=self.step, lr=self.optimizer.param_groups[-1]["lr"])
            self.history.append(row)
            self._save()
            if D.is_main():
                shown = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}
                print(f"[{self.cfg.name}] {shown}", flush=True)
        return self.history
