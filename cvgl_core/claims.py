"""Tables declared as data, trained over seeds, and one verdict per paper claim.

A notebook's table is a `Table` of `Row`s (a label, its config overrides, the paper's numbers);
`run_table` trains every row at every seed through `Notebook.run`, writes the mean and sample
sd per row (`update_table`) and the per-seed numbers (<stem>_seeds.csv), and returns a
`TableResult`. A `Claim` names two rows of a table and the metric the paper says orders them;
`verdicts` applies `RULE` to each claim and prints one line per claim:

    T3 = Table("table3_attention", "Table III. Attention on NetVLAD", U_CFG, run_prefix="lrfr_u",
               rows=(Row("baseline", {"model.kwargs.attention": "none"}, paper={"R@1": 61.99}),
                     Row("+GSRA", {"model.kwargs.attention": "gsra"}, paper={"R@1": 72.29})))
    t3 = run_table(nb, T3, seeds=[0, 1, 2], out_dir=out)
    claims.verdicts([t3], [Claim("GSRA improves NetVLAD", T3.stem, "+GSRA", "baseline")],
                    out_path=out)

Runs shared by rows of several tables (same config, name, seed, overrides and notebook session)
train and evaluate once per kernel (`clear_cache()` forgets them); across kernels
`run_experiment` reuses the finished runs on disk.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cvgl_core.evaluation.results import markdown, paper_columns, update_table
from cvgl_core.utils import atomic_write_text

RULE = (
    "Verdict rule: per seed s run by both rows, d_s = m(better, s) - m(worse, s) (negated for a "
    "cost, lower is better), so d > 0 is the paper's direction; mean d over the n paired seeds, "
    "SE = sd(d, ddof=1) / sqrt(n). 'holds' if mean d > z*SE and mean d > 0; 'reversed' if "
    "mean d < -z*SE; else 'within noise' (SE = 0 with mean d != 0 is beyond noise). "
    "n < 2: 'one seed: no verdict'; both rows' means below 2x chance: 'near chance: no "
    "verdict'; a row that did not run: 'not run'."
)


# Seeds a claim's rows train with when a notebook's `seeds` parameter is None: three at cpu
# (issue 18: a comparison needs a spread), one where a run is a smoke test or takes days.
SEEDS_PER_PROFILE = {"cpu": 3}


# The study's learning bar at the embedded default: a full model's R@1 at least 10x chance on
# every dataset its tables use, and at least 20 % absolute on the CVUSA- and University-1652-like
# sets, so that its tables can rank rows rather than print noise. Each paper notebook prints its
# full model against it (`learning_bar`).
LEARNING_BAR = {"cpu": {"times_chance": 10.0, "absolute": {"cvusa": 20.0, "university1652": 20.0}}}


def learning_bar(r1: float, chance: float, profile: str, dataset: str | None = None) -> str:
    """ "17.3x chance (0.33 %)", and at a profile with a bar (`LEARNING_BAR`) which of its parts
    `r1` (percent) meets, e.g. "; the cpu learning bar: 10x chance met, 20 % missed"."""
    times = r1 / chance if chance > 0 else math.nan
    text = f"{times:.1f}x chance ({chance:.2f} %)"
    bar = LEARNING_BAR.get(profile)
    if bar is None:
        return text
    parts = [
        f"{bar['times_chance']:g}x chance {'met' if times >= bar['times_chance'] else 'missed'}"
    ]
    absolute = bar["absolute"].get(dataset)
    if absolute is not None:
        parts.append(f"{absolute:g} % {'met' if r1 >= absolute else 'missed'}")
    return f"{text}; the {profile} learning bar: {', '.join(parts)}"


def default_seeds(profile: str, seed: int = 0, seeds=None) -> list[int]:
    """`seeds` if given, else seed, seed + 1, ... (SEEDS_PER_PROFILE[profile], default 1)."""
    if seeds is not None:
        return [int(s) for s in ([seeds] if isinstance(seeds, int) else seeds)]
    return [int(seed) + k for k in range(SEEDS_PER_PROFILE.get(profile, 1))]


def slug(text: str) -> str:
    """ "+GSRA (NetVLAD)" -> "gsra_netvlad": a label as a run-folder name."""
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "row"


@dataclass(frozen=True)
class Row:
    label: str  # the row's name in the table ("model" column)
    overrides: dict = field(default_factory=dict)  # dotted config keys of this row's training
    paper: dict = field(default_factory=dict)  # the paper's numbers -> "paper <metric>" columns
    columns: dict = field(default_factory=dict)  # static descriptive columns
    config: str | None = None  # this row's config if not the table's
    name: str | None = None  # run name; default f"{table.run_prefix}_{slug(label)}"
    dataset: str | None = None  # this row's dataset if not the table's (see Table.dataset)


@dataclass(frozen=True)
class Table:
    stem: str  # results file stem under out_dir, e.g. "table3_attention"
    title: str
    config: str  # e.g. "configs/lrfr/university1652_{profile}.yaml"
    rows: tuple[Row, ...]
    run_prefix: str
    metrics: tuple = ("R@1", "R@5", "R@10", "R@1%")  # summarised as mean and sd
    note: str = ""
    evaluate: Callable[[Any], dict] | None = None  # extra per-run metrics, merged per seed
    # The dataset the rows train on: its real root is nb.real_root(dataset), its rows are
    # skipped where nb.do[dataset] is False, and captions name nb.data_text(dataset).
    dataset: str | None = None

    def __post_init__(self):
        object.__setattr__(self, "rows", tuple(self.rows))
        object.__setattr__(self, "metrics", tuple(self.metrics))
        labels = [r.label for r in self.rows]
        dup = sorted({x for x in labels if labels.count(x) > 1})
        if dup or not labels:
            raise ValueError(f"table {self.stem!r}: row labels must be unique and some: {labels}")

    def row(self, label: str) -> Row:
        for r in self.rows:
            if r.label == label:
                return r
        raise KeyError(f"table {self.stem!r} has no row {label!r}; rows: {self.labels}")

    @property
    def labels(self) -> list[str]:
        return [r.label for r in self.rows]


def _sd(v: np.ndarray) -> float:
    return float(np.std(v, ddof=1)) if len(v) > 1 else math.nan


def summarise(table: Table, long: pd.DataFrame) -> pd.DataFrame:
    """One row per label that ran, indexed by label: "<m>" (mean over seeds) and "<m> sd"
    (sample sd, NaN with one seed) for each of table.metrics present, "seeds" (n),
    "<first metric> per seed", the row's static columns and its paper columns."""
    out = []
    for r in table.rows:
        part = long[long["label"] == r.label].sort_values("seed") if len(long) else long
        if not len(part):
            continue
        s = {"label": r.label}
        for m in table.metrics:
            if m in part:
                v = part[m].to_numpy(dtype=float)
                s[m], s[f"{m} sd"] = float(np.mean(v)), _sd(v)
        s["seeds"] = len(part)
        first = table.metrics[0]
        if first in part:
            s[f"{first} per seed"] = " / ".join(f"{x:.1f}" for x in part[first])
        out.append({**s, **r.columns, **paper_columns(r.paper)})
    return pd.DataFrame(out).set_index("label") if out else pd.DataFrame()


@dataclass
class TableResult:
    table: Table
    long: pd.DataFrame  # label, seed, every metric of that run
    summary: pd.DataFrame | None = None  # summarise(table, long) when not given
    runs: dict = field(default_factory=dict)  # {label: {seed: Run}}
    written: pd.DataFrame | None = None  # the whole results file after update_table
    skipped: dict = field(default_factory=dict)  # {label: why it did not run}

    def __post_init__(self):
        if self.summary is None:
            self.summary = summarise(self.table, self.long)

    def ran(self, label: str) -> bool:
        self.table.row(label)  # KeyError for a label the table does not have
        return bool(len(self.long)) and bool((self.long["label"] == label).any())

    def per_seed(self, label: str, metric: str) -> pd.Series:
        """{seed: value} of `metric` for `label`, by seed; KeyError names what exists."""
        if not self.ran(label):
            raise KeyError(f"table {self.table.stem!r}: row {label!r} did not run")
        if metric not in self.long:
            have = [c for c in self.long.columns if c not in ("label", "seed")]
            raise KeyError(f"table {self.table.stem!r} has no metric {metric!r}; metrics: {have}")
        part = self.long[self.long["label"] == label].sort_values("seed")
        return pd.Series(part[metric].to_numpy(dtype=float), index=part["seed"].to_numpy())

    def values(self, label: str, metric: str) -> np.ndarray:
        return self.per_seed(label, metric).to_numpy()

    def mean(self, label: str, metric: str) -> float:
        return float(np.mean(self.values(label, metric)))


_RUNS: dict = {}  # memo key -> Run
_EXTRAS: dict = {}  # (memo key, evaluate function) -> dict


def clear_cache() -> None:
    """Forget the runs (and extra evaluations) this kernel has trained or restored."""
    _RUNS.clear()
    _EXTRAS.clear()


def _frozen(d: dict | None) -> str:
    return json.dumps(d or {}, sort_keys=True, default=repr)


def _memo_key(nb, config: str, name: str, seed: int, overrides: dict, data_root) -> tuple:
    # The notebook's session enters the key too: another profile, folder or dry run is
    # another run even within one kernel.
    session = tuple(
        str(getattr(nb, a, None)) for a in ("profile", "data_dir", "results_dir", "seed", "dry_run")
    )
    nb_over = _frozen(getattr(nb, "overrides", None))
    return (*session, nb_over, str(config), name, int(seed), _frozen(overrides), str(data_root))


def _dataset_state(nb, dataset: str | None, data: str | None):
    """(runs?, data_root, caption data text) of one dataset in this notebook."""
    if dataset is None:
        return True, None, data
    do = getattr(nb, "do", {})
    if dataset in do and not do[dataset]:
        return False, None, data
    root = nb.real_root(dataset) if hasattr(nb, "real_root") else None
    if data is None and hasattr(nb, "data_text"):
        data = nb.data_text(dataset)
        if getattr(nb, "dry_run", False):  # its rows share keys with real rows: say so
            data += " [DRY RUN: one step per training and a tiny evaluation]"
    return True, root, data


def _numbers(metrics: dict) -> dict:
    return {
        k: float(v)
        for k, v in metrics.items()
        if isinstance(v, (int, float, np.number)) and not isinstance(v, bool)
    }


def run_table(
    nb, table: Table, seeds: Iterable[int], out_dir, *, data: str | None = None
) -> TableResult:
    """Train every row of `table` at every seed (`nb.run(config, name=, seed=, overrides=,
    data_root=)`, memoised in this kernel), summarise, and write <out_dir>/<stem>.csv/.md
    (one row per label: mean, sd, seeds; the seeds as "0,1,2" in the "seed" column; the first
    seed's descriptive columns) and <out_dir>/<stem>_seeds.csv (one row per label and seed).
    data: the caption's data text (default: nb.data_text of the row's dataset)."""
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError(f"table {table.stem!r}: no seeds to run")
    out_dir = Path(out_dir)
    long, runs, skipped, rows = [], {}, {}, []
    for r in table.rows:
        dataset = r.dataset or table.dataset
        go, root, text = _dataset_state(nb, dataset, data)
        if not go:
            skipped[r.label] = f"{dataset} not under data_root"
            print(f"[{table.stem}] {r.label}: skipped ({skipped[r.label]})", flush=True)
            continue
        config, name = r.config or table.config, r.name or f"{table.run_prefix}_{slug(r.label)}"
        runs[r.label] = {}
        for s in seeds:
            key = _memo_key(nb, config, name, s, r.overrides, root)
            cached = key in _RUNS
            if not cached:
                _RUNS[key] = nb.run(
                    config, name=name, seed=s, overrides=dict(r.overrides), data_root=root
                )
            run = runs[r.label][s] = _RUNS[key]
            metrics = _numbers(run.metrics)
            if table.evaluate is not None:
                ek = (key, table.evaluate)
                if ek not in _EXTRAS:
                    _EXTRAS[ek] = table.evaluate(run)
                metrics.update(_numbers(_EXTRAS[ek]))
            missing = [m for m in table.metrics if m not in metrics]
            if missing:
                raise KeyError(
                    f"table {table.stem!r}, row {r.label!r}, seed {s}: no metric(s) {missing}; "
                    f"the run (+ evaluate) gave {sorted(metrics)}"
                )
            long.append({"label": r.label, "seed": s, **metrics})
            shown = ", ".join(f"{m} {metrics[m]:.2f}" for m in table.metrics[:2])
            print(f"[{table.stem}] {r.label} seed {s}: {shown}{' (cached)' * cached}", flush=True)
        # The first seed's descriptive columns (dataset, split, direction, epochs, gallery,
        # R@1% rule...); its per-seed numbers are replaced by the summary's.
        first = runs[r.label][seeds[0]]
        per_seed = set(first.metrics) | set(table.metrics)
        desc = {k: v for k, v in first.row(model=r.label).items() if k not in per_seed}
        desc["seed"] = ",".join(map(str, seeds))
        if text is not None:
            desc["data"] = text
        rows.append(desc)
    long_df = pd.DataFrame(long)
    result = TableResult(table, long_df, runs=runs, skipped=skipped)
    if not long:
        print(f"[{table.stem}] not run: every row was skipped", flush=True)
        return result
    summary = result.summary
    rows = [{**d, **summary.loc[d["model"]].to_dict()} for d in rows]
    seeds_text = ",".join(map(str, seeds))
    note = (
        f"Each row: the mean over seeds {seeds_text}; '<metric> sd' is the sample standard "
        f"deviation over seeds (ddof=1; blank with one seed). {table.note}"
    ).strip()
    out_dir.mkdir(parents=True, exist_ok=True)
    # The table owns its file: a row re-run over other seeds replaces its old self, and rows
    # of labels the table no longer declares go; rows of a dataset skipped this time stay.
    result.written = update_table(
        out_dir / table.stem, rows, title=table.title, note=note, replace_on=("model",),
        models=table.labels,
    )  # fmt: skip
    atomic_write_text(out_dir / f"{table.stem}_seeds.csv", long_df.to_csv(index=False))
    return result


@dataclass(frozen=True)
class Claim:
    text: str  # the paper's words, e.g. "GSRA improves NetVLAD (Table III)"
    table: str  # Table.stem
    better: str  # the row label the paper says is higher (lower, with lower_is_better)
    worse: str
    metric: str = "R@1"
    lower_is_better: bool = False  # for costs (ms, parameters)
    chance: float | None = None  # percent; both means below 2x chance: no verdict


def verdict(
    result: TableResult | None, claim: Claim, *, z: float = 2.0, chance: float | None = None
) -> dict:
    """`claim` judged on `result` by `RULE`; `chance` (percent) overrides the claim's."""
    row = {"table": claim.table, "claim": claim.text, "better": claim.better}
    row.update({"worse": claim.worse, "metric": claim.metric})
    nan = dict.fromkeys(("mean better", "mean worse", "mean diff", "SE"), math.nan)
    row.update(nan, n=0)
    if result is not None and result.table.stem != claim.table:
        raise KeyError(
            f"claim {claim.text!r} is on table {claim.table!r}, not {result.table.stem!r}"
        )
    if result is None or not (result.ran(claim.better) and result.ran(claim.worse)):
        return {**row, "verdict": "not run"}
    b = result.per_seed(claim.better, claim.metric)
    w = result.per_seed(claim.worse, claim.metric)
    row["mean better"], row["mean worse"] = float(b.mean()), float(w.mean())
    paired = pd.concat([b, w], axis=1, join="inner").dropna().to_numpy()  # (n, 2)
    d = paired[:, 0] - paired[:, 1]
    if claim.lower_is_better:
        d = -d
    n = len(d)
    row["n"] = n
    if n:
        row["mean diff"] = float(d.mean())
    if n < 2:
        return {**row, "verdict": "one seed: no verdict"}
    se = _sd(d) / math.sqrt(n)
    row["SE"] = se
    chance = claim.chance if chance is None else chance
    if chance is not None and max(row["mean better"], row["mean worse"]) < 2 * chance:
        return {**row, "verdict": "near chance: no verdict"}
    mean = row["mean diff"]
    if mean > z * se and mean > 0:
        v = "holds"
    elif mean < -z * se:
        v = "reversed"
    else:
        v = "within noise"
    return {**row, "verdict": v}


def verdicts(
    results: dict[str, TableResult] | list[TableResult],
    claims: Iterable[Claim],
    out_path=None,
    *,
    z: float = 2.0,
    name: str = "verdicts",
) -> pd.DataFrame:
    """One `verdict` row per claim; prints one line each and, with `out_path` (a folder),
    writes <out_path>/<name>.csv and .md atomically. A claim naming a table or row that does
    not exist raises KeyError; a table or row that did not run gives "not run"."""
    if not isinstance(results, dict):
        results = {r.table.stem: r for r in results}
    claims = list(claims)
    for c in claims:
        if c.table not in results:
            raise KeyError(f"claim {c.text!r}: no table {c.table!r}; tables: {sorted(results)}")
        for label in (c.better, c.worse):
            if label not in results[c.table].table.labels:
                raise KeyError(
                    f"claim {c.text!r}: table {c.table!r} has no row {label!r}; "
                    f"rows: {results[c.table].table.labels}"
                )
    df = pd.DataFrame([verdict(results[c.table], c, z=z) for c in claims])
    for r in df.to_dict("records"):
        spread = f"{r['mean diff']:+.2f} ± {r['SE']:.2f} (n={r['n']})"
        print(f"{r['verdict']:<24} {spread:<22} {r['claim']}")
    if out_path is not None:
        out = Path(out_path)
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / f"{name}.csv", df.to_csv(index=False))
        caption = f"Verdicts per claim (z = {z}). {RULE}"
        atomic_write_text(out / f"{name}.md", markdown(df, caption))
    return df
