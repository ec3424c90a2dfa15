"""write_dataset / ensure_dataset: the synthetic world written in the real layouts."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from cvgl_core.profiles import Profile, get_profile
from cvgl_core.synth.knobs import make_knobs
from cvgl_core.synth.layouts import cvact, cvusa, sues200, university1652, vigor
from cvgl_core.utils import Registry, atomic_dir, atomic_write_text

# A layout's version: bump it when the output of a seed changes. It invalidates the cached
# sets of that layout and, from 3 on, the runs trained on them (`cvgl_core.study.run_key`).
# 2: FoV crops go through data.transforms.crop_at_heading (the DSM heading convention).
# 3: cvact: tiles one zoom level deeper (knob zoom_shift), the sun in the north (issue 18);
#    sues200: drone altitudes scaled 0.3, so the 150 m drone flies above the tallest roof,
#    over the alike blocks of styles.sues_campus;
#    vigor: panoramas at their tile's centre by default (knob vigor_offset 0, was 1).
GENERATOR_VERSIONS = {"cvusa": 2, "cvact": 3, "vigor": 3, "university1652": 2, "sues200": 3}
MANIFEST = ".synth_manifest.json"

LAYOUTS = Registry("layout")
for _name, _mod in [
    ("cvusa", cvusa),
    ("cvact", cvact),
    ("vigor", vigor),
    ("university1652", university1652),
    ("sues200", sues200),
]:
    LAYOUTS.register(_name)(_mod.write)


def _profile(profile: str | Profile) -> Profile:
    prof = get_profile(profile) if isinstance(profile, str) else profile
    if prof.num_locations <= 0 or prof.num_buildings <= 0:
        raise ValueError(
            f"profile {prof.name!r} has no synthetic world (it runs on the real datasets); "
            "use smoke or cpu"
        )
    return prof


def _check_writable(out: Path) -> None:
    """One clear PermissionError for any output path that cannot be created."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        probe = Path(tempfile.mkdtemp(prefix=f".{out.name}.probe.", dir=out.parent))
        probe.rmdir()
    except OSError as e:
        raise PermissionError(
            f"cannot write to {out}: {e.strerror or e} (the folder is not writable)"
        ) from None


def _manifest(layout: str, prof: Profile, seed: int, knobs) -> dict:
    return {
        "layout": layout,
        "profile": prof.name,
        "seed": int(seed),
        "knobs": knobs.as_dict(),
        "generator_version": GENERATOR_VERSIONS[layout],
    }


def write_dataset(
    layout: str,
    out: str | os.PathLike,
    profile: str | Profile = "smoke",
    seed: int = 0,
    overwrite: bool = False,
    workers: int = 1,
    **knobs,
) -> dict:
    """Write the synthetic world in `layout`'s real on-disk layout at `out`; return the
    counts of images per split/view. `layout="all"` writes every layout to out/<layout>.
    The folder is built under a temporary name and renamed at the end, so a failure
    leaves nothing behind; an existing non-empty `out` needs overwrite=True. With
    layout="all", `workers` > 1 writes layouts in parallel processes. Knobs:
    cvgl_core.synth.knobs. Same arguments -> byte-identical files."""
    names = LAYOUTS.names() if layout == "all" else [layout]
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    for n in names:  # unknown names fail before anything is written
        LAYOUTS.get(n)
    prof = _profile(profile)
    k = make_knobs(**knobs)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out} exists and is not a folder")
    _check_writable(out)
    counts = {}
    with atomic_dir(out, overwrite=overwrite) as tmp:
        roots = [tmp / n if layout == "all" else tmp for n in names]
        jobs = [(n, r, prof, seed, k) for n, r in zip(names, roots)]
        if workers > 1 and len(jobs) > 1:
            from concurrent.futures import ProcessPoolExecutor

            # longest first, so two workers finish together (the output does not depend on it)
            order = sorted(range(len(jobs)), key=lambda i: -_COST.get(names[i], 1))
            with ProcessPoolExecutor(max_workers=workers) as pool:
                done = dict(zip(order, pool.map(_write_one, [jobs[i] for i in order])))
            results = [done[i] for i in range(len(jobs))]
        else:
            results = [_write_one(j) for j in jobs]
        for name, c in zip(names, results):
            counts.update({f"{name}/{key}": v for key, v in c.items()} if layout == "all" else c)
    return counts


# relative cost of each layout at the cpu profile (for scheduling parallel writes only)
_COST = {"university1652": 5, "sues200": 4, "cvact": 3, "vigor": 3, "cvusa": 2}


def _write_one(job) -> dict:
    name, root, prof, seed, k = job
    root.mkdir(parents=True, exist_ok=True)
    c = LAYOUTS.get(name)(root, prof, seed, k)
    c = {key: c[key] for key in sorted(c)}
    man = {**_manifest(name, prof, seed, k), "counts": c}
    atomic_write_text(root / MANIFEST, json.dumps(man, indent=1, sort_keys=True) + "\n")
    return c


def ensure_dataset(
    layout: str, data_dir: str | os.PathLike, profile: str | Profile, seed: int = 0, **knobs
) -> Path:
    """data_dir/<layout>, written unless a manifest there matches layout, profile, seed and
    generator version (then the cached folder is reused as is). Knobs: with none given, a
    folder written by hand with other knobs is kept (`python -m cvgl_core synth ... --knob`,
    then point a notebook's `data_dir` at it) and a missing one gets the defaults; knobs
    given must match too, or the folder is rewritten with them."""
    LAYOUTS.get(layout)
    prof = _profile(profile)
    root = Path(data_dir) / layout
    want = _manifest(layout, prof, seed, make_knobs(**knobs))
    if not knobs:
        del want["knobs"]
    try:
        have = json.loads((root / MANIFEST).read_text())
        if all(have.get(key) == v for key, v in want.items()):
            return root
    except (FileNotFoundError, json.JSONDecodeError):
        pass
    write_dataset(layout, root, prof, seed, overwrite=True, **knobs)
    return root


def world_knobs(layout: str, data_dir: str | os.PathLike) -> dict[str, float]:
    """The knobs of the world written at data_dir/<layout> that differ from the defaults
    ({} for a default or missing world): what a run trained there depends on beyond its
    config (cvgl_core.study.run_key)."""
    try:
        have = json.loads((Path(data_dir) / layout / MANIFEST).read_text()).get("knobs", {})
    except (OSError, json.JSONDecodeError):
        return {}
    default = make_knobs().as_dict()
    return {k: float(v) for k, v in sorted(have.items()) if default.get(k) != v}
