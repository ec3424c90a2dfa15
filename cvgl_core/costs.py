"""What a model costs to run: the cost table of notebook 06 (the cross-paper benchmark).

    from cvgl_core.costs import cost_table
    table = cost_table({"LRFR": "configs/lrfr/university1652_{profile}.yaml", ...},
                       profile="paper")

One row per (method, config), every model built without pretrained weights (costs do not
depend on them): parameters, FLOPs of one (query, satellite) pair, extraction time per image,
descriptor lengths and what a VIGOR-sized gallery (90,618 tiles) of them weighs and costs to
rank one query against (per query, as the evaluator ranks a block: `retrieval_ms`). The
input sizes are derived from the config alone, as the dataset loaders size each view
(`input_shapes`), so the paper sizes need no paper data.

GLQINet's `num_classes: train_classes` is read from the training pairs, which a cost row does
not build: the papers' class counts are used at every profile (`PAPER_CLASSES`); the
classification heads are training-only but counted in the parameters, as create_model
builds them.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from cvgl_core.config import load_config
from cvgl_core.data import DATASETS
from cvgl_core.data.base import VIEWS, DataOptions
from cvgl_core.data.transforms import fov_crop_width
from cvgl_core.evaluation import chunked_similarity, rank_positives
from cvgl_core.models.flops import count_flops, count_parameters, extraction_ms_per_query
from cvgl_core.training.experiment import TRAIN_CLASSES, build_model

VIGOR_GALLERY = 90_618  # VIGOR same-area test tiles: the largest gallery of the five papers
PAPER_CLASSES = {"university1652": 701, "sues200": 120}  # training buildings / locations
MEMORY_CAP = 2**30  # bytes a timed gallery may take; larger ones are timed on a part, scaled
_OPTION_FIELDS = {f.name for f in dataclasses.fields(DataOptions)}


def query_view(cfg) -> str:
    """The view of the evaluation queries: the drone for University-1652 and SUES-200 (their
    loaders' default, or data.options.view; University-1652's "google" is a street view),
    the ground panorama for CVUSA, CVACT and VIGOR."""
    if cfg.data.dataset in ("university1652", "sues200"):
        view = cfg.data.options.get("view") or "drone"
        return {"google": "street"}.get(view, view)
    return "ground"


def input_shapes(cfg, views=None) -> dict[str, tuple[int, int]]:
    """view -> (H, W) of the image the model receives, for the query view and "satellite"
    (or `views`), from cfg.data.options alone: each view resized to its size (the dataset's
    default unless data.options.sizes sets it); a polar satellite (polar, or CVUSA's stored
    polarmap) is polar_size, default the ground size; a limited FoV keeps int(fov/360 * W)
    of the ground panorama's columns (transforms.fov_crop_width), as ViewTransform does."""
    name = cfg.data.dataset
    try:
        defaults = DATASETS.get(name).DEFAULT_SIZES
    except KeyError as e:
        raise KeyError(f"data.dataset: {e.args[0]}") from None
    options = {k: v for k, v in cfg.data.options.items() if k in _OPTION_FIELDS}
    try:
        opts = DataOptions.parse(defaults, options)
    except (KeyError, ValueError) as e:
        raise type(e)(f"data.options: {e.args[0]}") from None
    polarmap = bool(cfg.data.options.get("polarmap"))  # CVUSA: stored polar images
    out = {}
    for view in views or (query_view(cfg), "satellite"):
        if view not in VIEWS:
            raise KeyError(f"view {view!r} unknown; known: {', '.join(VIEWS)}")
        t = opts.transform(view, already_polar=polarmap)
        hw = t.polar_hw if t.polar_hw is not None else t.size
        if hw is None:
            stored_polar = view == "satellite" and polarmap
            key = "polar_size (or sizes.ground)" if stored_polar else f"sizes.{view}"
            raise ValueError(
                f"data.options.{key}: no size for the {view} view of {name} (None keeps the "
                "stored image size, unknown without the data): set it in the config"
            )
        if t.fov is not None:
            hw = (hw[0], fov_crop_width(hw[1], t.fov))
        out[view] = (int(hw[0]), int(hw[1]))
    return out


def build_cost_model(cfg) -> torch.nn.Module:
    """The model of `cfg` in eval mode, without pretrained weights; `num_classes:
    train_classes` becomes the paper's class count of the dataset (PAPER_CLASSES)."""
    kwargs = dict(cfg.model.kwargs)
    if kwargs.get("num_classes") == TRAIN_CLASSES:
        if cfg.data.dataset not in PAPER_CLASSES:
            raise KeyError(
                f"model.kwargs.num_classes: {TRAIN_CLASSES} on {cfg.data.dataset!r}, which has "
                f"no paper class count; known: {', '.join(PAPER_CLASSES)}"
            )
        kwargs["num_classes"] = PAPER_CLASSES[cfg.data.dataset]
    cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, kwargs=kwargs))
    return build_model(cfg, pretrained=False).eval()


@torch.no_grad()
def retrieval_ms(
    d_query: int,
    d_reference: int,
    gallery: int = VIGOR_GALLERY,
    *,
    similarity=None,
    queries: int = 16,
    memory_cap: int = MEMORY_CAP,
    repeats: int = 5,
    device=None,
    seed: int = 0,
) -> tuple[float, str]:
    """(ms, measured on): the time per query of ranking queries against `gallery` float32
    records of length d_reference with the evaluator's engine (`rank_positives`: dot
    products, or `similarity` for pairwise models).

    Time per query in a block: t(queries) / queries, t the median of `repeats` calls after
    one warm-up, as an evaluation scores its queries in blocks. Not the marginal
    (t(1 + q) - t(1)) / q: on a CPU a block of 17 dot-product queries reads the gallery from
    memory once, as one query does, so the marginal time came out at 0.00 ms (negative,
    clipped) on a quiet machine; the per-block time includes the once-per-call check of the
    gallery (about one query's scoring), spread over the block. A gallery over `memory_cap`
    bytes (records, plus the (queries, R) score and count blocks) is timed on its first n
    tiles and scaled by gallery / n: the ranking is linear in the gallery. Random records:
    the time does not depend on their values."""
    device = torch.device(device or "cpu")
    per_tile = 4 * d_reference + 8 * queries
    n = int(min(gallery, max(1, memory_cap // per_tile)))
    gen = torch.Generator().manual_seed(seed)
    reference = torch.randn(n, d_reference, generator=gen).to(device)  # (n, D_ref)
    block = torch.randn(queries, d_query, generator=gen).to(device)  # (k, D_q)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda *a: None)

    def median_ms(q: torch.Tensor) -> float:
        labels = dict(query_labels=np.zeros(len(q), np.int64), reference_labels=np.arange(n))
        times = []
        for _ in range(repeats + 1):
            sync(device)
            start = time.perf_counter()
            rank_positives(q, reference, **labels, similarity=similarity, device=device)
            sync(device)
            times.append((time.perf_counter() - start) * 1000.0)
        return statistics.median(times[1:])

    per_query = median_ms(block) / queries
    return per_query * gallery / n, f"{n:,}" if n == gallery else f"{n:,}, scaled"


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu, {torch.get_num_threads()} threads"


def cost_row(
    cfg,
    *,
    gallery: int = VIGOR_GALLERY,
    repeats: int = 5,
    device=None,
    memory_cap: int = MEMORY_CAP,
    queries: int = 16,
) -> dict:
    """The costs of the model of `cfg` on `device` (default CPU), batch 1: parameters (10^6),
    GFLOPs of a query image + a satellite image forward (count_flops), extraction ms per
    image (mean of both views' medians over `repeats`), descriptor lengths (D query, D
    reference; "descriptor D" and its float32 bytes are the reference's), the float32
    gallery's GiB at `gallery` tiles, and `retrieval_ms` per query at that gallery. Pairwise
    models (AWM's correlation / DSM modes, `model.pairwise`) are ranked with
    model.similarity, as evaluate_retrieval does; their reference record is then the
    full-width feature map."""
    device = torch.device(device or "cpu")
    shapes = input_shapes(cfg)
    qv = query_view(cfg)
    model = build_cost_model(cfg).to(device)
    images = {v: torch.randn(1, 3, *hw, device=device) for v, hw in shapes.items()}
    with torch.no_grad():
        dims = {v: int(model(x, view=v).shape[1]) for v, x in images.items()}
    flops = sum(count_flops(model, x, view=v) for v, x in images.items())
    extract = [
        extraction_ms_per_query(model, hw, view=v, repeats=repeats, device=device)
        for v, hw in shapes.items()
    ]
    pairwise = bool(getattr(model, "pairwise", False))
    similarity = chunked_similarity(model.similarity) if pairwise else None
    d_ref = dims["satellite"]
    ms, measured_on = retrieval_ms(
        dims[qv],
        d_ref,
        gallery,
        similarity=similarity,
        queries=queries,
        memory_cap=memory_cap,
        repeats=repeats,
        device=device,
    )
    at = f"@{gallery:,}"
    return {
        "method": cfg.model.name,
        "dataset": cfg.data.dataset,
        "profile": cfg.profile,
        "query input": "x".join(map(str, shapes[qv])),
        "satellite input": "x".join(map(str, shapes["satellite"])),
        "parameters (M)": count_parameters(model) / 1e6,
        "GFLOPs / pair": flops / 1e9,
        "extract ms / image": statistics.fmean(extract),
        "device": _device_name(device),
        "descriptor D": d_ref,
        "D query": dims[qv],
        "D reference": d_ref,
        "descriptor bytes": 4 * d_ref,
        f"gallery GiB {at}": 4 * d_ref * gallery / 2**30,
        f"retrieval ms / query {at}": ms,
        "retrieval measured on": measured_on,
        "scoring": "model.similarity (pairwise)" if pairwise else "dot product",
    }


def cost_table(configs: dict, *, profile: str | None = None, overrides=None, **kwargs):
    """DataFrame indexed by label, one `cost_row` per label -> config path; "{profile}" in a
    path is filled with `profile`. Every config is loaded with model.kwargs.pretrained False
    (plus `overrides`); `kwargs` go to cost_row."""
    import pandas as pd

    rows = []
    for label, path in configs.items():
        path = str(path)
        if "{profile}" in path:
            if profile is None:
                raise ValueError(f"config of {label!r}: {path} has {{profile}}; pass profile=")
            path = path.replace("{profile}", profile)
        if not Path(path).is_file():
            raise FileNotFoundError(f"config of {label!r} not found: {path}")
        cfg = load_config(path, overrides={"model.kwargs.pretrained": False, **(overrides or {})})
        rows.append({"label": label, "config": path, **cost_row(cfg, **kwargs)})
    return pd.DataFrame(rows).set_index("label")
