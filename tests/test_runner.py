"""The papermill runner: parameters injected, failures named, nothing half-written."""

import nbformat
import pytest

from cvgl_core import runner


def _write_nb(path, body: str, params: str = "profile = 'cpu'\nresults_dir = ''\nanswer = 1"):
    nb = nbformat.v4.new_notebook()
    p = nbformat.v4.new_code_cell(params)
    p.metadata["tags"] = ["parameters"]
    nb.cells = [p, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, path)
    return path


@pytest.mark.slow
def test_run_notebook_injects_parameters_and_writes_copy(tmp_path):
    nb = _write_nb(
        tmp_path / "01_ok.ipynb",
        "from pathlib import Path\nPath(results_dir, 'seen.txt').write_text(f'{profile} {answer}')",
    )
    res = tmp_path / "res"
    res.mkdir()
    run = runner.run_notebook(nb, "smoke", res, tmp_path / "data", {"answer": 42})
    assert run.status == "ok", run.status
    assert (res / "seen.txt").read_text() == "smoke 42"
    assert (res / "notebooks" / "01_ok.ipynb").exists()
    assert not list((res / "notebooks").glob(".*"))


@pytest.mark.slow
def test_run_notebook_failure_names_cell_and_leaves_results_clean(tmp_path):
    nb = _write_nb(tmp_path / "02_bad.ipynb", "raise ValueError('synthetic failure')")
    res = tmp_path / "res"
    run = runner.run_notebook(nb, "smoke", res, tmp_path / "data")
    assert run.status.startswith("failed: cell")
    assert "ValueError" in run.status and "synthetic failure" in run.status
    assert list((res / "notebooks").iterdir()) == []


def test_parse_params_yaml_values():
    assert runner.parse_params(["seed=3", "data_root=/x/CVUSA", "fast=true"]) == {
        "seed": 3,
        "data_root": "/x/CVUSA",
        "fast": True,
    }
    with pytest.raises(ValueError, match="key=value"):
        runner.parse_params(["seed"])


def test_smoke_profile_never_writes_committed_results():
    res, data = runner.default_dirs("smoke")
    assert runner.REPO / "results" not in res.parents and res != runner.REPO / "results"
    assert runner.default_dirs("cpu")[0] == runner.REPO / "results"


@pytest.mark.slow
def test_repeated_runs_put_the_repo_on_the_path_once(tmp_path, monkeypatch):
    import os

    monkeypatch.setenv("PYTHONPATH", "/elsewhere")
    nb = _write_nb(tmp_path / "03_path.ipynb", "import cvgl_core")
    for _ in range(2):
        assert runner.run_notebook(nb, "smoke", tmp_path / "r", tmp_path / "d").status == "ok"
    assert os.environ["PYTHONPATH"].split(os.pathsep) == [str(runner.REPO), "/elsewhere"]
