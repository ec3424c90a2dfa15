"""GLQINet: QIM stripe pooling, IGLAM variants, heads and descriptor (paper 5)."""

import math

import pytest
import torch
import torch.nn.functional as F

from cvgl_core.models import create_model
from cvgl_core.models.iglam import IGLAM
from cvgl_core.models.qim import QIM, band_weights

SHAPES = [(5, 5), (4, 7), (6, 3), (1, 4)]


@pytest.mark.parametrize("hw", SHAPES)
@pytest.mark.parametrize("mode", ["bands", "wrapped"])
def test_one_stripe_is_global_average_pooling(hw, mode):
    x = torch.randn(2, 3, *hw)
    out = QIM(t=1, diagonal_mode=mode)(x)  # (B, 4, 1, C)
    assert out.shape == (2, 4, 1, 3)
    for d in range(4):
        torch.testing.assert_close(out[:, d, 0], x.mean(dim=(2, 3)))


@pytest.mark.parametrize("hw", SHAPES)
@pytest.mark.parametrize("t", [1, 2, 3, 4, 8])
def test_horizontal_and_vertical_match_adaptive_pooling(hw, t):
    x = torch.randn(2, 3, *hw)
    out = QIM(t=t)(x)
    torch.testing.assert_close(out[:, 0], F.adaptive_avg_pool2d(x, (t, 1)).flatten(2).mT)
    torch.testing.assert_close(out[:, 1], F.adaptive_avg_pool2d(x, (1, t)).flatten(2).mT)


@pytest.mark.parametrize("hw", SHAPES)
def test_one_diagonal_per_stripe_is_constant(hw):
    h, w = hw
    i, j = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    n = h + w - 1  # number of diagonals: one per stripe
    diag = (i - j).float().expand(1, 1, h, w)
    anti = (i + j).float().expand(1, 1, h, w)
    # Every stripe holds one value of i - j (i + j): its mean is that value, in order.
    torch.testing.assert_close(QIM(t=n)(diag)[0, 2, :, 0], torch.arange(-(w - 1), h).float())
    torch.testing.assert_close(QIM(t=n)(anti)[0, 3, :, 0], torch.arange(0, n).float())


@pytest.mark.parametrize("hw", SHAPES)
@pytest.mark.parametrize("t", [2, 3, 4])
def test_diagonal_bands_follow_i_minus_j(hw, t):
    h, w = hw
    i, j = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    weights = band_weights(h, w, t)  # (4, t, H*W)
    for d, key in ((2, (i - j)), (3, (i + j))):
        key = key.reshape(-1)
        member = weights[d] > 0  # (t, H*W)
        # Membership depends on the cell only through i - j (i + j).
        for k in range(t):
            for v in key.unique():
                assert member[k, key == v].all() or not member[k, key == v].any()
        # Bands are contiguous, ordered ranges of the key covering every cell.
        lo = torch.stack([key[m].min() for m in member])
        hi = torch.stack([key[m].max() for m in member])
        assert (lo[1:] >= lo[:-1]).all() and (hi[1:] >= hi[:-1]).all()
        assert member.any(dim=0).all()
        # Pooling averages exactly the member cells (checked by an independent loop).
        x = torch.randn(1, 2, h, w)
        out = QIM(t=t)(x)[0, d]  # (t, C)
        for k in range(t):
            torch.testing.assert_close(out[k], x.flatten(2)[0][:, member[k]].mean(dim=1))


def test_wrapped_diagonals_hold_n_cells_each_on_a_square_map():
    n = 6
    i, j = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    weights = band_weights(n, n, n, "wrapped")
    assert ((weights[2] > 0).sum(dim=1) == n).all()  # eq. (4): 1/n sum over n cells
    x = ((j - i) % n).float().expand(1, 1, n, n)
    out = QIM(t=n, diagonal_mode="wrapped")(x)[0, 2, :, 0]
    torch.testing.assert_close(out, torch.arange(n).float())


def _attention_by_hand(attn, q_src, kv_src):
    q, k, v = attn.q(q_src), attn.k(kv_src), attn.v(kv_src)
    a = torch.softmax(q @ k.mT / math.sqrt(q.shape[-1]), dim=-1)
    return a @ v


def test_merged_attention_with_empty_local_set_is_attention_over_global_tokens():
    torch.manual_seed(0)
    m = IGLAM(8, "merged").eval()
    q, glob = torch.randn(2, 3, 8), torch.randn(2, 5, 8)
    empty = q[:, :0]
    out = m(empty, glob, queries=q)
    torch.testing.assert_close(out, _attention_by_hand(m.attn, q, glob))
    # With the local set present, K and V come from [local; global] (eqs. 7-8).
    torch.testing.assert_close(m(q, glob), _attention_by_hand(m.attn, q, torch.cat([q, glob], 1)))


def test_iglam_variants_against_their_definitions():
    torch.manual_seed(0)
    local, glob = torch.randn(2, 3, 8), torch.randn(2, 5, 8)
    cross = IGLAM(8, "cross")
    torch.testing.assert_close(cross(local, glob), _attention_by_hand(cross.attn, local, glob))
    self_ = IGLAM(8, "self")
    seq = torch.cat([local, glob], 1)
    torch.testing.assert_close(self_(local, glob), _attention_by_hand(self_.attn, seq, seq)[:, :3])
    co = IGLAM(8, "co")
    y = _attention_by_hand(co.attn, local, glob)
    torch.testing.assert_close(co(local, glob), _attention_by_hand(co.attn2, y, y))
    unscaled = IGLAM(8, "cross", scaled=False)
    a = unscaled.attn
    expect = torch.softmax(a.q(local) @ a.k(glob).mT, dim=-1) @ a.v(glob)  # eq. (9) literally
    torch.testing.assert_close(unscaled(local, glob), expect)
    assert IGLAM(8, "merged", num_heads=2)(local, glob).shape == (2, 3, 8)


def _model(**kw):
    kw = {"num_classes": 5, "backbone": "convnext_atto", "head_dim": 16, **kw}
    return create_model("glqinet", **kw)


@pytest.mark.parametrize("t,global_head,heads", [(4, False, 16), (2, False, 8), (4, True, 17)])
def test_descriptor_is_heads_times_head_dim_and_unit_norm(t, global_head, heads):
    torch.manual_seed(0)
    model = _model(t=t, global_head=global_head).eval()
    with torch.no_grad():
        d = model(torch.randn(2, 3, 64, 64), view="drone")
    assert d.shape == (2, heads * 16) == (2, model.descriptor_dim)
    torch.testing.assert_close(d.norm(dim=1), torch.ones(2))


def test_default_descriptor_is_16_x_512():
    model = create_model("glqinet", num_classes=5, backbone="convnext_atto").eval()
    with torch.no_grad():
        d = model(torch.randn(1, 3, 64, 64), view="satellite")
    assert d.shape == (1, 16 * 512)


@pytest.mark.parametrize(
    "kw",
    [
        {"interaction": "self"},
        {"interaction": "cross"},
        {"interaction": "co"},
        {"interaction": "merged"},
        {"use_qim": False, "use_iglam": False},  # baseline
        {"use_qim": True, "use_iglam": False},
        {"use_qim": False, "use_iglam": True},
        {"backbone": "resnet18", "t": 2},  # the ResNet path of Table 4
    ],
)
def test_every_variant_trains_one_step(kw):
    torch.manual_seed(0)
    model = _model(**kw).train()
    out = model(torch.randn(2, 3, 64, 64), view="drone")
    n = model.num_features
    assert len(out["logits"]) == len(out["features"]) == n
    assert out["logits"][0].shape == (2, 5) and out["features"][0].shape == (2, 16)
    loss = sum(F.cross_entropy(lg, torch.tensor([0, 1])) for lg in out["logits"]) / n
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert any(p.grad.abs().sum() > 0 for p in model.backbone.parameters())


def test_unknown_options_are_named():
    with pytest.raises(KeyError, match="unknown IGLAM variant 'mixed'"):
        _model(interaction="mixed")
    with pytest.raises(KeyError, match="diagonal_mode"):
        _model(diagonal_mode="spiral")
    with pytest.raises(ValueError, match="unknown view 'aerial'"):
        _model().eval()(torch.randn(1, 3, 64, 64), view="aerial")


def test_self_attention_with_the_local_positions_kept_is_merged_attention():
    """Found while writing notebook 05: 'self' over [local; global] keeping the local outputs
    computes eqs. (7)-(9) exactly, so Table 1's self and merged rows are one function; the
    notebook reuses the merged run for the self row. Fails if 'self' is ever made to differ."""
    torch.manual_seed(0)
    merged, self_ = IGLAM(8, "merged"), IGLAM(8, "self")
    self_.load_state_dict(merged.state_dict())
    local, glob = torch.randn(2, 3, 8), torch.randn(2, 5, 8)
    torch.testing.assert_close(self_(local, glob), merged(local, glob))
