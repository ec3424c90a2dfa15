"""The papermill runner: parameters injected, failures named, nothing half-written, a run
interrupted or failed leaves its results folder as it was and says so in the summary."""

import argparse
import os
from pathlib import Path

import nbformat
import pytest

from cvgl_core import runner


def _write_nb(
    path, body: str, params: str = "profile = 'cpu'\nresults_dir = ''\nanswer = 1", results=()
):
    nb = nbformat.v4.new_notebook()
    p = nbformat.v4.new_code_cell(params)
    p.metadata["tags"] = ["parameters"]
    nb.cells = [p, nbformat.v4.new_code_cell(body)]
    if results:
        nb.metadata["cvgl"] = {"results": list(results)}
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
def test_failure_names_cell_restores_results_and_keeps_the_partial_under_failed(tmp_path):
    nb = _write_nb(
        tmp_path / "02_bad.ipynb",
        "from pathlib import Path\n"
        "Path(results_dir, 'sub', 'table.csv').write_text('new')\n"
        "Path(results_dir, 'sub', 'new_fig.png').write_text('new')\n"
        "raise ValueError('synthetic failure')",
        results=["sub"],
    )
    res = tmp_path / "res"
    (res / "sub").mkdir(parents=True)
    (res / "sub" / "table.csv").write_text("old")
    run = runner.run_notebook(nb, "smoke", res, tmp_path / "data")
    assert run.status.startswith("failed: cell")
    assert "ValueError" in run.status and "synthetic failure" in run.status
    # the results folder holds exactly the previous files; no in-flight copy anywhere
    assert sorted(p.name for p in (res / "sub").iterdir()) == ["table.csv"]
    assert (res / "sub" / "table.csv").read_text() == "old"
    assert list((res / "notebooks").iterdir()) == []
    assert not (res / ".backup").exists()
    # what the failed run wrote, and its executed copy, are under the chosen results folder
    assert (res / "failed" / "sub" / "new_fig.png").exists()
    assert run.output == res / "failed" / "02_bad.ipynb" and run.output.exists()
    assert "previous sub/ restored" in run.note


def _fake_execute(write: str | None, exc: BaseException):
    """A papermill.execute_notebook that writes into results, then raises `exc`."""

    def execute(input_path, output_path, parameters, **kw):
        open(output_path, "w").write("{}")  # the half-executed copy
        if write:
            root = os.path.join(runner.REPO, parameters["results_dir"])
            with open(os.path.join(root, write), "w") as f:
                f.write("half")
        raise exc

    return execute


def _kernel_interrupted():
    from papermill.exceptions import PapermillExecutionError

    return PapermillExecutionError(1, 1, "train()", "KeyboardInterrupt", "", [])


# Ctrl-C reaches the runner, or (same process group) the kernel first
@pytest.mark.parametrize("exc", [KeyboardInterrupt, _kernel_interrupted], ids=["runner", "kernel"])
def test_ctrl_c_restores_results_removes_the_running_copy_and_propagates(
    exc, tmp_path, monkeypatch
):
    import papermill

    nb = _write_nb(tmp_path / "01_x.ipynb", "pass", results=["sub"])
    res = tmp_path / "res"
    (res / "sub").mkdir(parents=True)
    (res / "sub" / "old.csv").write_text("old")
    monkeypatch.setattr(papermill, "execute_notebook", _fake_execute("sub/new.csv", exc()))
    with pytest.raises(KeyboardInterrupt):
        runner.run_notebook(nb, "smoke", res, tmp_path / "data")
    assert sorted(p.name for p in (res / "sub").iterdir()) == ["old.csv"]
    assert not (res / "notebooks").exists()  # neither the .running copy nor its folder
    assert not list(res.rglob("*.running.ipynb")) and not (res / ".backup").exists()


def test_a_backup_left_by_a_killed_run_is_restored_before_the_next(tmp_path, monkeypatch):
    import papermill

    nb = _write_nb(tmp_path / "01_x.ipynb", "pass", results=["sub"])
    res = tmp_path / "res"
    (res / ".backup" / "01_x" / "sub").mkdir(parents=True)  # the last complete state
    (res / ".backup" / "01_x" / "sub" / "old.csv").write_text("old")
    (res / "sub").mkdir()
    (res / "sub" / "half.csv").write_text("half")  # what the killed run had written
    monkeypatch.setattr(papermill, "execute_notebook", _fake_execute(None, RuntimeError("x")))
    run = runner.run_notebook(nb, "smoke", res, tmp_path / "data")
    assert run.status.startswith("failed")
    assert sorted(p.name for p in (res / "sub").iterdir()) == ["old.csv"]
    assert (res / "failed" / "sub").exists() and not (res / ".backup").exists()


def _args(**kw):
    base = dict(
        profile="smoke",
        only=None,
        param=[],
        results_dir=None,
        data_dir=None,
        kernel=None,
        keep_going=False,
        list=False,
    )
    return argparse.Namespace(**{**base, **kw})


def _books(tmp_path, monkeypatch, names):
    books = [_write_nb(tmp_path / n, "pass") for n in names]
    monkeypatch.setattr(runner, "find_notebooks", lambda pattern=None: books)
    return books


def test_run_stops_at_a_failure_or_keeps_going(tmp_path, monkeypatch):
    _books(tmp_path, monkeypatch, ["00_a.ipynb", "01_b.ipynb", "02_c.ipynb"])
    seen = []

    def fake(path, *a, **k):
        seen.append(path.name)
        status = "failed: cell 1 (ValueError: x)" if path.name == "00_a.ipynb" else "ok"
        return runner.NotebookRun(path.name, 0.1, status, None)

    monkeypatch.setattr(runner, "run_notebook", fake)
    res = tmp_path / "res"
    assert runner.run(_args(results_dir=res)) == 1
    assert seen == ["00_a.ipynb"]
    summary = (res / "run_summary.md").read_text()
    assert "| 01_b.ipynb | 0.0 | not run |" in summary
    seen.clear()
    assert runner.run(_args(results_dir=res, keep_going=True)) == 1
    assert seen == ["00_a.ipynb", "01_b.ipynb", "02_c.ipynb"]
    assert "| 02_c.ipynb | 0.1 | ok |" in (res / "run_summary.md").read_text()


def test_run_interrupted_writes_the_summary_and_exits_130(tmp_path, monkeypatch, capsys):
    _books(tmp_path, monkeypatch, ["00_a.ipynb", "01_b.ipynb", "02_c.ipynb"])

    def fake(path, *a, **k):
        if path.name == "01_b.ipynb":
            raise KeyboardInterrupt
        return runner.NotebookRun(path.name, 0.1, "ok", None)

    monkeypatch.setattr(runner, "run_notebook", fake)
    res = tmp_path / "res"
    data = tmp_path / "datasets"
    data.mkdir()
    monkeypatch.chdir(tmp_path)
    code = runner.run(_args(results_dir=res, param=["data_root=datasets", "seed=1"]))
    assert code == 130
    md = (res / "run_summary.md").read_text()
    assert "| 01_b.ipynb |" in md and "interrupted" in md
    assert "| 02_c.ipynb | 0.0 | not run |" in md
    # profile, data (a relative data_root resolved where the command was typed), parameters
    assert "- profile: smoke" in md
    assert f"- data: real datasets under {data}" in md
    assert "'seed': 1" in md
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.slow
def test_executed_copy_embeds_figures_despite_mplbackend_agg(tmp_path, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")  # as conftest and many shells set it
    nb = _write_nb(
        tmp_path / "04_fig.ipynb",
        "import os\nimport matplotlib.pyplot as plt\n"
        "assert os.environ['CVGL_HEADLESS'] == '1'\n"
        "plt.plot([1, 2, 3])\nplt.show()",
    )
    run = runner.run_notebook(nb, "smoke", tmp_path / "res", tmp_path / "data")
    assert run.status == "ok", run.status
    out = nbformat.read(run.output, as_version=4)
    assert any("image/png" in o.get("data", {}) for c in out.cells for o in c.get("outputs", []))
    assert os.environ["MPLBACKEND"] == "Agg"  # the caller's environment is restored


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
    assert runner.default_dirs("paper")[0] == runner.REPO / "results" / "paper"


def test_results_subfolders_from_metadata(tmp_path):
    assert runner.results_subfolders(_write_nb(tmp_path / "a.ipynb", "", results=["lrfr"])) == [
        "lrfr"
    ]
    with pytest.raises(ValueError, match="cvgl.results holds \\['../x'\\]"):
        runner.results_subfolders(_write_nb(tmp_path / "b.ipynb", "", results=["../x"]))
    for book in runner.find_notebooks():  # every notebook names what it writes
        assert runner.results_subfolders(book), book.name


@pytest.mark.slow
def test_kernel_sees_the_repo_on_the_path_once_and_the_caller_env_is_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(["/elsewhere", str(runner.REPO)]))
    nb = _write_nb(
        tmp_path / "03_path.ipynb",
        "import os\nimport cvgl_core\n"
        f"want = [{str(runner.REPO)!r}, '/elsewhere']\n"
        "assert os.environ['PYTHONPATH'].split(os.pathsep) == want",
    )
    assert runner.run_notebook(nb, "smoke", tmp_path / "r", tmp_path / "d").status == "ok"
    assert os.environ["PYTHONPATH"] == os.pathsep.join(["/elsewhere", str(runner.REPO)])


def test_only_the_paper_profile_may_reach_the_hub(monkeypatch):
    # smoke/cpu never load pretrained weights: their kernels are offline; the paper profile
    # leaves the caller's setting, so `weights fetch`ed tags load and a missing one is named
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    with runner.kernel_environment(offline=True):
        assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert "HF_HUB_OFFLINE" not in os.environ
    with runner.kernel_environment(offline=False):
        assert "HF_HUB_OFFLINE" not in os.environ
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    with runner.kernel_environment(offline=True):
        assert os.environ["HF_HUB_OFFLINE"] == "0"  # a user's explicit choice is kept


def test_a_dry_run_writes_to_scratch_unless_told_otherwise(tmp_path, monkeypatch):
    seen = []

    def fake_run(book, profile, results_dir, data_dir, extra=None, kernel=None, **kw):
        seen.append(results_dir)
        return runner.NotebookRun(book.name, 0.0, "ok", None)

    monkeypatch.setattr(runner, "run_notebook", fake_run)
    monkeypatch.setattr(runner, "find_notebooks", lambda pattern=None: [Path("00_a.ipynb")])
    monkeypatch.setattr(runner, "dry_run_dir", lambda profile: tmp_path / "dry" / profile)
    assert runner.run(_args(profile="cpu", param=["dry_run=true"])) == 0
    assert seen[-1] == (tmp_path / "dry" / "cpu").resolve()  # never the committed results/
    assert runner.run(_args(profile="cpu", param=["dry_run=true"], results_dir=tmp_path / "r")) == 0
    assert seen[-1] == (tmp_path / "r").resolve()


def test_summary_names_the_slowest_cells_from_papermill_durations(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# title")]
    for sec, src in ((0.2, "import x"), (30.0, "\n# train\nrun_table(T1) | 2"), (9.5, "show(T2)")):
        c = nbformat.v4.new_code_cell(src)
        c.metadata["papermill"] = {"duration": sec}
        nb.cells.append(c)
    nb.cells.append(nbformat.v4.new_code_cell("never ran"))  # no duration: not counted
    path = tmp_path / "03_x.ipynb"
    nbformat.write(nb, path)
    # cell 1 holds 0.5 % of the time: under the 5 % share, so not listed
    assert runner.slowest_cells(path) == [(2, 30.0, "# train"), (3, 9.5, "show(T2)")]
    md = runner.summary_markdown([runner.NotebookRun("03_x.ipynb", 40.0, "ok", path)], "cpu", {})
    assert "| 03_x.ipynb | 2 | 30.0 | `# train` |" in md
    assert runner.slowest_cells(tmp_path / "missing.ipynb") == []
    # a pipe in the source would break the markdown row: escaped
    nb.cells[2].source = "a | b"
    nbformat.write(nb, path)
    assert runner.slowest_cells(path)[0][2] == "a \\| b"
