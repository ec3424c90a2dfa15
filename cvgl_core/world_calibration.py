"""The synthetic world's calibration (issue 18, item 2): does it carry the effects the papers
study? Tables of baseline runs, declared as data (`cvgl_core.claims.Table`), and each target
met or missed from their numbers (notebook 00, "Does the world carry the effects..."):

* cross-area: the share of same-area R@1 kept on another area, at most `max_retained`
  (CVUSA-like -> CVACT-like without retraining; VIGOR-like same-area vs cross-area runs);
* field of view: R@1 falls strictly from the widest crop to the narrowest;
* drone altitude: SUES-200-like drone -> satellite R@1 rises with altitude.

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


def fov_table(fovs, backbone: str) -> Table:
    """One row per field of view (degrees): crops at an unknown heading in training and test.
    `backbone`: one whose downsampling fits the narrowest crop (ResNet at 32 x 24)."""
    return Table(
        "world_fov_runs",
        "World calibration: the baseline at each field of view",
        CONFIG,
        run_prefix="world_fov",
        dataset="cvusa",
        rows=[
            Row(
                f"{f} deg",
                {
                    "data.options.fov": f,
                    "data.options.fov_noise": 360,
                    "model.kwargs.backbone": backbone,
                },
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


def trend_check(t: TableResult, values, name: str, *, rising: bool) -> pd.DataFrame:
    """R@1 of each row (in table order, labelled by `values` under column `name`) and whether
    it rises (or falls) strictly from row to row: one verdict for the whole curve."""
    r1 = [t.mean(r.label, "R@1") for r in t.table.rows]
    steps = np.diff(r1)
    met = bool((steps > 0).all() if rising else (steps < 0).all())
    df = pd.DataFrame({name: list(values), "R@1": r1})
    df["target"] = f"R@1 {'rises' if rising else 'falls'} strictly along the rows"
    df["met"] = met
    return df
