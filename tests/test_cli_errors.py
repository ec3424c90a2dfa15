"""`python -m cvgl_core evaluate` reads the checkpoint's config and records where its numbers
come from; bad input to any command is one line naming the path or key, no traceback."""

import hashlib
import json
import os
from pathlib import Path

import pytest

from cvgl_core.cli import error_line, main

REPO = Path(__file__).resolve().parent.parent
SMOKE = REPO / "configs/baseline/cvusa_smoke.yaml"
SMOKE_DATA = Path(os.environ.get("CVGL_SMOKE_DATA", REPO / ".scratch" / "smoke" / "data"))


def _cli(capsys, *argv):
    rc = main([str(a) for a in argv])
    out = capsys.readouterr()
    return rc, out.out, out.err


def _one_line_error(rc, err, *parts):
    assert rc == 2 and err.startswith("error: ") and err.count("\n") == 1, err
    for p in parts:
        assert p in err, (p, err)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A 1-epoch smoke checkpoint (no per-epoch evaluation, to be quick)."""
    from cvgl_core.config import load_config
    from cvgl_core.training import train

    out = tmp_path_factory.mktemp("run")
    cfg = load_config(
        SMOKE,
        overrides={
            "output.dir": str(out),
            "data.data_dir": str(SMOKE_DATA),
            "train.progress": False,
            "train.epochs": 1,
            "eval.every": 0,
        },
    )
    train(cfg)
    return out / "last.pt"


@pytest.mark.slow
def test_evaluate_uses_the_checkpoint_config_and_records_provenance(checkpoint, tmp_path, capsys):
    out = tmp_path / "m.json"
    rc, stdout, err = _cli(capsys, "evaluate", "--checkpoint", checkpoint, "--out", out)
    assert rc == 0, err
    rec = json.loads(out.read_text())
    assert json.loads(stdout) == rec["metrics"] and 0 <= rec["metrics"]["R@1"] <= 100
    ck = rec["checkpoint"]
    assert ck["path"] == str(checkpoint.resolve()) and ck["epoch"] == 1
    assert ck["sha256"] == hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    assert rec["config"]["name"] == "baseline_cvusa_smoke" and rec["config"]["profile"] == "smoke"
    data = rec["data"]
    assert (data["dataset"], data["split"], data["synthetic"]) == ("cvusa", "val", True)
    assert data["root"].startswith(str(SMOKE_DATA)) and data["gallery"] > 0
    assert rec["direction"] == "ground->satellite" and rec["protocol"] == "default"
    # an explicit config that contradicts the checkpoint is refused, naming the keys
    rc, _, err = _cli(
        capsys,
        "evaluate",
        "--checkpoint",
        checkpoint,
        "--config",
        REPO / "configs/baseline/cvusa_cpu.yaml",
    )
    _one_line_error(rc, err, "contradicts", "data.options.sizes", "->")


def test_corrupt_checkpoints_are_one_line(tmp_path, capsys):
    text = tmp_path / "notes.pt"
    text.write_text("id,loss\n1,0.5\n")
    rc, _, err = _cli(capsys, "evaluate", "--checkpoint", text)
    _one_line_error(rc, err, str(text), "not a PyTorch file")
    import torch

    good = tmp_path / "good.pt"
    torch.save({"model": {"w": torch.zeros(1000)}}, good)
    cut = tmp_path / "cut.pt"
    cut.write_bytes(good.read_bytes()[:1500])  # an interrupted copy
    rc, _, err = _cli(capsys, "evaluate", "--checkpoint", cut)
    _one_line_error(rc, err, str(cut), "truncated or damaged")


def test_broken_yaml_names_the_file_and_line(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("profile: smoke\ndata:\n  dataset: cvusa\n batch_size: 4\n")
    rc, _, err = _cli(capsys, "train", "--config", bad)
    _one_line_error(rc, err, str(bad), "not valid YAML", "line 4")
    rc, _, err = _cli(capsys, "train", "--config", SMOKE, "optim.lr=[0.1")
    _one_line_error(rc, err, "optim.lr=[0.1", "not valid YAML")


@pytest.mark.parametrize(
    "override, parts",
    [
        ("model.kwargs.bakbone=resnet18", ["model.kwargs.bakbone", "'backbone'", "valid: "]),
        ("loss.kwargs.label_smothing=0.1", ["loss.kwargs.label_smothing", "'label_smoothing'"]),
    ],
)
def test_unknown_kwargs_name_the_key_and_the_valid_ones(override, parts):
    from cvgl_core.config import load_config
    from cvgl_core.training.experiment import build_loss, build_model

    cfg = load_config(SMOKE, overrides=[override])
    with pytest.raises(KeyError) as e:
        build_model(cfg) if override.startswith("model") else build_loss(cfg)
    for p in parts:
        assert p in error_line(e.value)


def test_read_only_output_folder_is_named(tmp_path, capsys, monkeypatch):
    import cvgl_core.utils.io as io_mod

    ro = tmp_path / "ro"
    ro.mkdir()
    real = os.access
    monkeypatch.setattr(io_mod.os, "access", lambda p, m: False if Path(p) == ro else real(p, m))
    with pytest.raises(PermissionError, match=f"cannot write to {ro}"):
        io_mod.atomic_write_text(ro / "m.json", "{}")
    # the OS's own errors (read-only file system, ...) become "path: reason"
    assert (
        error_line(OSError(30, "Read-only file system", str(ro))) == f"{ro}: Read-only file system"
    )


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write into a read-only folder")
def test_read_only_results_folder_for_real(tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        rc, _, err = _cli(capsys, "train", "--config", SMOKE, f"output.dir={ro / 'run'}")
        _one_line_error(rc, err, str(ro))
    finally:
        ro.chmod(0o755)
