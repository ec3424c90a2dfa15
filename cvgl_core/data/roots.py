"""Which real datasets a `data_root` folder holds.

Every notebook reads `data_root` the same way: one folder holding the datasets under their
usual folder names (CVUSA/, CVACT/, VIGOR/, University-1652/, SUES-200/), with a name map
(`dataset_dirs`) for other spellings, e.g. {"sues200": "SUES-200-512x512"} or an absolute
path. A folder counts as present only when the loader's own layout detection accepts it,
so a half-unpacked dataset is reported as skipped, with the reason, instead of failing in a
training cell an hour later.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

# The folder names the datasets unpack to (first) and common alternatives.
USUAL_DIRS: dict[str, tuple[str, ...]] = {
    "cvusa": ("CVUSA",),
    "cvact": ("CVACT",),
    "vigor": ("VIGOR",),
    "university1652": ("University-1652", "University-Release"),
    "sues200": ("SUES-200", "SUES-200-512x512"),
}


@dataclass
class FoundDatasets:
    data_root: Path
    roots: dict[str, Path] = field(default_factory=dict)  # name -> the loader's resolved root
    skipped: dict[str, str] = field(default_factory=dict)  # name -> why it is not used

    def __contains__(self, name: str) -> bool:
        return name in self.roots

    def summary(self) -> str:
        lines = [f"datasets under {self.data_root}:"]
        lines += [f"  {n}: {p}" for n, p in self.roots.items()]
        lines += [f"  {n}: skipped ({why})" for n, why in self.skipped.items()]
        return "\n".join(lines)


def find_datasets(data_root, names, dataset_dirs: dict | None = None) -> FoundDatasets:
    """Look for each dataset in `names` under `data_root`.

    dataset_dirs: {name: folder} overriding the usual folder names; a relative folder is
    taken under data_root, an absolute one as is. Raises FileNotFoundError if data_root is
    not a folder and KeyError for a name that is not a dataset (in `names` or in the map).
    """
    from cvgl_core.data import DATASETS

    root = Path(data_root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(
            f"data_root {root} is not a folder (it should hold the datasets: "
            f"{', '.join(d[0] for d in USUAL_DIRS.values())})"
        )
    dataset_dirs = dict(dataset_dirs or {})
    for name in [*names, *dataset_dirs]:
        if name not in USUAL_DIRS:
            raise KeyError(f"unknown dataset {name!r}; known: {', '.join(USUAL_DIRS)}")
    found = FoundDatasets(root)
    for name in names:
        mod = DATASETS.get(name)
        candidates = [dataset_dirs[name]] if name in dataset_dirs else USUAL_DIRS[name]
        folders = [root / c for c in candidates]  # an absolute c replaces root
        present = [f for f in folders if f.is_dir()]
        if not present:
            tried = " or ".join(str(f) for f in folders)
            found.skipped[name] = f"no folder {tried}"
            continue
        detected = mod.detect(present[0])
        if detected is None:
            found.skipped[name] = (
                f"{present[0]} is not a {mod.TITLE} layout: expected {mod.EXPECTED}"
            )
            continue
        found.roots[name] = Path(detected)
    return found
