"""Building a gallery index (from a checkpoint and a dataset split, or from a folder of
tiles with a CSV of coordinates) and scoring localisation with it.

Coordinates per layout (what the dataset classes expose): VIGOR tiles' `.gps` (lat, lon from
their file names; the synthetic VIGOR-like world writes its own positions there), CVACT's
`.utm` (metres), none for CVUSA, building ids (`.labels`) for University-1652 and SUES-200.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import torch

from cvgl_core.localize.geo import distance_m, localization_metrics
from cvgl_core.localize.index import Index
from cvgl_core.localize.model import QUERY_VIEW, fingerprint, load_model, view_options


def dataset_coords(ds):
    """(coords (N, 2) or None, kind) of a dataset: VIGOR .gps (latlon), CVACT .utm (metres)."""
    if getattr(ds, "utm", None) is not None and len(ds.utm) == len(ds):
        return np.asarray(ds.utm, dtype=np.float64), "metres"
    if getattr(ds, "gps", None) is not None and len(ds.gps) == len(ds):
        return np.asarray(ds.gps, dtype=np.float64), "latlon"
    return None, None


def _ids(paths, root: Path) -> list[str]:
    out = []
    for p in paths:
        try:
            out.append(Path(p).relative_to(root).as_posix())
        except ValueError:
            out.append(Path(p).name)
    return out


def _same_model(loaded, model, checkpoint):
    """`model` (e.g. the notebook's trained model, already in memory) if it holds the
    checkpoint's weights, else ValueError; the loaded model when none is given."""
    if model is None:
        return loaded
    if fingerprint(model) != fingerprint(loaded):
        raise ValueError(f"the model given does not hold the weights of {checkpoint}")
    return model


def _describe(model, ds, batch_size: int, progress: bool) -> torch.Tensor:
    from cvgl_core.evaluation import extract_descriptors

    return extract_descriptors(model, ds, batch_size=batch_size, progress=progress)[0]


def build_index(
    checkpoint,
    data_root=None,
    split: str | None = None,
    *,
    model=None,
    dtype: str = "float16",
    batch_size: int = 64,
    progress: bool = False,
    ivfpq: bool = False,
) -> Index:
    """The index of the reference tiles of `split` (default: the config's eval split) of the
    checkpoint's dataset under `data_root` (default: the config's root or synthetic world)."""
    from cvgl_core.data import build_dataset
    from cvgl_core.training.experiment import dataset_root

    loaded, cfg, sha = load_model(checkpoint)
    model = _same_model(loaded, model, checkpoint)
    if data_root is not None:
        cfg.data.root = str(data_root)
    root = dataset_root(cfg)
    split = split or cfg.data.eval_split
    ds = build_dataset(cfg.data.dataset, root, split, "reference", **cfg.data.options)
    coords, kind = dataset_coords(ds)
    index = Index.create(
        _describe(model, ds, batch_size, progress),
        _ids(ds.paths, Path(root)),
        [str(p) for p in ds.paths],
        config=cfg.to_dict(),
        model_fingerprint=fingerprint(model),
        query_view=QUERY_VIEW[cfg.data.dataset],
        reference_view=ds.view,
        checkpoint=os.path.abspath(checkpoint),
        checkpoint_sha256=sha,
        coords=coords,
        coord_kind=kind,
        labels=ds.labels,
        dtype=dtype,
        source={"dataset": cfg.data.dataset, "root": str(root), "split": split},
    )
    if ivfpq:
        index.add_ivfpq()
    return index


def read_tile_csv(path) -> tuple[list[Path], np.ndarray | None, str | None, list[int] | None]:
    """A tile CSV: a `file` column (relative to the CSV's folder or absolute), then either
    `lat,lon`, or `x,y` (metres), or neither; an optional integer `label` column."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"tile CSV not found: {path}")
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
        cols = set(reader.fieldnames or ())
    if "file" not in cols:
        raise ValueError(f"{path}: needs a 'file' column (then lat,lon or x,y); has {sorted(cols)}")
    kind = "latlon" if {"lat", "lon"} <= cols else "metres" if {"x", "y"} <= cols else None
    keys = {"latlon": ("lat", "lon"), "metres": ("x", "y")}.get(kind)
    files, xy = [], []
    for n, r in enumerate(rows, 2):
        p = Path(r["file"])
        files.append(p if p.is_absolute() else path.parent / p)
        if keys:
            try:
                xy.append((float(r[keys[0]]), float(r[keys[1]])))
            except (TypeError, ValueError):
                raise ValueError(f"{path}:{n}: {keys[0]},{keys[1]} must be numbers") from None
    labels = [int(r["label"]) for r in rows] if "label" in cols else None
    return files, (np.asarray(xy) if keys else None), kind, labels


def build_index_from_folder(
    checkpoint,
    tiles_csv,
    *,
    model=None,
    dtype="float16",
    batch_size: int = 64,
    progress: bool = False,
) -> Index:
    """The index of the tiles listed in `tiles_csv` (see read_tile_csv), loaded as the
    checkpoint's dataset loads satellite tiles."""
    from cvgl_core.data.base import Problems, ViewDataset, check_exist

    loaded, cfg, sha = load_model(checkpoint)
    model = _same_model(loaded, model, checkpoint)
    files, coords, kind, labels = read_tile_csv(tiles_csv)
    if not files:
        raise ValueError(f"{tiles_csv}: the gallery is empty (no tile rows)")
    check_exist(
        files, [f"{tiles_csv}:{i + 2}" for i in range(len(files))], "satellite", Problems(True)
    )
    opts = view_options(cfg.to_dict())
    ds = ViewDataset(
        files,
        labels if labels is not None else np.arange(len(files)),
        view="satellite",
        split="folder",
        opts=opts,
        role="reference",
    )
    root = Path(tiles_csv).parent
    return Index.create(
        _describe(model, ds, batch_size, progress),
        _ids(files, root),
        [str(p) for p in files],
        config=cfg.to_dict(),
        model_fingerprint=fingerprint(model),
        query_view=QUERY_VIEW[cfg.data.dataset],
        checkpoint=os.path.abspath(checkpoint),
        checkpoint_sha256=sha,
        coords=coords,
        coord_kind=kind,
        labels=labels,
        dtype=dtype,
        source={"tiles_csv": str(Path(tiles_csv).resolve())},
    )


def evaluate_localization(
    model,
    index: Index,
    query_ds,
    *,
    ks=(1, 5, 10),
    backend="exact",
    batch_size: int = 64,
    progress: bool = False,
    **backend_options,
):
    """Recall@K (top-K tiles hold a positive: `query_ds.positives`, else equal labels) and,
    where both the queries and the gallery carry coordinates, the share of queries whose
    top-1 tile lies within 25 m / 50 m / 100 m / 1 km of the truth (geo.localization_metrics)."""
    index.check_model(model)
    from cvgl_core.evaluation import extract_descriptors

    q, q_labels = extract_descriptors(model, query_ds, batch_size=batch_size, progress=progress)
    k = max(ks)
    _, rows = index.search_descriptors(q, k, backend=backend, **backend_options)  # (Q, k)
    positives = getattr(query_ds, "positives", None)
    if positives is not None:
        hit = np.array([np.isin(r, np.atleast_1d(p)) for r, p in zip(rows, positives)])
    else:
        hit = index.labels[rows] == q_labels[:, None]
    out = {f"R@{j}": float(100.0 * hit[:, :j].any(1).mean()) for j in ks}
    truth, kind = dataset_coords(query_ds)
    if truth is not None and index.coords is not None and kind == index.coord_kind:
        errors = distance_m(truth, index.coords[rows[:, 0]], kind)
        out.update(localization_metrics(errors))
    return out
