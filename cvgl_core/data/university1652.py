"""University-1652 (Zheng et al., "University-1652: A Multi-view Multi-source Benchmark
for Drone-based Geo-localization", ACM MM 2020).

    train/{satellite,drone,street,google}/<cls>/...
    test/{query,gallery}_{drone,satellite,street}/<cls>/...   (and 4K_drone, not read)

<cls> is a zero-padded building id; label = int(folder name). Some train/google folders
are empty (they simply contribute no items).

Roles: "pair" (training): every image of `query_view` (drone, street or google) paired
with its building's satellite image; "query": test/query_<view>; "reference":
test/gallery_<view> (on split "train", the train/<view> folders).

Protocols for the reference (gallery) set:
* "official" (default): every gallery building is ranked (951 in the real gallery).
* "sample4geo": gallery buildings absent from test/query_<query_view> are junk (label -1)
  as in Sample4Geo-derived code (the 250 distractor buildings of the real gallery).
`query_view` defaults to the counterpart of the gallery view (satellite <- drone,
drone <- satellite, street <- satellite).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cvgl_core.data.base import (
    DataOptions,
    PairDataset,
    Problems,
    ViewDataset,
    list_images,
    resolve_layout,
)

DEFAULT_SIZES = {"drone": (256, 256), "satellite": (256, 256), "street": (256, 256)}
VIEW_OF = {"drone": "drone", "satellite": "satellite", "street": "street", "google": "street"}
COUNTERPART = {"satellite": "drone", "drone": "satellite", "street": "satellite"}
PROTOCOLS = ("official", "sample4geo")


def detect(root: str | Path) -> Path | None:
    root = Path(root)
    for cand in (root, root / "University-Release", root / "University-1652"):
        if (cand / "train" / "satellite").is_dir() or (
            cand / "test" / "gallery_satellite"
        ).is_dir():
            return cand
    return None


TITLE = "University-1652"
EXPECTED = "train/satellite/ or test/gallery_satellite/"


def resolve(root: str | Path) -> Path:
    return resolve_layout(root, TITLE, detect, EXPECTED)


def read_folder(folder: Path, problems: Problems) -> tuple[list[Path], list[int], list[str]]:
    """Images of <folder>/<cls>/* -> (paths, labels, origins), classes in name order."""
    if not folder.is_dir():
        raise FileNotFoundError(f"University-1652 folder {folder} not found")
    paths, labels, origins = [], [], []
    for cls in sorted(p for p in folder.iterdir() if p.is_dir()):
        if not cls.name.isdigit():
            problems.malformed(f"{cls}: class folder names must be numeric building ids")
            continue
        for img in list_images(cls):
            paths.append(img)
            labels.append(int(cls.name))
            origins.append(f"{cls}/")
    return paths, labels, origins


def build(
    root,
    split: str,
    role: str,
    *,
    view: str | None = None,
    query_view: str | None = None,
    protocol: str = "official",
    **options,
):
    """University-1652. view: the view of a single-view dataset (query default drone,
    reference default satellite); query_view: the pair's query (drone | street | google)
    or, for a reference set, which query folder the sample4geo protocol compares with."""
    if split not in ("train", "test"):
        raise KeyError(f"University-1652 split {split!r} unknown; known: train, test")
    if protocol not in PROTOCOLS:
        raise KeyError(f"University-1652 protocol {protocol!r} unknown; known: {PROTOCOLS}")
    opts = DataOptions.parse(DEFAULT_SIZES, options)
    root = resolve(root)
    problems = Problems(opts.strict)
    common = dict(split=split, opts=opts, problems=problems, name="university1652")
    if role == "pair":
        qv = query_view or "drone"
        if qv not in ("drone", "street", "google"):
            raise KeyError(f"pair query_view {qv!r} unknown; known: drone, street, google")
        base = root / split if split == "train" else root / "test"
        sat_folder = base / ("satellite" if split == "train" else "gallery_satellite")
        q_folder = base / (qv if split == "train" else f"query_{qv}")
        sat_paths, sat_labels, _ = read_folder(sat_folder, problems)
        sat_of = {}
        for p, lab in zip(sat_paths, sat_labels):
            sat_of.setdefault(lab, p)  # the first satellite image of a building
        qp, ql, qo = read_folder(q_folder, problems)
        keep = []
        for i, lab in enumerate(ql):
            if lab in sat_of:
                keep.append(i)
            else:
                problems.malformed(f"{qo[i]}: building {lab:04d} has no image in {sat_folder}")
        return PairDataset(
            [qp[i] for i in keep],
            [sat_of[ql[i]] for i in keep],
            [ql[i] for i in keep],
            query_view=VIEW_OF[qv],
            reference_view="satellite",
            origins=[qo[i] for i in keep],
            augment_mode="independent",
            **common,
        )
    if role not in ("query", "reference"):
        raise KeyError(f"role {role!r} unknown; known: pair, query, reference")
    view = view or ("drone" if role == "query" else "satellite")
    if view not in VIEW_OF or (split == "test" and view == "google"):
        raise KeyError(f"University-1652 view {view!r} unknown; known: drone, satellite, street")
    if split == "train":
        folder = root / "train" / view
    else:
        folder = root / "test" / f"{'query' if role == 'query' else 'gallery'}_{view}"
    paths, labels, origins = read_folder(folder, problems)
    labels = np.asarray(labels, dtype=np.int64)
    if role == "reference" and protocol == "sample4geo":
        qv = query_view or COUNTERPART[view]
        _, q_labels, _ = read_folder(root / "test" / f"query_{qv}", problems)
        labels = np.where(np.isin(labels, np.unique(q_labels)), labels, -1)
    ds = ViewDataset(paths, labels, view=VIEW_OF[view], role=role, origins=origins, **common)
    ds.protocol = protocol
    return ds


def check_plan(root) -> list[tuple[str, dict]]:
    root = resolve(root)
    plan = []
    for v in ("satellite", "drone", "street", "google"):
        if (root / "train" / v).is_dir():
            label = "train google" if v == "google" else "train"
            plan.append((label, dict(split="train", role="query", view=v)))
    for role in ("query", "reference"):
        for v in ("drone", "satellite", "street"):
            name = f"{'query' if role == 'query' else 'gallery'}_{v}"
            if (root / "test" / name).is_dir():
                plan.append((f"test {name}", dict(split="test", role=role, view=v)))
    return plan
