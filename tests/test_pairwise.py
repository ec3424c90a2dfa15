"""Pairwise similarity (AWM's correlation / DSM modes): chunked metrics, evaluate_retrieval,
losses and one Trainer step, each against the full score matrix or explicit distances."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cvgl_core.evaluation import (
    chunked_similarity,
    evaluate_retrieval,
    recall_curve,
    retrieval_metrics,
    top_k,
)
from cvgl_core.losses import create_loss, distance_from_similarity, pairwise_distance
from cvgl_core.models import create_model
from tests.test_evaluation_extract import ToyViewDataset
from tests.test_evaluation_metrics import brute_force
from tests.training_toy import toy_config

SAT = (32, 128)  # smallest polar satellite of test_awm; 90 deg ground -> 32 x 32
KS = (1, 2, 5)


def bilinear(W: torch.Tensor):
    """Toy pairwise similarity q W r^T between records of different lengths (Dq != Dr)."""
    return lambda q, r: q @ W.to(q) @ r.T


def integer_records(seed=0, nq=9, nr=13, dq=4, dr=6):
    """Small integers: every score is exact in float32 and ties abound."""
    g = torch.Generator().manual_seed(seed)
    q = torch.randint(-2, 3, (nq, dq), generator=g).float()
    r = torch.randint(-2, 3, (nr, dr), generator=g).float()
    W = torch.randint(-1, 2, (dq, dr), generator=g).float()
    return q, r, W


def oracle(scores: torch.Tensor, positives, semi=None, junk=None):
    """Brute force (test_evaluation_metrics) on the full score matrix: rows S against I."""
    s = scores.double().numpy()
    junk = np.zeros(s.shape[1], bool) if junk is None else junk
    return brute_force(s, np.eye(s.shape[1]), positives, semi, junk, KS, "floor_plus_one")


def _same(ours: dict, ref: dict, keys):
    for k in keys:
        assert ours[k] == pytest.approx(ref[k], abs=1e-9), k


@pytest.mark.parametrize("chunk_size", [1, 3, None])
def test_metrics_with_similarity_equal_brute_force_on_full_scores(chunk_size):
    q, r, W = integer_records()
    sim = bilinear(W)
    S = sim(q, r)  # (Q, R) full score matrix, the oracle's input
    # labels with junk and a query whose label is absent
    q_labels = np.array([0, 1, 2, 3, 4, 5, 0, 1, 99])
    r_labels = np.array([0, 1, 2, 3, 4, 5, 0, 1, 2, -1, -1, 6, 7])
    positives = [np.flatnonzero(r_labels == lab) for lab in q_labels]
    with pytest.warns(UserWarning, match="no positive"):
        ours = retrieval_metrics(
            q,
            r,
            query_labels=q_labels,
            reference_labels=r_labels,
            ks=KS,
            chunk_size=chunk_size,
            similarity=sim,
        )
    ref = oracle(S, positives, junk=r_labels == -1)
    _same(ours, ref, [*(f"R@{k}" for k in KS), "R@1%", "AP", "num_queries", "k_one_percent"])
    # positives + semi-positives (VIGOR form), the similarity itself chunked over references
    pos = [np.array([i % 13, (i + 5) % 13]) for i in range(9)]
    semi = [np.array([(i + 1) % 13]) for i in range(9)]
    for ref_chunk in (1, 4, None):
        wrapped = chunked_similarity(sim, ref_chunk)
        ours = retrieval_metrics(
            q,
            r,
            positives=pos,
            semi_positives=semi,
            ks=KS,
            chunk_size=chunk_size,
            similarity=wrapped,
            ap=True,
        )
        ref = oracle(S, pos, semi)
        _same(ours, ref, [*(f"R@{k}" for k in KS), "R@1%", "AP", "hit_rate"])
    ks, curve = recall_curve(q, r, positives=pos, max_k=13, similarity=sim, chunk_size=chunk_size)
    first = np.array([min(int((S[i] > S[i, p]).sum()) for p in pos[i]) for i in range(9)])
    np.testing.assert_allclose(curve, [100 * np.mean(first < k) for k in ks])


def test_top_k_and_bad_input_with_similarity():
    q, r, W = integer_records(seed=1)
    g = torch.Generator().manual_seed(3)
    q = q + 0.01 * torch.randn(q.shape, generator=g)  # no ties: topk's order is then unique
    r = r + 0.01 * torch.randn(r.shape, generator=g)
    sim = bilinear(W)
    scores, idx = top_k(q, r, 4, chunk_size=2, similarity=chunked_similarity(sim, 5))
    full = sim(q, r).topk(4, dim=1)
    torch.testing.assert_close(scores, full.values)
    assert torch.equal(idx, full.indices)
    with pytest.raises(ValueError, match="descriptor dimensions differ"):
        retrieval_metrics(q, r, positives=[np.array([0])] * 9)  # no similarity: D must match
    with pytest.raises(ValueError, match="hold NaN"):
        retrieval_metrics(q, r.clone().fill_(float("nan")), positives=[[0]] * 9, similarity=sim)
    with pytest.raises(ValueError, match="labels"):
        labels = dict(query_labels=np.zeros(3), reference_labels=np.zeros(13))
        retrieval_metrics(q, r, similarity=sim, **labels)
    with pytest.raises(ValueError, match=r"must return a \(9, 13\) tensor"):
        retrieval_metrics(q, r, positives=[[0]] * 9, similarity=lambda a, b: a @ a.T)


def _awm(**kw):
    torch.manual_seed(0)
    return create_model("awm", fov=90, satellite_size=SAT, **kw).eval()


@pytest.mark.parametrize("kw", [{"use_fca": False}, {"fca_mode": "correlation"}])
def test_evaluate_retrieval_on_pairwise_awm_matches_full_similarity(kw):
    model = _awm(**kw)
    assert model.pairwise
    g = torch.Generator().manual_seed(0)
    ground = torch.rand(5, 3, 32, 32, generator=g)
    sat = torch.rand(6, 3, *SAT, generator=g)
    q_ds = ToyViewDataset(ground, np.array([0, 1, 2, 3, 9]), "ground")
    r_ds = ToyViewDataset(sat, np.array([0, 1, 2, 3, 4, 0]), "satellite")
    opts = dict(progress=False, ks=(1, 2), return_descriptors=True)
    with pytest.warns(UserWarning, match="no positive"):
        metrics, d = evaluate_retrieval(model, q_ds, r_ds, **opts)
    assert d.query.shape[1] == model.descriptor_dim("ground")
    assert d.reference.shape[1] == model.descriptor_dim("satellite") != d.query.shape[1]
    with torch.no_grad():  # independent: records of the whole sets, one full similarity
        S = model.similarity(model(ground, "ground"), model(sat, "satellite"))
    positives = [np.flatnonzero(r_ds.labels == lab) for lab in q_ds.labels]
    ref = brute_force(
        S.double().numpy(), np.eye(6), positives, None, np.zeros(6, bool), (1, 2), "floor_plus_one"
    )
    _same(metrics, ref, ["R@1", "R@2", "R@1%", "AP", "num_queries"])
    # One query and one reference per call. Oracle: the same records scored pair by pair (at
    # random init the correlation mode's mask windows are near-ties, so another batching of
    # the same records can flip a window on float noise; one pair per call cannot).
    with pytest.warns(UserWarning, match="no positive"):
        tiny = evaluate_retrieval(model, q_ds, r_ds, reference_chunk=1, chunk_size=1, **opts)[0]
    with torch.no_grad():
        S1 = torch.tensor(
            [[model.similarity(a[None], b[None]).item() for b in d.reference] for a in d.query]
        )
    ref = brute_force(
        S1.double().numpy(), np.eye(6), positives, None, np.zeros(6, bool), (1, 2), "floor_plus_one"
    )
    _same(tiny, ref, ["R@1", "R@2", "R@1%", "AP", "num_queries"])


# ---------------------------------------------------------------- losses


def _records(seed=0, b=6):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(b, 5, generator=g, requires_grad=True)
    r = torch.randn(b, 7, generator=g, requires_grad=True)
    A, B = torch.randn(5, 4, generator=g), torch.randn(7, 4, generator=g)
    # cosine of unit vectors built from records of different lengths, as AWM's similarity is
    return q, r, A, B, lambda a, b: F.normalize(a @ A, dim=1) @ F.normalize(b @ B, dim=1).T


@pytest.mark.parametrize(
    "name", ["soft_triplet", "soft_triplet_hard", "semi_soft_triplet", "infonce"]
)
def test_losses_with_similarity_equal_losses_on_explicit_unit_descriptors(name):
    q, r, A, B, sim = _records()
    labels = torch.tensor([0, 1, 2, 3, 0, 5])
    if name == "semi_soft_triplet":  # LRFR's loss refuses repeated labels (diagonal positives)
        labels = torch.arange(6)
    ours = create_loss(name, similarity=sim)(q, r, labels)
    explicit = create_loss(name)(F.normalize(q @ A, dim=1), F.normalize(r @ B, dim=1), labels)
    torch.testing.assert_close(ours, explicit, rtol=1e-5, atol=1e-5)
    ours.backward()
    assert q.grad.abs().sum() > 0 and r.grad.abs().sum() > 0
    # set later as an attribute (what the Trainer does): same value
    loss = create_loss(name)
    loss.similarity = sim
    torch.testing.assert_close(loss(q, r, labels), ours)


def test_soft_triplet_hard_from_hand_built_distances():
    q, r, _, _, sim = _records(seed=1, b=4)
    labels = torch.arange(4)
    d = (2 - 2 * sim(q, r)).sqrt()  # euclidean on unit vectors
    terms = []
    for dd in (d, d.T):
        for a in range(4):
            neg = min(dd[a, n] for n in range(4) if n != a)
            terms.append(F.softplus(10 * (dd[a, a] - neg)))
    loss = create_loss("soft_triplet_hard", similarity=sim)(q, r, labels)
    torch.testing.assert_close(loss, torch.stack(terms).mean())
    # distance_from_similarity agrees with pairwise_distance for every kind
    qa, rb = F.normalize(torch.randn(4, 4), dim=1), F.normalize(torch.randn(5, 4), dim=1)
    for kind in ("euclidean", "squared", "cosine"):
        torch.testing.assert_close(
            distance_from_similarity(qa @ rb.T, kind),
            pairwise_distance(qa, rb, kind),
            rtol=1e-5,
            atol=1e-5,
        )


def test_loss_with_similarity_refuses_to_gather_across_ranks(monkeypatch):
    q, r, _, _, sim = _records()
    import cvgl_core.losses as L

    monkeypatch.setattr(L, "get_world_size", lambda: 2)
    with pytest.raises(ValueError, match="cannot gather packed records across 2 ranks"):
        create_loss("soft_triplet", similarity=sim)(q, r, torch.arange(6))


# ---------------------------------------------------------------- trainer


class AWMPairs(torch.utils.data.Dataset):
    query_view, reference_view = "ground", "satellite"

    def __init__(self, n=4):
        g = torch.Generator().manual_seed(0)
        self.sat = torch.rand(n, 3, *SAT, generator=g)
        self.ground = torch.stack([s[:, :, i * 8 : i * 8 + 32] for i, s in enumerate(self.sat)])

    def __len__(self):
        return len(self.sat)

    def __getitem__(self, i):
        return {"query": self.ground[i], "reference": self.sat[i], "label": i, "index": i}


def test_one_trainer_step_on_pairwise_awm(tmp_path, monkeypatch):
    from cvgl_core.training.trainer import Trainer

    model = _awm(use_fca=False).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    cfg = toy_config(tmp_path / "run", epochs=1, overrides=["data.batch_size=4"])
    loss = create_loss("soft_triplet_hard")
    trainer = Trainer(model, loss, AWMPairs(4), cfg)
    assert loss.similarity == model.similarity
    history = trainer.fit()
    assert trainer.step == 1 and np.isfinite(history[0]["train_loss"])
    after = model.state_dict()
    changed = [k for k, v in before.items() if v.is_floating_point() and not v.equal(after[k])]
    assert any(k.startswith("ground.") for k in changed)
    assert any(k.startswith("satellite.") for k in changed)
    # a loss that cannot score packed records, and DDP with gather: one clear error each
    with pytest.raises(ValueError, match="takes no similarity"):
        Trainer(_awm(use_fca=False), create_loss("ce_triplet"), AWMPairs(4), cfg)
    import cvgl_core.training.trainer as T

    monkeypatch.setattr(T.D, "get_world_size", lambda: 2)
    with pytest.raises(ValueError, match="cannot be gathered across 2 ranks"):
        Trainer(_awm(use_fca=False), create_loss("infonce"), AWMPairs(4), cfg)
