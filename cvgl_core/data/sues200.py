"""SUES-200 (Zhu et al., "SUES-200: A Multi-height Multi-scene Cross-view Image Benchmark
Across Drone and Satellite", IEEE TCSVT 2023).

Raw tree (as distributed):
    drone_view_512/<loc>/<h>/<n>.jpg
    satellite-view/<loc>/0.png
Split tree (written by the benchmark's split script):
    Training/<h>/{drone,satellite}/<loc>/
    Testing/<h>/{query_drone,query_satellite,gallery_drone,gallery_satellite}/<loc>/

Each altitude h in 150/200/250/300 is its own dataset. Protocols:
* "official" (default): train = the 120 ids listed by the benchmark's split (indexs.yaml),
  queries = the other 80, galleries = all 200 locations.
* "1-120": train = ids 1-120, queries = 121-200, galleries still all 200 locations (the
  alternative some re-implementations use).
The split tree is what the benchmark's script wrote for its split, so "official" reads it
when it exists (beside or instead of the raw tree) and falls back to the raw tree and the
listed ids otherwise; "1-120" needs the raw tree. (The synthetic world writes both trees,
its Training/ holding a seeded 60 % of its locations.) Locations are the <loc> folders
present; label = int(<loc>).
"""

from __future__ import annotations

from pathlib import Path

from cvgl_core.data.base import (
    DataOptions,
    PairDataset,
    Problems,
    ViewDataset,
    list_images,
    resolve_layout,
)

ALTITUDES = (150, 200, 250, 300)
DEFAULT_SIZES = {"drone": (256, 256), "satellite": (256, 256)}
PROTOCOLS = ("official", "1-120")
# The benchmark's training ids (indexs.yaml of the SUES-200 split script).
OFFICIAL_TRAIN_IDS = frozenset(
    int(s)
    for s in """
    1 2 3 4 5 6 7 9 10 11 13 15 16 20 21 24 25 26 27 28 29 30 31 32 33 34 36 37 39 43
    44 45 51 55 56 57 58 60 64 66 67 69 70 73 74 76 77 80 81 82 84 85 86 87 88 89 90 91 94 96
    97 100 101 102 103 104 105 106 113 116 118 119 120 123 125 126 127 129 132 134 137 139
    141 142 145 146 147 148 149 151 152 155 156 157 158 159 160 163 166 167 168 169 171 174
    179 180 182 183 184 185 186 187 191 192 193 196 197 198 199 200
    """.split()
)
assert len(OFFICIAL_TRAIN_IDS) == 120


def _layout(root: Path, protocol: str = "official") -> str | None:
    raw = (root / "drone_view_512").is_dir() and (root / "satellite-view").is_dir()
    split = (root / "Training").is_dir() or (root / "Testing").is_dir()
    if split and (protocol == "official" or not raw):
        return "split"
    return "raw" if raw else None


def detect(root: str | Path) -> Path | None:
    root = Path(root)
    for cand in (root, root / "SUES-200-512x512"):
        if _layout(cand):
            return cand
    return None


TITLE = "SUES-200"
EXPECTED = "drone_view_512/ and satellite-view/ (raw) or Training/, Testing/ (split script)"


def resolve(root: str | Path) -> Path:
    return resolve_layout(root, TITLE, detect, EXPECTED)


def is_train_id(loc: int, protocol: str) -> bool:
    return loc in OFFICIAL_TRAIN_IDS if protocol == "official" else 1 <= loc <= 120


def _locations(folder: Path, problems: Problems) -> list[Path]:
    if not folder.is_dir():
        raise FileNotFoundError(f"SUES-200 folder {folder} not found")
    out = []
    for d in sorted(p for p in folder.iterdir() if p.is_dir()):
        if d.name.isdigit():
            out.append(d)
        else:
            problems.malformed(f"{d}: location folder names must be numeric ids")
    return out


def _gather(dirs: list[tuple[Path, int]]):
    paths, labels, origins = [], [], []
    for d, loc in dirs:
        for img in list_images(d) if d.is_dir() else []:
            paths.append(img)
            labels.append(loc)
            origins.append(f"{d}/")
    return paths, labels, origins


def _raw_view(root: Path, view: str, altitude: int, keep, problems: Problems):
    if view == "drone":
        locs = _locations(root / "drone_view_512", problems)
        dirs = [(d / str(altitude), int(d.name)) for d in locs if keep(int(d.name))]
    else:
        locs = _locations(root / "satellite-view", problems)
        dirs = [(d, int(d.name)) for d in locs if keep(int(d.name))]
    return _gather(dirs)


def _split_view(root: Path, sub: str, altitude: int, problems: Problems):
    locs = _locations(root / sub.split("/")[0] / str(altitude) / sub.split("/")[1], problems)
    return _gather([(d, int(d.name)) for d in locs])


def build(
    root,
    split: str,
    role: str,
    *,
    altitude: int,
    view: str | None = None,
    protocol: str = "official",
    **options,
):
    """SUES-200 at one altitude. role "pair": drone image -> its location's satellite image
    (train locations); "query": drone or satellite images of the query locations (view,
    default drone); "reference": the gallery of every location (view, default satellite)."""
    if int(altitude) not in ALTITUDES:
        raise KeyError(f"SUES-200 altitude {altitude!r} unknown; known: {ALTITUDES}")
    altitude = int(altitude)
    if split not in ("train", "test"):
        raise KeyError(f"SUES-200 split {split!r} unknown; known: train, test")
    if protocol not in PROTOCOLS:
        raise KeyError(f"SUES-200 protocol {protocol!r} unknown; known: {PROTOCOLS}")
    opts = DataOptions.parse(DEFAULT_SIZES, options)
    root = resolve(root)
    layout = _layout(root, protocol)
    if layout == "split" and protocol != "official":
        raise ValueError(
            f"{root}: the Training/Testing tree holds the official split only; protocol "
            f"{protocol!r} needs the raw tree (drone_view_512/, satellite-view/)"
        )
    problems = Problems(opts.strict)
    common = dict(split=split, opts=opts, problems=problems, name=f"sues200-{altitude}")

    def read(v: str, which: str):
        """which: train | query | gallery."""
        if layout == "split":
            sub = {"train": f"Training/{v}", "query": f"Testing/query_{v}"}.get(
                which, f"Testing/gallery_{v}"
            )
            return _split_view(root, sub, altitude, problems)
        keep = {
            "train": lambda loc: is_train_id(loc, protocol),
            "query": lambda loc: not is_train_id(loc, protocol),
            "gallery": lambda loc: True,
        }[which]
        return _raw_view(root, v, altitude, keep, problems)

    if role == "pair":
        which = "train" if split == "train" else "query"
        dp, dl, do = read("drone", which)
        sp, sl, _ = read("satellite", which if layout == "raw" or split == "train" else "gallery")
        sat_of = {}
        for p, lab in zip(sp, sl):
            sat_of.setdefault(lab, p)
        keep = []
        for i, lab in enumerate(dl):
            if lab in sat_of:
                keep.append(i)
            else:
                problems.malformed(f"{do[i]}: location {lab:04d} has no satellite image")
        ds = PairDataset(
            [dp[i] for i in keep],
            [sat_of[dl[i]] for i in keep],
            [dl[i] for i in keep],
            query_view="drone",
            reference_view="satellite",
            origins=[do[i] for i in keep],
            augment_mode="independent",
            **common,
        )
    elif role in ("query", "reference"):
        view = view or ("drone" if role == "query" else "satellite")
        if view not in ("drone", "satellite"):
            raise KeyError(f"SUES-200 view {view!r} unknown; known: drone, satellite")
        which = "train" if split == "train" else ("query" if role == "query" else "gallery")
        paths, labels, origins = read(view, which)
        ds = ViewDataset(paths, labels, view=view, role=role, origins=origins, **common)
    else:
        raise KeyError(f"role {role!r} unknown; known: pair, query, reference")
    ds.altitude, ds.protocol, ds.layout = altitude, protocol, layout
    return ds


def check_plan(root) -> list[tuple[str, dict]]:
    root = resolve(root)
    layout = _layout(root)
    both = layout == "split" and _layout(root, "1-120") == "raw"
    if layout == "raw":
        heights = sorted(
            {
                int(h.name)
                for d in (root / "drone_view_512").iterdir()
                if d.is_dir()
                for h in d.iterdir()
                if h.is_dir() and h.name.isdigit()
            }
        )
    else:
        base = root / "Training" if (root / "Training").is_dir() else root / "Testing"
        heights = sorted(int(h.name) for h in base.iterdir() if h.name.isdigit())
    plan = []
    for h in heights:
        if h not in ALTITUDES:
            continue
        for v in ("drone", "satellite"):
            plan.append((f"{h} train", dict(split="train", role="query", view=v, altitude=h)))
        for role in ("query", "reference"):
            for v in ("drone", "satellite"):
                label = f"{h} test {'query' if role == 'query' else 'gallery'}"
                plan.append((label, dict(split="test", role=role, view=v, altitude=h)))
        if both:  # the raw tree beside the split tree: every location's images
            for v in ("drone", "satellite"):
                kw = dict(split="test", role="reference", view=v, altitude=h, protocol="1-120")
                plan.append((f"{h} raw tree", kw))
    return plan
