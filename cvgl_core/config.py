"""One typed config per experiment: dataclasses, loaded from YAML, overridden by `key=value`.

The same object drives `python -m cvgl_core train --config X.yaml [key=value ...]`,
`python -m cvgl_core evaluate --checkpoint CKPT` (which reads the config stored in the
checkpoint) and the notebooks
(`cfg = load_config(f"configs/baseline/cvusa_{profile}.yaml", overrides={...})`: one file per
profile, since a value a file states wins over the profile's).

Profiles: with `profile: cpu` every field left at None (epochs, batch size, workers) takes the
profile's value (cvgl_core.profiles), and a string "profile.<field>" anywhere in
`model.kwargs`, `loss.kwargs` or `data.options` is replaced by that profile field, e.g.
`backbone: profile.convnext`, `pretrained: profile.pretrained`. Values of overrides are parsed
as YAML (`optim.lr=3e-4`, `schedule.milestones=[80,120]`, `data.root=null`). An unknown key is
rejected with the closest valid one.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


@dataclass
class DataConfig:
    dataset: str = "cvusa"  # build_dataset name, also the synthetic layout
    root: str | None = None  # real dataset root; None -> the synthetic world of the profile
    data_dir: str | None = None  # synthetic world folder; None -> data/synth/<profile>
    train_split: str = "train"
    eval_split: str = "val"
    batch_size: int | None = None  # global batch of pairs (split over DDP ranks); None -> profile
    eval_batch_size: int | None = None  # None -> 2 x batch_size
    num_workers: int | str | None = None  # None -> profile; "auto": this process's CPUs
    cache: bool = False  # train/evaluate from a one-time pre-resized copy (cvgl_core.data.cache)
    cache_dir: str | None = None  # None -> <dataset root>/.cvgl_cache
    cache_format: str = "png"  # png (lossless, half the disk) | npy (raw uint8, fastest)
    synth_seed: int = 0  # seed of the synthetic world (data.root None)
    sampler: str = "shuffle"  # shuffle | unique_label (no label twice in a batch) | gps (hard)
    options: dict = field(default_factory=dict)  # passed to build_dataset for every role
    train_options: dict = field(default_factory=dict)  # role="pair" only (augmentation, ...)


@dataclass
class ModelConfig:
    name: str = "baseline"
    kwargs: dict = field(default_factory=dict)  # create_model(name, **kwargs)


@dataclass
class LossConfig:
    name: str = "infonce"
    kwargs: dict = field(default_factory=dict)  # create_loss(name, **kwargs)


@dataclass
class OptimConfig:
    name: str = "adamw"  # adamw | adam | sgd
    lr: float = 1e-4  # heads (and every parameter when backbone_lr is None)
    backbone_lr: float | None = None  # parameters whose name starts with backbone_prefix
    backbone_prefix: str = "backbone"
    weight_decay: float = 0.01
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    momentum: float = 0.9  # sgd
    nesterov: bool = False  # sgd


@dataclass
class ScheduleConfig:
    name: str = "cosine"  # constant | cosine | linear | step | staged
    warmup_epochs: float = 0.0  # linear warm-up from 0, then the schedule over the rest
    min_factor: float = 0.0  # cosine: floor as a fraction of the start lr
    end_factor: float = 0.05  # linear: fraction of the start lr at the last step (LRFR: 1/20)
    milestones: list[int] = field(default_factory=list)  # step/staged: epochs where lr changes
    gamma: float = 0.1  # step: factor at each milestone
    values: list[float] = field(default_factory=list)  # staged: factors, len(milestones) + 1


@dataclass
class TrainConfig:
    epochs: int | None = None  # None -> profile
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda
    amp: str = "bf16"  # none | bf16 | fp16; CUDA only, CPU always runs fp32
    channels_last: bool = True  # CUDA only
    grad_clip: float | None = None  # threshold of grad_clip_mode (None/0: no clipping)
    grad_clip_mode: str = "norm"  # norm: global L2 norm | value: each element (Sample4Geo, LRFR)
    progress: bool = True  # tqdm bar (rank 0)
    deterministic: bool = False
    resume: bool = True  # continue from output.dir/last.pt when it exists
    sync_bn: bool = False  # DDP: SyncBatchNorm, so BN statistics span the global batch
    checkpoint_minutes: float | None = None  # also write last.pt inside an epoch every N min
    checkpoint_steps: int | None = None  # ... or every N steps of an epoch (tests); 0/None: off
    # at most N batches per epoch (the cpu profile's budget knob: each epoch takes the first N
    # batches of its own seeded shuffle, so epochs see different pairs); the schedule spans the
    # capped epochs. None: the profile's (cpu: 12; smoke, paper: the whole split).
    epoch_steps: int | None = None
    max_steps: int | None = None  # stop after N optimizer steps overall (dry runs); then
    #   checkpoint and evaluate as at the end of an epoch
    cudnn_benchmark: bool = True  # CUDA: let cuDNN pick the fastest kernels for fixed sizes
    dist_timeout_minutes: float = 60.0  # DDP collectives' timeout (rank 0 may evaluate alone)


@dataclass
class EvalConfig:
    every: int = 1  # evaluate every N epochs (0: never)
    metric: str = "R@1"  # selects best.pt
    kwargs: dict = field(default_factory=dict)  # evaluate_retrieval(**kwargs)
    max_queries: int | None = None  # evaluate on the first N queries (dry runs) and a gallery
    max_gallery: int | None = None  #   cut to N references that keeps their true matches


@dataclass
class OutputConfig:
    dir: str | None = None  # None -> runs/<name>


@dataclass
class Config:
    name: str = "experiment"
    profile: str | None = None  # smoke | cpu | paper
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    output: OutputConfig = field(default_factory=OutputConfig)

    @property
    def output_dir(self) -> Path:
        return Path(self.output.dir or f"runs/{self.name}")

    def to_dict(self) -> dict:
        """Plain nested dict of primitives (stored in checkpoints, loadable weights_only)."""
        return dataclasses.asdict(self)


# Keys that change neither the weights nor the metrics of a run: where it is written and
# fed from, how it is shown, how fast it is fed. A run's folder hash leaves them out
# (study.run_experiment) and a resumed checkpoint may differ from the config in them
# (Trainer). data.num_workers is one because every training item is drawn from its own
# seed (seed, epoch, index): see training.sampling.SeededItems. train.cudnn_benchmark is
# not: cuDNN's autotuned kernels may differ in rounding.
RESULT_NEUTRAL_KEYS = (
    "name",
    "output.dir",
    "data.data_dir",
    "data.num_workers",
    "data.eval_batch_size",
    "train.device",
    "train.progress",
    "train.resume",
    "train.checkpoint_minutes",
    "train.checkpoint_steps",
    # the pre-resized cache gives bit-identical tensors (tests/test_data_cache.py)
    "data.cache",
    "data.cache_dir",
    "data.cache_format",
    "train.dist_timeout_minutes",
)


def flatten(tree: dict, prefix: str = "") -> dict[str, Any]:
    """{"train": {"epochs": 2}} -> {"train.epochs": 2}; kwargs/options dicts are walked
    too, so a changed model.kwargs entry is named by its own key."""
    out = {}
    for k, v in tree.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


class _Absent:
    def __repr__(self) -> str:
        return "<absent>"


_ABSENT = _Absent()


def config_diff(old: dict, new: dict) -> dict[str, tuple[Any, Any]]:
    """Dotted keys whose values differ between two Config.to_dict() trees -> (old, new).

    A key missing from `old` (a checkpoint written before the key existed) counts as its
    default, so adding a config key does not invalidate old checkpoints."""
    defaults = flatten(Config().to_dict())
    a, b = flatten(old), flatten(new)
    diff = {}
    for key in list(a) + [k for k in b if k not in a]:
        va = a.get(key, defaults.get(key, _ABSENT))
        vb = b.get(key, defaults.get(key, _ABSENT))
        if va != vb:
            diff[key] = (va, vb)
    return diff


def format_diff(diff: dict[str, tuple[Any, Any]]) -> str:
    return ", ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in diff.items())


# What `dry_run=true` applies to every run of every notebook: the whole pipeline at the
# configured image sizes, in seconds per run (one step, tiny evaluation, main process only).
DRY_RUN_OVERRIDES: dict[str, Any] = {
    "train.epochs": 1,
    "train.max_steps": 1,
    "eval.every": 1,
    "eval.max_queries": 16,
    "eval.max_gallery": 64,
    "data.num_workers": 0,
}


def resolve_num_workers(value: int | str | None) -> int:
    """None -> 0, "auto" -> the CPUs this process may run on (sched_getaffinity), else int."""
    if value is None:
        return 0
    if value == "auto":
        try:
            return len(os.sched_getaffinity(0))
        except AttributeError:  # macOS, Windows
            return os.cpu_count() or 1
    if isinstance(value, int) and value >= 0:
        return value
    raise ValueError(f"data.num_workers must be a count >= 0 or 'auto', got {value!r}")


def _valid_keys(cls=Config, prefix: str = "") -> list[str]:
    keys = []
    for f in dataclasses.fields(cls):
        typ = typing.get_type_hints(cls)[f.name]
        key = prefix + f.name
        keys.append(key)
        if dataclasses.is_dataclass(typ):
            keys += _valid_keys(typ, key + ".")
    return keys


def _unknown(key: str) -> KeyError:
    valid = _valid_keys()
    close = difflib.get_close_matches(key, valid, n=1, cutoff=0.5)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    section = key.rsplit(".", 1)[0] + "." if "." in key else ""
    known = [k for k in valid if k.startswith(section) and k.count(".") == key.count(".")]
    return KeyError(f"unknown config key {key!r}.{hint} Known: {', '.join(known)}")


def _coerce(value: Any, typ: Any, key: str) -> Any:
    origin = typing.get_origin(typ)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(typ)
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        for a in inner[:-1]:  # int | str: the first type that takes the value
            try:
                return _coerce(value, a, key)
            except ValueError:
                pass
        return _coerce(value, inner[-1], key)
    bad = ValueError(f"config key {key!r}: expected {getattr(typ, '__name__', typ)}, got {value!r}")
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise bad
        (inner,) = typing.get_args(typ)
        return [_coerce(v, inner, f"{key}[{i}]") for i, v in enumerate(value)]
    if typ is dict or origin is dict:
        if not isinstance(value, dict):
            raise bad
        return dict(value)
    if typ is bool:
        if not isinstance(value, bool):
            raise bad
        return value
    if typ is float:
        if isinstance(value, str):  # YAML 1.1 reads "1e-4" as a string
            try:
                return float(value)
            except ValueError:
                raise bad from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad
        return float(value)
    if typ is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad
        return value
    if typ is str:
        if not isinstance(value, str):
            raise bad
        return value
    raise TypeError(f"unsupported config type {typ} for {key!r}")


def _build(cls, data: dict, prefix: str = ""):
    if not isinstance(data, dict):
        raise ValueError(f"config section {prefix.rstrip('.') or '<root>'!r} must be a mapping")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        if key not in names:
            raise _unknown(prefix + key)
        typ = hints[key]
        if dataclasses.is_dataclass(typ):
            kwargs[key] = _build(typ, value or {}, prefix + key + ".")
        else:
            kwargs[key] = _coerce(value, typ, prefix + key)
    return cls(**kwargs)


def _set_dotted(tree: dict, key: str, value: Any) -> None:
    # Unknown keys are caught by _build, with the full dotted path and the closest valid key.
    *parents, last = key.split(".")
    node = tree
    for i, part in enumerate(parents):
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ValueError(f"config key {'.'.join(parents[: i + 1])!r} is not a section")
    node[last] = value


def _yaml_error(e: yaml.YAMLError) -> str:
    """'line L, column C: problem' from a PyYAML error (one line, 1-based like editors)."""
    mark = getattr(e, "problem_mark", None)
    problem = getattr(e, "problem", None) or str(e).splitlines()[0]
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return f"{where}{problem}"


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """["optim.lr=3e-4", "data.root=null"] -> {"optim.lr": 0.0003, "data.root": None}."""
    out = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"override {item!r} is not of the form key=value")
        key, raw = item.split("=", 1)
        try:
            value = yaml.safe_load(raw) if raw != "" else ""
        except yaml.YAMLError as e:
            raise ValueError(
                f"override {item!r}: value is not valid YAML: {_yaml_error(e)}"
            ) from None
        out[key.strip()] = value
    return out


def _resolve_profile_refs(value: Any, profile, key: str) -> Any:
    if isinstance(value, dict):
        return {k: _resolve_profile_refs(v, profile, f"{key}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_profile_refs(v, profile, key) for v in value]
    if isinstance(value, str) and value.startswith("profile."):
        if profile is None:
            raise ValueError(f"config key {key!r} refers to {value!r} but no profile is set")
        attr = value.split(".", 1)[1]
        if not hasattr(profile, attr):
            fields = [f.name for f in dataclasses.fields(profile)]
            raise KeyError(f"config key {key!r}: profile has no field {attr!r}; known: {fields}")
        v = getattr(profile, attr)
        return list(v) if isinstance(v, tuple) else v
    return value


def resolve_profile(cfg: Config) -> Config:
    """Fill None fields and "profile.<field>" strings from cfg.profile (no-op without one)."""
    if cfg.data.num_workers is not None:
        cfg.data.num_workers = resolve_num_workers(cfg.data.num_workers)
    if cfg.profile is None:
        for sec in ("model", "loss", "data"):
            _resolve_profile_refs(dataclasses.asdict(getattr(cfg, sec)), None, sec)
        return cfg
    from cvgl_core.profiles import get_profile

    p = get_profile(cfg.profile)
    if cfg.train.epochs is None:
        cfg.train.epochs = p.epochs
    if cfg.train.epoch_steps is None:
        cfg.train.epoch_steps = p.epoch_steps
    if cfg.data.batch_size is None:
        cfg.data.batch_size = p.batch_size
    if cfg.data.num_workers is None:
        cfg.data.num_workers = p.num_workers
    if cfg.data.root is None and cfg.data.data_dir is None:
        cfg.data.data_dir = f"data/synth/{p.name}"
    cfg.model.kwargs = _resolve_profile_refs(cfg.model.kwargs, p, "model.kwargs")
    cfg.loss.kwargs = _resolve_profile_refs(cfg.loss.kwargs, p, "loss.kwargs")
    cfg.data.options = _resolve_profile_refs(cfg.data.options, p, "data.options")
    cfg.data.train_options = _resolve_profile_refs(cfg.data.train_options, p, "data.train_options")
    return cfg


def config_from_dict(data: dict, overrides: dict | list[str] | None = None) -> Config:
    """Build (and validate) a Config from a nested dict plus dotted overrides, then resolve
    the profile."""
    import copy

    tree = copy.deepcopy(data or {})
    if isinstance(overrides, (list, tuple)):
        overrides = parse_overrides(list(overrides))
    for key, value in (overrides or {}).items():
        _set_dotted(tree, key, value)
    cfg = _build(Config, tree)
    return resolve_profile(cfg)


def load_config(
    path: str | Path | None = None, overrides: dict | list[str] | None = None
) -> Config:
    """Read a YAML config (None: all defaults), apply overrides, resolve the profile."""
    data = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"config file not found: {path}")
        with open(path) as f:
            try:
                data = yaml.safe_load(f) or {}
            except yaml.YAMLError as e:
                raise ValueError(f"{path}: not valid YAML: {_yaml_error(e)}") from None
        if not isinstance(data, dict):
            raise ValueError(f"{path}: a config must be a YAML mapping")
        # configs/<paper>/<dataset>_<profile>.yaml -> "<paper>_<dataset>_<profile>"
        default = path.stem if path.parent.name == "configs" else f"{path.parent.name}_{path.stem}"
        data.setdefault("name", default)
    try:
        return config_from_dict(data, overrides)
    except (KeyError, ValueError) as e:
        if path is None:
            raise
        msg = e.args[0] if e.args else str(e)
        raise type(e)(f"{path}: {msg}") from None


def save_config(cfg: Config, path: str | Path) -> Path:
    from cvgl_core.utils import atomic_write_text

    return atomic_write_text(path, yaml.safe_dump(cfg.to_dict(), sort_keys=False))
