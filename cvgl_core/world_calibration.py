"""The synthetic world's calibration (issue 18, item 2): does it carry the effects the papers
study? Tables of baseline runs, declared as data (`cvgl_core.claims.Table`), and each target
met or missed from their numbers (notebook 00, "Does the world carry the effects..."):

* cross-area: the share of same-area R@1 kept on another area, at most `max_retained`
  (CVUSA-like -> CVACT-like without retraining; VIGOR-like same-area vs cross-area runs);
* field of view: R@1 falls strictly from the widest crop to the narrowest (known heading);
* drone altitude: SUES-200-like drone -> satellite R@1 at the highest altitude beats the
  lowest, paired over seeds.

Every run is the Sample4Geo-style baseline of `CONFIG` with overrides, so runs shared with
the stand-in's calibration (the CVUSA-like row) train once per kernel.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cvgl_core.claims import Row, Table, TableResult

CONFIG = "configs/baseline/cvusa_{profile}.yaml"
CROSS_METRIC = "R@1 on CVACT-like"
VIGOR = {
    "data.dataset": "vigor",
    "data.train_split": "train",
    "data.eval_split": "test",
    "data.sampler": "unique_label",  # several panoramas share a tile
}
SUES = {
    "data.dataset": "sues200",
    "data.train_split": "train",
    "data.eval_split": "test",
    "data.sampler": "unique_label",
    "data.train_options": {"augment": True},
}


def to_cvact(run) -> dict:
    """A CVUSA-like run's R@1 on the CVACT-like val split, weights unchanged ({} otherwise)."""
    from cvgl_core.study import evaluate_transfer

    if run.cfg.data.dataset != "cvusa":
        return {}
    return {CROSS_METRIC: evaluate_transfer(run, "cvact").metrics["R@1"]}


def cross_area_table() -> Table:
    """CVUSA-like (its CVACT-like R@1 by `to_cvact`), VIGOR-like same-area and cross-area."""
    return Table(
        "world_cross_area_runs",
        "World calibration: the runs of the cross-area check",
        CONFIG,
        run_prefix="world",
        evaluate=to_cvact,
        rows=(
            Row("CVUSA-like", {}, name="baseline_cvusa", dataset="cvusa"),
            Row(
                "VIGOR-like same-area",
                {**VIGOR, "data.options.area": "same"},
                name="baseline_vigor",
                dataset="vigor",
            ),  # fmt: skip
            Row(
                "VIGOR-like cross-area",
                {**VIGOR, "data.options.area": "cross"},
                name="baseline_vigor_cross",
                dataset="vigor",
            ),  # fmt: skip
        ),
    )


def fov_table(fovs) -> Table:
    """One row per field of view (degrees): the crop at a known, fixed heading, put back at
    its own columns of the panorama (zeros elsewhere: `data.options.fov_pad`), in training
    and test. The model sees the panorama's size at every FoV, so R@1 measures how much of
    the place a crop shows and nothing else. This is notebook 06's "padded" protocol: its
    baseline runs below 360 degrees are these. (At an unknown heading, the AWM protocol, the
    cpu budget leaves every FoV at chance: notebook 02 measures that, and notebook 06 with
    fov_protocol="cropped".)"""
    return Table(
        "world_fov_runs",
        "World calibration: the baseline at each field of view",
        CONFIG,
        run_prefix="world_fov",
        dataset="cvusa",
        rows=[
            Row(
                f"{f} deg",
                {"data.options.fov": f, "data.options.fov_noise": 0, "data.options.fov_pad": True},
            )  # fmt: skip
            for f in fovs
        ],
    )


def altitude_table(altitudes, size: int = 64) -> Table:
    """One SUES-200-like drone -> satellite row per altitude (m), images at `size` px."""
    opts = {"sizes": {"drone": [size, size], "satellite": [size, size]}, "protocol": "official"}
    return Table(
        "world_altitude_runs",
        "World calibration: the baseline per drone altitude",
        CONFIG,
        run_prefix="world_sues",
        dataset="sues200",
        rows=[Row(f"{h} m", {**SUES, "data.options": {**opts, "altitude": h}}) for h in altitudes],
    )


def cross_area_check(t: TableResult, max_retained: float = 0.70) -> pd.DataFrame:
    """Same-area and cross-area R@1 (means over seeds), the retained share and the target."""
    m = t.mean
    rows = [
        ("CVUSA-like -> CVACT-like", m("CVUSA-like", "R@1"), m("CVUSA-like", CROSS_METRIC)),
        (
            "VIGOR-like same -> cross area",
            m("VIGOR-like same-area", "R@1"),
            m("VIGOR-like cross-area", "R@1"),
        ),  # fmt: skip
    ]
    df = pd.DataFrame(rows, columns=["shift", "same-area R@1", "cross-area R@1"])
    df["retained"] = df["cross-area R@1"] / df["same-area R@1"]  # NaN at 0 / 0: missed
    df["target"] = f"retained <= {max_retained:.2f}"
    df["met"] = df["retained"] <= max_retained
    return df


def trend_check(
    t: TableResult, values, name: str, *, rising: bool, rule: str = "strict"
) -> pd.DataFrame:
    """R@1 of each row (in table order, labelled by `values` under column `name`, means over
    seeds) and one verdict for the whole curve. rule "strict": R@1 rises (or falls) from
    every row to the next; "ends": the last row beats the first (falls below it) by the
    claims rule, paired over seeds (`claims.verdict`: beyond two standard errors), so a
    noisy middle of the curve does not decide."""
    from cvgl_core.claims import Claim, verdict

    r1 = [t.mean(r.label, "R@1") for r in t.table.rows]
    df = pd.DataFrame({name: list(values), "R@1": r1})
    first, last = t.table.rows[0].label, t.table.rows[-1].label
    word = "rises" if rising else "falls"
    if rule == "strict":
        steps = np.diff(r1)
        met = bool((steps > 0).all() if rising else (steps < 0).all())
        df["target"] = f"R@1 {word} strictly along the rows"
    elif rule == "ends":
        better, worse = (last, first) if rising else (first, last)
        v = verdict(t, Claim(f"R@1 {word} from {first} to {last}", t.table.stem, better, worse))
        met = v["verdict"] == "holds"
        df["target"] = f"R@1 {word} from {first} to {last}, paired over seeds (2 SE)"
        df["paired diff"] = f"{v['mean diff']:+.2f} ± {v['SE']:.2f} (n={v['n']}): {v['verdict']}"
    else:
        raise ValueError(f"trend_check rule must be 'strict' or 'ends', got {rule!r}")
    df["met"] = met
    return df
