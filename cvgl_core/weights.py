"""Pretrained ImageNet weights: which tags the configs need, whether they are cached, fetch them.

    python -m cvgl_core weights fetch [--profile paper] [--list]   # the one online step

Every run of the study is offline; only this command downloads. It collects the timm tags
that the configs of a profile name (configs/*/*_<profile>.yaml), skips those already in
timm's standard caches (the Hugging Face hub cache, or torch hub's for URL weights), and
downloads the rest there through timm itself, so `timm.create_model(tag, pretrained=True)`
later finds them offline.

Which tag a config needs (model.kwargs, when `pretrained` is true or a string):
    pretrained: "resnet18.tv_in1k"  -> that tag (a bare "tv_in1k" is joined to the backbone)
    pretrained_tag: "fb_in1k"       -> "<backbone>.fb_in1k"
    backbone: "convnext_tiny.fb_in1k" -> as written
    otherwise                       -> the model's default backbone, at timm's default tag
`require_weights(cfg)` raises one line naming the backbone, its tag and the fetch command
before anything else is built (training/experiment.fit calls it first).
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

FETCH_COMMAND = "python -m cvgl_core weights fetch --profile paper"
# models whose backbone is not a `backbone=` argument (AWM builds timm's resnet18 itself)
FIXED_BACKBONES = {"awm": "resnet18"}


class MissingWeightsError(FileNotFoundError):
    """Pretrained weights asked for but not in the local cache (a FileNotFoundError, so the
    CLI prints it as one line)."""


@dataclass(frozen=True)
class WeightRequest:
    backbone: str  # timm architecture, e.g. convnext_tiny
    tag: str  # full timm tag, e.g. convnext_tiny.fb_in1k
    source: str  # where it was asked for (config file or name)


def _default_backbone(model_name: str) -> str | None:
    if model_name in FIXED_BACKBONES:
        return FIXED_BACKBONES[model_name]
    from cvgl_core.models import MODELS

    try:
        cls = MODELS.get(model_name)
    except KeyError:
        return None
    param = inspect.signature(cls).parameters.get("backbone")
    return param.default if param is not None and isinstance(param.default, str) else None


def full_tag(backbone: str, tag: str | None = None) -> str:
    """("convnext_tiny", None) -> timm's default tag of it; ("resnet18", "tv_in1k") ->
    "resnet18.tv_in1k"; a backbone already carrying ".tag" is kept."""
    from timm.models import get_pretrained_cfg

    if tag:
        return tag if "." in tag or tag.startswith(backbone) else f"{backbone}.{tag}"
    if "." in backbone:
        return backbone
    cfg = get_pretrained_cfg(backbone)
    default = getattr(cfg, "tag", None) if cfg is not None else None
    return f"{backbone}.{default}" if default else backbone


def requests_for(model_name: str, kwargs: dict, source: str) -> list[WeightRequest]:
    """The weights one model config asks for ([] when pretrained is off)."""
    pretrained = kwargs.get("pretrained", False)
    if not pretrained or pretrained == "standin" or str(pretrained).endswith(".pt"):
        return []  # off, or the synthetic stand-in's local file (cvgl_core.standin)
    backbone = kwargs.get("backbone") or _default_backbone(model_name)
    if not isinstance(backbone, str):
        return []  # a model without a timm backbone has nothing to fetch
    tag = pretrained if isinstance(pretrained, str) else kwargs.get("pretrained_tag")
    if isinstance(tag, str) and "." in tag and not tag.startswith(backbone.split(".")[0]):
        backbone = tag.split(".")[0]  # the tag names the architecture itself
    full = full_tag(backbone, tag if isinstance(tag, str) else None)
    return [WeightRequest(full.split(".")[0], full, source)]


def config_requests(cfg, source: str | None = None) -> list[WeightRequest]:
    return requests_for(cfg.model.name, dict(cfg.model.kwargs), source or cfg.name)


# Weights a paper-profile notebook sets on top of its configs (an ablation over backbones):
# fetched with the configs' own, so a long paper run does not stop halfway for a missing tag.
# tests/test_weights.py checks that every tag the notebooks name is fetched.
NOTEBOOK_WEIGHTS = {
    "convnext_tiny.fb_in22k_ft_in1k": "notebooks/03_mfrgn.ipynb (Tables 4-5, Figs. 7-9)",
    "convnext_small.fb_in1k": "notebooks/05_glqinet.ipynb (Table 4)",
    "resnet50.tv_in1k": "notebooks/05_glqinet.ipynb (Table 4)",
    "resnet101.tv_in1k": "notebooks/05_glqinet.ipynb (Table 4)",
}


def profile_requests(profile: str = "paper", configs_dir: str | os.PathLike = "configs"):
    """Every weight the configs of `profile` ask for, and at the paper profile the notebooks'
    NOTEBOOK_WEIGHTS, one per tag, sorted by tag."""
    from cvgl_core.config import load_config

    files = sorted(Path(configs_dir).glob(f"*/*_{profile}.yaml"))
    if not files:
        raise FileNotFoundError(f"no config matches {Path(configs_dir)}/*/*_{profile}.yaml")
    seen: dict[str, WeightRequest] = {}
    for f in files:
        for r in config_requests(load_config(f), str(f)):
            seen.setdefault(r.tag, r)
    if profile == "paper":
        for tag, source in NOTEBOOK_WEIGHTS.items():
            seen.setdefault(tag, WeightRequest(tag.split(".")[0], tag, source))
    return [seen[t] for t in sorted(seen)]


def is_cached(tag: str) -> bool:
    """True when timm would load `tag` without the network (HF cache, torch hub, or file)."""
    import torch
    from huggingface_hub import try_to_load_from_cache
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(tag)
    if cfg is None:
        raise KeyError(f"timm has no pretrained weights named {tag!r}")
    if cfg.file and Path(cfg.file).is_file():
        return True
    if cfg.hf_hub_id:
        repo, _, revision = cfg.hf_hub_id.partition("@")
        names = [cfg.hf_hub_filename] if cfg.hf_hub_filename else []
        names += ["model.safetensors", "pytorch_model.bin", "open_clip_pytorch_model.bin"]
        for name in names:
            hit = try_to_load_from_cache(repo, name, revision=revision or None)
            if isinstance(hit, str):
                return True
    if cfg.url:
        return (Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(cfg.url)).is_file()
    return False


def missing_message(req: WeightRequest) -> str:
    return (
        f"pretrained weights for backbone {req.backbone!r} (timm tag {req.tag!r}, asked for "
        f"by {req.source}) are not in the local cache; download them once with "
        f"`{FETCH_COMMAND}` (or set model.kwargs.pretrained=false)"
    )


# What timm raises when weights cannot be loaded: huggingface_hub's LocalEntryNotFoundError
# (offline, not cached) is an OSError, like URLError; a bad checkpoint is a RuntimeError.
LOAD_ERRORS = (RuntimeError, OSError)


def load_failure(name: str, exc: BaseException) -> MissingWeightsError:
    """The one-line error for `timm.create_model(name, pretrained=True)` raising `exc`."""
    try:
        tag = full_tag(name)
    except Exception:  # an unknown name: timm's own error says more
        tag = name
    req = WeightRequest(tag.split(".")[0], tag, "the model being built")
    cause = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return MissingWeightsError(f"{missing_message(req)} [{type(exc).__name__}: {cause}]")


def require_weights(cfg, source: str | None = None) -> None:
    """Raise MissingWeightsError for the first weight of `cfg` that is not cached."""
    for req in config_requests(cfg, source):
        if not is_cached(req.tag):
            raise MissingWeightsError(missing_message(req))


def _timm_download(tag: str) -> None:
    import timm

    timm.create_model(tag, pretrained=True)  # timm writes its standard cache


def fetch(
    requests: Iterable[WeightRequest],
    download: Callable[[str], None] = _timm_download,
    log: Callable[[str], None] = print,
) -> list[str]:
    """Download each request's tag that is not cached yet; return the tags downloaded."""
    got = []
    for req in requests:
        if is_cached(req.tag):
            log(f"cached      {req.tag}")
            continue
        from huggingface_hub import constants

        if constants.HF_HUB_OFFLINE:
            raise ValueError(
                f"cannot download {req.tag}: HF_HUB_OFFLINE is set in this shell; run "
                f"`HF_HUB_OFFLINE=0 {FETCH_COMMAND}`"
            )
        log(f"downloading {req.tag} ({req.source})")
        download(req.tag)
        got.append(req.tag)
    return got


# ------------------------------------------------------------------------------ CLI
def add_arguments(parser) -> None:
    parser.add_argument("action", choices=["fetch"], help="fetch: download what is missing")
    parser.add_argument("--profile", default="paper", help="configs/*/*_<profile>.yaml")
    parser.add_argument("--configs", default="configs", help="the configs folder")
    parser.add_argument(
        "--list", action="store_true", help="only list the tags and whether each is cached"
    )


def run(args) -> int:
    reqs = profile_requests(args.profile, args.configs)
    if args.list:
        for r in reqs:
            state = "cached " if is_cached(r.tag) else "missing"
            print(f"{state} {r.tag:40s} {r.source}")
        return 0
    fetch(reqs)
    return 0
