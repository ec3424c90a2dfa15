"""Trainer: exact resume after SIGKILL, DDP equals one process, NaN stop, mismatched
checkpoints, schedules, parameter groups, the baseline model."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.training_toy import ToyModel, ToyPairs, run, toy_config

ROOT = Path(__file__).resolve().parents[1]
TOY = ROOT / "tests" / "training_toy.py"
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}


def _toy(out, *args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(TOY), "--out", str(out), *map(str, args)],
        env=ENV,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _load(path):
    return torch.load(path, map_location="cpu", weights_only=True)


def _numbers(history):
    keep = ("epoch", "train_loss", "R@1", "R@5", "step", "lr")
    return [{k: row[k] for k in keep} for row in history]


@pytest.fixture
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)  # the killed subprocess runs with one thread too
    yield
    torch.set_num_threads(n)


def test_resume_after_sigkill_is_bitwise_identical(tmp_path, one_thread):
    # 24 pairs, batch 8: 3 steps (24 items) per epoch; item 36 is in the middle of epoch 2
    killed = _toy(tmp_path / "cut", "--epochs", 3, "--kill-at-item", 36)
    assert killed.returncode == -9, killed.stderr
    ck = _load(tmp_path / "cut" / "last.pt")
    assert ck["epoch"] == 1 and ck["step"] == 3
    run(tmp_path / "cut", epochs=3)  # resumes from last.pt
    run(tmp_path / "full", epochs=3)  # uninterrupted

    a, b = _load(tmp_path / "full" / "last.pt"), _load(tmp_path / "cut" / "last.pt")
    assert a["model"].keys() == b["model"].keys()
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    assert torch.equal(a["loss"]["logit_scale"], b["loss"]["logit_scale"])
    for sa, sb in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values()):
        assert torch.equal(sa["exp_avg"], sb["exp_avg"]) and torch.equal(
            sa["exp_avg_sq"], sb["exp_avg_sq"]
        )
    assert _numbers(a["history"]) == _numbers(b["history"])
    # the CSV beside the checkpoint has one row per epoch, the same numbers
    rows = (tmp_path / "cut" / "metrics.csv").read_text().splitlines()
    assert len(rows) == 4 and rows[0].startswith("epoch,train_loss")
    assert [r.split(",")[1] for r in rows] == [
        r.split(",")[1] for r in (tmp_path / "full" / "metrics.csv").read_text().splitlines()
    ]


def _assert_same_run(a, b):
    """Bitwise-equal weights, loss and optimiser state, and the same per-epoch numbers."""
    assert a["model"].keys() == b["model"].keys()
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    assert torch.equal(a["loss"]["logit_scale"], b["loss"]["logit_scale"])
    for sa, sb in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values()):
        assert torch.equal(sa["exp_avg"], sb["exp_avg"])
        assert torch.equal(sa["exp_avg_sq"], sb["exp_avg_sq"])
    assert _numbers(a["history"]) == _numbers(b["history"])


def test_resume_after_sigkill_past_a_mid_epoch_checkpoint_is_bitwise_identical(
    tmp_path, one_thread
):
    # a checkpoint after every batch; item 44 is in batch 3 of epoch 2, so the last
    # checkpoint is inside epoch 2, after its batch 2 (step 5)
    steps = "train.checkpoint_steps=1"
    killed = _toy(tmp_path / "cut", "--epochs", 3, "--kill-at-item", 44, steps)
    assert killed.returncode == -9, killed.stderr
    ck = _load(tmp_path / "cut" / "last.pt")
    assert (ck["epoch"], ck["step"], ck["in_epoch"]["batch"]) == (1, 5, 2)
    assert len(ck["history"]) == 1 and ck["in_epoch"]["n_batches"] == 2
    run(tmp_path / "cut", epochs=3, overrides=[steps])  # resumes inside epoch 2
    run(tmp_path / "full", epochs=3)  # uninterrupted, no mid-epoch checkpoints
    a, b = _load(tmp_path / "full" / "last.pt"), _load(tmp_path / "cut" / "last.pt")
    _assert_same_run(a, b)
    assert b["in_epoch"] is None  # the final checkpoint is an epoch's


def test_checkpoint_minutes_writes_inside_an_epoch(tmp_path):
    """With a tiny train.checkpoint_minutes every batch is due: a run stopped by a NaN in
    batch 2 of epoch 1 leaves last.pt at batch 1 of that epoch (never a half-done epoch in
    the history or metrics.csv)."""
    from cvgl_core.training import NonFiniteLossError

    with pytest.raises(NonFiniteLossError):
        run(tmp_path, epochs=2, nan_after_item=8, overrides=["train.checkpoint_minutes=1e-9"])
    ck = _load(tmp_path / "last.pt")
    assert (ck["epoch"], ck["step"], ck["in_epoch"]["batch"]) == (0, 1, 1)
    assert ck["history"] == [] and not (tmp_path / "best.pt").exists()


def test_worker_count_does_not_change_the_run_and_worker_crash_resumes_exactly(
    tmp_path, one_thread
):
    """Items are drawn from (seed, epoch, index): 2 loader workers train the same weights as
    none, and a run whose worker dies inside an epoch resumes from its mid-epoch checkpoint
    exactly (the workers prefetch, so the checkpoint is wherever the trainer had got to)."""
    two = ["data.num_workers=2", "train.checkpoint_steps=1"]
    # each worker counts its own items: worker 0 loads batches 1 and 3 of epoch 1 and dies
    # on the last item of batch 3, once the trainer has checkpointed inside the epoch
    cut = tmp_path / "cut"
    with pytest.raises(RuntimeError, match="DataLoader worker"):
        run(cut, epochs=2, kill_at_item=12, overrides=two, kill_after_file=cut / "last.pt")
    ck = _load(tmp_path / "cut" / "last.pt")
    assert ck["epoch"] == 0 and ck["in_epoch"]["batch"] in (1, 2)
    run(tmp_path / "cut", epochs=2, overrides=two)
    run(tmp_path / "none", epochs=2)
    _assert_same_run(_load(tmp_path / "none" / "last.pt"), _load(tmp_path / "cut" / "last.pt"))


def test_resume_with_a_changed_config_is_refused_with_the_keys(tmp_path):
    """The issue's example: 1 epoch, then train.epochs=2 optim.lr=0.1 must not resume with
    the old lr (nor stretch a cosine schedule that was laid out over 1 epoch)."""
    from cvgl_core.training.trainer import ConfigMismatchError

    run(tmp_path, epochs=1)
    before = (tmp_path / "last.pt").read_bytes()
    with pytest.raises(ConfigMismatchError) as e:
        run(tmp_path, epochs=2, overrides=["optim.lr=0.1"])
    msg = str(e.value)
    assert "optim.lr: 0.03 -> 0.1" in msg and "train.epochs: 1 -> 2" in msg
    assert str(tmp_path / "last.pt") in msg and "schedule" in msg
    assert (tmp_path / "last.pt").read_bytes() == before
    # keys that do not change the result may differ; a constant schedule may be extended
    run(tmp_path / "c", epochs=1, overrides=["schedule.name=constant"])
    neutral = ["schedule.name=constant", "train.progress=false", "data.num_workers=1"]
    neutral.append("eval.every=0")  # evaluation does not move training's random streams
    assert len(run(tmp_path / "c", epochs=2, overrides=neutral)) == 2
    with pytest.raises(ConfigMismatchError, match=r"loss.kwargs.temperature: <absent> -> 0.5"):
        run(tmp_path / "c", epochs=2, overrides=[*neutral, "loss.kwargs.temperature=0.5"])


def test_evaluation_leaves_the_training_random_streams_alone():
    import random

    import numpy as np

    from cvgl_core.training.trainer import _isolated_rng

    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    state = random.getstate(), np.random.get_state()[1].copy()
    with _isolated_rng(torch.device("cpu")):
        torch.rand(5), random.random(), np.random.rand()  # what a DataLoader would draw
    assert torch.equal(torch.rand(3), expected)
    assert random.getstate() == state[0] and (np.random.get_state()[1] == state[1]).all()


@pytest.mark.slow
def test_ddp_two_gloo_ranks_match_one_process(tmp_path):
    # deterministic data and no dropout/BN: the two runs see the same global batches;
    # evaluate_retrieval extracts 12 + 11 queries and 12 + 12 references on the two ranks
    one = _toy(tmp_path / "one", "--noise", 0, "--dropout", 0, "--retrieval")
    assert one.returncode == 0, one.stderr
    two = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node=2",
            str(TOY),
            "--out",
            str(tmp_path / "two"),
            "--noise",
            "0",
            "--dropout",
            "0",
            "--retrieval",
        ],
        env=ENV,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert two.returncode == 0, two.stderr[-3000:]
    a, b = _load(tmp_path / "one" / "last.pt"), _load(tmp_path / "two" / "last.pt")
    assert b["world_size"] == 2 and len(b["rng"]) == 2
    for k in a["model"]:
        torch.testing.assert_close(a["model"][k], b["model"][k], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(
        a["loss"]["logit_scale"], b["loss"]["logit_scale"], atol=1e-5, rtol=1e-5
    )
    for ra, rb in zip(a["history"], b["history"]):
        assert ra["train_loss"] == pytest.approx(rb["train_loss"], rel=1e-5)
        assert (ra["R@1"], ra["R@5"], ra["R@10"]) == (rb["R@1"], rb["R@5"], rb["R@10"])
        assert 0 < ra["R@10"] <= 100


def test_nan_loss_stops_with_step_and_keeps_checkpoint(tmp_path):
    constant = ["schedule.name=constant"]  # a schedule that lets a run be extended
    run(tmp_path, epochs=1, overrides=constant)
    before = (tmp_path / "last.pt").read_bytes()
    # resume for a second epoch whose items turn NaN after the first batch of it
    from cvgl_core.training import NonFiniteLossError

    with pytest.raises(NonFiniteLossError, match=r"at step 4 \(epoch 2, batch 1\)"):
        run(tmp_path, epochs=2, nan_after_item=8, overrides=constant)
    assert (tmp_path / "last.pt").read_bytes() == before
    assert len((tmp_path / "metrics.csv").read_text().splitlines()) == 2


def test_checkpoint_of_another_model_names_the_keys(tmp_path):
    from cvgl_core.losses import create_loss
    from cvgl_core.training import Trainer, load_model_state

    run(tmp_path, epochs=1)
    cfg = toy_config(tmp_path, epochs=1)
    with pytest.raises(
        KeyError, match=r"shape keys: backbone.ground.weight \(8, 3, 3, 3\) vs \(16, 3, 3, 3\)"
    ):
        Trainer(ToyModel(width=16), create_loss("infonce"), ToyPairs(), cfg)
    other = torch.nn.Sequential(torch.nn.Linear(2, 2))
    with pytest.raises(
        KeyError, match=r"missing keys: 0.weight.*unexpected keys: backbone.ground.weight"
    ):
        load_model_state(other, _load(tmp_path / "last.pt")["model"], "last.pt")


def test_existing_run_without_resume_is_refused(tmp_path):
    run(tmp_path, epochs=1)
    with pytest.raises(FileExistsError, match="train.resume"):
        run(tmp_path, epochs=2, overrides=["train.resume=false"])


def test_checkpoint_holds_only_safe_types(tmp_path):
    run(tmp_path, epochs=1)
    ck = _load(tmp_path / "last.pt")  # weights_only=True succeeded
    assert ck["config"]["optim"]["backbone_lr"] == 2e-2 and isinstance(ck["config"], dict)
    assert {"python", "numpy", "torch", "loader"} <= set(ck["rng"][0])
    assert (tmp_path / "best.pt").exists()


# ---------------------------------------------------------------- schedules and optimizers


def _sched(**kw):
    from cvgl_core.config import ScheduleConfig

    return ScheduleConfig(**kw)


def test_schedules():
    from cvgl_core.training.schedules import lr_factor

    spe, ep = 10, 5  # 50 steps
    lin = _sched(name="linear", end_factor=1 / 20)
    assert lr_factor(0, lin, spe, ep) == 1.0
    assert lr_factor(49, lin, spe, ep) == pytest.approx(1 / 20)
    assert lr_factor(24, lin, spe, ep) > lr_factor(25, lin, spe, ep)
    cos = _sched(name="cosine")
    assert lr_factor(0, cos, spe, ep) == 1.0 and lr_factor(25, cos, spe, ep) == pytest.approx(0.5)
    step = _sched(name="step", milestones=[2, 4], gamma=0.1)
    assert [lr_factor(e * spe, step, spe, ep) for e in range(5)] == pytest.approx(
        [1, 1, 0.1, 0.1, 0.01]
    )
    # FRG: 1e-5 until epoch 30, 1e-6 until 50, 1e-7 after (lr = 1e-5)
    frg = _sched(name="staged", milestones=[30, 50], values=[1.0, 0.1, 0.01])
    assert [lr_factor(e, frg, 1, 60) for e in (0, 29, 30, 49, 50, 59)] == pytest.approx(
        [1, 1, 0.1, 0.1, 0.01, 0.01]
    )
    warm = _sched(name="cosine", warmup_epochs=1)
    assert lr_factor(0, warm, spe, ep) == pytest.approx(0.1)
    assert lr_factor(9, warm, spe, ep) == pytest.approx(1.0)
    assert lr_factor(10, warm, spe, ep) == 1.0
    assert lr_factor(30, warm, spe, ep) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.5)))
    with pytest.raises(ValueError, match="values"):
        lr_factor(0, _sched(name="staged", milestones=[3], values=[1.0]), 1, 5)
    with pytest.raises(KeyError, match="cosine"):
        lr_factor(0, _sched(name="cosin"), 1, 5)


def test_parameter_groups_backbone_heads_loss():
    from cvgl_core.config import OptimConfig
    from cvgl_core.losses import create_loss
    from cvgl_core.training.optim import build_optimizer

    model, loss = ToyModel(), create_loss("infonce")
    cfg = OptimConfig(name="sgd", lr=0.01, backbone_lr=0.003, weight_decay=5e-4)
    opt = build_optimizer(model, loss, cfg)
    groups = {g["name"]: g for g in opt.param_groups}
    assert groups["backbone"]["lr"] == 0.003 and groups["heads"]["lr"] == 0.01
    assert groups["loss"]["params"] == [loss.logit_scale] and groups["loss"]["weight_decay"] == 0.0
    assert len(groups["backbone"]["params"]) == 4 and groups["heads"]["momentum"] == 0.9
    with pytest.raises(KeyError, match="adamw"):
        build_optimizer(model, loss, OptimConfig(name="lamb"))


def test_distributed_batch_sampler_slices_global_batches():
    from cvgl_core.training.sampling import DistributedBatchSampler, ShuffleBatchSampler

    base = ShuffleBatchSampler(20, 8, seed=1)
    base.set_epoch(3)
    full = list(base)
    parts = []
    for rank in range(2):
        s = DistributedBatchSampler(ShuffleBatchSampler(20, 8, seed=1), rank, 2)
        s.set_epoch(3)
        parts.append(list(s))
    assert len(full) == 2 and [p0 + p1 for p0, p1 in zip(*parts)] == full
    with pytest.raises(ValueError, match="divisible"):
        DistributedBatchSampler(ShuffleBatchSampler(20, 9), 0, 2)


# ---------------------------------------------------------------- baseline model


@pytest.mark.parametrize("shared,pool,dim", [(True, "avg", None), (False, "gem", 16)])
def test_baseline_model(shared, pool, dim):
    from cvgl_core.models import create_model

    m = create_model("baseline", backbone="resnet18", shared=shared, pool=pool, dim=dim).eval()
    g = m(torch.randn(2, 3, 32, 64), view="ground")
    s = m(torch.randn(2, 3, 32, 32), view="satellite")
    assert g.shape == s.shape == (2, dim or 512)
    torch.testing.assert_close(g.norm(dim=1), torch.ones(2))
    names = [n for n, _ in m.named_parameters()]
    assert all(n.startswith(("backbone", "pool", "proj")) for n in names)
    if not shared:
        assert any(n.startswith("backbone.satellite.") for n in names)
        with pytest.raises(KeyError, match="ground, satellite"):
            m(torch.randn(1, 3, 32, 32), view="drone")


def test_unknown_model_lists_known():
    from cvgl_core.models import create_model

    with pytest.raises(KeyError, match="baseline"):
        create_model("baselin")


@pytest.mark.slow
def test_train_and_evaluate_smoke_config_end_to_end(tmp_path):
    """`train(cfg)` on the synthetic CVUSA world of the smoke profile, then `evaluate`."""
    for mod in ("cvgl_core.data", "cvgl_core.synth", "cvgl_core.evaluation"):
        pytest.importorskip(mod)
    from cvgl_core.config import load_config
    from cvgl_core.training import evaluate_checkpoint, train

    cfg = load_config(
        ROOT / "configs/baseline/cvusa_smoke.yaml",
        overrides={
            "output.dir": str(tmp_path / "run"),
            "data.data_dir": str(tmp_path / "synth"),
            "train.progress": False,
        },
    )
    history = train(cfg)
    assert len(history) == cfg.train.epochs and math.isfinite(history[-1]["train_loss"])
    assert {"R@1", "R@5"} <= set(history[-1])
    assert (tmp_path / "run" / "config.yaml").exists() and (
        tmp_path / "run" / "metrics.csv"
    ).exists()
    metrics = evaluate_checkpoint(cfg, tmp_path / "run" / "last.pt")
    assert metrics["R@1"] == pytest.approx(history[-1]["R@1"])
