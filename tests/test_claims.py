"""cvgl_core.claims: tables as data run over seeds, their summaries, and the verdict rule."""

import math
import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from cvgl_core import claims
from cvgl_core.claims import Claim, Row, Table, TableResult, run_table, verdict, verdicts

REPO = Path(__file__).resolve().parent.parent


def _result(values: dict, metric="R@1", stem="t") -> TableResult:
    """A TableResult from {label: {seed: value}}; labels with no seeds did not run."""
    long = [
        {"label": label, "seed": s, metric: v}
        for label, per_seed in values.items()
        for s, v in per_seed.items()
    ]
    table = Table(stem, "T", "c.yaml", rows=[Row(x) for x in values], run_prefix="p")
    return TableResult(table, pd.DataFrame(long))


def _seeds(*v):
    return dict(enumerate(v))


def test_verdict_holds_with_the_hand_computed_standard_error():
    res = _result({"a": _seeds(10, 12, 14), "b": _seeds(8, 9, 10)})
    v = verdict(res, Claim("a beats b", "t", "a", "b"))
    # d = (2, 3, 4): mean 3, sample sd sqrt((1 + 0 + 1) / 2) = 1, SE = 1 / sqrt(3)
    assert v["mean diff"] == pytest.approx(3.0) and v["SE"] == pytest.approx(1 / math.sqrt(3))
    assert (v["mean better"], v["mean worse"], v["n"]) == (12.0, 9.0, 3)
    assert v["verdict"] == "holds"
    assert verdict(res, Claim("b beats a", "t", "b", "a"))["verdict"] == "reversed"


def test_verdict_within_noise_and_the_z_threshold():
    # d = (3, -1, 1): mean 1, sd sqrt((4 + 4 + 0) / 2) = 2, SE = 2 / sqrt(3) = 1.155
    res = _result({"a": _seeds(13, 9, 11), "b": _seeds(10, 10, 10)})
    c = Claim("a beats b", "t", "a", "b")
    v = verdict(res, c)
    assert v["SE"] == pytest.approx(2 / math.sqrt(3)) and v["verdict"] == "within noise"
    assert verdict(res, c, z=0.8)["verdict"] == "holds"  # 1 > 0.8 * 1.155
    assert verdict(_result({"a": _seeds(9, 8, 10), "b": _seeds(10, 10, 10)}), c)["verdict"] == (
        "within noise"
    )


def test_verdict_one_seed_zero_se_and_pairing_on_common_seeds():
    c = Claim("a beats b", "t", "a", "b")
    one = verdict(_result({"a": {0: 50.0}, "b": {0: 10.0}}), c)
    assert one["verdict"] == "one seed: no verdict" and one["n"] == 1 and math.isnan(one["SE"])
    # SE = 0: a constant difference is beyond noise either way; no difference is not
    same = {"b": _seeds(5, 6, 7)}
    assert verdict(_result({"a": _seeds(6, 7, 8), **same}), c)["verdict"] == "holds"
    assert verdict(_result({"a": _seeds(4, 5, 6), **same}), c)["verdict"] == "reversed"
    assert verdict(_result({"a": _seeds(5, 6, 7), **same}), c)["verdict"] == "within noise"
    # only the seeds both rows ran are paired: seeds 1 and 2, d = (1, 3)
    v = verdict(_result({"a": {0: 99.0, 1: 11.0, 2: 13.0}, "b": {1: 10.0, 2: 10.0}}), c)
    assert v["n"] == 2 and v["mean diff"] == pytest.approx(2.0)
    assert v["SE"] == pytest.approx(math.sqrt(2) / math.sqrt(2))
    assert v["mean better"] == pytest.approx((99 + 11 + 13) / 3)  # the row's own mean


def test_verdict_lower_is_better_and_near_chance():
    ms = _result({"fast": _seeds(20, 21, 22), "slow": _seeds(25, 25, 26)}, metric="ms")
    c = Claim("fast is faster", "t", "fast", "slow", metric="ms", lower_is_better=True)
    v = verdict(ms, c)
    assert v["mean diff"] == pytest.approx(13 / 3) and v["verdict"] == "holds"  # d = (5, 4, 4)
    low = _result({"a": _seeds(1.5, 1.9, 1.7), "b": _seeds(1.0, 1.1, 0.9)})
    c = Claim("a beats b", "t", "a", "b", chance=1.0)
    assert verdict(low, c)["verdict"] == "near chance: no verdict"  # both means < 2.0
    assert verdict(low, c, chance=0.5)["verdict"] == "holds"  # the call's chance wins
    assert verdict(low, Claim("a beats b", "t", "a", "b"))["verdict"] == "holds"


def test_summary_mean_sd_per_seed_text_and_paper_columns():
    table = Table(
        "t",
        "T",
        "c.yaml",
        rows=[Row("a", paper={"R@1": 70.0}, columns={"FoV": 90}), Row("b")],
        run_prefix="p",
        metrics=("R@1", "AP"),
    )
    long = pd.DataFrame(
        {
            "label": ["a", "a", "a", "b"],
            "seed": [2, 0, 1, 0],
            "R@1": [14.1, 12.3, 13.0, 5.0],
            "AP": [1.0, 2.0, 4.0, 3.0],
        }
    )
    res = TableResult(table, long)
    s = res.summary
    assert s.loc["a", "R@1"] == pytest.approx(np.mean([12.3, 13.0, 14.1]))
    assert s.loc["a", "R@1 sd"] == pytest.approx(np.std([12.3, 13.0, 14.1], ddof=1))
    assert s.loc["a", "AP sd"] == pytest.approx(np.std([1.0, 2.0, 4.0], ddof=1))
    assert s.loc["a", "R@1 per seed"] == "12.3 / 13.0 / 14.1"  # ordered by seed
    assert s.loc["a", "seeds"] == 3 and s.loc["b", "seeds"] == 1 and math.isnan(s.loc["b", "AP sd"])
    assert s.loc["a", "paper R@1"] == 70.0 and s.loc["a", "FoV"] == 90
    assert list(res.values("a", "R@1")) == [12.3, 13.0, 14.1]
    assert res.mean("a", "AP") == pytest.approx(7 / 3)


class _Stub:
    def __init__(self, seed, overrides):
        bonus = overrides.get("model.kwargs.attention") == "gsra"
        self.metrics = {
            "R@1": 10.0 + seed + 5 * bonus,
            "R@5": 30.0 + seed,
            "k_one_percent_rule": "floor",
            "num_queries": 40,
        }
        self.history = pd.DataFrame({"epoch": [1, 2]})
        self.seed = seed

    def row(self, **columns):
        return {
            "dataset": "synthetic cvusa",
            "split": "val",
            "direction": "ground->satellite",
            "protocol": "default",
            "profile": "smoke",
            "model": "cfg-name",
            "seed": self.seed,
            "epochs": 2,
            "R@1": round(self.metrics["R@1"], 2),
            "R@5": round(self.metrics["R@5"], 2),
            "R@1% rule": "floor",
            "gallery": 40,
            **columns,
        }


class _FakeNotebook(SimpleNamespace):
    def run(self, config, *, name, seed, overrides, data_root):
        self.calls.append((config, name, seed, dict(overrides), data_root))
        return _Stub(seed, overrides)

    def real_root(self, name):
        return None

    def data_text(self, name):
        return f"synthetic {name}-like world"


def _nb(**kw):
    base = dict(profile="smoke", data_dir="d", results_dir="r", seed=0, dry_run=False)
    return _FakeNotebook(**{**base, "overrides": {}, "do": {"cvusa": True}, "calls": [], **kw})


GSRA = Row("+GSRA", {"model.kwargs.attention": "gsra"}, paper={"R@1": 72.29})
BASE = Row("baseline (NetVLAD)", {"model.kwargs.attention": "none"}, paper={"R@1": 61.99})


def test_run_table_calls_memoises_and_writes(tmp_path, capsys):
    claims.clear_cache()
    nb = _nb()
    extra = []

    def evaluate(run):
        extra.append(run.seed)
        return {"S->D R@1": 2.0 * run.seed}

    t3 = Table("table3", "Table III. Attention", "configs/x_{profile}.yaml", (BASE, GSRA), "lrfr",
               metrics=("R@1", "S->D R@1"), evaluate=evaluate, dataset="cvusa")  # fmt: skip
    res = run_table(nb, t3, [0, 1, 2], tmp_path)
    assert nb.calls[0] == ("configs/x_{profile}.yaml", "lrfr_baseline_netvlad", 0,
                           {"model.kwargs.attention": "none"}, None)  # fmt: skip
    assert [c[2] for c in nb.calls] == [0, 1, 2, 0, 1, 2] and nb.calls[3][1] == "lrfr_gsra"
    assert extra == [0, 1, 2, 0, 1, 2]
    assert res.runs["+GSRA"][1].seed == 1 and list(res.values("+GSRA", "R@1")) == [15, 16, 17]
    assert list(res.values("+GSRA", "S->D R@1")) == [0, 2, 4]  # evaluate's metric, per seed
    # A second table sharing a row (same config, name, overrides) trains nothing again.
    t4 = Table("table4", "Table IV", "configs/x_{profile}.yaml",
               (GSRA, Row("+SALAD", {"model.kwargs.aggregator": "salad"})), "lrfr",
               metrics=("R@1",), dataset="cvusa")  # fmt: skip
    run_table(nb, t4, [0, 1, 2], tmp_path)
    assert len(nb.calls) == 9 and {c[1] for c in nb.calls[6:]} == {"lrfr_salad"}
    assert "+GSRA seed 0: R@1 15.00 (cached)" in capsys.readouterr().out

    csv = pd.read_csv(tmp_path / "table3.csv")
    assert list(csv["model"]) == ["baseline (NetVLAD)", "+GSRA"]
    assert list(csv["seed"]) == ["0,1,2", "0,1,2"] and list(csv["seeds"]) == [3, 3]
    g = csv.set_index("model").loc["+GSRA"]
    assert g["R@1"] == pytest.approx(16.0) and g["R@1 sd"] == pytest.approx(1.0)
    assert g["paper R@1"] == 72.29 and g["R@1 per seed"] == "15.0 / 16.0 / 17.0"
    # the first seed's descriptive columns stay; its own numbers do not leak in
    assert (g["direction"], g["epochs"], g["gallery"], g["R@1% rule"]) == (
        "ground->satellite", 2, 40, "floor")  # fmt: skip
    assert (
        "R@5" not in csv and "num_queries" not in csv and g["data"] == "synthetic cvusa-like world"
    )
    md = (tmp_path / "table3.md").read_text()
    assert md.startswith("Table III. Attention. Profile smoke (2 rows)")
    assert "seed 0,1,2" in md and "mean over seeds 0,1,2" in md
    seeds = pd.read_csv(tmp_path / "table3_seeds.csv")
    assert len(seeds) == 6 and list(seeds.columns[:2]) == ["label", "seed"]
    assert list(seeds["R@5"]) == [30, 31, 32, 30, 31, 32]

    claims.clear_cache()
    run_table(nb, t4, [0], tmp_path)  # a cleared cache trains again
    assert len(nb.calls) == 11


def test_verdicts_print_write_not_run_and_key_errors(tmp_path, capsys):
    claims.clear_cache()
    t = Table("t", "T", "c.yaml", (BASE, GSRA), "lrfr", metrics=("R@1",), dataset="cvusa")
    u = Table("u", "U", "c.yaml", (BASE, GSRA), "lrfr", metrics=("R@1",), dataset="cvact")
    nb = _nb(do={"cvusa": True, "cvact": False})
    res_t, res_u = run_table(nb, t, [0, 1, 2], tmp_path), run_table(nb, u, [0, 1, 2], tmp_path)
    assert (
        res_u.skipped["+GSRA"] == "cvact not under data_root" and not (tmp_path / "u.csv").exists()
    )
    ok = [
        Claim("GSRA improves NetVLAD", "t", "+GSRA", "baseline (NetVLAD)"),
        Claim("GSRA improves NetVLAD on CVACT", "u", "+GSRA", "baseline (NetVLAD)"),
    ]
    capsys.readouterr()
    df = verdicts([res_t, res_u], ok, out_path=tmp_path / "v")
    assert list(df["verdict"]) == ["holds", "not run"]  # d = 5 at every seed: SE 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["holds", "+5.00", "±", "0.00", "(n=3)", "GSRA", "improves", "NetVLAD"]
    assert (tmp_path / "v" / "verdicts.csv").exists()
    assert claims.RULE in (tmp_path / "v" / "verdicts.md").read_text()

    with pytest.raises(KeyError, match=r"no table 'x'; tables: \['t', 'u'\]"):
        verdicts({"t": res_t, "u": res_u}, [Claim("c", "x", "+GSRA", "+GSRA")])
    with pytest.raises(KeyError, match=r"table 't' has no row '\+CBAM'; rows: \['baseline"):
        verdicts([res_t], [Claim("c", "t", "+CBAM", "+GSRA")])
    with pytest.raises(KeyError, match=r"no metric 'AP'; metrics: \['R@1', 'R@5'"):
        verdict(res_t, Claim("c", "t", "+GSRA", "baseline (NetVLAD)", metric="AP"))
    with pytest.raises(ValueError, match="row labels must be unique"):
        Table("t", "T", "c.yaml", (GSRA, GSRA), "p")


@pytest.mark.slow
def test_run_table_trains_two_rows_two_seeds_at_smoke(tmp_path, monkeypatch):
    from cvgl_core.notebook import start

    claims.clear_cache()
    data = Path(os.environ.get("CVGL_SMOKE_DATA", tmp_path / "data"))
    nb = start(profile="smoke", data_dir=data, results_dir=tmp_path / "results", chdir=False)
    monkeypatch.chdir(REPO)  # the configs are relative to the checkout
    table = Table(
        "smoke_table",
        "Smoke table",
        "configs/baseline/cvusa_{profile}.yaml",
        (
            Row("gem", {"train.epochs": 1}),
            Row("avg", {"train.epochs": 1, "model.kwargs.pool": "avg"}),
        ),
        run_prefix="claims_smoke",
    )
    res = run_table(nb, table, [0, 1], tmp_path / "out")
    assert set(res.runs) == {"gem", "avg"} and set(res.runs["avg"]) == {0, 1}
    assert res.runs["avg"][1].cfg.model.kwargs["pool"] == "avg"
    assert res.runs["avg"][1].cfg.train.seed == 1 and len(res.runs["gem"][0].history) == 1
    assert res.runs["gem"][0].run_dir.parent.name == "claims_smoke_gem"
    assert list(res.values("gem", "R@1")) == [res.runs["gem"][s].metrics["R@1"] for s in (0, 1)]
    v = verdict(res, Claim("gem beats avg", "smoke_table", "gem", "avg"))
    assert v["n"] == 2 and v["verdict"] in ("holds", "reversed", "within noise")
    csv = pd.read_csv(tmp_path / "out" / "smoke_table.csv")
    assert list(csv["seed"]) == ["0,1", "0,1"] and csv["dataset"].iloc[0] == "synthetic cvusa"


def test_learning_bar_says_which_part_a_full_model_meets():
    from cvgl_core.claims import learning_bar

    # 5.78 % on 300 tiles: 17.3x chance, below the 20 % the CVUSA-like set asks
    assert learning_bar(5.78, 100 / 300, "cpu", "cvusa") == (
        "17.3x chance (0.33 %); the cpu learning bar: 10x chance met, 20 % missed"
    )
    assert learning_bar(3.0, 1.0, "cpu", "vigor").endswith("10x chance missed")  # no 20 % there
    assert learning_bar(25.0, 1.25, "cpu", "university1652").endswith("met, 20 % met")
    assert learning_bar(90.0, 1.0, "paper", "cvusa") == "90.0x chance (1.00 %)"  # no bar at paper


def test_default_seeds():
    from cvgl_core.claims import default_seeds

    assert default_seeds("cpu", 0) == [0, 1, 2]
    assert default_seeds("cpu", 5) == [5, 6, 7]
    assert default_seeds("smoke", 3) == [3]
    assert default_seeds("paper", 0) == [0]
    assert default_seeds("cpu", 0, seeds=[4, 9]) == [4, 9]
    assert default_seeds("smoke", 0, seeds=2) == [2]
