"""From a Config to a trained model: datasets, model, loss, evaluator, Trainer.

    from cvgl_core.config import load_config
    from cvgl_core.training import train
    history = train(load_config("configs/baseline/cvusa_cpu.yaml"))

Datasets come from `cvgl_core.data.build_dataset(name, root, split, role, **options)`; with
`data.root` None the root is the synthetic world of the profile
(`cvgl_core.synth.ensure_dataset`, written on first use). Both are imported lazily.
"""

from __future__ import annotations

import difflib
import hashlib
import inspect
from pathlib import Path

import numpy as np

from cvgl_core.training import distributed as D


def dataset_root(cfg) -> Path:
    """The real root, or the synthetic world for cfg.profile (written once, by rank 0)."""
    if cfg.data.root is not None:
        root = Path(cfg.data.root)
        if not root.exists():
            raise FileNotFoundError(f"data.root not found: {root}")
        return root
    if cfg.profile is None:
        raise ValueError("data.root is null and no profile is set: cannot choose a synthetic world")
    from cvgl_core.synth import ensure_dataset

    if D.is_main():
        root = ensure_dataset(
            cfg.data.dataset, cfg.data.data_dir, cfg.profile, seed=cfg.data.synth_seed
        )
    D.barrier()
    if not D.is_main():
        root = ensure_dataset(
            cfg.data.dataset, cfg.data.data_dir, cfg.profile, seed=cfg.data.synth_seed
        )
    return Path(root)


def build_datasets(cfg, roles=("pair", "query", "reference")) -> dict:
    from cvgl_core.data import build_dataset

    root = dataset_root(cfg)
    out = {}
    for role in roles:
        split = cfg.data.train_split if role == "pair" else cfg.data.eval_split
        options = dict(cfg.data.options)
        if cfg.data.cache:  # pre-resized images (cvgl_core.data.cache), one copy per setting
            options["cache_dir"] = cfg.data.cache_dir or str(root / ".cvgl_cache")
            options["cache_format"] = cfg.data.cache_format
        if role == "pair":
            options.update(cfg.data.train_options)
        out[role] = build_dataset(cfg.data.dataset, root, split, role, **options)
    return out


def pair_coordinates(pair_ds):
    """(coords (N, 2), metric) of a pair dataset for GPS neighbours: CVACT's UTM metres
    ("euclidean") or VIGOR's (lat, lon) degrees ("haversine"); ValueError when it has none."""
    if getattr(pair_ds, "utm", None) is not None:
        return np.asarray(pair_ds.utm, dtype=np.float64), "euclidean"
    if getattr(pair_ds, "gps", None) is not None:
        return np.asarray(pair_ds.gps, dtype=np.float64), "haversine"
    raise ValueError(
        f"data.sampler=gps needs the positions of the training pairs; {type(pair_ds).__name__} "
        f"of {getattr(pair_ds, 'name', '?')} has neither .utm nor .gps (CVUSA's split files "
        "carry no coordinates)"
    )


def build_sampler(cfg, pair_ds):
    """None (the Trainer's seeded shuffle), the unique-label sampler, or "gps": Sample4Geo's
    GPS hard-negative batches (`NeighbourBatchSampler` over `gps_neighbours`; each seed item
    brings neighbour_select = min(64, batch/2) neighbours, half the nearest, half drawn from
    its 2 x neighbour_select nearest: Sample4Geo's 64 of 128 at batch 128)."""
    if cfg.data.sampler == "shuffle":
        return None
    if cfg.data.sampler == "unique_label":
        from cvgl_core.data import UniqueLabelBatchSampler

        return UniqueLabelBatchSampler(pair_ds.labels, cfg.data.batch_size, seed=cfg.train.seed)
    if cfg.data.sampler == "gps":
        from cvgl_core.data import NeighbourBatchSampler, gps_neighbours

        coords, metric = pair_coordinates(pair_ds)
        select = max(2, min(64, cfg.data.batch_size // 2))
        table = gps_neighbours(coords, 2 * select, labels=pair_ds.labels, metric=metric)
        return NeighbourBatchSampler(
            pair_ds.labels,
            cfg.data.batch_size,
            table,
            neighbour_select=select,
            neighbour_range=2 * select,
            seed=cfg.train.seed,
        )
    raise KeyError(f"unknown data.sampler {cfg.data.sampler!r}; known: shuffle, unique_label, gps")


# model.kwargs.num_classes: train_classes -> the number of classes of the training pairs
TRAIN_CLASSES = "train_classes"


def index_classes(pair_ds) -> np.ndarray:
    """Relabel the training pairs 0..R-1 in sorted id order and return the sorted ids.

    Classification heads (GLQINet's CE, eq. 11) need contiguous class indices, while
    University-1652 and SUES-200 labels are building / location numbers (1-based, with the
    test ids missing). Only the training pairs are relabelled (kept in `pair_ds.class_ids`);
    the evaluation sets keep their ids, which is all retrieval compares. Idempotent."""
    if getattr(pair_ds, "class_ids", None) is not None:
        return pair_ds.class_ids
    classes = np.unique(pair_ds.labels)
    pair_ds.labels = np.searchsorted(classes, pair_ds.labels).astype(np.int64)
    pair_ds.class_ids = classes
    return classes


def check_kwargs(factory, kwargs: dict, key: str, name: str) -> None:
    """KeyError naming each key of `kwargs` that `factory` does not take, with the closest
    valid name and the valid names (read from its signature); no check when it takes
    **kwargs. key: the config section, e.g. "model.kwargs"."""
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return
    valid = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    unknown = [k for k in kwargs if k not in valid]
    if unknown:
        hints = []
        for k in unknown:
            close = difflib.get_close_matches(k, valid, n=1)
            hints.append(f"{key}.{k}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise KeyError(
            f"{', '.join(hints)}: not an argument of {key.split('.')[0]} {name!r}; "
            f"valid: {', '.join(valid)}"
        )


def build_model(cfg, pair_ds=None, pretrained: bool | None = None):
    """create_model(name, **kwargs); `num_classes: train_classes` is filled in from the
    training pairs (built here when not given), which are relabelled 0..R-1.
    pretrained=False builds without ImageNet weights whatever the config says (a model whose
    weights come from a checkpoint next)."""
    from cvgl_core.models import create_model
    from cvgl_core.models.registry import MODELS
    from cvgl_core.standin import resolve

    kwargs = dict(cfg.model.kwargs)
    if pretrained is False and "pretrained" in kwargs:
        kwargs["pretrained"] = False
    kwargs = resolve(kwargs, cfg.profile, model=cfg.model.name)  # standin -> its weights file
    check_kwargs(MODELS.get(cfg.model.name), kwargs, "model.kwargs", cfg.model.name)
    if kwargs.get("num_classes") == TRAIN_CLASSES:
        if pair_ds is None:
            pair_ds = build_datasets(cfg, roles=("pair",))["pair"]
        kwargs["num_classes"] = len(index_classes(pair_ds))
    return create_model(cfg.model.name, **kwargs)


def build_loss(cfg):
    from cvgl_core.losses import LOSSES, create_loss

    check_kwargs(LOSSES.get(cfg.loss.name), cfg.loss.kwargs, "loss.kwargs", cfg.loss.name)
    return create_loss(cfg.loss.name, **cfg.loss.kwargs)


def make_evaluator(cfg, query_ds, reference_ds, **extra):
    """model -> evaluate_retrieval(...) with the config's options; `extra` (e.g.
    return_descriptors=True) is passed on as well.

    Precision follows train.amp; eval.max_queries / max_gallery select a dry run's subset.
    Under torch.distributed the evaluator is collective (`evaluate.collective`): every rank
    calls it, extracts its shard, and rank 0 alone gets the metrics (the others get {})."""

    def evaluate(model):
        from cvgl_core.evaluation import evaluate_retrieval

        options = dict(
            batch_size=cfg.data.eval_batch_size or 2 * cfg.data.batch_size,
            num_workers=cfg.data.num_workers or 0,
            progress=cfg.train.progress,
            amp=cfg.train.amp,
            max_queries=cfg.eval.max_queries,
            max_gallery=cfg.eval.max_gallery,
            distributed=D.get_world_size() > 1,
        )
        options.update(cfg.eval.kwargs)
        options.update(extra)
        return evaluate_retrieval(model, query_ds, reference_ds, **options)

    evaluate.collective = D.get_world_size() > 1
    return evaluate


def train(cfg) -> list[dict]:
    """Train the experiment `cfg` (resuming from output_dir/last.pt when present); return the
    per-epoch history (also in output_dir/metrics.csv)."""
    return fit(cfg)[1]


def fit(cfg) -> tuple:
    """Like `train`, but return (trained model, history, datasets {"pair", "query",
    "reference"}) so a notebook can go on to evaluate, visualise and tabulate the same run."""
    from cvgl_core.config import save_config
    from cvgl_core.training.trainer import Trainer
    from cvgl_core.utils import seed_everything
    from cvgl_core.weights import require_weights

    # A run that resumes takes every weight from last.pt (no ImageNet weights needed); any
    # other fails in a second on a missing weight, before a dataset is built.
    resuming = cfg.train.resume and (cfg.output_dir / "last.pt").is_file()
    if not resuming:
        require_weights(cfg)
    D.init_from_env(cfg.train.device, timeout_minutes=cfg.train.dist_timeout_minutes)
    ds = build_datasets(cfg)
    seed_everything(cfg.train.seed, deterministic=cfg.train.deterministic)
    model = build_model(cfg, ds["pair"], pretrained=False if resuming else None)
    loss = build_loss(cfg)
    evaluate = make_evaluator(cfg, ds["query"], ds["reference"]) if cfg.eval.every else None
    # same initial weights on every rank (seeded above), different augmentation streams
    seed_everything(cfg.train.seed + D.get_rank(), deterministic=cfg.train.deterministic)
    trainer = Trainer(
        model,
        loss,
        ds["pair"],
        cfg,
        evaluate=evaluate,
        batch_sampler=build_sampler(cfg, ds["pair"]),
    )
    if D.is_main():
        save_config(cfg, cfg.output_dir / "config.yaml")
    history = trainer.fit()
    return model, history, ds


def evaluate_checkpoint(cfg, checkpoint: str | Path) -> dict:
    """Load `checkpoint` into the model of `cfg` and evaluate it on cfg.data.eval_split."""
    return evaluation_record(cfg, checkpoint)["metrics"]


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def evaluation_record(cfg, checkpoint: str | Path, ckpt: dict | None = None) -> dict:
    """Evaluate `checkpoint` under `cfg` and return what a result needs to be traced back:
    checkpoint (path, sha256, epoch, step), the config, the data (dataset, real root or
    synthetic world, split, sizes), protocol, direction and the metrics."""
    from cvgl_core.training.trainer import load_checkpoint, load_model_state

    device = D.init_from_env(cfg.train.device, timeout_minutes=cfg.train.dist_timeout_minutes)
    ckpt = ckpt if ckpt is not None else load_checkpoint(checkpoint)
    model = build_model(cfg, pretrained=False)  # every weight comes from the checkpoint
    try:
        load_model_state(model, ckpt["model"], str(checkpoint))
    except KeyError as e:
        trained = (ckpt.get("config") or {}).get("model")
        hint = f" (the checkpoint's config has model {trained})" if trained else ""
        raise KeyError(f"{e.args[0]}{hint}") from None
    model.to(device).eval()
    ds = build_datasets(cfg, roles=("query", "reference"))
    metrics = make_evaluator(cfg, ds["query"], ds["reference"])(model)
    synthetic = cfg.data.root is None
    return {
        "checkpoint": {
            "path": str(Path(checkpoint).resolve()),
            "sha256": file_sha256(checkpoint),
            "epoch": ckpt.get("epoch"),
            "step": ckpt.get("step"),
            "inside_epoch": ckpt.get("in_epoch") is not None,
        },
        "data": {
            "dataset": cfg.data.dataset,
            "root": str(dataset_root(cfg)),
            "synthetic": synthetic,
            "synth_seed": cfg.data.synth_seed if synthetic else None,
            "split": cfg.data.eval_split,
            "options": dict(cfg.data.options),  # sizes, FoV, area, altitude...
            "queries": len(ds["query"]),
            "gallery": len(ds["reference"]),
        },
        "protocol": cfg.data.options.get("protocol", "default"),
        "direction": f"{ds['query'].view}->{ds['reference'].view}",
        "metrics": {k: v for k, v in metrics.items() if isinstance(v, (int, float, str))},
        "config": cfg.to_dict(),
    }
