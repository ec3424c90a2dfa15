"""The trainer every model of the study plugs into.

    trainer = Trainer(model, loss, pair_dataset, cfg, evaluate=lambda m: {...})
    history = trainer.fit()

One step: the query and reference batches go through `model(x, view=...)` (under autocast on
CUDA), the loss sees both outputs and the labels, the optimizer updates the model's and the
loss's parameters. Per epoch: evaluation (rank 0), metrics.csv and last.pt (and best.pt) in
the output folder, written atomically by rank 0 only; with train.checkpoint_minutes (or
train.checkpoint_steps) last.pt is also written inside an epoch, with the position in it.

Exact resume: a checkpoint holds model, optimizer, scheduler, GradScaler, loss parameters,
the RNG states of python/numpy/torch/CUDA and of the data-loader generator of every rank,
epoch, step, best metric, history and config. The batch order is a function of
(seed, epoch) and every item is drawn from its own seed (seed, epoch, index)
(`sampling.SeededItems`), so a run resumed after its last epoch or inside an epoch (the
batches already trained on are skipped, the partial loss sums restored) goes on bit for bit
on CPU, with any num_workers. Checkpoints hold only tensors, numbers, strings, lists and
dicts and load with `torch.load(weights_only=True)`.

A resume never changes the experiment silently: the checkpoint's config is compared with the
current one and any difference outside `RESUME_MAY_DIFFER` is refused with the
differing keys; train.epochs may change only under a schedule that does not depend on the
total (constant, step, staged: `EPOCHS_FREE_SCHEDULES`), never below the epochs done.
`train.max_steps` ends training after that many optimizer steps (a dry run): the cut epoch
is evaluated and checkpointed like a last epoch.
"""

from __future__ import annotations

import contextlib
import csv
import io
import random
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from cvgl_core.config import RESULT_NEUTRAL_KEYS, config_diff, format_diff, resolve_num_workers
from cvgl_core.training import distributed as D
from cvgl_core.training.optim import build_optimizer
from cvgl_core.training.sampling import (
    DistributedBatchSampler,
    EpochBatches,
    SeededItems,
    ShuffleBatchSampler,
)
from cvgl_core.training.schedules import build_scheduler
from cvgl_core.utils import atomic_write_bytes, atomic_write_text

CHECKPOINT_FORMAT = "cvgl_core.trainer/1"
# Schedules whose lr at a step does not depend on train.epochs: a run may be extended.
# cosine and linear spread over the total, so another total changes every step's lr.
EPOCHS_FREE_SCHEDULES = ("constant", "step", "staged")
# A resume may also change how often it evaluates: evaluation leaves the random streams of
# training untouched (`_isolated_rng`), so the weights do not depend on it. (It stays in the
# run hash of study.run_experiment: the history's metric columns do depend on it.)
RESUME_MAY_DIFFER = (*RESULT_NEUTRAL_KEYS, "eval.every")


class ConfigMismatchError(ValueError):
    """A checkpoint was trained under another config than the one resuming / evaluating it."""


def resume_differences(stored: dict, current: dict, done_epochs: int) -> dict:
    """The config keys (dotted -> (old, new)) that forbid resuming `stored` under `current`."""
    diff = {k: v for k, v in config_diff(stored, current).items() if k not in RESUME_MAY_DIFFER}
    epochs = diff.get("train.epochs")
    schedule = current.get("schedule", {}).get("name")
    if epochs is not None and schedule in EPOCHS_FREE_SCHEDULES and epochs[1] >= done_epochs:
        del diff["train.epochs"]
    return diff


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


class CheckpointError(ValueError):
    """A file that is not a readable cvgl_core checkpoint (text, truncated, foreign)."""


def load_checkpoint(path: str | Path, map_location="cpu") -> dict:
    """torch.load(weights_only=True) with one clear error for a file that is not one."""
    import zipfile

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # noqa: BLE001 - any failure to decode is bad input, named below
        # torch.save writes a zip archive: tell a text/other file from a cut-off copy
        with open(path, "rb") as f:
            head = f.read(4)
        if head[:2] != b"PK":
            why = f"not a PyTorch file (it starts with {head!r}; expected a torch.save archive)"
        elif not zipfile.is_zipfile(path):
            why = "a truncated or damaged torch.save archive (an interrupted copy?)"
        else:
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            why = f"unreadable with weights_only=True ({type(e).__name__}: {first})"
        raise CheckpointError(f"{path} is {why}") from None
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


@contextlib.contextmanager
def _isolated_rng(device: torch.device):
    """Run a block without moving the python, numpy, torch CPU (and this CUDA device's)
    random streams."""
    py, npst = random.getstate(), np.random.get_state()
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        yield
    random.setstate(py)
    np.random.set_state(npst)


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
        self.sampler = EpochBatches(sampler)  # (epoch, index) items; resumable mid-epoch
        self.loader_gen = torch.Generator().manual_seed(cfg.train.seed + self.rank)
        workers = resolve_num_workers(cfg.data.num_workers)
        # persistent workers: no re-fork (and dataset re-pickling) at every epoch
        self.loader = torch.utils.data.DataLoader(
            SeededItems(dataset, cfg.train.seed),
            batch_sampler=self.sampler,
            num_workers=workers,
            pin_memory=self.cuda,
            generator=self.loader_gen,
            persistent_workers=workers > 0,
        )
        if self.cuda and cfg.train.cudnn_benchmark and not cfg.train.deterministic:
            torch.backends.cudnn.benchmark = True  # fixed input sizes: tune kernels once
        self.max_steps = cfg.train.max_steps
        self.steps_per_epoch = len(sampler)
        if cfg.train.epoch_steps is not None:
            if cfg.train.epoch_steps < 1:
                raise ValueError(f"train.epoch_steps must be >= 1, got {cfg.train.epoch_steps}")
            self.steps_per_epoch = min(self.steps_per_epoch, int(cfg.train.epoch_steps))
        if self.steps_per_epoch == 0:
            raise ValueError(
                f"no training batch: {len(dataset)} pairs, batch {cfg.data.batch_size}"
            )

        self.pair = PairForward(self.model, dataset.query_view, dataset.reference_view)
        if self.world > 1:
            if cfg.train.sync_bn and not self.cuda:
                raise ValueError("train.sync_bn needs CUDA (torch's SyncBatchNorm); set it false")
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
        self._in_epoch: dict | None = None  # position inside an epoch (mid-epoch checkpoint)
        self._epoch_loader_state = self.loader_gen.get_state()
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
    def state_dict(self, in_epoch: dict | None = None) -> dict:
        """in_epoch: the position inside the current epoch for a mid-epoch checkpoint
        (batch, n_batches, n_images, seconds, this rank's loss_sum); None at an epoch end."""
        mine = _rng_state(self.loader_gen)
        if in_epoch is not None:
            # the loader draws its base seed when the epoch's iterator starts: keep the
            # generator as it was before that draw, so the resumed iterator draws the same
            mine["loader"] = self._epoch_loader_state
            mine["epoch_loss_sum"] = in_epoch["loss_sum"]
        rngs = [None] * self.world
        if self.world > 1:
            torch.distributed.all_gather_object(rngs, mine)
        else:
            rngs = [mine]
        if in_epoch is not None:
            in_epoch = {k: v for k, v in in_epoch.items() if k != "loss_sum"}
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
            "in_epoch": in_epoch,
        }

    def load(self, path: str | Path) -> None:
        ckpt = load_checkpoint(path, map_location=self.device)
        diff = resume_differences(ckpt.get("config") or {}, self.cfg.to_dict(), ckpt["epoch"])
        if diff:
            raise ConfigMismatchError(
                f"{path} was trained with another config; refusing to resume it silently. "
                f"Differing keys (checkpoint -> now): {format_diff(diff)}. Use another "
                "output.dir for the new settings (train.epochs may change only under a "
                f"{'/'.join(EPOCHS_FREE_SCHEDULES)} schedule)"
            )
        load_model_state(self.model, ckpt["model"], str(path))
        self.loss.load_state_dict(ckpt["loss"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scheduler.load_state_dict(ckpt["scheduler"])
        self.scaler.load_state_dict(ckpt["scaler"])
        self.epoch, self.step = ckpt["epoch"], ckpt["step"]
        self.best_metric, self.best_epoch = ckpt["best_metric"], ckpt["best_epoch"]
        self.history = list(ckpt["history"])
        # With another number of ranks the batch order is kept but the random streams are new.
        same_world = ckpt.get("world_size") == self.world
        if same_world:
            _set_rng_state(ckpt["rng"][self.rank], self.loader_gen)
        in_epoch = ckpt.get("in_epoch")
        if in_epoch is not None:
            if not same_world:
                raise ValueError(
                    f"{path} was written inside an epoch by {ckpt.get('world_size')} ranks; "
                    f"resume it with the same number of ranks (now {self.world})"
                )
            self._in_epoch = {**in_epoch, "loss_sum": ckpt["rng"][self.rank]["epoch_loss_sum"]}
        self._resumed = True

    def _save(self, in_epoch: dict | None = None) -> None:
        state = self.state_dict(in_epoch)  # collective under DDP: every rank calls it
        if D.is_main():
            buf = io.BytesIO()
            torch.save(state, buf)
            data = buf.getvalue()
            atomic_write_bytes(self.out_dir / "last.pt", data)
            if in_epoch is None and self.best_epoch == self.epoch:
                atomic_write_bytes(self.out_dir / "best.pt", data)
            if in_epoch is None:
                self._write_csv()
        D.barrier()

    def _checkpoint_due(self, batch: int, since: float) -> bool:
        """A mid-epoch checkpoint after `batch` (1-based) batches? Never at the last batch
        (the epoch's own checkpoint follows). Every rank must agree: the step rule is the
        same everywhere, the time rule is rank 0's clock, shared by a broadcast."""
        if batch >= self.steps_per_epoch:
            return False
        every = self.cfg.train.checkpoint_steps
        if every and batch % every == 0:
            return True
        minutes = self.cfg.train.checkpoint_minutes
        if not minutes:
            return False
        due = time.perf_counter() - since >= 60 * minutes
        if self.world > 1:
            flag = torch.tensor([float(due)], device=self.device)
            torch.distributed.broadcast(flag, 0)
            due = bool(flag.item())
        return due

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
        start, seconds_before = 0, 0.0
        if self._in_epoch is not None:  # resumed from a mid-epoch checkpoint
            pos, self._in_epoch = self._in_epoch, None
            start, seconds_before = int(pos["batch"]), float(pos["seconds"])
            loss_sum = pos["loss_sum"].detach().to("cpu", torch.float64).clone()
            n_batches, n_images = int(pos["n_batches"]), int(pos["n_images"])
            self.sampler.start = start
        n_images_before = n_images
        self._epoch_loader_state = self.loader_gen.get_state()
        bar = None
        if self.cfg.train.progress and D.is_main():
            from tqdm.auto import tqdm

            bar = tqdm(
                total=self.steps_per_epoch,
                desc=f"epoch {self.epoch + 1}/{self.epochs}",
                dynamic_ncols=True,
                leave=False,
                initial=start,
            )
        t0 = last_save = time.perf_counter()
        wait, ready = 0.0, t0  # time spent waiting for the loader (its share of the epoch)
        for i, batch in enumerate(self.loader, start):
            wait += time.perf_counter() - ready
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
                rate = (n_images - n_images_before) / max(time.perf_counter() - t0, 1e-9)
                bar.set_postfix(
                    loss=f"{loss.item():.4f}",
                    lr=f"{self.optimizer.param_groups[-1]['lr']:.2e}",
                    img_s=f"{rate:.1f}",
                )
                bar.update()
            if self._checkpoint_due(i + 1, last_save):
                position = dict(
                    batch=i + 1,
                    n_batches=n_batches,
                    n_images=n_images,
                    seconds=seconds_before + time.perf_counter() - t0,
                    loss_sum=loss_sum.clone(),
                )
                self._save(position)
                last_save = time.perf_counter()
            if self._steps_done() or i + 1 >= self.steps_per_epoch:
                break  # a dry run, or train.epoch_steps: the epoch ends here
            ready = time.perf_counter()  # the step synchronised in _check_finite's .item()
        if bar is not None:
            bar.close()
        seconds = seconds_before + time.perf_counter() - t0
        # mean over every batch of every rank (contrastive losses are identical across ranks)
        total, count = D.reduce_sum([float(loss_sum), float(n_batches)], self.device)
        return {
            "train_loss": total / count,
            "images_per_s": n_images / max(seconds, 1e-9),
            "train_seconds": seconds,
            "data_wait_share": wait / max(seconds, 1e-9),
        }

    def run_evaluation(self) -> dict:
        metrics = {}
        # a collective evaluator (sharded extraction) runs on every rank; others on rank 0
        collective = getattr(self.evaluate, "collective", False)
        if self.evaluate is not None and (collective or D.is_main()):
            self.model.eval()
            # the evaluation's loaders draw from the global streams: keep training's intact,
            # so evaluating every epoch or never trains the same weights (eval.every may
            # change on resume)
            with torch.no_grad(), _isolated_rng(self.device):
                metrics = {
                    k: float(v)
                    for k, v in self.evaluate(self.model).items()
                    if isinstance(v, (int, float))
                }
            self.model.train()
        return D.broadcast_object(metrics)

    def _steps_done(self) -> bool:
        return self.max_steps is not None and self.step >= self.max_steps

    def fit(self) -> list[dict]:
        if D.is_main():
            self.out_dir.mkdir(parents=True, exist_ok=True)
            if self._resumed:
                self._write_csv()  # drop rows of an epoch that never reached its checkpoint
        while self.epoch < self.epochs and not self._steps_done():
            row = {"epoch": self.epoch + 1}
            row.update(self.train_epoch())
            every = self.cfg.eval.every
            last = self.epoch + 1 == self.epochs or self._steps_done()
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
