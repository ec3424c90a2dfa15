"""Losses of the five papers, one registry: `create_loss(name, **kw)`, called `loss(q, r, labels)`.

`q`, `r`: what the model returns in train mode for a batch of queries and their references
(a (B, D) descriptor tensor for the metric losses; a dict of per-head logits and features
for GLQINet's). `labels`: (B,) location/class ids; a query and a reference with the same
label are a positive pair, with different labels a negative one (in the usual one-to-one
batch the positives are the diagonal).

Under DDP the metric losses gather the descriptors of all ranks
(`training.distributed.all_gather_with_local_grad`) and compute the loss over the whole
global batch, so every rank sees every negative and the loss equals the single-process loss
on the concatenated batch.

| name | used by | definition |
|---|---|---|
| infonce | MFRGN, Sample4Geo | symmetric InfoNCE, label smoothing, learnable 1/tau |
| soft_triplet | FRG, AWM | log(1+exp(a(d_p-d_n))) over all 2B(B-1) triplets |
| soft_triplet_hard | AWM | same, hardest positive and negative per anchor |
| semi_soft_triplet | LRFR | same on 2-2cos, LRFR's "semi-hard" negative per anchor |
| ce_triplet | GLQINet | CE + margin-0.3 triplet per head, eq. (13) |

Pairwise models (AWM's correlation / DSM modes, `model.pairwise`): their outputs are packed
records whose similarity is not a dot product. infonce and the three soft-margin triplets take
`similarity=` (a callable (q [B, Dq], r [B, Dr]) -> (B, B) cosine similarities; at
construction, or set `loss.similarity` later; the Trainer sets it to `model.similarity`).
The records are then used as they are (no renormalisation, Dq may differ from Dr) and the
distances come from the similarity s, assuming it is the cosine of unit vectors:
euclidean d = sqrt(2 - 2s), squared and cosine d = 2 - 2s. Records cannot be gathered across
ranks (different lengths, packed): with similarity set, gather under DDP raises.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from cvgl_core.training.distributed import (
    all_gather_nograd,
    all_gather_with_local_grad,
    get_world_size,
)
from cvgl_core.utils.registry import Registry

LOSSES = Registry("loss")
register_loss = LOSSES.register


def create_loss(name: str, **kwargs) -> nn.Module:
    """Build a registered loss. An unknown name lists the known ones."""
    return LOSSES.create(name, **kwargs)


def list_losses() -> list[str]:
    return LOSSES.names()


def _check(q: torch.Tensor, r: torch.Tensor, labels: torch.Tensor, pairwise: bool = False):
    if pairwise:  # packed records: lengths may differ, batch sizes may not
        if q.ndim != 2 or r.ndim != 2 or q.shape[0] != r.shape[0]:
            raise ValueError(
                f"loss with a similarity expects (B, Dq) and (B, Dr) records, got "
                f"{tuple(q.shape)} and {tuple(r.shape)}"
            )
    elif q.ndim != 2 or r.ndim != 2 or q.shape != r.shape:
        raise ValueError(
            f"loss expects (B, D) query and reference descriptors, got "
            f"{tuple(q.shape)} and {tuple(r.shape)}"
        )
    if labels.shape != (q.shape[0],):
        raise ValueError(f"labels must have shape ({q.shape[0]},), got {tuple(labels.shape)}")


def _gather(q, r, labels, gather: bool, pairwise: bool = False):
    if not gather or get_world_size() == 1:
        return q, r, labels
    if pairwise:
        raise ValueError(
            "a loss with a pairwise similarity cannot gather packed records across "
            f"{get_world_size()} ranks; train on one process or with gather=False"
        )
    return all_gather_with_local_grad(q), all_gather_with_local_grad(r), all_gather_nograd(labels)


def pairwise_distance(a: torch.Tensor, b: torch.Tensor, kind: str = "euclidean") -> torch.Tensor:
    """(N, D), (M, D) -> (N, M) distances.

    euclidean: ||a - b||_2 (AWM eq. 4-5, FRG); squared: ||a - b||^2, which is 2 - 2 cos for
    unit vectors (the CVM-Net/SAFA code lineage and LRFR's code); cosine: 2 - 2 a.b.
    """
    if kind == "cosine":
        return 2.0 - 2.0 * a @ b.T
    sq = (a * a).sum(1, keepdim=True) + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    sq = sq.clamp_min(0.0)
    if kind == "squared":
        return sq
    if kind == "euclidean":
        # eps keeps the gradient finite at d = 0 (a query identical to its reference)
        return (sq + 1e-12).sqrt()
    raise ValueError(f"unknown distance {kind!r}; known: euclidean, squared, cosine")


def distance_from_similarity(s: torch.Tensor, kind: str = "euclidean") -> torch.Tensor:
    """Distances of `pairwise_distance` from cosine similarities s of unit vectors:
    ||a - b||^2 = 2 - 2 a.b, so squared and cosine give 2 - 2s, euclidean sqrt(2 - 2s)."""
    if kind in ("squared", "cosine"):
        return 2.0 - 2.0 * s
    if kind == "euclidean":
        return (2.0 - 2.0 * s).clamp_min(0.0).add(1e-12).sqrt()
    raise ValueError(f"unknown distance {kind!r}; known: euclidean, squared, cosine")


@register_loss("infonce")
class InfoNCE(nn.Module):
    """Symmetric InfoNCE (MFRGN eq. 1; Sample4Geo): cross-entropy of the cosine-similarity logits
    scale * q.r^T in both directions (query->reference rows, reference->query columns), averaged.

    The logit scale 1/tau is a learnable parameter of the loss, initialised at log(1/0.07) and
    clamped at `max_scale` = 100 (CLIP); the trainer optimises it with the model. Label
    smoothing 0.1 as in MFRGN. With several positives in a batch (same label) the target
    probability is shared equally among them; with unique labels this is the usual diagonal.
    similarity: optional pairwise callable (see the module docstring) giving the cosines.
    """

    def __init__(
        self,
        label_smoothing: float = 0.1,
        temperature: float = 0.07,
        learnable_temperature: bool = True,
        max_scale: float = 100.0,
        gather: bool = True,
        similarity=None,
    ):
        super().__init__()
        self.similarity = similarity
        self.logit_scale = nn.Parameter(
            torch.tensor(math.log(1.0 / temperature)), requires_grad=learnable_temperature
        )
        self.label_smoothing = label_smoothing
        self.max_scale = max_scale
        self.gather = gather

    def forward(self, q: torch.Tensor, r: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        pairwise = self.similarity is not None
        _check(q, r, labels, pairwise)
        if pairwise:
            q, r, labels = _gather(q, r, labels, self.gather, pairwise)
            cos = self.similarity(q, r)  # (N, N)
        else:
            q, r = F.normalize(q, dim=1), F.normalize(r, dim=1)
            q, r, labels = _gather(q, r, labels, self.gather)
            cos = q @ r.T
        scale = self.logit_scale.exp().clamp(max=self.max_scale)
        logits = scale * cos  # (N, N): row i = query i against every reference
        pos = (labels[:, None] == labels[None, :]).to(logits.dtype)  # (N, N)
        target = pos / pos.sum(1, keepdim=True)
        q2r = F.cross_entropy(logits, target, label_smoothing=self.label_smoothing)
        r2q = F.cross_entropy(logits.T, target.T, label_smoothing=self.label_smoothing)
        return 0.5 * (q2r + r2q)


class _SoftMarginBase(nn.Module):
    """similarity: optional pairwise callable (module docstring); d is then derived from it."""

    def __init__(
        self,
        alpha: float = 10.0,
        distance: str = "euclidean",
        gather: bool = True,
        similarity=None,
    ):
        super().__init__()
        self.alpha = alpha
        self.distance = distance
        self.gather = gather
        self.similarity = similarity

    def forward(self, q: torch.Tensor, r: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        pairwise = self.similarity is not None
        _check(q, r, labels, pairwise)
        q, r, labels = _gather(q, r, labels, self.gather, pairwise)
        if pairwise:
            d = distance_from_similarity(self.similarity(q, r), self.distance)  # (N, N)
        else:
            d = pairwise_distance(q, r, self.distance)  # (N, N): query i to reference j
        pos = labels[:, None] == labels[None, :]  # (N, N)
        terms = [self.direction(d, pos), self.direction(d.T, pos.T)]  # q->r anchors, r->q anchors
        return torch.cat(terms).mean()

    def soft_margin(self, d_pos: torch.Tensor, d_neg: torch.Tensor) -> torch.Tensor:
        # log(1 + exp(alpha (d_pos - d_neg))), stable for large arguments
        return F.softplus(self.alpha * (d_pos - d_neg))


@register_loss("soft_triplet")
class SoftMarginTriplet(_SoftMarginBase):
    """Weighted soft-margin triplet over all in-batch triplets (Hu et al., CVM-Net, CVPR 2018),
    as used by FRG (eq. 17, gamma = 10) and AWM (eq. 3, alpha = 10):

        L = log(1 + exp(alpha (d(a, p) - d(a, n))))

    averaged over every (anchor, positive, negative) triplet of the batch in both directions
    (ground anchors against satellite candidates and the reverse): 2B(B-1) triplets for B pairs
    with distinct labels. d is the Euclidean distance of the papers' text (eq. 4-5 of AWM);
    distance="squared" gives the 2 - 2cos of the CVM-Net/SAFA code.
    """

    def direction(self, d: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        a, p = pos.nonzero(as_tuple=True)  # one row per (anchor, positive) pair, P pairs
        diff = self.soft_margin(d[a, p][:, None], d[a])  # (P, N) against every candidate
        return diff[~pos[a]]  # keep negatives only


@register_loss("soft_triplet_hard")
class SoftMarginTripletHard(_SoftMarginBase):
    """Weighted soft-margin triplet with batch-hard mining (Hermans et al. 2017), AWM sec. 4:
    per anchor, the farthest positive and the closest negative of the batch, both directions,
    averaged over anchors. alpha = 10."""

    def direction(self, d: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        has_neg = (~pos).any(1)
        d_pos = d.masked_fill(~pos, float("-inf")).amax(1)  # (N,) hardest positive
        d_neg = d.masked_fill(pos, float("inf")).amin(1)  # (N,) hardest negative
        return self.soft_margin(d_pos, d_neg)[has_neg]


@register_loss("semi_soft_triplet")
class SemiSoftTriplet(_SoftMarginBase):
    """LRFR's soft-margin "semi" triplet (authors' code, `SemiSoftTriHard`), alpha = 10, on
    d = 2 - 2cos, both directions, averaged over anchors:

        per (anchor, positive): among the negatives closer to the anchor than the positive
        (d_n < d_p) take the farthest; if no negative is closer, take the closest negative;
        L = log(1 + exp(alpha (d_p - d_n))).

    Positives are the diagonal only, as in the authors' code (`torch.diag(dist_array)`,
    every off-diagonal entry a negative). A batch in which a label repeats would make
    their loss push a true match apart, so it is refused with a ValueError (use the
    unique_label sampler, as the authors' custom_sampling does).
    """

    def __init__(
        self, alpha: float = 10.0, distance: str = "cosine", gather: bool = True, similarity=None
    ):
        super().__init__(alpha, distance, gather, similarity)

    def direction(self, d: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        # pos is (N, N) over the gathered batch: its diagonal is always true
        if int(pos.sum()) != pos.shape[0]:
            raise ValueError(
                f"semi_soft_triplet: a label repeats in the batch ({pos.shape[0]} pairs, "
                f"{int(pos.sum()) - pos.shape[0]} off-diagonal same-label pairs); LRFR's loss "
                "takes the diagonal as the only positives, so train with "
                "data.sampler=unique_label"
            )
        a, p = pos.nonzero(as_tuple=True)
        d_a = d[a]  # (P, N)
        d_p = d[a, p]  # (P,)
        neg = ~pos[a]  # (P, N)
        closer = neg & (d_a < d_p[:, None])
        farthest_closer = d_a.masked_fill(~closer, float("-inf")).amax(1)
        closest = d_a.masked_fill(~neg, float("inf")).amin(1)
        d_n = torch.where(closer.any(1), farthest_closer, closest)
        return self.soft_margin(d_p, d_n)[neg.any(1)]


def batch_triplet(
    feats: torch.Tensor, labels: torch.Tensor, anchors: torch.Tensor, margin: float, mining: str
) -> torch.Tensor:
    """max(||Fa - Fb|| - ||Fa - Fc|| + M, 0) (GLQINet eq. 12) for the given anchor rows.

    mining="hard": hardest positive and negative per anchor (the FSRA/LPN code GLQINet builds
    on); "all": mean over every valid (a, b, c) triplet. A batch without any valid triplet
    (one label only) gives 0, not the NaN of an empty mean.
    """
    d = pairwise_distance(feats[anchors], feats)  # (A, N)
    same = labels[anchors][:, None] == labels[None, :]
    same[torch.arange(len(anchors)), anchors] = False  # the anchor itself is no positive
    neg = labels[anchors][:, None] != labels[None, :]
    if mining == "hard":
        d_pos = d.masked_fill(~same, float("-inf")).amax(1)
        d_neg = d.masked_fill(~neg, float("inf")).amin(1)
        ok = same.any(1) & torch.isfinite(d_neg)
        if not ok.any():
            return d.sum() * 0.0
        return F.relu(d_pos - d_neg + margin)[ok].mean()
    if mining == "all":
        t = F.relu(d[:, :, None] - d[:, None, :] + margin)  # (A, N_pos, N_neg)
        valid = same[:, :, None] & neg[:, None, :]
        return t[valid].mean() if valid.any() else d.sum() * 0.0
    raise ValueError(f"unknown triplet mining {mining!r}; known: hard, all")


@register_loss("ce_triplet")
class CETriplet(nn.Module):
    """GLQINet eq. (13): L = 1/K sum_k sum_j (L_CE^{jk} + L_triplet^{jk}), j over the two views,
    k over the K feature heads (K = 3 in the paper).

    Inputs per view: a dict {"logits": [K x (B, num_classes)], "features": [K x (B, D)]};
    labels are class ids in [0, num_classes). L_CE (eq. 11) is the cross-entropy of each head's
    logits; L_triplet (eq. 12, margin 0.3) takes anchors from view j and positives/negatives
    from both views of the batch. Computed on the local batch (no cross-rank gather).

    normalise: "heads" divides the sum by the number of heads K (a mean per head, whatever K
    is); "eq13" divides by 3 as eq. (13) prints, whatever K is: with the model's 16 heads
    that is 16 / 3 = 5.3 times the "heads" loss (and gradient).
    """

    def __init__(
        self,
        margin: float = 0.3,
        mining: str = "hard",
        label_smoothing: float = 0.0,
        normalise: str = "heads",
    ):
        super().__init__()
        if normalise not in ("heads", "eq13"):
            raise ValueError(f"ce_triplet normalise must be 'heads' or 'eq13', got {normalise!r}")
        self.normalise = normalise
        self.margin = margin
        self.mining = mining
        self.label_smoothing = label_smoothing

    def forward(self, q: dict, r: dict, labels: torch.Tensor) -> torch.Tensor:
        for name, out in (("query", q), ("reference", r)):
            if not isinstance(out, dict) or not {"logits", "features"} <= set(out):
                raise ValueError(
                    f"ce_triplet expects the {name} output as a dict with 'logits' "
                    f"and 'features' lists (one entry per head), got {type(out)}"
                )
        K = len(q["logits"])
        B = labels.shape[0]
        num_classes = q["logits"][0].shape[1]
        if int(labels.max()) >= num_classes or int(labels.min()) < 0:
            raise ValueError(
                f"ce_triplet: labels must lie in [0, {num_classes}), got "
                f"[{int(labels.min())}, {int(labels.max())}]"
            )
        both = torch.cat([labels, labels])
        anchors_q = torch.arange(B, device=labels.device)
        total = 0.0
        for k in range(K):
            feats = torch.cat([q["features"][k], r["features"][k]])  # (2B, D)
            for j, logits in enumerate((q["logits"][k], r["logits"][k])):
                ce = F.cross_entropy(logits, labels, label_smoothing=self.label_smoothing)
                trip = batch_triplet(feats, both, anchors_q + j * B, self.margin, self.mining)
                total = total + ce + trip
        return total / (K if self.normalise == "heads" else 3)
