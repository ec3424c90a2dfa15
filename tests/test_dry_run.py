"""Dry runs: train.max_steps, the evaluation subset, DRY_RUN_OVERRIDES, num_workers auto,
the evaluation precision and the shard bounds of multi-rank extraction."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from cvgl_core.config import DRY_RUN_OVERRIDES, config_from_dict, resolve_num_workers
from cvgl_core.evaluation.extract import autocast_dtype
from cvgl_core.evaluation.subset import eval_subset
from cvgl_core.training.distributed import shard_bounds
from tests.training_toy import run


def test_max_steps_stops_mid_epoch_and_still_checkpoints_and_evaluates(tmp_path):
    # 24 pairs, batch 8: 3 steps an epoch; 4 steps end in epoch 2
    history = run(tmp_path, epochs=3, overrides=["train.max_steps=4"])
    assert [r["step"] for r in history] == [3, 4]
    assert "R@1" in history[-1]  # the cut epoch is evaluated as a last one
    ckpt = torch.load(tmp_path / "last.pt", map_location="cpu", weights_only=True)
    assert (ckpt["epoch"], ckpt["step"]) == (2, 4)


def test_dry_run_overrides_are_valid_config_keys():
    cfg = config_from_dict({"profile": "smoke"}, DRY_RUN_OVERRIDES)
    assert cfg.train.max_steps == 1 and cfg.train.epochs == 1
    assert cfg.eval.max_queries and cfg.eval.max_gallery and cfg.data.num_workers == 0


def test_num_workers_auto_counts_this_process_cpus():
    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert config_from_dict({"data": {"num_workers": "auto"}}).data.num_workers == n
    assert resolve_num_workers(None) == 0
    with pytest.raises(ValueError, match="data.num_workers"):
        config_from_dict({"data": {"num_workers": "many"}})


class _Views(torch.utils.data.Dataset):
    def __init__(self, labels, view, positives=None, semi=None):
        self.labels, self.view = np.asarray(labels), view
        if positives is not None:
            self.positives = positives
        if semi is not None:
            self.semi_positives = semi

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return {"image": torch.full((3, 2, 2), float(i)), "label": int(self.labels[i])}


def test_label_subset_keeps_every_true_match():
    q = _Views([5, 3, 9, 1], "drone")
    r = _Views([1, 1, 2, 3, 4, 5, 5, 6, 7, 8], "satellite")
    qs, rs = eval_subset(q, r, max_queries=2, max_gallery=4)
    assert list(qs.labels) == [5, 3]
    # matches (3: index 3; 5: 5, 6) first, then the gallery filled in order up to 4
    assert list(rs.indices) == [0, 3, 5, 6] and list(rs.labels) == [1, 3, 5, 5]
    assert qs[1]["image"][0, 0, 0] == 1 and rs[1]["image"][0, 0, 0] == 3


def test_positive_subset_renumbers_positives_and_semi_positives():
    q = _Views([0, 1, 2], "ground", positives=[7, 2, 0], semi=[[6, 8], [1], [9]])
    r = _Views(list(range(10)), "satellite")
    qs, rs = eval_subset(q, r, max_queries=2, max_gallery=2)  # the cap is below the 5 needed
    assert list(rs.indices) == [1, 2, 6, 7, 8]
    old = rs.indices
    assert [int(old[p[0]]) for p in qs.positives] == [7, 2]
    assert [list(old[s]) for s in qs.semi_positives] == [[6, 8], [1]]


def test_subset_is_a_no_op_without_caps_and_rejects_zero():
    q, r = _Views([1], "g"), _Views([1], "s")
    assert eval_subset(q, r, None, None) == (q, r)
    with pytest.raises(ValueError, match="eval.max_queries"):
        eval_subset(q, r, 0, None)


def test_evaluation_precision_follows_training():
    cuda, cpu = torch.device("cuda", 0), torch.device("cpu")
    assert autocast_dtype("bf16", cuda) is torch.bfloat16
    assert autocast_dtype("fp16", cuda) is torch.float16
    assert autocast_dtype(None, cuda) is torch.float16  # the old default, kept
    assert autocast_dtype("none", cuda) is None and autocast_dtype("bf16", cpu) is None
    with pytest.raises(ValueError, match="amp must be"):
        autocast_dtype("fp8", cuda)


@pytest.mark.parametrize("n,world", [(10, 3), (2, 4), (0, 2), (7, 1)])
def test_shards_cover_the_items_in_order(n, world):
    bounds = [shard_bounds(n, r, world) for r in range(world)]
    assert bounds[0][0] == 0 and bounds[-1][1] == n
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
    sizes = [e - s for s, e in bounds]
    assert max(sizes) - min(sizes) <= 1


def test_sync_bn_on_cpu_ranks_is_refused_with_the_key(tmp_path, monkeypatch):
    """torch's SyncBatchNorm only synchronises CUDA tensors: say so before training starts."""
    from cvgl_core.losses import create_loss
    from cvgl_core.training import distributed as D
    from cvgl_core.training.trainer import Trainer
    from tests.training_toy import ToyModel, ToyPairs, toy_config

    monkeypatch.setattr(D, "get_world_size", lambda: 2)
    cfg = toy_config(tmp_path, overrides=["train.sync_bn=true"])
    with pytest.raises(ValueError, match="train.sync_bn needs CUDA"):
        Trainer(ToyModel(), create_loss("infonce"), ToyPairs(), cfg)


def test_epoch_steps_caps_every_epoch_and_the_schedule_spans_the_capped_epochs(tmp_path):
    # 24 pairs, batch 8: 3 steps an epoch, capped at 2: 2 steps in each of 3 epochs
    history = run(tmp_path, epochs=3, overrides=["train.epoch_steps=2", "schedule.name=cosine"])
    assert [r["step"] for r in history] == [2, 4, 6]
    assert history[-1]["lr"] == pytest.approx(0.0, abs=1e-12)  # cosine ends at the 6th step
    with pytest.raises(ValueError, match="train.epoch_steps"):
        run(tmp_path / "bad", epochs=1, overrides=["train.epoch_steps=0"])
