"""Notebook 06: the five methods and the baseline on the same tasks, budget, seeds and metrics.

Each paper reports its own datasets, backbones, image sizes and schedules, so their numbers do
not say which idea buys what. Here every method trains on every task of `TASKS` with its own
recipe (model, loss, optimiser, schedule: its paper config) and the same budget (`BUDGET`:
epochs, batch of pairs, and the profile's batches per epoch), over the same seeds, and is scored
by the same evaluator:

    T = benchmark.task_table("cvusa", profile)          # a claims.Table, one Row per method
    t = claims.run_table(nb, T, seeds, out)             # trains or reuses, writes the table

A method's config for a task (`method_config`) is its paper config for that dataset when the
paper has one (configs/<method>/<dataset>_<profile>.yaml, unchanged but for the budget, so the
run a paper notebook trained is reused: `study.finished_twin`), else its config for the same
kind of view, re-targeted: the task's dataset, splits and sizes, and the model's size keys
(`ADAPT`). What each re-targeting changes is one line in `ADAPTATIONS`; a pair that cannot run
is `NOT_APPLICABLE`, with the reason. At the paper profile each method keeps its own paper
sizes and schedule (`BUDGET["paper"]` is empty): the cross-paper table on real data compares
the methods as their authors trained them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from cvgl_core.claims import Row, Table, TableResult
from cvgl_core.config import flatten, load_config
from cvgl_core.data.transforms import fov_crop_width

REPO = Path(__file__).resolve().parent.parent
METHODS = {  # name -> label in every table
    "baseline": "Baseline (Sample4Geo-style)",
    "lrfr": "LRFR (GSRA + SALAD)",
    "awm": "AWM (CA + FCA + FMC)",
    "mfrgn": "MFRGN (G + L_p, LA + PPS)",
    "frg": "FRG (MC_GRA + MixVPR)",
    "glqinet": "GLQINet (QIM + IGLAM)",
}
FAMILY = {  # dataset -> kind of query view
    "cvusa": "ground",
    "cvact": "ground",
    "vigor": "ground",
    "university1652": "drone",
    "sues200": "drone",
}
# Per kind of view, the configs a method re-targets from (first that exists) and the config
# whose data section a re-targeted method takes (splits, sizes, protocol, augmentation).
HOME = {"ground": "cvusa", "drone": "university1652"}
TASK_DATA = {
    "ground": "configs/baseline/cvusa_{profile}.yaml",
    "university1652": "configs/glqinet/university1652_{profile}.yaml",
    "sues200": "configs/glqinet/sues200_{profile}.yaml",
}
# How the field-of-view tasks show a limited FoV (`fov_protocol`):
#   "cropped": AWM's (and DSM's) protocol, a crop at an unknown heading (random in training,
#              seeded in test), each model sized to the crop;
#   "padded":  notebook 00's, a crop at a known heading put back at its own columns of the
#              panorama, zeros elsewhere (data.options.fov_pad): every model keeps the
#              panorama's size, so its 360-degree run is the CVUSA task's run, and R@1
#              measures how much of the place a crop shows.
# At cpu the unknown heading leaves every method at chance at every FoV, 360 included (3 seeds,
# every method that ran, LRFR at 360 only: results/benchmark at commit 32c32a3), so the table
# below paper is "padded"; fov_protocol="cropped" runs AWM's protocol at any profile.
FOV_PROTOCOL = {"smoke": "padded", "cpu": "padded", "paper": "cropped"}
FOV_PROTOCOLS = {"cropped": "unknown heading", "padded": "known heading, padded"}  # table titles
# The panorama size of the cropped protocol below the paper profile: a 70-degree crop of a
# 128-column panorama is 24 px wide, narrower than a ConvNeXt's stride of 32.
FOV_PANO = {"smoke": [64, 256], "cpu": [64, 256]}
EVAL_SPLIT = {"cvusa": "val", "cvact": "val", "vigor": "test"}
SHARED_SAMPLER = ("vigor", "university1652", "sues200")  # several queries share a reference

# The same training for every method at a profile: epochs and pairs per batch (the profile
# gives the batches per epoch: 12 at cpu). Empty at paper: each method's own recipe.
BUDGET = {
    "smoke": {"train.epochs": 1, "data.batch_size": 8},  # the smoke SUES-200 world: 10 places
    "cpu": {"train.epochs": 1, "data.batch_size": 32},
    "paper": {},
}

NOT_APPLICABLE = {
    ("awm", "drone"): "AWM's masks align a limited-FoV ground crop with a polar satellite strip "
    "(FCA slides the ground width over the satellite width): a drone image is neither",
    ("lrfr", "fov"): "LRFR shares one backbone across views and its size-tied GSRA and SALAD "
    "need one feature size: a limited-FoV crop and the satellite strip differ in shape",
}
ADAPTATIONS = {
    ("baseline", "drone"): "the CVUSA recipe on the drone task's data (one shared backbone)",
    ("lrfr", "ground"): "LRFR's own CVUSA config (polar satellite, as its Table 2)",
    ("lrfr", "drone"): "at its own image size (SALAD needs more local features than clusters)",
    ("mfrgn", "drone"): "drone images take the ground branch (its own SCAM/GPAB weights); "
    "both views use the satellite PPS grid (square images)",
    ("frg", "drone"): "no polar transform; drone and satellite share the aerial branch",
    ("glqinet", "ground"): "one class per location for the CE head; quadrant stripes of the "
    "panorama and of the satellite tile",
    ("awm", "ground"): "AWM needs a field of view: 360 degrees at the one-to-one and VIGOR "
    "tasks (the whole panorama, north-aligned)",
}


@dataclass(frozen=True)
class Task:
    name: str
    title: str
    dataset: str
    options: dict = field(default_factory=dict)  # data.options on top of the method's
    metrics: tuple = ("R@1", "R@5", "R@10", "R@1%")
    fov: float | None = None  # ground crop in degrees (None: the whole panorama)
    group: str = ""  # leaderboard it belongs to


FOVS = (360, 180, 90, 70)
ALTITUDES = (150, 200, 250, 300)
TASKS: dict[str, Task] = {
    t.name: t
    for t in (
        Task("cvusa", "CVUSA-like, ground panorama -> satellite (one-to-one)", "cvusa",
             group="ground"),
        Task("vigor_same", "VIGOR-like, same area", "vigor", {"area": "same"},
             metrics=("R@1", "R@5", "R@10", "R@1%", "hit_rate"), group="ground"),
        Task("vigor_cross", "VIGOR-like, cross area (train on some cities, test on others)",
             "vigor", {"area": "cross"}, metrics=("R@1", "R@5", "R@10", "R@1%", "hit_rate"),
             group="cross"),
        *(Task(f"fov_{f}", f"CVUSA-like at a {f} degree field of view", "cvusa",
               {"fov_noise": 360}, fov=f, group="fov") for f in FOVS),
        Task("university1652", "University-1652-like, drone <-> satellite", "university1652",
             metrics=("D->S R@1", "D->S AP", "S->D R@1", "S->D AP"), group="drone"),
        *(Task(f"sues200_{h}", f"SUES-200-like at {h} m, drone -> satellite", "sues200",
               {"altitude": h}, group="altitude") for h in ALTITUDES),
    )
}  # fmt: skip

# The papers' own numbers on the real dataset of a task (their backbones, sizes and
# schedules, not this benchmark's): shown in "paper ..." columns, never mixed with ours.
PAPER = {
    ("lrfr", "cvusa"): {"R@1": 97.25, "R@5": 99.39},  # LRFR Table 2
    ("lrfr", "university1652"): {"D->S R@1": 94.13, "D->S AP": 95.09, "S->D R@1": 95.72,
                                 "S->D AP": 93.22},  # LRFR Table 1
    ("awm", "fov_90"): {"R@1": 22.45, "R@5": 41.07, "R@10": 52.15, "R@1%": 82.09},  # AWM Tab. 1
    ("awm", "fov_70"): {"R@1": 16.51, "R@5": 32.67, "R@10": 42.88, "R@1%": 75.78},
    ("mfrgn", "cvusa"): {"R@1": 98.24, "R@5": 99.56, "R@10": 99.72, "R@1%": 99.88},  # Table 1
    ("mfrgn", "vigor_same"): {"R@1": 71.41, "R@5": 92.02, "R@10": 95.07, "R@1%": 99.82,
                              "hit_rate": 80.59},  # MFRGN Table 3
    ("mfrgn", "vigor_cross"): {"R@1": 43.18, "R@5": 67.52, "R@10": 75.34, "R@1%": 97.47,
                               "hit_rate": 47.54},
    ("frg", "cvusa"): {"R@1": 92.08, "R@5": 97.70, "R@10": 98.66},  # FRG Table 1
    ("glqinet", "university1652"): {"D->S R@1": 91.66, "D->S AP": 92.94, "S->D R@1": 94.58,
                                    "S->D AP": 91.11},  # GLQINet Table 2
    **{("glqinet", f"sues200_{h}"): {"R@1": r} for h, r in
       zip(ALTITUDES, (82.07, 91.50, 96.72, 96.82))},  # GLQINet Table 3, drone -> satellite
}  # fmt: skip


def family(task: Task) -> str:
    return FAMILY[task.dataset]


def fov_protocol(profile: str, protocol: str | None = None) -> str:
    """`protocol` when given, else the profile's (`FOV_PROTOCOL`; "cropped" at a profile not
    listed)."""
    protocol = protocol or FOV_PROTOCOL.get(profile, "cropped")
    if protocol not in FOV_PROTOCOLS:
        raise ValueError(f"unknown fov_protocol {protocol!r}; known: {', '.join(FOV_PROTOCOLS)}")
    return protocol


def applicable(method: str, task: str, protocol: str = "cropped") -> str | None:
    """None when `method` runs on `task` (under the FoV `protocol`), else the reason it does
    not. A padded crop has the panorama's shape, so only the cropped protocol excludes LRFR."""
    t = TASKS[task]
    limited = t.fov not in (None, 360) and protocol == "cropped"
    return NOT_APPLICABLE.get((method, "fov" if limited else family(t)))


def _exists(path: str, profile: str) -> bool:
    return (REPO / path.format(profile=profile)).is_file()


def home_config(method: str, task: Task, profile: str) -> str:
    """The method's paper config for the task's dataset, else for its kind of view, else for
    the other kind (re-targeted)."""
    fam = family(task)
    other = "drone" if fam == "ground" else "ground"
    for ds in (task.dataset, HOME[fam], HOME[other]):
        path = f"configs/{method}/{ds}_{{profile}}.yaml"
        if _exists(path, profile):
            return path
    raise FileNotFoundError(f"no configs/{method}/*_{profile}.yaml for the benchmark")


def _load(path: str, profile: str):
    return load_config(REPO / path.format(profile=profile))


def method_config(
    method: str, task_name: str, profile: str, protocol: str | None = None
) -> tuple[str, dict]:
    """(config path with "{profile}", overrides) of `method` on `task_name` under the budget;
    `protocol`: the FoV tasks' (`fov_protocol`, default the profile's)."""
    if method not in METHODS:
        raise KeyError(f"unknown method {method!r}; known: {', '.join(METHODS)}")
    if task_name not in TASKS:
        raise KeyError(f"unknown task {task_name!r}; known: {', '.join(TASKS)}")
    task = TASKS[task_name]
    protocol = fov_protocol(profile, protocol)
    why = applicable(method, task_name, protocol)
    if why:
        raise ValueError(f"{method} does not run on {task_name}: {why}")
    pad_fov = task.fov if protocol == "padded" else None
    if pad_fov is not None:  # the model sees the panorama's shape: configured as the CVUSA task
        task = TASKS["cvusa"]
    path = home_config(method, task, profile)
    cfg = _load(path, profile)
    fam = family(task)
    over: dict = {}
    if cfg.data.dataset != task.dataset:
        over["data.dataset"] = task.dataset
        if task.dataset in SHARED_SAMPLER:
            over["data.sampler"] = "unique_label"
    # Another kind of view, or another drone dataset: the task's data section (sizes,
    # protocol, altitude, augmentation). Panorama datasets share their options.
    if FAMILY[cfg.data.dataset] != fam or (fam == "drone" and cfg.data.dataset != task.dataset):
        data = _load(TASK_DATA.get(task.dataset, TASK_DATA.get(fam, "")), profile).data
        over["data.options"] = dict(data.options)
        over["data.train_options"] = dict(data.train_options)
    if "data.dataset" in over:
        over["data.eval_split"] = EVAL_SPLIT.get(task.dataset, "test")
    opts = dict(over.get("data.options", cfg.data.options))
    opts.update(task.options)
    if task.fov is not None and profile in FOV_PANO:
        opts["sizes"] = {**opts["sizes"], "ground": list(FOV_PANO[profile])}
    if method == "awm":  # AWM is built for one field of view
        opts.update(fov=task.fov or 360, fov_noise=opts.get("fov_noise", 360) if task.fov else 0)
    elif task.fov is not None:
        opts["fov"] = task.fov
    if pad_fov not in (None, 360):  # at 360 the padded crop is the panorama itself
        opts.update(fov=pad_fov, fov_noise=0, fov_pad=True)
    if opts != cfg.data.options:
        over["data.options"] = opts
    over.update(ADAPT.get((method, fam), _none)(cfg, opts, task))
    over.update(BUDGET.get(profile, {}))
    # Keys the config already has at that value are dropped: the overrides read as the
    # adaptation, and the run's key is the paper notebook's when nothing else differs.
    flat = flatten(cfg.to_dict())
    return path, {k: v for k, v in over.items() if k not in flat or flat[k] != v}


def _none(cfg, opts, task) -> dict:
    return {}


def _ground_hw(opts: dict, task: Task) -> list[int]:
    h, w = opts["sizes"]["ground"]
    return [int(h), fov_crop_width(int(w), task.fov) if task.fov else int(w)]


def _square(opts: dict, view: str) -> list[int]:
    s = opts["sizes"][view]
    return [int(s), int(s)] if isinstance(s, int) else [int(s[0]), int(s[1])]


def _lrfr(cfg, opts, task):
    if family(task) == "drone":  # its own image size: SALAD needs more features than clusters
        return {"data.options": {**opts, "sizes": cfg.data.options["sizes"]}}
    return _fov_sizes(opts, task)


def _fov_sizes(opts: dict, task: Task) -> dict:
    # A fixed-size model sees the crop width at a limited FoV and the polar strip (or the
    # panorama size) on the satellite side; at 360 degrees its own config's sizes stand.
    if task.fov is None:
        return {}
    sat = list(opts.get("polar_size") or opts["sizes"]["ground"])
    return {"model.kwargs.input_size": {"ground": _ground_hw(opts, task), "satellite": sat}}


def _mfrgn(cfg, opts, task):
    if family(task) == "drone":
        s = _square(opts, "drone")
        grid = cfg.model.kwargs.get("pps_satellite")
        sat = _square(opts, "satellite")
        return {"model.kwargs.ground_hw": s, "model.kwargs.satellite_hw": sat,
                "model.kwargs.pps_ground": grid}  # fmt: skip
    return {"model.kwargs.ground_hw": _ground_hw(opts, task)} if task.fov else {}


def _frg(cfg, opts, task):
    if family(task) == "drone":
        s = _square(opts, "drone")
        return {"model.kwargs.input_size": {"drone": s, "satellite": s}, "data.options":
                {**opts, "polar": False}}  # fmt: skip
    return _fov_sizes(opts, task)


def _awm(cfg, opts, task):
    # The polar strip is the panorama's size (AWM's satellite branch input).
    sat = list(opts.get("polar_size") or opts["sizes"]["ground"])
    return {"model.kwargs.fov": task.fov or 360, "model.kwargs.satellite_size": sat}


ADAPT = {
    ("lrfr", "ground"): _lrfr,
    ("lrfr", "drone"): _lrfr,
    ("mfrgn", "ground"): _mfrgn,
    ("mfrgn", "drone"): _mfrgn,
    ("frg", "ground"): _frg,
    ("frg", "drone"): _frg,
    ("awm", "ground"): _awm,
}


def adaptation(method: str, task_name: str, profile: str, protocol: str | None = None) -> str:
    """One line: how `method` runs on `task_name` ("own config", the re-targeting, or n/a)."""
    protocol = fov_protocol(profile, protocol)
    why = applicable(method, task_name, protocol)
    if why:
        return f"n/a: {why}"
    task = TASKS[task_name]
    if task.fov is not None and protocol == "padded":
        own = adaptation(method, "cvusa", profile, protocol)
        if task.fov == 360:
            return f"the CVUSA task's run ({own})"
        return (f"as on the CVUSA task ({own}); ground cropped to {task.fov:g} degrees at a "
                "known heading and padded back to the panorama's width")  # fmt: skip
    path = home_config(method, task, profile)
    own = Path(path).stem.startswith(task.dataset)
    text = "its paper config" if own else f"re-targeted from {path.format(profile=profile)}"
    parts = [text]
    if not own and (method, family(task)) in ADAPTATIONS:
        parts.append(ADAPTATIONS[(method, family(task))])
    if task.fov is not None:
        parts.append(f"ground cropped to {task.fov:g} degrees at an unknown heading")
    return "; ".join(parts)


CROSS_METRIC = "R@1 on CVACT"


def to_cvact(root=None):
    """A Table.evaluate: a CVUSA(-like) run's R@1 on the CVACT(-like) val split, weights
    unchanged (`root`: real CVACT, None: the synthetic layout of the run's world)."""

    def evaluate(run) -> dict:
        from cvgl_core.study import evaluate_transfer

        return {CROSS_METRIC: evaluate_transfer(run, "cvact", root=root).metrics["R@1"]}

    return evaluate


def _both_directions(run) -> dict:
    from cvgl_core.study import both_directions

    return both_directions(run)


def task_table(
    task_name: str, profile: str, methods=tuple(METHODS), nb=None, protocol: str | None = None
) -> Table:
    """One Row per method that runs on the task (runs named bench_<method>_<task>). Extra
    metrics, from each trained run with its weights unchanged: the CVUSA task's model on
    CVACT (cross-area; `nb` gives the real CVACT root, if it was found) and the drone model
    in both directions. `protocol`: the FoV tasks' (`fov_protocol`); the papers' FoV numbers
    are shown only under theirs, "cropped"."""
    task = TASKS[task_name]
    protocol = fov_protocol(profile, protocol)
    own_protocol = task.fov is None or protocol == "cropped"
    evaluate = _both_directions if task_name == "university1652" else None
    if task_name == "cvusa" and (nb is None or nb.do.get("cvact", True)):
        evaluate = to_cvact(None if nb is None else nb.real_root("cvact"))
    rows = []
    for m in methods:
        if applicable(m, task_name, protocol):
            continue
        path, over = method_config(m, task_name, profile, protocol)
        rows.append(
            Row(
                METHODS[m],
                over,
                paper=PAPER.get((m, task_name), {}) if own_protocol else {},
                columns={"method": m, "adaptation": adaptation(m, task_name, profile, protocol)},
                config=path,
                name=f"bench_{m}_{task_name}",
            )
        )
    how = f" ({FOV_PROTOCOLS[protocol]})" if task.fov is not None else ""
    return Table(
        f"task_{task_name}",
        f"Benchmark: {task.title}{how}",
        rows[0].config,
        rows=rows,
        run_prefix="bench",
        metrics=task.metrics,
        evaluate=evaluate,
        dataset=task.dataset,
        note=f"Same budget for every method ({budget_text(profile)}); each method's own "
        "recipe (loss, optimiser, schedule). 'paper' columns: the method's paper on the real "
        "dataset, with its own backbone, sizes and schedule.",
    )


def budget_text(profile: str) -> str:
    b = BUDGET.get(profile, {})
    if not b:
        return "each method's paper schedule"
    from cvgl_core.profiles import get_profile

    steps = get_profile(profile).epoch_steps
    per = f"{steps} batches" if steps else "the whole training split"
    return f"{b['train.epochs']} epoch(s) of {per}, {b['data.batch_size']} pairs a batch"


# ----------------------------------------------------------------- leaderboards from tables


def _cell(values: np.ndarray) -> tuple[float, float]:
    values = np.asarray(values, dtype=float)
    if not len(values):
        return math.nan, math.nan
    sd = float(np.std(values, ddof=1)) if len(values) > 1 else math.nan
    return float(np.mean(values)), sd


def leaderboard(results: dict[str, TableResult], columns: dict[str, tuple[str, str]]):
    """One row per method, a mean and an sd column per entry of `columns`
    ({column: (task, metric)}), each the mean over the seeds of that task's runs; n/a where a
    method did not run on the task. Returns a DataFrame indexed by the method's label."""
    out: dict[str, dict] = {label: {} for label in METHODS.values()}
    for col, (task, metric) in columns.items():
        t = results.get(task)
        for label in out:
            if t is not None and label in t.table.labels and t.ran(label):
                mean, sd = _cell(t.values(label, metric))
                out[label][col], out[label][f"{col} sd"] = mean, sd
                out[label]["seeds"] = len(t.values(label, metric))
    df = pd.DataFrame.from_dict(out, orient="index")
    if "seeds" in df:
        df = df[[c for c in df.columns if c != "seeds"] + ["seeds"]]
    df.index.name = "method"
    return df


def ratio_board(results: dict[str, TableResult], same: tuple, cross: tuple, name: str):
    """Per method: same-area R@1, cross-area R@1 and their ratio, each per seed (paired: the
    same seed's two numbers) then mean and sd over seeds; NaN ratio where same-area R@1 is 0."""
    rows = {}
    for label in METHODS.values():
        ts, tc = results.get(same[0]), results.get(cross[0])
        if not all(t is not None and label in t.table.labels and t.ran(label) for t in (ts, tc)):
            continue
        s = ts.per_seed(label, same[1])
        c = tc.per_seed(label, cross[1])
        paired = pd.concat([s, c], axis=1, join="inner").to_numpy(dtype=float)
        r = np.where(paired[:, 0] > 0, paired[:, 1] / np.where(paired[:, 0] > 0, paired[:, 0], 1),
                     np.nan)  # fmt: skip
        row = {}
        for key, v in (("same-area R@1", paired[:, 0]), ("cross-area R@1", paired[:, 1]),
                       ("cross / same", r)):  # fmt: skip
            row[key], row[f"{key} sd"] = _cell(v[~np.isnan(v)])  # a seed at 0 has no ratio
        row["seeds"] = len(paired)
        rows[label] = row
    df = pd.DataFrame.from_dict(rows, orient="index")
    df.index.name = "method"
    df.attrs["shift"] = name
    return df


def cost_rows_for(profile: str, task_name: str = "cvusa", methods=tuple(METHODS)) -> dict:
    """{label: config path} of each method's config on a task, for the cost table."""
    out = {}
    for m in methods:
        if not applicable(m, task_name):
            out[METHODS[m]] = method_config(m, task_name, profile)
    return out


def chance(result: TableResult, metric: str = "R@1") -> float:
    """R@1 of a random ranking on the task's evaluation (from the first run's labels), in
    percent; for the drone task's metrics the reverse direction's as `both_directions` gives."""
    from cvgl_core.evaluation.metrics import chance_recall_at_1

    if metric.startswith(("D->S", "S->D")):
        return float(result.long[f"chance {metric.split()[0]} R@1"].iloc[0])
    run = next(iter(next(iter(result.runs.values())).values()))
    return chance_recall_at_1(run.descriptors.query_labels, run.descriptors.reference_labels)


def ranking(result: TableResult, metric: str, z: float = 2.0) -> pd.DataFrame:
    """The methods of a task table by mean `metric` (best first), each with its sd, and
    whether the leader's margin over it, paired by seed, exceeds z standard errors."""
    labels = [lb for lb in result.table.labels if result.ran(lb)]
    means = {lb: result.mean(lb, metric) for lb in labels}
    order = sorted(labels, key=lambda lb: -means[lb])
    lead = result.per_seed(order[0], metric)
    rows = []
    for lb in order:
        v = result.per_seed(lb, metric)
        d = pd.concat([lead, v], axis=1, join="inner").to_numpy(dtype=float)
        diff = d[:, 0] - d[:, 1]
        se = float(np.std(diff, ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else math.nan
        beyond = bool(lb != order[0] and len(diff) > 1 and diff.mean() > z * se)
        rows.append({"method": lb, metric: means[lb], f"{metric} sd": _cell(v.to_numpy())[1],
                     "behind the leader beyond noise": beyond})  # fmt: skip
    return pd.DataFrame(rows).set_index("method")


def write_board(board: pd.DataFrame, stem, title: str, nb, seeds) -> None:
    """<stem>.csv and <stem>.md, atomically; the caption names the profile, data, budget and
    seeds (and says a dry run is one)."""
    from cvgl_core.evaluation.results import markdown
    from cvgl_core.utils import atomic_write_text

    data = f"real datasets under {nb.data_root}" if nb.data_root else f"synthetic {nb.data_dir}"
    dry = " DRY RUN: one step per training, a tiny evaluation." if nb.dry_run else ""
    caption = (
        f"{title}. Profile {nb.profile}, {data}, budget: {budget_text(nb.profile)}; mean over "
        f"seeds {','.join(map(str, seeds))}, '<col> sd' the sample sd (blank with one seed); a "
        f"method with no value did not run on the task (see adaptations.md).{dry}"
    )
    stem = Path(stem)
    atomic_write_text(stem.with_suffix(".csv"), board.to_csv())
    atomic_write_text(stem.with_suffix(".md"), markdown(board.round(3).reset_index(), caption))


COST_TASKS = {"ground": "cvusa", "drone": "university1652"}  # the configs a cost row is of
CLASSES_FOR_COST = 701  # GLQINet's CE heads on a task without a paper class count (training-only)


def cost_table(profile: str, methods=tuple(METHODS), **kwargs) -> pd.DataFrame:
    """`costs.cost_row` of each method's config on the CVUSA task ("ground") and on the
    University-1652 task ("drone") at `profile`'s sizes, indexed by (views, method); `kwargs`
    go to cost_row (repeats, device, gallery). GLQINet's classifier heads on CVUSA get
    University-1652's 701 classes (a per-location head would be 35,532 wide): they are
    training-only and the row says so."""
    from cvgl_core.costs import PAPER_CLASSES, cost_row

    rows = {}
    for kind, task in COST_TASKS.items():
        for m in methods:
            if applicable(m, task):
                continue
            path, over = method_config(m, task, profile)
            cfg = load_config(REPO / path.format(profile=profile),
                              {**over, "model.kwargs.pretrained": False})  # fmt: skip
            note = ""
            if cfg.model.kwargs.get("num_classes") == "train_classes" and (
                cfg.data.dataset not in PAPER_CLASSES
            ):
                cfg.model.kwargs["num_classes"] = CLASSES_FOR_COST
                note = f"CE heads sized for {CLASSES_FOR_COST} classes (training-only)"
            row = cost_row(cfg, **kwargs)
            row["model"] = row.pop("method")  # the index names the method
            rows[(kind, METHODS[m])] = {**row, "note": note}
    df = pd.DataFrame.from_dict(rows, orient="index")
    df.index.names = ["views", "method"]
    return df
