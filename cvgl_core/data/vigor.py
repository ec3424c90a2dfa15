"""VIGOR (Zhu et al., "VIGOR: Cross-View Image Geo-localization beyond One-to-one
Retrieval", CVPR 2021): same-area and cross-area protocols.

Official tree                              Sample4Geo's tree (tree="sample4geo")
    <City>/panorama/<id>,<lat>,<lng>,.jpg      ground/<City>/<panorama file>
    <City>/satellite/satellite_<lat>_<lng>.png satellite/<City>/<tile file>
    splits/<City>/satellite_list.txt, same_area_balanced_{train,test}.txt, pano_label_balanced.txt

A tile's global index is its position across the protocol's cities in list order
(NewYork, Seattle, SanFrancisco, Chicago as in the official code). Label lines hold 13
fields: the panorama, then 4 x (tile, d_row, d_col); the first tile is the positive, the
other three are semi-positives. The panorama sits at row T/2 + d_row, column T/2 - d_col of
each tile (T = 640 for the real tiles; see `pano_pixel_in_tile`).

Same-area: panoramas of all four cities (their train or test label file), references =
every tile of all four. Cross-area: train on NewYork + Seattle, test on SanFrancisco +
Chicago (pano_label_balanced.txt), references = the tiles of those cities.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cvgl_core.data.base import (
    DataOptions,
    PairDataset,
    Problems,
    ViewDataset,
    check_exist,
    resolve_layout,
)

CITIES = ("NewYork", "Seattle", "SanFrancisco", "Chicago")
CROSS_CITIES = {"train": ("NewYork", "Seattle"), "test": ("SanFrancisco", "Chicago")}
DEFAULT_SIZES = {"ground": (320, 640), "satellite": (320, 320)}
TREES = ("official", "sample4geo")


def detect(root: str | Path) -> Path | None:
    root = Path(root)
    for cand in (root, root / "VIGOR"):
        if (cand / "splits").is_dir() and _tree(cand) is not None:
            return cand
    return None


TITLE = "VIGOR"
EXPECTED = "splits/ and either <City>/panorama/ (official tree) or ground/<City>/ (Sample4Geo)"


def resolve(root: str | Path) -> Path:
    return resolve_layout(root, TITLE, detect, EXPECTED)


def _tree(root: Path) -> str | None:
    if any((root / c / "panorama").is_dir() for c in CITIES):
        return "official"
    if (root / "ground").is_dir() and (root / "satellite").is_dir():
        return "sample4geo"
    return None


def _dirs(root: Path, tree: str, city: str) -> tuple[Path, Path]:
    if tree == "official":
        return root / city / "panorama", root / city / "satellite"
    return root / "ground" / city, root / "satellite" / city


def pano_pixel_in_tile(offsets: np.ndarray, tile_size: int = 640) -> np.ndarray:
    """(..., 2) offsets (d_row, d_col) -> (row, col) of the panorama in the tile."""
    offsets = np.asarray(offsets, dtype=np.float64)
    return np.stack([tile_size / 2 + offsets[..., 0], tile_size / 2 - offsets[..., 1]], axis=-1)


def _gps_from_name(name: str, kind: str) -> tuple[float, float]:
    """Latitude, longitude from '<id>,<lat>,<lng>,.jpg' or 'satellite_<lat>_<lng>.png'."""
    try:
        if kind == "pano":
            parts = name.split(",")
            return float(parts[1]), float(parts[2])
        parts = Path(name).stem.split("_")
        return float(parts[1]), float(parts[2])
    except (IndexError, ValueError):
        return float("nan"), float("nan")


def read_tiles(root: Path, tree: str, cities, problems: Problems):
    """-> (paths, names-to-index per city, origins) over the cities in order."""
    paths, index, origins = [], {}, []
    for city in cities:
        lst = root / "splits" / city / "satellite_list.txt"
        if not lst.is_file():
            raise FileNotFoundError(f"VIGOR tile list {lst} not found")
        sat_dir = _dirs(root, tree, city)[1]
        with open(lst, encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                name = line.strip()
                if not name:
                    continue
                if len(name.split()) != 1:
                    problems.malformed(
                        f"{lst}:{lineno}: malformed line {name!r}: expected one tile file name"
                    )
                    continue
                index[(city, name)] = len(paths)
                paths.append(sat_dir / name)
                origins.append(f"{lst}:{lineno}")
    return paths, index, origins


def read_labels(root: Path, tree: str, city: str, label_file: str, tiles: dict, problems):
    """-> rows (pano path, [4 tile indices], [4 x (d_row, d_col)], origin)."""
    path = root / "splits" / city / label_file
    if not path.is_file():
        raise FileNotFoundError(f"VIGOR label file {path} not found")
    pano_dir = _dirs(root, tree, city)[0]
    rows = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            fields = line.split()
            if not fields:
                continue
            origin = f"{path}:{lineno}"
            if len(fields) != 13:
                problems.malformed(
                    f"{origin}: malformed line: expected 13 space-separated fields "
                    f"(panorama, then 4 x tile d_row d_col), got {len(fields)}"
                )
                continue
            idx, off = [], []
            try:
                for k in range(4):
                    tile, dr, dc = fields[1 + 3 * k : 4 + 3 * k]
                    off.append((float(dr), float(dc)))
                    if (city, tile) not in tiles:
                        raise KeyError(tile)
                    idx.append(tiles[(city, tile)])
            except ValueError:
                problems.malformed(f"{origin}: malformed line: offsets must be numbers")
                continue
            except KeyError as e:
                problems.malformed(
                    f"{origin}: tile {e.args[0]!r} is not in splits/{city}/satellite_list.txt"
                )
                continue
            rows.append((pano_dir / fields[0], idx, off, origin))
    return rows


def build(
    root,
    split: str,
    role: str,
    *,
    area: str = "same",
    tree: str = "auto",
    cities=None,
    **options,
):
    """VIGOR dataset. area "same" | "cross"; tree "auto" | "official" | "sample4geo";
    cities overrides the protocol's city list (e.g. a subset). role "pair": panorama ->
    positive tile; "query": panoramas with .positives, .semi_positives, .offsets (N, 4, 2)
    (d_row, d_col of the positive then the semi-positives) and .gps; "reference": tiles."""
    if split not in ("train", "test"):
        raise KeyError(f"VIGOR split {split!r} unknown; known: train, test")
    if area not in ("same", "cross"):
        raise KeyError(f"VIGOR area {area!r} unknown; known: same, cross")
    opts = DataOptions.parse(DEFAULT_SIZES, options)
    root = resolve(root)
    if tree == "auto":
        tree = _tree(root)
    elif tree not in TREES:
        raise KeyError(f"VIGOR tree {tree!r} unknown; known: auto, {', '.join(TREES)}")
    if cities is None:
        cities = CITIES if area == "same" else CROSS_CITIES[split]
    label_file = f"same_area_balanced_{split}.txt" if area == "same" else "pano_label_balanced.txt"
    problems = Problems(opts.strict)
    tile_paths, tile_index, tile_origins = read_tiles(root, tree, cities, problems)
    rows = []
    for city in cities:
        rows += read_labels(root, tree, city, label_file, tile_index, problems)
    if opts.check_files:
        if role == "reference":
            check_exist(tile_paths, tile_origins, "satellite", problems)
        else:
            ok = check_exist([r[0] for r in rows], [r[3] for r in rows], "ground", problems)
            rows = [r for r, k in zip(rows, ok) if k]
            if role == "pair":
                pos = [tile_paths[r[1][0]] for r in rows]
                ok = check_exist(pos, [r[3] for r in rows], "satellite", problems)
                rows = [r for r, k in zip(rows, ok) if k]
    tiles = np.asarray([r[1] for r in rows], dtype=np.int64).reshape(-1, 4)
    panos, origins = [r[0] for r in rows], [r[3] for r in rows]
    common = dict(split=split, opts=opts, problems=problems, name=f"vigor-{area}")
    if role == "pair":
        ds = PairDataset(
            panos,
            [tile_paths[i] for i in tiles[:, 0]],
            tiles[:, 0],
            query_view="ground",
            reference_view="satellite",
            origins=origins,
            **common,
        )
    elif role == "query":
        ds = ViewDataset(panos, tiles[:, 0], view="ground", role=role, origins=origins, **common)
        ds.positives = [t[:1].copy() for t in tiles]
        ds.semi_positives = [t[1:].copy() for t in tiles]
    elif role == "reference":
        ds = ViewDataset(
            tile_paths,
            np.arange(len(tile_paths)),
            view="satellite",
            role=role,
            origins=tile_origins,
            **common,
        )
        ds.gps = np.array([_gps_from_name(p.name, "tile") for p in tile_paths]).reshape(-1, 2)
        return ds
    else:
        raise KeyError(f"role {role!r} unknown; known: pair, query, reference")
    ds.tile_indices = tiles
    ds.offsets = np.asarray([r[2] for r in rows], dtype=np.float32).reshape(-1, 4, 2)
    ds.gps = np.array([_gps_from_name(p.name, "pano") for p in panos]).reshape(-1, 2)
    ds.area, ds.cities, ds.tree = area, tuple(cities), tree
    return ds


def check_plan(root) -> list[tuple[str, dict]]:
    plan = []
    for area in ("same", "cross"):
        for split in ("train", "test"):
            for role in ("query", "reference"):
                plan.append((f"{area}-area {split}", dict(split=split, role=role, area=area)))
    return plan
