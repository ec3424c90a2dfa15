"""CVUSA, the "19zl" subset (Zhai et al., CVPR 2017; split of Hu et al., CVM-Net, 2018).

    CVUSA/splits/{train,val}-19zl.csv   bingmap/19/<id>.jpg,streetview/panos/<id>.jpg,<annotation>
    CVUSA/bingmap/19/<id>.jpg           satellite 750 x 750
    CVUSA/streetview/panos/<id>.jpg     panorama 224 x 1232, north at the centre column
    CVUSA/polarmap/19/<id>.png          optional, pre-polar-transformed satellite (SAFA)

The root may be CVUSA/ or CVUSA/dataset/ (some archives unpack one level deeper).
Label = the numeric id of the location. Split "test" is an alias of "val" (CVUSA has no
separate test set).
"""

from __future__ import annotations

from pathlib import Path

from cvgl_core.data.base import (
    DataOptions,
    PairDataset,
    Problems,
    ViewDataset,
    check_exist,
    resolve_layout,
)

SPLITS = {"train": "splits/train-19zl.csv", "val": "splits/val-19zl.csv"}
DEFAULT_SIZES = {"ground": (128, 512), "satellite": (256, 256)}


def detect(root: str | Path) -> Path | None:
    """The folder that holds splits/ (root or root/dataset), or None."""
    root = Path(root)
    for cand in (root, root / "dataset"):
        if any((cand / f).is_file() for f in SPLITS.values()):
            return cand
    return None


TITLE = "CVUSA"
EXPECTED = "splits/train-19zl.csv or splits/val-19zl.csv in it or in dataset/"


def resolve(root: str | Path) -> Path:
    return resolve_layout(root, TITLE, detect, EXPECTED)


EXPECTED_LINE = "bingmap/19/<id>.jpg,streetview/panos/<id>.jpg,<annotation>"


def read_split(csv: Path, problems: Problems) -> list[tuple[str, str, int, str]]:
    """-> [(satellite relpath, panorama relpath, label, origin)] from one split CSV."""
    rows = []
    with open(csv, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            parts = [p.strip() for p in line.split(",")]
            origin = f"{csv}:{lineno}"
            if len(parts) < 2 or not parts[0] or not parts[1]:
                problems.malformed(
                    f"{origin}: malformed line {line!r}: expected 3 comma-separated paths "
                    "'bingmap/19/<id>.jpg,streetview/panos/<id>.jpg,<annotation>'"
                )
                continue
            stem = Path(parts[1]).stem
            if not stem.isdigit():
                problems.malformed(
                    f"{origin}: malformed line {line!r}: the panorama name {parts[1]!r} "
                    "should be a numeric location id"
                )
                continue
            rows.append((parts[0], parts[1], int(stem), origin))
    if not rows and not problems.items:
        problems.empty(f"{csv}: empty split file (expected lines {EXPECTED_LINE!r})")
    return rows


def build(root, split: str, role: str, *, polarmap: bool = False, **options):
    """CVUSA dataset. role "pair": ground panorama -> satellite; "query": panoramas;
    "reference": satellite images. polarmap=True reads the stored polarmap/19/<id>.png
    (already polar) instead of polar-transforming bingmap on the fly."""
    split = {"test": "val"}.get(split, split)
    if split not in SPLITS:
        raise KeyError(f"CVUSA split {split!r} unknown; known: train, val (alias test)")
    opts = DataOptions.parse(DEFAULT_SIZES, options)
    root = resolve(root)
    csv = root / SPLITS[split]
    if not csv.is_file():
        raise FileNotFoundError(f"CVUSA split file {csv} not found")
    problems = Problems(opts.strict)
    rows = read_split(csv, problems)
    if polarmap:
        sats = [root / "polarmap" / "19" / (Path(r[1]).stem + ".png") for r in rows]
    else:
        sats = [root / r[0] for r in rows]
    panos = [root / r[1] for r in rows]
    labels = [r[2] for r in rows]
    origins = [r[3] for r in rows]
    if opts.check_files:
        ok = check_exist(panos, origins, "ground", problems) & check_exist(
            sats, origins, "satellite", problems
        )
        keep = ok.nonzero()[0]
        panos, sats = [panos[i] for i in keep], [sats[i] for i in keep]
        labels, origins = [labels[i] for i in keep], [origins[i] for i in keep]
    common = dict(split=split, opts=opts, problems=problems, name="cvusa")
    if role == "pair":
        return PairDataset(
            panos,
            sats,
            labels,
            query_view="ground",
            reference_view="satellite",
            origins=origins,
            already_polar=polarmap,
            **common,
        )
    if role == "query":
        return ViewDataset(panos, labels, view="ground", role=role, origins=origins, **common)
    if role == "reference":
        return ViewDataset(
            sats,
            labels,
            view="satellite",
            role=role,
            origins=origins,
            already_polar=polarmap,
            **common,
        )
    raise KeyError(f"role {role!r} unknown; known: pair, query, reference")


def check_plan(root) -> list[tuple[str, dict]]:
    """What `data check` reads: (split label, build kwargs)."""
    return [(s, dict(split=s, role="pair")) for s in SPLITS]
