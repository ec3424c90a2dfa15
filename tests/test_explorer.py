"""The notebook explorer driven headlessly: its callbacks update `state` (and draw)."""

from __future__ import annotations

import io
from datetime import datetime, timezone

import pytest
from PIL import Image

from cvgl_core.data import build_dataset
from cvgl_core.viz.explorer import Explorer, find_runs
from tests.localize_toy import save_checkpoint, toy_config, vigor_world


@pytest.fixture(scope="module")
def explorer(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("explorer")
    root = vigor_world(tmp)
    cfg = toy_config(root)
    for seed, run in enumerate(("a", "b")):
        save_checkpoint(tmp / "runs" / run / "best.pt", cfg, seed=seed)
    queries = build_dataset("vigor", root, "test", "query", **cfg.data.options)
    return Explorer(runs=tmp / "runs", queries=queries, k=3)


def test_first_query_shows_top_k_with_the_true_tile_framed(explorer):
    s = explorer.state
    assert s["model"] == "a" and s["query"] == explorer.paths[0].name
    assert len(s["tiles"]) == 3 and s["scores"] == sorted(s["scores"], reverse=True)
    positive = int(explorer.queries.positives[0][0])
    assert s["correct"] == [r == positive for r in s["rows"]]
    assert all(e > 0 for e in s["errors_m"])  # VIGOR panoramas carry their GPS
    assert s["axes"] == 1 + 3 and not s["gradcam"]  # photo + 3 tiles, no Grad-CAM
    assert (explorer.runs["a"].parent / "gallery.idx" / "meta.json").is_file()


def test_query_topk_gradcam_and_fov_heading_callbacks(explorer):
    explorer.query.value = 3
    assert explorer.state["query"] == explorer.paths[3].name
    explorer.k.value = 5
    assert len(explorer.state["tiles"]) == 5
    explorer.gradcam.value = True
    assert explorer.state["gradcam"] and explorer.state["axes"] == 1 + 2 + 5  # Grad-CAM, its bar
    explorer.gradcam.value = False
    full = explorer.state["scores"]
    explorer.fov.value = 90
    assert explorer.state["fov"] == 90 and explorer.state["heading"] == 0
    assert explorer.state["scores"] != full  # a 90-degree crop is another query
    explorer.heading.value = 90
    assert explorer.state["heading"] == 90
    explorer.fov.value = 360
    assert explorer.state["fov"] is None and explorer.state["scores"] == full


def test_model_selector_and_upload(explorer):
    before = explorer.state["scores"]
    explorer.run.value = "b"
    assert explorer.state["model"] == "b" and explorer.state["scores"] != before
    folder = explorer.runs["a"].parent.parent
    assert find_runs(folder) == explorer.runs
    with pytest.raises(KeyError, match="run 'c' not found; runs: a, b"):
        Explorer(runs=folder, run="c")
    buf = io.BytesIO()
    Image.open(explorer.paths[1]).save(buf, format="PNG")
    explorer.upload.value = (
        {"name": "mine.png", "type": "image/png", "size": buf.tell(),
         "content": memoryview(buf.getvalue()), "last_modified": datetime.now(timezone.utc)},
    )  # fmt: skip
    assert explorer.state["query"] == "upload: mine.png"
    assert explorer.state["correct"] is None  # nothing known about an uploaded photo
    explorer.query.value = 1
    assert explorer.state["query"] == explorer.paths[1].name


def test_needs_a_run_or_an_index(tmp_path):
    with pytest.raises(ValueError, match="no run with best.pt or last.pt"):
        Explorer(runs=tmp_path)


def test_find_runs_names_notebook_runs_by_name_and_seed_folder(tmp_path):
    # study.run_experiment keeps runs as <name>/seed<k>-<hash>/; `train` writes <name>/
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "last.pt").write_bytes(b"")
    nested = tmp_path / "baseline_vigor" / "seed0-0123456789"
    nested.mkdir(parents=True)
    for name in ("best.pt", "last.pt"):
        (nested / name).write_bytes(b"")
    assert find_runs(tmp_path) == {
        "baseline_vigor/seed0-0123456789": nested / "best.pt",
        "plain": tmp_path / "plain" / "last.pt",
    }
