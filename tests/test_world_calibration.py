"""The world calibration's targets, computed from known per-run numbers (no training)."""

import math

import pandas as pd

from cvgl_core.claims import TableResult
from cvgl_core.world_calibration import (
    CROSS_METRIC,
    altitude_table,
    cross_area_check,
    cross_area_table,
    fov_table,
    trend_check,
)


def _result(table, rows):
    return TableResult(table, pd.DataFrame(rows))


def test_cross_area_retained_share_and_target():
    t = cross_area_table()
    res = _result(
        t,
        [
            {"label": "CVUSA-like", "seed": 0, "R@1": 50.0, CROSS_METRIC: 10.0},
            {"label": "CVUSA-like", "seed": 1, "R@1": 30.0, CROSS_METRIC: 30.0},
            {"label": "VIGOR-like same-area", "seed": 0, "R@1": 20.0},
            {"label": "VIGOR-like cross-area", "seed": 0, "R@1": 16.0},
        ],
    )
    df = cross_area_check(res, max_retained=0.70)
    # CVUSA: means 40 and 20 -> 0.5 (met); VIGOR: 16 / 20 = 0.8 (missed)
    assert df["same-area R@1"].tolist() == [40.0, 20.0]
    assert df["retained"].tolist() == [0.5, 0.8]
    assert df["met"].tolist() == [True, False]


def test_cross_area_at_zero_is_missed():
    res = _result(
        cross_area_table(),
        [
            {"label": "CVUSA-like", "seed": 0, "R@1": 0.0, CROSS_METRIC: 0.0},
            {"label": "VIGOR-like same-area", "seed": 0, "R@1": 0.0},
            {"label": "VIGOR-like cross-area", "seed": 0, "R@1": 0.0},
        ],
    )
    df = cross_area_check(res)
    assert math.isnan(df["retained"][0]) and not df["met"].any()


def test_trend_check_strict_in_both_directions():
    t = fov_table((360, 180, 90, 70))
    o = t.row("70 deg").overrides
    assert (o["data.options.fov"], o["data.options.fov_noise"], o["data.options.fov_pad"]) == (
        70,
        0,
        True,
    )
    falls = [{"label": r.label, "seed": 0, "R@1": v} for r, v in zip(t.rows, (40, 30, 20, 10))]
    flat = [{"label": r.label, "seed": 0, "R@1": v} for r, v in zip(t.rows, (40, 30, 30, 10))]
    assert trend_check(_result(t, falls), (360, 180, 90, 70), "FoV", rising=False)["met"].all()
    assert not trend_check(_result(t, flat), (360, 180, 90, 70), "FoV", rising=False)["met"].any()
    assert not trend_check(_result(t, falls), (360, 180, 90, 70), "FoV", rising=True)["met"].any()
    a = altitude_table((150, 300))
    assert a.row("300 m").overrides["data.options"]["altitude"] == 300
    up = [{"label": "150 m", "seed": 0, "R@1": 5.0}, {"label": "300 m", "seed": 0, "R@1": 9.0}]
    df = trend_check(_result(a, up), (150, 300), "altitude (m)", rising=True)
    assert df["R@1"].tolist() == [5.0, 9.0] and df["met"].all()


def test_trend_check_ends_is_the_paired_verdict_of_the_end_rows():
    a = altitude_table((150, 200, 300))
    # per seed 300 m - 150 m = 10, 12, 8: mean 10, SE 2/sqrt(3) -> holds; 200 m dips below
    rows = [
        {"label": lab, "seed": s, "R@1": v}
        for lab, vals in (("150 m", (20, 22, 24)), ("200 m", (15, 15, 15)), ("300 m", (30, 34, 32)))
        for s, v in enumerate(vals)
    ]
    df = trend_check(_result(a, rows), (150, 200, 300), "altitude (m)", rising=True, rule="ends")
    assert df["met"].all() and "+10.00 ± 1.15 (n=3): holds" in df["paired diff"][0]
    assert not trend_check(_result(a, rows), (150, 200, 300), "h", rising=True)["met"].any()
    # one seed: no verdict, so the target is not met
    one = [r for r in rows if r["seed"] == 0]
    assert not trend_check(_result(a, one), (150, 200, 300), "h", rising=True, rule="ends")[
        "met"
    ].any()
