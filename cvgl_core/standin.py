"""The ImageNet stand-in: backbones pretrained once on a synthetic world no evaluation sees.

Every paper fine-tunes an ImageNet-pretrained backbone; nothing may be downloaded here, and a
backbone trained from scratch for two epochs on a laptop stays near chance. So the `cpu`
profile starts each backbone family from weights pretrained on a *separate* synthetic corpus:
the CVUSA-like and University-1652-like layouts written with world seed `STANDIN_SEED`
(towns, buildings, captures and splits all differ from the evaluation worlds, which use the
notebook's seed, 0 by default). Profiles say `pretrained: standin`; the paper profile keeps
ImageNet (`pretrained: true`).

The recipe (`RECIPE`): the full timm model (so the file is a plain timm state dict that any
cut of the backbone loads through timm's own pretrained path), one set of weights for every
view, GeM-pooled last-stage features, symmetric InfoNCE (Sample4Geo's objective) with label
smoothing 0.1, AdamW with a cosine schedule, batches alternating between ground->satellite
pairs (panoramas at the profile's size, north-aligned, joint flip/rotation) and
drone->satellite pairs (no building twice in a batch). It is not ImageNet classification:
on a 2-core budget, contrastive place recognition on a disjoint world is the pretext that
transfers in minutes. What it shares with ImageNet pretraining is what the papers rely on:
the fine-tuning starts from generic features of the *kind* of imagery, learned on other data.

    python -m cvgl_core standin build --profile cpu     # once; `make results` does it
    python -m cvgl_core standin info

Weights: data/standin/<profile>/<arch>.pt (+ .json: recipe, corpus, loss per epoch, sha256);
`CVGL_STANDIN_DIR` moves the folder. They are rebuilt when the recipe changes (`RECIPE_ID`).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from cvgl_core.profiles import get_profile
from cvgl_core.utils import atomic_write_bytes, atomic_write_text

STANDIN = "standin"  # the value of `pretrained` that selects these weights
STANDIN_SEED = 1000  # the corpus's world seed; evaluation worlds use the notebook's (0, 1, ...)
RECIPE = {
    "layouts": ["cvusa", "university1652"],
    "epochs": 4,
    "batch_size": 32,
    "lr": 2.0e-3,
    "weight_decay": 0.01,
    "warmup_epochs": 0.5,
    "label_smoothing": 0.1,
    "gem_p": 3.0,
    "version": 1,
}
RECIPE_ID = hashlib.sha256(json.dumps(RECIPE, sort_keys=True).encode()).hexdigest()[:8]
BUILD_COMMAND = "python -m cvgl_core standin build --profile {profile}"


def arch_of(name: str) -> str:
    """timm architecture of a backbone name ("resnet18.tv_in1k" -> "resnet18")."""
    return name.partition(".")[0]


def standin_dir(profile: str) -> Path:
    from cvgl_core.notebook import repo_root

    base = os.environ.get("CVGL_STANDIN_DIR") or repo_root(Path(__file__).parent) / "data/standin"
    return Path(base) / profile


def weights_path(arch: str, profile: str) -> Path:
    return standin_dir(profile) / f"{arch_of(arch)}.pt"


def archs_of(profile: str) -> list[str]:
    """The backbone families a profile's configs and notebooks use (one stand-in each)."""
    prof = get_profile(profile)
    return sorted({arch_of(a) for a in (prof.convnext, prof.resnet, prof.resnet_deep)})


def _manifest_ok(arch: str, profile: str) -> bool:
    path = weights_path(arch, profile)
    try:
        meta = json.loads(path.with_suffix(".json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return False
    return path.exists() and meta.get("recipe_id") == RECIPE_ID


def timm_kwargs(name: str, pretrained) -> dict:
    """timm.create_model keyword arguments for `pretrained`: a bool (ImageNet from the local
    cache), or a path to a timm state dict (the stand-in's), loaded by timm's own pretrained
    path, so a backbone cut after any stage gets the weights of the stages it keeps."""
    if isinstance(pretrained, str | os.PathLike):
        path = Path(pretrained)
        if not path.is_file():
            raise FileNotFoundError(
                f"backbone {name!r}: pretrained weights file {path} not found"
                + (
                    f" (build the stand-in: {BUILD_COMMAND.format(profile=path.parent.name)})"
                    if path.suffix == ".pt"
                    else ""
                )
            )
        return {"pretrained": True, "pretrained_cfg_overlay": {"file": str(path)}}
    return {"pretrained": bool(pretrained)}


def resolve(
    model_kwargs: dict, profile: str | None, *, model: str | None = None, build: bool = True
) -> dict:
    """model kwargs with `pretrained: standin` replaced by the stand-in file of its backbone
    (`backbone`, else the default backbone of `model`), built first when missing (like the
    synthetic world, on first use)."""
    if model_kwargs.get("pretrained") != STANDIN:
        return model_kwargs
    if profile is None:
        raise ValueError("pretrained: standin needs a profile (the stand-in is per profile)")
    backbone = model_kwargs.get("backbone")
    if backbone is None and model is not None:
        from cvgl_core.weights import _default_backbone

        backbone = _default_backbone(model)
    if not isinstance(backbone, str) or not backbone:
        raise ValueError(f"pretrained: standin, but model {model!r} names no timm backbone")
    arch = arch_of(backbone)
    if not _manifest_ok(arch, profile):
        if not build:
            raise FileNotFoundError(
                f"no stand-in weights for {arch!r} at {weights_path(arch, profile)}: "
                f"{BUILD_COMMAND.format(profile=profile)}"
            )
        ensure(profile, archs=[arch])
    return {**model_kwargs, "pretrained": str(weights_path(arch, profile))}


def ensure(profile: str, archs=None, *, log=print) -> dict[str, Path]:
    """Build the stand-in of each arch unless its current-recipe weights exist."""
    out = {}
    for arch in archs or archs_of(profile):
        if not _manifest_ok(arch, profile):
            pretrain(arch, profile, log=log)
        out[arch] = weights_path(arch, profile)
    return out


def _loaders(profile: str, seed: int):
    """One DataLoader per layout of the corpus (world seed STANDIN_SEED)."""
    from cvgl_core.data import build_dataset
    from cvgl_core.data.samplers import UniqueLabelBatchSampler
    from cvgl_core.synth import ensure_dataset

    prof = get_profile(profile)
    corpus = standin_dir(profile) / "corpus"
    bs = RECIPE["batch_size"]
    loaders = {}
    for layout in RECIPE["layouts"]:
        root = ensure_dataset(layout, corpus, prof, seed=STANDIN_SEED)
        if layout == "university1652":
            sizes = {"drone": prof.sat_size, "satellite": prof.sat_size}
            ds = build_dataset(
                layout, root, "train", "pair", sizes=sizes, augment=True, query_view="drone"
            )
        else:
            sizes = {"ground": tuple(prof.pano_hw), "satellite": prof.sat_size}
            ds = build_dataset(layout, root, "train", "pair", sizes=sizes, augment=True)
        sampler = UniqueLabelBatchSampler(ds.labels, min(bs, len(set(ds.labels))), seed=seed)
        loaders[layout] = (torch.utils.data.DataLoader(ds, batch_sampler=sampler), sampler)
    return loaders


def _gem(x: torch.Tensor, p: float) -> torch.Tensor:
    # [B, C, h, w] -> [B, C]
    return x.float().clamp(min=1e-6).pow(p).mean((-2, -1)).pow(1.0 / p)


def pretrain(arch: str, profile: str, *, epochs: int | None = None, seed: int = 0, log=print):
    """Pretrain the full timm `arch` on the stand-in corpus; write <arch>.pt and .json."""
    import timm

    from cvgl_core.losses import create_loss

    epochs = RECIPE["epochs"] if epochs is None else int(epochs)
    torch.manual_seed(seed)
    t0 = time.time()
    loaders = _loaders(profile, seed)
    log(f"[standin {arch}] corpus ready in {time.time() - t0:.0f} s")
    net = timm.create_model(arch, pretrained=False)
    loss_fn = create_loss("infonce", label_smoothing=RECIPE["label_smoothing"])
    params = list(net.parameters()) + list(loss_fn.parameters())
    opt = torch.optim.AdamW(params, lr=RECIPE["lr"], weight_decay=RECIPE["weight_decay"])
    steps_per_epoch = sum(len(s) for _, s in loaders.values())
    total, warm = epochs * steps_per_epoch, RECIPE["warmup_epochs"] * steps_per_epoch
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt,
        lambda s: (
            (s + 1) / warm
            if s < warm
            else 0.5 * (1 + math.cos(math.pi * (s - warm) / max(1, total - warm)))
        ),
    )
    history = []
    for epoch in range(epochs):
        net.train()
        iters = {}
        for name, (loader, sampler) in loaders.items():
            sampler.set_epoch(epoch)
            iters[name] = iter(loader)
        losses = {name: [] for name in loaders}
        while iters:  # alternate the layouts until each is exhausted
            for name in list(iters):
                batch = next(iters[name], None)
                if batch is None:
                    del iters[name]
                    continue
                # float32: bf16 autocast on a CPU without bf16 units is many times slower
                q = net.forward_features(batch["query"])  # [B, C, h, w]
                r = net.forward_features(batch["reference"])
                q = F.normalize(_gem(q, RECIPE["gem_p"]), dim=-1)  # [B, C]
                r = F.normalize(_gem(r, RECIPE["gem_p"]), dim=-1)
                loss = loss_fn(q, r, torch.as_tensor(batch["label"]))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, 5.0)
                opt.step()
                sched.step()
                losses[name].append(loss.item())
        row = {"epoch": epoch + 1, **{f"loss {n}": sum(v) / len(v) for n, v in losses.items()}}
        row["seconds"] = round(time.time() - t0, 1)
        history.append(row)
        log(
            f"[standin {arch}] "
            + ", ".join(
                f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()
            )
        )
    import io

    buf = io.BytesIO()
    torch.save(net.state_dict(), buf)
    data = buf.getvalue()
    path = weights_path(arch, profile)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, data)
    meta = {
        "arch": arch,
        "profile": profile,
        "recipe": RECIPE,
        "recipe_id": RECIPE_ID if epochs == RECIPE["epochs"] else f"{RECIPE_ID}-e{epochs}",
        "corpus": {
            "layouts": RECIPE["layouts"],
            "world_seed": STANDIN_SEED,
            "folder": str(standin_dir(profile) / "corpus"),
        },
        "seed": seed,
        "epochs": epochs,
        "history": history,
        "seconds": round(time.time() - t0, 1),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    atomic_write_text(path.with_suffix(".json"), json.dumps(meta, indent=2) + "\n")
    return meta


def info(profile: str) -> list[dict]:
    """The manifest of each stand-in of `profile` (missing ones say so)."""
    rows = []
    for arch in archs_of(profile):
        p = weights_path(arch, profile).with_suffix(".json")
        if p.exists():
            m = json.loads(p.read_text())
            last = m["history"][-1] if m["history"] else {}
            rows.append(
                {
                    "arch": arch,
                    "current": m.get("recipe_id") == RECIPE_ID,
                    "epochs": m["epochs"],
                    "seconds": m["seconds"],
                    **last,
                    "path": str(p.with_suffix(".pt")),
                }
            )
        else:
            rows.append(
                {"arch": arch, "current": False, "path": f"missing: {p.with_suffix('.pt')}"}
            )
    return rows


def add_arguments(p) -> None:
    p.add_argument("action", choices=("build", "info"), help="build the stand-ins, or list them")
    p.add_argument("--profile", default="cpu", metavar="NAME", help="whose sizes (default cpu)")
    p.add_argument(
        "--arch",
        action="append",
        default=None,
        metavar="ARCH",
        help="one backbone family (repeatable); default: every one the profile uses",
    )
    p.add_argument("--epochs", type=int, default=None, help=f"default {RECIPE['epochs']}")
    p.add_argument("--force", action="store_true", help="rebuild even when current")


def run(args) -> int:
    if args.action == "info":
        for row in info(args.profile):
            print(
                "  ".join(
                    f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()
                )
            )
        return 0
    for arch in args.arch or archs_of(args.profile):
        if args.force or args.epochs is not None or not _manifest_ok(arch, args.profile):
            meta = pretrain(arch, args.profile, epochs=args.epochs)
            print(f"{arch}: {meta['seconds']:.0f} s -> {weights_path(arch, args.profile)}")
        else:
            print(f"{arch}: current ({weights_path(arch, args.profile)})")
    return 0
