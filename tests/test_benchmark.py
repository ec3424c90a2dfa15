"""cvgl_core.benchmark: each method's config per task, the shared budget, reuse of the paper
notebooks' runs, and leaderboard cells checked against the per-seed numbers they come from."""

import math

import numpy as np
import pandas as pd
import pytest

from cvgl_core import benchmark as B
from cvgl_core.claims import Row, Table, TableResult
from cvgl_core.config import load_config
from cvgl_core.data.transforms import fov_crop_width
from cvgl_core.study import run_key


def _cfg(method, task, profile, protocol=None):
    path, over = B.method_config(method, task, profile, protocol)
    return load_config(B.REPO / path.format(profile=profile), over)


@pytest.mark.parametrize(
    "profile,protocol", [("smoke", None), ("cpu", None), ("cpu", "cropped"), ("paper", None)]
)
def test_every_pair_loads_or_is_named_not_applicable(profile, protocol):
    na = set()
    used = B.fov_protocol(profile, protocol)
    for task in B.TASKS:
        for m in B.METHODS:
            if B.applicable(m, task, used):
                na.add((m, task))
                assert B.adaptation(m, task, profile, protocol).startswith("n/a: ")
                with pytest.raises(ValueError, match="does not run"):
                    B.method_config(m, task, profile, protocol)
                continue
            cfg = _cfg(m, task, profile, protocol)
            assert cfg.data.dataset == B.TASKS[task].dataset, (m, task)
            assert cfg.model.name == m
            for k, v in B.BUDGET[profile].items():  # the same budget for every method
                sec, key = k.split(".")
                assert getattr(getattr(cfg, sec), key) == v, (m, task, k)
    drone = [t for t in B.TASKS if B.FAMILY[B.TASKS[t].dataset] == "drone"]
    limited = [t for t in B.TASKS if B.TASKS[t].fov not in (None, 360)]
    # a padded crop has the panorama's shape, so LRFR's shared size-tied modules run on it
    lrfr = {("lrfr", t) for t in limited} if used == "cropped" else set()
    assert na == {("awm", t) for t in drone} | lrfr


def test_a_paper_notebooks_run_is_the_benchmarks_run():
    """FRG's VIGOR config at cpu already trains 1 epoch of 32-pair batches: the benchmark's
    run has the paper notebook's key (so `study.finished_twin` reuses it) and no override."""
    path, over = B.method_config("frg", "vigor_same", "cpu")
    assert path == "configs/frg/vigor_{profile}.yaml" and over == {}
    own = load_config(B.REPO / "configs/frg/vigor_cpu.yaml")
    assert run_key(_cfg("frg", "vigor_same", "cpu")) == run_key(own)
    # a budget that differs from the paper config changes the key: no false reuse
    assert run_key(_cfg("lrfr", "cvusa", "cpu")) != run_key(
        load_config(B.REPO / "configs/lrfr/cvusa_cpu.yaml")
    )


def test_cropped_field_of_view_sizes_follow_the_crop():
    cfg = _cfg("mfrgn", "fov_70", "cpu", "cropped")
    h, w = B.FOV_PANO["cpu"]
    assert cfg.data.options["sizes"]["ground"] == [h, w]
    assert cfg.data.options["fov"] == 70 and cfg.data.options["fov_noise"] == 360
    assert cfg.model.kwargs["ground_hw"] == [h, int(70 / 360 * w)] == [64, 49]
    frg = _cfg("frg", "fov_90", "cpu", "cropped").model.kwargs["input_size"]
    assert frg == {"ground": [64, fov_crop_width(256, 90)], "satellite": [64, 256]}  # polar strip
    awm = _cfg("awm", "fov_180", "cpu", "cropped").model.kwargs
    assert awm["fov"] == 180 and awm["satellite_size"] == [64, 256]
    assert B.fov_protocol("paper") == "cropped"  # the papers' protocol where their numbers are
    # the one-to-one task: AWM sees the whole panorama, north-aligned
    one = _cfg("awm", "cvusa", "cpu")
    assert one.data.options["fov"] == 360 and one.data.options["fov_noise"] == 0
    assert "fov" not in _cfg("baseline", "cvusa", "cpu").data.options


@pytest.mark.parametrize("method", list(B.METHODS))
def test_padded_field_of_view_is_the_cvusa_run_at_a_known_heading(method):
    """Padded: 360 degrees is the CVUSA task's run (same key, so reused); a limited FoV
    changes only the data (crop at heading 0, back at its columns), never the model."""
    one = _cfg(method, "cvusa", "cpu")
    assert run_key(_cfg(method, "fov_360", "cpu", "padded")) == run_key(one)
    for f in (180, 90, 70):
        cfg = _cfg(method, f"fov_{f}", "cpu", "padded")
        opts = cfg.data.options
        assert (opts["fov"], opts["fov_noise"], opts["fov_pad"]) == (f, 0, True)
        assert cfg.to_dict()["model"] == one.to_dict()["model"]  # the panorama's shape
        assert {k: v for k, v in opts.items() if k not in ("fov", "fov_noise", "fov_pad")} == {
            k: v for k, v in one.data.options.items() if k not in ("fov", "fov_noise")
        }
    assert B.adaptation(method, "fov_360", "cpu").startswith("the CVUSA task's run")
    assert "known heading" in B.adaptation(method, "fov_70", "cpu")


def test_papers_fov_numbers_only_under_their_protocol():
    padded = B.task_table("fov_90", "cpu", ("awm",))
    cropped = B.task_table("fov_90", "cpu", ("awm",), protocol="cropped")
    assert padded.rows[0].paper == {} and "known heading" in padded.title
    assert cropped.rows[0].paper == B.PAPER[("awm", "fov_90")]
    with pytest.raises(ValueError, match="unknown fov_protocol 'tilted'; known: cropped, padded"):
        B.method_config("awm", "fov_90", "cpu", "tilted")


def test_retargeted_configs_take_the_tasks_data():
    sues = _cfg("baseline", "sues200_250", "cpu")
    assert sues.data.options["altitude"] == 250 and sues.data.sampler == "unique_label"
    assert "query_view" not in sues.data.options and sues.data.eval_split == "test"
    gl = _cfg("glqinet", "vigor_cross", "cpu")
    assert gl.data.options["area"] == "cross" and gl.data.eval_split == "test"
    assert _cfg("glqinet", "cvusa", "cpu").data.eval_split == "val"
    frg = _cfg("frg", "university1652", "cpu")
    assert frg.data.options["polar"] is False
    assert frg.model.kwargs["input_size"] == {"drone": [64, 64], "satellite": [64, 64]}
    lrfr = _cfg("lrfr", "sues200_150", "cpu")  # its own image size, the task's altitude
    own = load_config(B.REPO / "configs/lrfr/university1652_cpu.yaml")
    assert lrfr.data.options["sizes"] == own.data.options["sizes"]
    assert lrfr.data.options["altitude"] == 150


def test_unknown_names_are_one_clear_error():
    with pytest.raises(KeyError, match="unknown method 'nope'"):
        B.method_config("nope", "cvusa", "cpu")
    with pytest.raises(KeyError, match="unknown task 'mars'"):
        B.method_config("lrfr", "mars", "cpu")


def _result(stem, metric, values: dict) -> TableResult:
    """A TableResult from {label: {seed: value}}, as run_table leaves one."""
    rows = [Row(label) for label in values]
    T = Table(stem, stem, "x", rows=rows, run_prefix="x", metrics=(metric,))
    long = pd.DataFrame(
        [{"label": lb, "seed": s, metric: v} for lb, d in values.items() for s, v in d.items()]
    )
    return TableResult(T, long)


BASE, MFRGN, AWM = B.METHODS["baseline"], B.METHODS["mfrgn"], B.METHODS["awm"]


def test_leaderboard_cells_are_the_mean_and_sd_of_their_runs():
    cv = _result("task_cvusa", "R@1", {BASE: {0: 10.0, 1: 20.0, 2: 30.0}, MFRGN: {0: 40.0, 1: 44}})
    board = B.leaderboard({"cvusa": cv}, {"CVUSA R@1": ("cvusa", "R@1"), "x": ("fov_90", "R@1")})
    assert board.at[BASE, "CVUSA R@1"] == pytest.approx(20.0)
    assert board.at[BASE, "CVUSA R@1 sd"] == pytest.approx(10.0)  # sd of 10, 20, 30 (ddof 1)
    assert board.at[MFRGN, "CVUSA R@1"] == pytest.approx(42.0)
    assert board.at[MFRGN, "CVUSA R@1 sd"] == pytest.approx(math.sqrt(8.0))
    assert math.isnan(board.at[AWM, "CVUSA R@1"])  # did not run: no value, not a zero
    assert "x" not in board or board["x"].isna().all()  # a task that did not run
    assert list(board.columns)[-1] == "seeds"


def test_ratio_board_pairs_seeds_and_leaves_zero_same_area_undefined():
    same = _result("s", "R@1", {BASE: {0: 50.0, 1: 40.0, 2: 0.0}})
    cross = _result("c", "R@1", {BASE: {0: 25.0, 1: 30.0, 2: 5.0}})
    r = B.ratio_board({"same": same, "cross": cross}, ("same", "R@1"), ("cross", "R@1"), "x")
    ratios = np.array([0.5, 0.75])  # seed 2 has no same-area R@1: no ratio, not a zero
    assert r.at[BASE, "cross / same"] == pytest.approx(0.625)
    assert r.at[BASE, "cross / same sd"] == pytest.approx(np.std(ratios, ddof=1))
    assert r.at[BASE, "same-area R@1"] == pytest.approx(30.0)
    assert r.at[BASE, "seeds"] == 3


def test_ranking_says_who_trails_the_leader_beyond_noise():
    t = _result(
        "t", "R@1", {BASE: {0: 10.0, 1: 11.0, 2: 12.0}, MFRGN: {0: 30.0, 1: 31.0, 2: 33.0},
                     AWM: {0: 29.0, 1: 33.0, 2: 30.0}},
    )  # fmt: skip
    r = B.ranking(t, "R@1")
    assert list(r.index) == [MFRGN, AWM, BASE]
    assert r.at[BASE, "behind the leader beyond noise"]  # d = 20, 20, 21: far beyond 2 SE
    assert not r.at[AWM, "behind the leader beyond noise"]  # d = 1, -2, 3: within noise


@pytest.mark.slow
def test_leaderboard_cells_come_from_their_runs(tmp_path):
    """Two methods, two seeds, the drone task at smoke (one step each): every leaderboard cell
    is the mean (and sd) of the metric of the Run objects the table trained, both directions."""
    import os
    from pathlib import Path

    from cvgl_core.claims import clear_cache, run_table
    from cvgl_core.notebook import start

    data = Path(os.environ.get("CVGL_SMOKE_DATA", B.REPO / ".scratch" / "smoke" / "data"))
    nb = start(profile="smoke", data_dir=data, results_dir=tmp_path / "results", chdir=False,
               overrides={"train.max_steps": 1})  # fmt: skip
    clear_cache()
    T = B.task_table("university1652", "smoke", ("baseline", "frg"), nb=nb)
    t = run_table(nb, T, [0, 1], tmp_path / "out")
    cols = {"D->S": ("university1652", "D->S R@1"), "S->D": ("university1652", "S->D R@1")}
    board = B.leaderboard({"university1652": t}, cols)
    for m in ("baseline", "frg"):
        label = B.METHODS[m]
        runs = t.runs[label]
        d2s = [runs[s].metrics["R@1"] for s in (0, 1)]  # the run's own drone -> satellite
        assert board.at[label, "D->S"] == pytest.approx(np.mean(d2s))
        assert board.at[label, "D->S sd"] == pytest.approx(np.std(d2s, ddof=1))
        assert runs[0].run_dir.parent.name == f"bench_{m}_university1652"
        assert board.at[label, "seeds"] == 2
    s2d = pd.read_csv(tmp_path / "out" / "task_university1652_seeds.csv")
    frg = s2d[s2d["label"] == B.METHODS["frg"]]["S->D R@1"]
    assert board.at[B.METHODS["frg"], "S->D"] == pytest.approx(frg.mean())
    clear_cache()
