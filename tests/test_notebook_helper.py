"""The notebooks' first cell (cvgl_core.notebook.start), data_root discovery and the
learning curve: paths resolve wherever the kernel starts, datasets are found or named."""

import os

import matplotlib
import pandas as pd
import pytest

from cvgl_core import notebook
from cvgl_core.data.roots import find_datasets


def _cvusa(folder):
    (folder / "splits").mkdir(parents=True)
    (folder / "splits" / "train-19zl.csv").write_text("bingmap/a.jpg,streetview/a.jpg,x\n")
    return folder


@pytest.fixture
def fresh_start(monkeypatch):
    # start() remembers the kernel's first cwd; each test is a new kernel
    monkeypatch.setattr(notebook, "_START_CWD", None)
    monkeypatch.chdir(os.getcwd())  # restored after the test, whatever start() did


def test_find_datasets_usual_names_map_and_reasons(tmp_path):
    _cvusa(tmp_path / "CVUSA")
    (tmp_path / "VIGOR").mkdir()  # present but not a VIGOR layout
    _cvusa(tmp_path / "elsewhere" / "my_cvusa")
    found = find_datasets(tmp_path, ["cvusa", "cvact", "vigor"])
    assert found.roots == {"cvusa": tmp_path / "CVUSA"}
    assert "cvusa" in found and "cvact" not in found
    assert str(tmp_path / "CVACT") in found.skipped["cvact"]
    assert "not a VIGOR layout" in found.skipped["vigor"] and "splits/" in found.skipped["vigor"]
    mapped = find_datasets(tmp_path, ["cvusa"], {"cvusa": "elsewhere/my_cvusa"})
    assert mapped.roots["cvusa"] == tmp_path / "elsewhere" / "my_cvusa"
    assert "skipped (no folder" in found.summary()


def test_find_datasets_bad_input_names_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        find_datasets(tmp_path / "missing", ["cvusa"])
    with pytest.raises(KeyError, match="unknown dataset 'cvuas'"):
        find_datasets(tmp_path, ["cvusa"], {"cvuas": "x"})


def test_start_from_notebooks_folder_resolves_paths(tmp_path, fresh_start):
    repo = notebook.repo_root()
    data = _cvusa(tmp_path / "data" / "CVUSA").parent
    # A kernel started in notebooks/ (JupyterLab) with a data_root relative to it.
    os.chdir(repo / "notebooks")
    rel = os.path.relpath(data, repo / "notebooks")
    nb = notebook.start(
        profile="smoke", data_dir="d", data_root=rel, datasets=("cvusa", "cvact"), seed=0
    )
    assert os.getcwd() == str(repo)  # configs/... and results/... now resolve
    assert nb.data_root == data.resolve()
    assert nb.do == {"cvusa": True, "cvact": False}
    assert nb.real_root("cvusa") == data.resolve() / "CVUSA"
    with pytest.raises(FileNotFoundError, match="cvact is not under data_root"):
        nb.real_root("cvact")
    # Re-running the cell (now in the repo root) resolves against the first cwd, not this one.
    again = notebook.start(profile="smoke", data_dir="d", data_root=rel, datasets=("cvusa",))
    assert again.data_root == nb.data_root


def test_start_without_data_root_is_the_synthetic_world(fresh_start):
    nb = notebook.start(profile="smoke", data_dir="d", datasets=("cvusa", "vigor"), chdir=False)
    assert nb.do == {"cvusa": True, "vigor": True}
    assert nb.real_root("vigor") is None
    assert nb.data_text("vigor").startswith("synthetic vigor-like world")


def test_start_fails_in_one_line_when_nothing_it_needs_is_there(tmp_path, fresh_start):
    _cvusa(tmp_path / "CVUSA")
    with pytest.raises(FileNotFoundError, match=r"needs university1652 or sues200 under"):
        notebook.start(
            profile="smoke",
            data_dir="d",
            data_root=tmp_path,
            datasets=("university1652", "sues200"),
        )
    with pytest.raises(FileNotFoundError, match=r"needs cvact under data_root .*dataset_dirs"):
        notebook.start(
            profile="smoke",
            data_dir="d",
            data_root=tmp_path,
            datasets=("cvusa", "cvact"),
            required=("cvusa", "cvact"),
        )


def test_progress_is_off_under_the_runner(monkeypatch, fresh_start):
    monkeypatch.setenv(notebook.HEADLESS_ENV, "1")
    assert notebook.start(profile="smoke", data_dir="d", chdir=False).progress is False
    monkeypatch.delenv(notebook.HEADLESS_ENV)
    assert notebook.start(profile="smoke", data_dir="d", chdir=False).progress is True


def test_learning_curve_integer_epochs_two_axes_and_saved(tmp_path):
    from cvgl_core.viz import plot_learning_curve

    matplotlib.use("Agg")
    h = pd.DataFrame({"epoch": [1, 2, 3], "train_loss": [2.0, 1.5, 1.2], "R@1": [5.0, 9.0, 14.0]})
    fig = plot_learning_curve(h, path=tmp_path / "lc.png")
    assert (tmp_path / "lc.png").stat().st_size > 0
    loss_ax, metric_ax = fig.axes
    assert list(loss_ax.lines[0].get_ydata()) == [2.0, 1.5, 1.2]
    assert list(metric_ax.lines[0].get_ydata()) == [5.0, 9.0, 14.0]
    assert all(float(t).is_integer() for t in loss_ax.get_xticks())
    # a run evaluated only at the end: the loss alone, no error
    assert len(plot_learning_curve(h.drop(columns="R@1")).axes) == 1
    with pytest.raises(ValueError, match="no 'train_loss' column"):
        plot_learning_curve(h.drop(columns="train_loss"))


def test_run_applies_the_session_then_the_notebook_overrides_then_the_dry_run(
    fresh_start, monkeypatch, tmp_path
):
    from cvgl_core import study
    from cvgl_core.config import DRY_RUN_OVERRIDES

    calls = []
    monkeypatch.setattr(study, "run_experiment", lambda config, **kw: calls.append((config, kw)))
    nb = notebook.start(
        profile="smoke",
        data_dir=tmp_path / "data",
        results_dir=tmp_path / "results",
        seed=3,
        retrain=True,
        overrides={"optim.lr": 0.5, "train.epochs": 7},
        dry_run=True,
    )
    nb.run("configs/x_{profile}.yaml", overrides={"optim.lr": 0.1, "model.kwargs.a": 1}, name="n")
    config, kw = calls[-1]
    assert config == "configs/x_{profile}.yaml" and kw["name"] == "n"
    assert (kw["profile"], kw["seed"], kw["world_seed"], kw["retrain"]) == ("smoke", 3, 3, True)
    assert kw["results_dir"] == tmp_path / "results"
    o = kw["overrides"]
    assert o["model.kwargs.a"] == 1 and o["optim.lr"] == 0.5  # the notebook's win over the run's
    assert o["train.epochs"] == DRY_RUN_OVERRIDES["train.epochs"]  # the dry run wins over both
    assert o["train.max_steps"] == DRY_RUN_OVERRIDES["train.max_steps"]
    # without dry_run nothing of it leaks in; a call's own seed wins over the session's
    nb.dry_run = False
    nb.run("c.yaml", seed=9)
    _, kw = calls[-1]
    assert "train.max_steps" not in kw["overrides"] and kw["overrides"]["train.epochs"] == 7
    assert kw["seed"] == 9
