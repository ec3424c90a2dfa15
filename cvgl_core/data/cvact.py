"""CVACT (Liu & Li, "Lending Orientation to Neural Networks for Cross-view
Geo-localization", CVPR 2019): ACT_small (train/val) and ACT_test.

    CVACT/ACT_data.mat       panoIds (22-char ids), utm (N x 2), trainSet.trainInd,
                             valSet.valInd, valSetAll.valInd (1-based, n x 1)
    CVACT/ANU_data_small/streetview/<id>_grdView.jpg           train, val
    CVACT/ANU_data_small/satview_polish/<id>_satView_polish.jpg
    CVACT/ANU_data_test/...                                    test (valSetAll)

Splits: "train", "val" (ACT_small's validation split, one true match per query) and
"test" (ACT_test: a reference is correct when within 5 m UTM of the query, so `.positives`
lists every such reference). Ids whose ground or satellite file is missing are skipped:
`.skipped` counts them, `.skipped_ids` names them, and a warning says how many.

The .mat structs are read by field name (mat['trainSet']['trainInd'][0][0] - 1, as most
loaders do); when the name is absent, the field ending in "Ind", else the second field
positionally (as Sample4Geo reads it). Label = the id's row in panoIds.

crop_middle_half (default True, as most methods) keeps panorama rows [H/4, 3H/4)
(208:624 of 832) before resizing; Sample4Geo does not crop (crop_middle_half=False).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from cvgl_core.data.base import DataOptions, PairDataset, Problems, ViewDataset, resolve_layout

SPLITS = {
    "train": ("trainSet", "trainInd", "ANU_data_small"),
    "val": ("valSet", "valInd", "ANU_data_small"),
    "test": ("valSetAll", "valInd", "ANU_data_test"),
}
DEFAULT_SIZES = {"ground": (128, 512), "satellite": (256, 256)}
MAT = "ACT_data.mat"
# The real ACT_test lacks some files; loaders skip them, so `data check` only warns.
MISSING_IS_FATAL = False


def detect(root: str | Path) -> Path | None:
    root = Path(root)
    for cand in (root, root / "CVACT"):
        if (cand / MAT).is_file():
            return cand
    return None


TITLE = "CVACT"
EXPECTED = f"{MAT} in it or in CVACT/"


def resolve(root: str | Path) -> Path:
    return resolve_layout(root, TITLE, detect, EXPECTED)


def _str_list(a) -> list[str]:
    """panoIds as loadmat returns them: a char matrix (array of str) or a cell array."""
    out = []
    for x in np.asarray(a, dtype=object).ravel():
        while isinstance(x, np.ndarray):
            x = x.ravel()[0] if x.size else ""
        out.append(str(x).strip())
    return out


def struct_indices(mat: dict, struct: str, field: str, path: Path) -> np.ndarray:
    """0-based indices from a loadmat struct, e.g. mat['trainSet']['trainInd'][0][0] - 1."""
    if struct not in mat:
        raise KeyError(f"{path}: no struct {struct!r}; found {', '.join(sorted(mat))}")
    s = mat[struct]
    names = s.dtype.names or ()
    if field in names:
        v = s[field][0][0]
    else:
        ends = [n for n in names if n.endswith("Ind")]
        if ends:
            v = s[ends[0]][0][0]
        elif len(names) >= 2:
            v = s[0][0][1]
        else:
            raise KeyError(f"{path}: struct {struct!r} has no index field {field!r}")
    return np.asarray(v, dtype=np.int64).ravel() - 1


def read_mat(path: Path) -> dict:
    import scipy.io

    try:
        return scipy.io.loadmat(path)
    except Exception as e:  # scipy raises several types for a bad file
        raise ValueError(f"{path}: cannot read MATLAB file ({e})") from None


def _positives_within(utm: np.ndarray, radius: float) -> list[np.ndarray]:
    from scipy.spatial import cKDTree

    tree = cKDTree(utm)
    return [np.asarray(sorted(n), dtype=np.int64) for n in tree.query_ball_point(utm, r=radius)]


def build(
    root,
    split: str,
    role: str,
    *,
    crop_middle_half: bool = True,
    positive_radius: float = 5.0,
    **options,
):
    """CVACT dataset; role pair / query (ground) / reference (satellite). The test split's
    query dataset carries `.positives` (references within `positive_radius` metres)."""
    if split not in SPLITS:
        raise KeyError(f"CVACT split {split!r} unknown; known: {', '.join(SPLITS)}")
    opts = DataOptions.parse(DEFAULT_SIZES, options)
    root = resolve(root)
    mat_path = root / MAT
    mat = read_mat(mat_path)
    for key in ("panoIds", "utm"):
        if key not in mat:
            raise KeyError(f"{mat_path}: no variable {key!r}")
    ids = _str_list(mat["panoIds"])
    utm_all = np.asarray(mat["utm"], dtype=np.float64).reshape(-1, 2)
    struct, field, folder = SPLITS[split]
    inds = struct_indices(mat, struct, field, mat_path)
    bad = inds[(inds < 0) | (inds >= len(ids))]
    if bad.size:
        raise ValueError(
            f"{mat_path}: {struct}.{field} holds index {bad[0] + 1} outside 1..{len(ids)}"
        )
    problems = Problems(opts.strict)
    base = root / folder
    panos, sats, labels, origins, skipped = [], [], [], [], []
    for i in inds:
        pid = ids[i]
        g = base / "streetview" / f"{pid}_grdView.jpg"
        s = base / "satview_polish" / f"{pid}_satView_polish.jpg"
        if opts.check_files and not (g.is_file() and s.is_file()):
            skipped.append(pid)
            continue
        panos.append(g)
        sats.append(s)
        labels.append(int(i))
        origins.append(f"{mat_path} {struct}.{field} -> panoIds[{i}] {pid!r}")
    if skipped:
        warnings.warn(
            f"CVACT {split}: skipped {len(skipped)} of {len(inds)} ids whose files are "
            f"missing under {base} (first: {skipped[0]})",
            stacklevel=2,
        )
    row_crop = (0.25, 0.75) if crop_middle_half else None
    common = dict(split=split, opts=opts, problems=problems, name="cvact", origins=origins)
    if role == "pair":
        ds = PairDataset(
            panos,
            sats,
            labels,
            query_view="ground",
            reference_view="satellite",
            row_crop=row_crop,
            **common,
        )
    elif role == "query":
        ds = ViewDataset(panos, labels, view="ground", role=role, row_crop=row_crop, **common)
    elif role == "reference":
        ds = ViewDataset(sats, labels, view="satellite", role=role, **common)
    else:
        raise KeyError(f"role {role!r} unknown; known: pair, query, reference")
    ds.utm = utm_all[np.asarray(labels, dtype=np.int64)] if labels else np.zeros((0, 2))
    ds.pano_ids = [ids[i] for i in labels]
    ds.skipped, ds.skipped_ids = len(skipped), skipped
    if split == "test" and role == "query":
        ds.positives = _positives_within(ds.utm, positive_radius)
    return ds


def check_plan(root) -> list[tuple[str, dict]]:
    return [(s, dict(split=s, role="pair")) for s in SPLITS]
