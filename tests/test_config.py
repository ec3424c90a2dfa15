"""Typed config: YAML + dotted overrides, profile defaults, clear errors for bad keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from cvgl_core.config import Config, config_from_dict, load_config, parse_overrides

ROOT = Path(__file__).resolve().parents[1]


def test_defaults_and_profile_resolution():
    cfg = config_from_dict(
        {"profile": "smoke", "model": {"kwargs": {"backbone": "profile.convnext"}}}
    )
    assert isinstance(cfg, Config)
    assert (cfg.train.epochs, cfg.data.batch_size, cfg.data.num_workers) == (1, 16, 0)
    assert cfg.model.kwargs["backbone"] == "convnext_atto"
    assert cfg.data.data_dir == "data/synth/smoke"
    # explicit values win over the profile
    cfg = config_from_dict({"profile": "cpu", "train": {"epochs": 7}})
    assert cfg.train.epochs == 7 and cfg.data.batch_size == 32
    # without a profile, None stays None and profile references are refused
    assert config_from_dict({}).train.epochs is None
    with pytest.raises(ValueError, match="no profile"):
        config_from_dict({"model": {"kwargs": {"backbone": "profile.convnext"}}})
    with pytest.raises(KeyError, match="profile has no field 'convnxt'"):
        config_from_dict({"profile": "cpu", "model": {"kwargs": {"backbone": "profile.convnxt"}}})


def test_overrides_are_yaml_parsed_and_typed():
    ov = parse_overrides(
        [
            "optim.lr=3e-4",
            "schedule.milestones=[80,120]",
            "data.root=null",
            "model.kwargs.dim=64",
            "train.amp=none",
            "name=x",
        ]
    )
    assert ov == {
        "optim.lr": "3e-4",
        "schedule.milestones": [80, 120],
        "data.root": None,
        "model.kwargs.dim": 64,
        "train.amp": "none",
        "name": "x",
    }
    cfg = config_from_dict({"optim": {"lr": 1.0}}, ov)
    assert cfg.optim.lr == 3e-4 and isinstance(cfg.optim.lr, float)  # "3e-4" coerced
    assert cfg.schedule.milestones == [80, 120] and cfg.model.kwargs == {"dim": 64}
    cfg = config_from_dict({}, {"optim.lr": 1, "loss.kwargs.alpha": 10})
    assert cfg.optim.lr == 1.0 and cfg.loss.kwargs == {"alpha": 10}
    with pytest.raises(ValueError, match="key=value"):
        parse_overrides(["optim.lr"])


@pytest.mark.parametrize(
    "tree,overrides,closest",
    [
        ({"optim": {"lrr": 1.0}}, None, "optim.lr"),
        ({"modle": {"name": "baseline"}}, None, "model"),
        ({}, ["train.epoch=3"], "train.epochs"),
        ({}, ["schedule.warmup=1"], "schedule.warmup_epochs"),
    ],
)
def test_unknown_key_names_the_closest(tree, overrides, closest):
    with pytest.raises(KeyError, match=f"Did you mean '{closest}'"):
        config_from_dict(tree, overrides)


def test_wrong_types_are_rejected():
    with pytest.raises(ValueError, match="train.epochs"):
        config_from_dict({"train": {"epochs": "ten"}})
    with pytest.raises(ValueError, match="train.progress"):
        config_from_dict({}, ["train.progress=3"])
    with pytest.raises(ValueError, match="optim.betas"):
        config_from_dict({"optim": {"betas": 0.9}})


def test_roundtrip_through_plain_dict():
    cfg = config_from_dict({"profile": "cpu", "optim": {"backbone_lr": 0.003}})
    assert config_from_dict(cfg.to_dict()) == cfg


def test_repo_configs_load(tmp_path):
    for path in sorted((ROOT / "configs").rglob("*.yaml")):
        cfg = load_config(path)
        assert cfg.profile in ("smoke", "cpu", "paper")
        assert cfg.name == f"{path.parent.name}_{path.stem}"
    # notebook parameters override the file; values the file states stay (epochs here)
    cfg = load_config(ROOT / "configs/baseline/cvusa_cpu.yaml", overrides={"profile": "smoke"})
    assert cfg.data.batch_size == 16 and cfg.train.epochs == 1
    assert load_config(ROOT / "configs/baseline/cvusa_smoke.yaml").train.epochs == 1


def test_load_config_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("optim:\n  lrr: 1\n")
    with pytest.raises(KeyError, match=r"bad.yaml: unknown config key 'optim.lrr'"):
        load_config(bad)


def test_cli_reports_bad_config_in_one_line(tmp_path, capsys):
    from cvgl_core.cli import main

    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  epohcs: 2\n")
    assert main(["train", "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "Did you mean 'train.epochs'" in err and err.count("\n") == 1


def test_unknown_model_and_loss_names_list_the_known_ones():
    from cvgl_core.training.experiment import build_loss, build_model

    with pytest.raises(KeyError, match="Known: .*baseline"):
        build_model(config_from_dict({"model": {"name": "resnet_baseline"}}))
    with pytest.raises(KeyError, match="Known: .*infonce.*semi_soft_triplet"):
        build_loss(config_from_dict({"loss": {"name": "triplet"}}))
