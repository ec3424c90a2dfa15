"""Loss definitions against explicit loops, hand-computed values and finite differences."""

from __future__ import annotations

import math
import os
import socket

import pytest
import torch
import torch.nn.functional as F

from cvgl_core.losses import LOSSES, create_loss, pairwise_distance

torch.set_default_dtype(torch.float32)


def _batch(B=5, D=4, seed=0, dtype=torch.float64, normalise=True):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(B, D, generator=g, dtype=dtype)
    r = q + 0.8 * torch.randn(B, D, generator=g, dtype=dtype)
    if normalise:
        q, r = F.normalize(q, dim=1), F.normalize(r, dim=1)
    return q, r, torch.arange(B)


def test_registry_names_and_unknown():
    assert {
        "infonce",
        "soft_triplet",
        "soft_triplet_hard",
        "semi_soft_triplet",
        "ce_triplet",
    } <= set(LOSSES.names())
    with pytest.raises(KeyError, match="infonce"):
        create_loss("infonse")


def test_infonce_hand_computed():
    # two pairs, orthogonal 2-D unit vectors, scale 1/0.07, no smoothing
    q = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    r = torch.tensor([[0.6, 0.8], [0.0, 1.0]])
    loss = create_loss("infonce", label_smoothing=0.0)(q, r, torch.tensor([3, 7]))
    s = 1 / 0.07
    # rows: q0 sims (0.6, 0); q1 sims (0.8, 1)
    q2r = 0.5 * (
        -(0.6 * s)
        + math.log(math.exp(0.6 * s) + 1)
        + -s
        + math.log(math.exp(0.8 * s) + math.exp(s))
    )
    # columns: r0 sims (0.6, 0.8); r1 sims (0, 1)
    r2q = 0.5 * (
        -(0.6 * s)
        + math.log(math.exp(0.6 * s) + math.exp(0.8 * s))
        + -s
        + math.log(1 + math.exp(s))
    )
    assert loss.item() == pytest.approx(0.5 * (q2r + r2q), rel=1e-5)


def test_infonce_label_smoothing_and_scale_parameter():
    q, r, y = _batch(dtype=torch.float32)
    loss_fn = create_loss("infonce", label_smoothing=0.1)
    assert isinstance(loss_fn.logit_scale, torch.nn.Parameter)
    assert loss_fn.logit_scale.item() == pytest.approx(math.log(1 / 0.07))
    logits = loss_fn.logit_scale.exp() * q @ r.T
    ref = 0.5 * (
        F.cross_entropy(logits, y, label_smoothing=0.1)
        + F.cross_entropy(logits.T, y, label_smoothing=0.1)
    )
    out = loss_fn(q, r, y)
    assert out.item() == pytest.approx(ref.item(), rel=1e-6)
    out.backward()
    assert loss_fn.logit_scale.grad is not None
    with torch.no_grad():
        loss_fn.logit_scale.fill_(10.0)  # exp(10) > 100: clamped
    logits = 100.0 * q @ r.T
    ref = 0.5 * (
        F.cross_entropy(logits, y, label_smoothing=0.1)
        + F.cross_entropy(logits.T, y, label_smoothing=0.1)
    )
    assert loss_fn(q, r, y).item() == pytest.approx(ref.item(), rel=1e-5)


def _soft(x, alpha=10.0):
    return math.log(1 + math.exp(alpha * x))


def test_soft_triplet_count_and_value_match_loop():
    B = 5
    q, r, y = _batch(B)
    d = torch.cdist(q, r)
    terms = []
    for i in range(B):  # ground anchors
        for n in range(B):
            if n != i:
                terms.append(_soft(d[i, i].item() - d[i, n].item()))
    for i in range(B):  # satellite anchors
        for n in range(B):
            if n != i:
                terms.append(_soft(d[i, i].item() - d[n, i].item()))
    assert len(terms) == 2 * B * (B - 1)
    loss = create_loss("soft_triplet")(q, r, y)
    assert loss.item() == pytest.approx(sum(terms) / len(terms), rel=1e-9)
    # the direction helper keeps exactly B(B-1) triplets per direction
    lf = create_loss("soft_triplet")
    pos = y[:, None] == y[None, :]
    assert lf.direction(pairwise_distance(q, r), pos).numel() == B * (B - 1)


def test_soft_triplet_hard_matches_loop():
    B = 6
    q, r, y = _batch(B, seed=1)
    d = torch.cdist(q, r)
    terms = []
    for i in range(B):
        terms.append(_soft(d[i, i].item() - min(d[i, n].item() for n in range(B) if n != i)))
        terms.append(_soft(d[i, i].item() - min(d[n, i].item() for n in range(B) if n != i)))
    loss = create_loss("soft_triplet_hard")(q, r, y)
    assert loss.item() == pytest.approx(sum(terms) / len(terms), rel=1e-9)


def _semi_loop(dist):  # LRFR's selection, anchors = rows
    B = dist.shape[0]
    out = []
    for i in range(B):
        dp = dist[i, i].item()
        negs = [dist[i, n].item() for n in range(B) if n != i]
        closer = [x for x in negs if x < dp]
        dn = max(closer) if closer else min(negs)
        out.append(_soft(dp - dn))
    return out


def test_semi_soft_triplet_matches_loop_both_branches():
    B = 8
    q, r, y = _batch(B, seed=2)
    r = F.normalize(
        r + 0.5 * torch.randn(B, 4, generator=torch.Generator().manual_seed(9), dtype=r.dtype),
        dim=1,
    )
    dist = 2 - 2 * q @ r.T
    # the batch exercises both branches: some anchors with closer negatives, some without
    has_closer = [(dist[i] < dist[i, i]).any().item() for i in range(B)]
    assert any(has_closer) and not all(has_closer)
    terms = _semi_loop(dist) + _semi_loop(dist.T)
    loss = create_loss("semi_soft_triplet")(q, r, y)
    assert loss.item() == pytest.approx(sum(terms) / len(terms), rel=1e-9)


def _glq_batch(B=4, K=2, C=3, D=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    mk = lambda *s: torch.randn(*s, generator=g, dtype=torch.float64, requires_grad=True)
    q = {"logits": [mk(B, C) for _ in range(K)], "features": [mk(B, D) for _ in range(K)]}
    r = {"logits": [mk(B, C) for _ in range(K)], "features": [mk(B, D) for _ in range(K)]}
    return q, r, torch.tensor([0, 1, 2, 0])[:B]


def test_ce_triplet_matches_loop():
    q, r, y = _glq_batch()
    loss = create_loss("ce_triplet")(q, r, y)
    K, B = 2, 4
    total = 0.0
    for k in range(K):
        feats = torch.cat([q["features"][k], r["features"][k]]).detach()
        lab = torch.cat([y, y])
        for j, logits in enumerate((q["logits"][k], r["logits"][k])):
            total += F.cross_entropy(logits.detach(), y).item()
            trip = []
            for a in range(j * B, (j + 1) * B):
                dp = max(
                    (feats[a] - feats[b]).norm().item()
                    for b in range(2 * B)
                    if b != a and lab[b] == lab[a]
                )
                dn = min(
                    (feats[a] - feats[c]).norm().item() for c in range(2 * B) if lab[c] != lab[a]
                )
                trip.append(max(dp - dn + 0.3, 0.0))
            total += sum(trip) / len(trip)
    assert loss.item() == pytest.approx(total / K, rel=1e-9)
    with pytest.raises(ValueError, match="labels must lie"):
        create_loss("ce_triplet")(q, r, torch.tensor([0, 1, 5, 0]))


@pytest.mark.parametrize(
    "name", ["infonce", "soft_triplet", "soft_triplet_hard", "semi_soft_triplet"]
)
def test_gradients_match_finite_differences(name):
    q, r, y = _batch(4, 3, seed=3, normalise=False)
    q.requires_grad_(True)
    r.requires_grad_(True)
    loss_fn = create_loss(name).double()
    assert torch.autograd.gradcheck(lambda a, b: loss_fn(a, b, y), (q, r), eps=1e-6, atol=1e-5)


def test_ce_triplet_gradients_match_finite_differences():
    q, r, y = _glq_batch(seed=4)
    loss_fn = create_loss("ce_triplet")
    flat = q["logits"] + q["features"] + r["logits"] + r["features"]

    def f(*ts):
        K = 2
        qq = {"logits": list(ts[:K]), "features": list(ts[K : 2 * K])}
        rr = {"logits": list(ts[2 * K : 3 * K]), "features": list(ts[3 * K :])}
        return loss_fn(qq, rr, y)

    assert torch.autograd.gradcheck(f, tuple(flat), eps=1e-6, atol=1e-5)


# --- DDP: the gathered loss on each rank equals the single-process loss on the whole batch


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


DDP_LOSSES = ["infonce", "soft_triplet", "soft_triplet_hard", "semi_soft_triplet"]


def _ddp_worker(rank, world, port, q, r, y, out):
    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        B = q.shape[0] // world
        sl = slice(rank * B, (rank + 1) * B)
        for name in DDP_LOSSES:
            ql = q[sl].clone().requires_grad_(True)
            rl = r[sl].clone().requires_grad_(True)
            loss = create_loss(name).double()(ql, rl, y[sl])
            loss.backward()
            # all_gather_with_local_grad scales the local gradient by the world size so that
            # DDP's average over ranks gives the exact gradient: undo it here to compare.
            out[(rank, name)] = (loss.item(), ql.grad / world, rl.grad / world)
    finally:
        dist.destroy_process_group()


def test_ddp_gathered_loss_equals_single_process():
    """2 gloo processes, each with half the batch: same loss and gradients as one process."""
    import torch.multiprocessing as mp

    q, r, y = _batch(8, 4, seed=5)
    with mp.Manager() as m:
        out = m.dict()
        mp.spawn(_ddp_worker, args=(2, _free_port(), q, r, y, out), nprocs=2, join=True)
        res = dict(out)
    for name in DDP_LOSSES:
        full_q, full_r = q.clone().requires_grad_(True), r.clone().requires_grad_(True)
        ref = create_loss(name).double()(full_q, full_r, y)
        ref.backward()
        for rank in range(2):
            loss, gq, gr = res[(rank, name)]
            assert loss == pytest.approx(ref.item(), rel=1e-12), name
            sl = slice(rank * 4, (rank + 1) * 4)
            torch.testing.assert_close(gq, full_q.grad[sl])
            torch.testing.assert_close(gr, full_r.grad[sl])


@pytest.mark.parametrize("mining", ["hard", "all"])
def test_batch_triplet_without_a_negative_is_zero_not_nan(mining):
    from cvgl_core.losses import batch_triplet

    feats = torch.randn(4, 8, requires_grad=True)
    value = batch_triplet(feats, torch.zeros(4, dtype=torch.long), torch.arange(2), 0.3, mining)
    value.backward()
    assert value.item() == 0.0 and torch.isfinite(feats.grad).all()
