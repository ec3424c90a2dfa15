"""Every numbered notebook executes at the smoke profile (into a scratch folder), embeds its
figures, and runs against a `data_root` holding the synthetic world under the real datasets'
folder names (CVUSA/, CVACT/, VIGOR/, University-1652/, SUES-200/), with its kernel started
in notebooks/ as JupyterLab starts it."""

import os

import nbformat
import pytest

from cvgl_core import runner
from cvgl_core.data.roots import USUAL_DIRS

BOOKS = runner.find_notebooks()
ALL = tuple(USUAL_DIRS)
# What each notebook's data_root holds. 01 and 05 get one of their datasets only, so they
# also show a notebook running the tables it can and naming the datasets it skipped (keeps
# the added test time small too); 02-04 get all of theirs, so every table runs there; 06
# gets one, and its leaderboards show the other tasks as not run.
HOLDS = {
    "00": ALL,
    "01": ("cvusa",),
    "02": ("cvusa", "cvact"),
    "03": ("cvusa", "cvact", "vigor"),
    "04": ("cvusa", "vigor"),
    "05": ("sues200",),
    "06": ("university1652",),  # one task of six runs; the others are named as skipped
}
# Parameters beyond the profile. 06 at smoke runs one task of each code path (both ends of
# the FoV and altitude curves, whose middle points differ only in numbers; every task's
# config is built in tests/test_benchmark.py) and times each cost once: the same cells at
# about half the test time.
PARAMS = {
    "06": {
        "tasks": ["cvusa", "vigor_same", "fov_360", "fov_70", "vigor_cross", "university1652",
                  "sues200_150", "sues200_300"],
        "cost_repeats": 1,
    },
}  # fmt: skip


def _images(path) -> int:
    nb = nbformat.read(path, as_version=4)
    return sum("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))


def _widgets(path) -> int:
    nb = nbformat.read(path, as_version=4)
    key = "application/vnd.jupyter.widget-view+json"
    return sum(key in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))


def _text(path) -> str:
    nb = nbformat.read(path, as_version=4)
    return "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))


@pytest.fixture(scope="session")
def smoke_world():
    """The smoke synthetic world, one folder per layout (cached: written once per machine)."""
    from cvgl_core.synth import ensure_dataset

    _, data_dir = runner.default_dirs("smoke")
    return {name: ensure_dataset(name, data_dir, "smoke", 0) for name in ALL}


@pytest.fixture(scope="session")
def smoke_results(tmp_path_factory):
    """A results folder (and so a runs/ folder beside it) new to this test session: runs are
    reused by config, not by code, so a trained run left by an earlier session could hide a
    change to a model."""
    return tmp_path_factory.mktemp("smoke") / "results"


@pytest.mark.notebook
@pytest.mark.parametrize("book", BOOKS, ids=[b.stem for b in BOOKS])
def test_notebook_executes_at_smoke(book, smoke_results):
    _, data_dir = runner.default_dirs("smoke")
    run = runner.run_notebook(book, "smoke", smoke_results, data_dir, PARAMS.get(book.name[:2]))
    assert run.status == "ok", f"{book.name}: {run.status} (executed copy: {run.output})"
    assert _images(run.output) > 0, f"{run.output} embeds no figure"
    assert not _widgets(run.output), f"{run.output} carries progress-bar widgets"


@pytest.mark.notebook
@pytest.mark.parametrize("book", BOOKS, ids=[b.stem for b in BOOKS])
def test_notebook_runs_against_a_data_root(book, smoke_world, tmp_path):
    holds = HOLDS[book.name[:2]]
    data_root = tmp_path / "datasets"
    data_root.mkdir()
    for name in holds:  # the real folder names, e.g. University-1652 -> the synthetic layout
        (data_root / USUAL_DIRS[name][0]).symlink_to(smoke_world[name], target_is_directory=True)
    _, data_dir = runner.default_dirs("smoke")
    res = tmp_path / "results"
    before = sorted(runner.NOTEBOOK_DIR.iterdir())
    # JupyterLab: the kernel starts in notebooks/, data_root typed relative to it. A dry run
    # (one step per training, a 16-query evaluation): the default smoke test above trains in
    # full; this one is about finding the data and every cell's path through a dry run.
    rel = os.path.relpath(data_root, runner.NOTEBOOK_DIR)
    run = runner.run_notebook(
        book,
        "smoke",
        res,
        data_dir,
        {**PARAMS.get(book.name[:2], {}), "data_root": rel, "dry_run": True},
        cwd=runner.NOTEBOOK_DIR,
    )
    assert run.status == "ok", f"{book.name}: {run.status} (executed copy: {run.output})"
    assert sorted(runner.NOTEBOOK_DIR.iterdir()) == before  # no stray results/ or runs/
    text = _text(run.output)
    assert f"datasets under {data_root}" in text
    skipped = [n for n in ("university1652", "cvact") if n not in holds and book.name[:2] == "01"]
    for name in skipped:
        assert f"{name}: skipped (no folder {data_root / USUAL_DIRS[name][0]}" in text


@pytest.mark.slow
def test_a_notebook_without_its_datasets_stops_in_one_line(tmp_path):
    (tmp_path / "CVUSA").mkdir()  # an empty folder: not a CVUSA layout
    book = next(b for b in BOOKS if b.name.startswith("02"))
    _, data_dir = runner.default_dirs("smoke")
    run = runner.run_notebook(
        book, "smoke", tmp_path / "res", data_dir, {"data_root": str(tmp_path)}
    )
    # the first code cell (after papermill's injected parameters), one line naming both
    assert run.status.startswith("failed: cell 3 (FileNotFoundError: this notebook needs cvusa")
    assert "is not a CVUSA layout" in run.status and f"no folder {tmp_path / 'CVACT'}" in run.status


@pytest.mark.slow
@pytest.mark.notebook
def test_notebook_05_dry_run_at_the_paper_profile_and_image_sizes(tmp_path, monkeypatch):
    """Issue 17: the paper profile's notebook 05 gets through its University-1652 tables and
    figures at the papers' image sizes (512 px files, 256 px inputs, ConvNeXt-T/S,
    ResNet-50/101) with dry_run: one step per run, a tiny evaluation, and the notebook's
    dry-run cut (t = 1, 4, 8; Table 4's other backbones without their baselines: 11
    trainings). University-1652 only (SUES-200's table is named as skipped), two buildings (a
    batch of two distinct labels needs two), and no weights: the hub caches point at empty
    folders and the hub is offline, so a download would fail the run."""
    import shutil

    from cvgl_core.synth.paper_sizes import write_paper_sized

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty_hf_cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_torch_home"))
    data_root = tmp_path / "datasets"
    write_paper_sized("university1652", data_root / "University-1652", num_buildings=2, views=2)
    book = next(b for b in BOOKS if b.name.startswith("05"))
    params = {
        "data_root": str(data_root),
        "dry_run": True,
        "overrides": {"model.kwargs.pretrained": False, "data.batch_size": 2},
    }
    try:
        run = runner.run_notebook(book, "paper", tmp_path / "results", tmp_path / "synth", params)
    finally:  # 11 paper-size runs keep ~0.3-0.6 GB of checkpoints each: not left in /tmp
        shutil.rmtree(tmp_path / "runs", ignore_errors=True)
    assert run.status == "ok", f"{book.name}: {run.status} (executed copy: {run.output})"
    text = _text(run.output)
    assert "sues200: skipped" in text and "DRY RUN" in text
    table = (tmp_path / "results" / "glqinet" / "table4_backbones.md").read_text()
    assert table.startswith("Table 4, backbones. Profile paper (5 rows): data real university1652")
    assert "[256, 256] px" in table and "DRY RUN" in table
