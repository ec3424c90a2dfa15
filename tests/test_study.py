"""run_experiment: train a config at smoke, evaluate it, and produce a results row."""

import pytest

from cvgl_core.evaluation.results import KEY
from cvgl_core.models import create_model
from cvgl_core.study import evaluate_at_fov, run_experiment, runs_dir


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
    assert run.run_dir == runs_dir(results, "smoke") / "baseline_cvusa_smoke"
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
