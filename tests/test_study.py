"""run_experiment: train a config at smoke, evaluate it, and produce a results row."""

import os
from pathlib import Path

import pytest

from cvgl_core.evaluation.results import KEY
from cvgl_core.models import create_model
from cvgl_core.study import (
    Run,
    evaluate_at_fov,
    evaluate_at_fovs,
    evaluate_transfer,
    run_experiment,
    run_key,
    runs_dir,
)

REPO = Path(__file__).resolve().parent.parent
BASELINE = "configs/baseline/cvusa_{profile}.yaml"


def _two_steps(tmp_path) -> dict:
    """run_experiment's arguments for a two-step smoke run of the baseline."""
    return dict(
        profile="smoke",
        data_dir=Path(os.environ.get("CVGL_SMOKE_DATA", REPO / ".scratch" / "smoke" / "data")),
        results_dir=tmp_path / "results",
        overrides={"train.max_steps": 2},
    )


@pytest.mark.slow
def test_run_experiment_trains_evaluates_and_rows(tmp_path):
    results, data = tmp_path / "results", tmp_path / "data"
    run = run_experiment(
        "configs/baseline/cvusa_{profile}.yaml",
        profile="smoke",
        data_dir=data,
        results_dir=results,
        seed=3,
        overrides={"model.kwargs.pool": "avg"},
    )
    assert run.run_dir.parent == runs_dir(results, "smoke") / "baseline_cvusa_smoke"
    assert run.run_dir.name == f"seed3-{run_key(run.cfg)}"
    assert (run.run_dir / "last.pt").exists() and not run.model.training
    assert run.cfg.model.kwargs["pool"] == "avg" and run.cfg.train.seed == 3
    assert len(run.history) == run.cfg.train.epochs
    n_q, n_r = len(run.query_ds), len(run.reference_ds)
    assert run.descriptors.query.shape[0] == n_q and run.descriptors.reference.shape[0] == n_r
    # The final evaluation is the one the trainer logged for the last epoch (same weights).
    assert run.metrics["R@1"] == pytest.approx(run.history["R@1"].iloc[-1])
    row = run.row(model="baseline-avg")
    assert set(KEY) <= set(row) and row["model"] == "baseline-avg"
    assert row["direction"] == "ground->satellite" and row["profile"] == "smoke"
    assert row["dataset"] == "synthetic cvusa" and row["gallery"] == n_r


@pytest.mark.slow
def test_run_experiment_resumes_a_shorter_run_exactly(tmp_path):
    """A 1-epoch run continued to 2 epochs is the 2-epoch run (staged lr, same seed)."""
    common = dict(
        profile="smoke",
        data_dir=Path(os.environ.get("CVGL_SMOKE_DATA", REPO / ".scratch" / "smoke" / "data")),
        results_dir=tmp_path / "results",
        overrides={"train.epochs": 2, "eval.every": 1, "schedule.name": "constant"},
    )
    config = "configs/baseline/cvusa_{profile}.yaml"
    short = run_experiment(config, name="short", **{**common, "overrides": {
        **common["overrides"], "train.epochs": 1}})  # fmt: skip
    cont = run_experiment(config, name="cont", resume_from=short.run_dir / "last.pt", **common)
    full = run_experiment(config, name="full", **common)
    assert len(cont.history) == len(full.history) == 2
    assert cont.history["R@1"].tolist() == pytest.approx(full.history["R@1"].tolist())
    assert cont.history["train_loss"].tolist() == pytest.approx(full.history["train_loss"].tolist())
    assert (short.run_dir / "last.pt").exists()  # the short run is left as it was


@pytest.mark.slow
def test_runs_are_kept_reused_resumed_and_retrained(tmp_path, capsys):
    """A finished run is reused (evaluation only), a seed or setting gets its own folder, an
    interrupted run resumes exactly, retrain=True trains afresh and leaves nothing aside."""
    import shutil

    config = "configs/baseline/cvusa_{profile}.yaml"
    overrides = {"train.epochs": 2, "schedule.name": "constant"}
    common = dict(
        profile="smoke",
        data_dir=Path(os.environ.get("CVGL_SMOKE_DATA", REPO / ".scratch" / "smoke" / "data")),
        results_dir=tmp_path / "results",
    )
    first = run_experiment(config, overrides=overrides, **common)
    last = first.run_dir / "last.pt"
    stamp = last.stat().st_mtime_ns
    capsys.readouterr()
    # keys that do not change the result (workers, eval batch) keep the key: reused
    neutral = {**overrides, "data.num_workers": 0, "data.eval_batch_size": 5}
    again = run_experiment(config, overrides=neutral, **common)
    assert again.run_dir == first.run_dir and last.stat().st_mtime_ns == stamp
    assert "reusing the finished run" in capsys.readouterr().out
    assert again.history["train_loss"].tolist() == first.history["train_loss"].tolist()
    assert again.metrics["R@1"] == pytest.approx(first.metrics["R@1"])
    assert again.descriptors.query.shape == first.descriptors.query.shape
    # another seed, another folder; the seed-0 run is kept
    other = run_experiment(config, overrides={**overrides, "train.epochs": 1}, seed=1, **common)
    assert other.run_dir.name.startswith("seed1-") and last.exists()
    # interrupted after epoch 1: the run resumes, exactly
    short = run_experiment(config, overrides={**overrides, "train.epochs": 1}, **common)
    assert short.run_dir != first.run_dir
    shutil.copyfile(short.run_dir / "last.pt", last)
    resumed = run_experiment(config, overrides=overrides, **common)
    assert "resuming" in capsys.readouterr().out
    assert resumed.history["train_loss"].tolist() == pytest.approx(
        first.history["train_loss"].tolist()
    )
    # retrain: trained afresh into the same folder, the old one removed once it is done
    fresh = run_experiment(config, overrides=overrides, retrain=True, **common)
    assert "reusing" not in capsys.readouterr().out and fresh.run_dir == first.run_dir
    assert last.stat().st_mtime_ns != stamp
    assert sorted(p.name for p in first.run_dir.parent.iterdir()) == sorted(
        [first.run_dir.name, other.run_dir.name, short.run_dir.name]
    )


def test_run_under_another_name_reuses_a_finished_twin(tmp_path, capsys):
    """Notebook 06 names its rows after the benchmark; a paper notebook that trained the same
    config, seed and data under its own name has already done the work."""
    config, common = BASELINE, _two_steps(tmp_path)
    paper = run_experiment(config, name="paper_row", **common)
    stamp = (paper.run_dir / "last.pt").stat().st_mtime_ns
    capsys.readouterr()
    bench = run_experiment(config, name="bench_row", **common)
    out = capsys.readouterr().out
    assert "trained as 'paper_row'" in out and bench.run_dir == paper.run_dir
    assert (paper.run_dir / "last.pt").stat().st_mtime_ns == stamp  # nothing trained
    assert not (paper.run_dir.parent.parent / "bench_row").exists()
    assert bench.metrics["R@1"] == pytest.approx(paper.metrics["R@1"])
    assert bench.cfg.name == "bench_row"
    # another seed has no twin: it trains under its own name
    other = run_experiment(config, name="bench_row", seed=1, **common)
    assert other.run_dir.parent.name == "bench_row"
    # retrain never borrows: it trains under its own name
    fresh = run_experiment(config, name="bench_row2", retrain=True, **common)
    assert fresh.run_dir.parent.name == "bench_row2"


def test_a_reused_run_reads_its_evaluation_from_its_folder(tmp_path, monkeypatch, capsys):
    """A finished run's metrics and descriptors are cached beside its checkpoint: a notebook
    re-run (or another notebook reusing the run) extracts nothing; a damaged cache is
    evaluated afresh and rewritten."""
    import torch

    import cvgl_core.evaluation as E

    config, common = BASELINE, _two_steps(tmp_path)
    first = run_experiment(config, **common)
    (cache,) = first.run_dir.glob("eval-*.pt")

    def extract(*args, **kwargs):
        raise AssertionError("a cached evaluation was extracted again")

    monkeypatch.setattr(E, "evaluate_retrieval", extract)
    again = run_experiment(config, **common)
    assert again.metrics == first.metrics
    for a, b in zip(again.descriptors, first.descriptors, strict=True):
        assert torch.equal(a, b) if isinstance(a, torch.Tensor) else (a == b).all()
    monkeypatch.undo()
    cache.write_bytes(b"not a checkpoint")
    capsys.readouterr()
    fixed = run_experiment(config, **common)
    assert "unreadable" in capsys.readouterr().out and fixed.metrics == first.metrics
    assert torch.load(cache, weights_only=True)["metrics"] == first.metrics


def test_run_key_ignores_neutral_keys_only():
    from cvgl_core.config import load_config

    path = REPO / "configs/baseline/cvusa_smoke.yaml"
    base = run_key(load_config(path))
    neutral = {"output.dir": "/x", "data.num_workers": 3, "train.progress": False}
    assert run_key(load_config(path, overrides=neutral)) == base
    for changed in ({"train.seed": 1}, {"optim.lr": 0.1}, {"model.kwargs.pool": "avg"}):
        assert run_key(load_config(path, overrides=changed)) != base, changed
    # a key at its default does not enter the hash: a config written before the key existed
    # has the key of today's config (adding a key does not orphan the runs already trained)
    tree = load_config(path).to_dict()
    assert tree["train"].pop("sync_bn") is False
    assert run_key(tree) == base


def test_evaluate_transfer_scores_the_same_weights_on_another_layout(tmp_path):
    """Cross-area: a model of the CVUSA-like config is scored on the CVACT-like world (no
    training here: the weights are whatever they are, the plumbing is what is tested)."""
    import pandas as pd
    import torch

    from cvgl_core.config import load_config

    # the smoke world where the notebook runner caches it (written once, not per session)
    smoke_data = Path(os.environ.get("CVGL_SMOKE_DATA", REPO / ".scratch" / "smoke" / "data"))
    cfg = load_config(
        "configs/mfrgn/cvusa_smoke.yaml",
        overrides={"data.data_dir": str(smoke_data), "train.progress": False},
    )
    torch.manual_seed(0)
    model = create_model(cfg.model.name, **cfg.model.kwargs)
    run = Run(cfg, model, pd.DataFrame({"epoch": [1]}), {}, None, None, None, tmp_path)
    cross = evaluate_transfer(run, "cvact")
    assert cross.cfg.data.dataset == "cvact" and run.cfg.data.dataset == "cvusa"
    assert cross.model is model and model.training  # mode restored
    assert cross.descriptors.query.shape == (len(cross.query_ds), 2048)
    assert cross.metrics["num_queries"] == len(cross.query_ds) > 0
    row = cross.row(model="mfrgn")
    assert row["dataset"] == "synthetic cvact" and row["split"] == "val"
    assert (smoke_data / "cvact").is_dir()


@pytest.mark.slow
def test_evaluate_at_fov_reproduces_the_run_and_restores_the_model(tmp_path):
    run = run_experiment(
        "configs/awm/cvusa_{profile}.yaml",
        profile="smoke",
        data_dir=tmp_path / "data",
        results_dir=tmp_path / "results",
    )
    fov = run.cfg.data.options["fov"]
    same = evaluate_at_fov(run, fov)
    for k in ("R@1", "R@5", "R@10"):
        assert same[k] == pytest.approx(run.metrics[k])
    metrics, desc = evaluate_at_fov(run, 70, return_descriptors=True)
    assert metrics["num_queries"] == len(run.query_ds)
    dim70 = create_model("awm", fov=70, satellite_size=(32, 128)).descriptor_dim()
    assert desc.query.shape[1] == desc.reference.shape[1] == dim70
    fresh = create_model("awm", fov=fov, satellite_size=(32, 128))
    assert (run.model.fov, run.model.widths) == (fov, fresh.widths)  # restored
    # A table's columns: the own FoV is the run's final evaluation, another FoV re-scored.
    cols = evaluate_at_fovs(run, (70, fov), metrics=("R@1", "R@10"))
    assert list(cols) == ["R@1 70°", "R@10 70°", f"R@1 {fov}°", f"R@10 {fov}°"]
    assert cols[f"R@1 {fov}°"] == run.metrics["R@1"] and cols["R@10 70°"] == metrics["R@10"]
    with pytest.raises(KeyError, match="no \\['AP@7'\\]"):
        evaluate_at_fovs(run, (fov,), metrics=("AP@7",))


def test_satellite_to_drone_reverses_a_drone_run_and_rows_hold_both_directions(tmp_path):
    """The reverse task uses the run's split and options; the row puts each direction's
    metrics in its own columns (values checked against retrieval_metrics on the descriptors)."""
    import pandas as pd
    import torch

    from cvgl_core.config import load_config
    from cvgl_core.evaluation import retrieval_metrics
    from cvgl_core.study import (
        both_directions_metrics,
        both_directions_row,
        evaluate_satellite_to_drone,
    )

    smoke_data = Path(os.environ.get("CVGL_SMOKE_DATA", REPO / ".scratch" / "smoke" / "data"))
    cfg = load_config(
        "configs/lrfr/university1652_smoke.yaml",
        overrides={"data.data_dir": str(smoke_data), "train.progress": False},
    )
    torch.manual_seed(0)
    model = create_model(cfg.model.name, **cfg.model.kwargs).eval()
    d2s = {"R@1": 12.345, "AP": 23.456, "R@5": 50.0, "num_queries": 7}
    run = Run(cfg, model, pd.DataFrame({"epoch": [1]}), d2s, None, None, None, tmp_path)
    s2d, desc, q_sat, r_drone = evaluate_satellite_to_drone(run)
    assert (q_sat.view, r_drone.view) == ("satellite", "drone")
    assert s2d["num_queries"] == len(q_sat) == desc.query.shape[0] > 0
    assert desc.reference.shape[0] == len(r_drone)
    again = retrieval_metrics(
        desc.query,
        desc.reference,
        query_labels=desc.query_labels,
        reference_labels=desc.reference_labels,
    )
    assert again["R@1"] == pytest.approx(s2d["R@1"]) and again["AP"] == pytest.approx(s2d["AP"])
    run.query_ds, run.reference_ds = q_sat, r_drone  # row() reads the views and gallery size
    row = both_directions_row(run, s2d, "LRFR", heads=3)
    assert (row["D->S R@1"], row["D->S AP"]) == (12.35, 23.46)
    assert (row["S->D R@1"], row["S->D AP"]) == (round(s2d["R@1"], 2), round(s2d["AP"], 2))
    assert row["model"] == "LRFR" and row["direction"] == "drone->satellite | satellite->drone"
    assert "R@1" not in row and "R@5" not in row and "gallery" not in row and row["heads"] == 3
    assert list(row)[-5:] == ["D->S R@1", "D->S AP", "S->D R@1", "S->D AP", "heads"]
    # The metrics alone (a claims.Table's evaluate), unrounded; without s2d it evaluates the
    # reverse task itself, with the same numbers.
    both = both_directions_metrics(run, s2d)
    assert both == {"D->S R@1": 12.345, "D->S AP": 23.456, "S->D R@1": s2d["R@1"],
                    "S->D AP": s2d["AP"]}  # fmt: skip
    again = both_directions_metrics(run)
    assert again["S->D R@1"] == pytest.approx(s2d["R@1"])
    assert again["S->D AP"] == pytest.approx(s2d["AP"])


@pytest.mark.slow
def test_both_directions_holds_each_task_and_its_chance(tmp_path):
    """`both_directions` (a Table's evaluate): the run's D->S numbers, the S->D numbers of
    evaluate_satellite_to_drone on the same weights, and each task's chance R@1 counted by
    hand from the galleries (one tile per building; every drone view of a building)."""
    import numpy as np
    import pandas as pd
    import torch

    from cvgl_core.config import load_config
    from cvgl_core.study import both_directions, evaluate_satellite_to_drone
    from cvgl_core.training.experiment import build_datasets, make_evaluator

    smoke_data = Path(os.environ.get("CVGL_SMOKE_DATA", REPO / ".scratch" / "smoke" / "data"))
    cfg = load_config(
        "configs/glqinet/university1652_smoke.yaml",
        overrides={"data.data_dir": str(smoke_data), "train.progress": False},
    )
    ds = build_datasets(cfg, roles=("query", "reference"))
    torch.manual_seed(0)
    model = create_model(cfg.model.name, **{**cfg.model.kwargs, "num_classes": 3}).eval()
    d2s, desc = make_evaluator(cfg, ds["query"], ds["reference"], return_descriptors=True)(model)
    run = Run(
        cfg, model, pd.DataFrame({"epoch": [1]}), d2s, ds["query"], ds["reference"], desc, tmp_path
    )
    got = both_directions(run)
    s2d, _, q_sat, r_drone = evaluate_satellite_to_drone(run)
    assert (got["D->S R@1"], got["D->S AP"]) == (d2s["R@1"], d2s["AP"])
    assert got["S->D R@1"] == pytest.approx(s2d["R@1"]) and got["S->D AP"] == pytest.approx(
        s2d["AP"]
    )
    tiles = run.reference_ds.labels
    assert len(np.unique(tiles)) == len(tiles)  # one satellite tile per building
    assert got["chance D->S R@1"] == pytest.approx(100 / len(tiles))
    views = np.mean([np.sum(r_drone.labels == lab) for lab in q_sat.labels])
    assert got["chance S->D R@1"] == pytest.approx(100 * views / len(r_drone))


def test_runs_live_beside_the_results_folder_never_inside_it(tmp_path):
    assert runs_dir(tmp_path / "results", "cpu") == tmp_path / "runs" / "cpu"
    # the paper profile's results/paper/ keeps its runs in runs/paper/, beside results/
    assert runs_dir(tmp_path / "results" / "paper", "paper") == tmp_path / "runs" / "paper"
    assert runs_dir(tmp_path / "results", "paper") == tmp_path / "runs" / "paper"


@pytest.mark.slow
def test_a_dry_run_returns_the_views_its_descriptors_come_from(tmp_path):
    from cvgl_core.config import DRY_RUN_OVERRIDES

    run = run_experiment(
        "configs/baseline/cvusa_{profile}.yaml",
        profile="smoke",
        data_dir=tmp_path / "data",
        results_dir=tmp_path / "results",
        overrides={**DRY_RUN_OVERRIDES, "eval.max_queries": 5, "eval.max_gallery": 9},
    )
    # row i of the descriptors is item i of the returned views: grids and Grad-CAM can index
    assert len(run.query_ds) == run.descriptors.query.shape[0] == 5
    assert len(run.reference_ds) == run.descriptors.reference.shape[0] == 9
    assert list(run.query_ds.labels) == list(run.descriptors.query_labels)
    assert run.row()["gallery"] == 9
