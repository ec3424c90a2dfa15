"""LRFR's modules (GSRA, SALAD, NetVLAD, the attention zoo) and the `lrfr` model."""

import pytest
import torch

from cvgl_core.models import create_model
from cvgl_core.models.attention import ATTENTION, create_attention
from cvgl_core.models.attention.eca import eca_kernel_size
from cvgl_core.models.attention.gsra import GSRA
from cvgl_core.models.backbones import create_backbone
from cvgl_core.models.flops import count_parameters
from cvgl_core.models.lrfr import attention_cost
from cvgl_core.models.netvlad import NetVLAD
from cvgl_core.models.relation import SpatialRelation
from cvgl_core.models.salad import SALAD, log_optimal_transport

ZOO = ("none", "cbam", "ca", "eca", "ema", "gsra")  # LRFR's Table III rows


# ---- SALAD -------------------------------------------------------------------------------


def _plan(scores, iters):
    return log_optimal_transport(scores, torch.tensor(1.0), iters).exp()  # (B, m + 1, n)


def test_sinkhorn_marginals():
    """MODULES.md marginals, scaled by n + m: each feature column carries mass 1, each
    cluster row mass 1 and the dustbin row n - m.

    Each iteration ends with the v (column) update, so the columns hold exactly after any
    number of iterations; the rows were exact only before that last v update, so after 3
    iterations they are close, not exact, and converge as iterations grow.
    """
    torch.manual_seed(0)
    b, m, n = 2, 4, 10
    scores = torch.randn(b, m, n)
    row_target = torch.tensor([1.0] * m + [n - m])
    for iters in (1, 3):
        p = _plan(scores, iters)
        torch.testing.assert_close(p.sum(1), torch.ones(b, n), atol=1e-5, rtol=0)
    assert (_plan(scores, 1).sum(2) - row_target).abs().max() > 1e-2  # not converged yet
    assert (_plan(scores, 3).sum(2) - row_target).abs().max() < 2e-2  # 3 iterations: close
    torch.testing.assert_close(
        _plan(scores, 200).sum(2), row_target.expand(b, -1), atol=1e-4, rtol=0
    )


def test_salad_plan_drops_dustbin_and_aggregates_by_einsum():
    torch.manual_seed(0)
    salad = SALAD(16, num_clusters=5, cluster_dim=6, hidden=8).eval()
    x = torch.randn(2, 16, 3, 4)
    p = salad.transport_plan(x)
    assert p.shape == (2, 5, 12)
    assert (p.sum(1) <= 1 + 1e-5).all()  # the rest of each feature's mass is in the dustbin
    # The einsum equals the original's broadcast-and-sum over [B, l, m, n].
    f = salad.cluster_features(x).flatten(2)
    v = (f[:, :, None, :] * p[:, None, :, :]).sum(-1)  # (B, l, m)
    expect = torch.nn.functional.normalize(torch.nn.functional.normalize(v, dim=1).flatten(1))
    torch.testing.assert_close(salad(x), expect)
    assert salad(x).shape == (2, 30) and salad.out_dim == 30


def test_salad_token_option():
    salad = SALAD(16, num_clusters=5, cluster_dim=6, hidden=8, token_dim=7).eval()
    y = salad(torch.randn(2, 16, 3, 4))
    assert y.shape == (2, 37) and salad.out_dim == 37
    torch.testing.assert_close(y.norm(dim=1), torch.ones(2))


def test_salad_needs_more_features_than_clusters():
    salad = SALAD(16, num_clusters=9, cluster_dim=4, hidden=8)
    with pytest.raises(ValueError, match=r"n = 9 <= m = 9 clusters"):
        salad(torch.randn(1, 16, 3, 3))
    with pytest.raises(ValueError, match=r"4 x 4 = 16 features <= 128 clusters"):
        create_model("lrfr", backbone="convnext_atto", input_size=(64, 64))


# ---- NetVLAD -----------------------------------------------------------------------------


def test_netvlad_matches_residual_loop():
    torch.manual_seed(0)
    vlad = NetVLAD(8, num_clusters=3)
    x = torch.randn(2, 8, 3, 5)
    xn = torch.nn.functional.normalize(x, dim=1).flatten(2)  # (B, C, n)
    a = torch.softmax(vlad.conv.weight[:, :, 0, 0] @ xn, dim=1)  # (B, K, n)
    v = torch.stack(
        [((xn - vlad.centroids[k][None, :, None]) * a[:, k : k + 1]).sum(-1) for k in range(3)], 1
    )  # (B, K, C) residuals
    expect = torch.nn.functional.normalize(torch.nn.functional.normalize(v, dim=2).flatten(1))
    torch.testing.assert_close(vlad(x), expect)
    assert vlad.out_dim == 24


def test_netvlad_centroid_scale_option():
    """The authors' uniform [0, 1) centroids dwarf unit-norm features, so two unrelated inputs
    start with nearly one descriptor; scaled-down centroids keep them apart."""
    torch.manual_seed(0)
    authors = NetVLAD(160, num_clusters=8)
    torch.manual_seed(0)
    small = NetVLAD(160, num_clusters=8, centroid_scale=0.01)
    torch.testing.assert_close(small.centroids, 0.01 * authors.centroids)
    assert 0 <= authors.centroids.min() and authors.centroids.max() < 1
    x = torch.randn(2, 160, 4, 4)
    cos = {name: (m(x)[0] @ m(x)[1]).item() for name, m in (("authors", authors), ("small", small))}
    assert cos["authors"] > 0.95 and cos["small"] < 0.5


# ---- relation and GSRA -------------------------------------------------------------------


def test_relation_stacks_rows_then_columns():
    torch.manual_seed(0)
    rel = SpatialRelation(4, (2, 3), 3, widths=(2, 1)).eval()
    x = torch.randn(1, 4, 2, 3)
    r = rel.affinity(x)[0]  # (6, 6)
    s = rel.stacked(x)[0].flatten(1)  # (12, 6): channel, position
    for i in range(6):
        torch.testing.assert_close(s[:6, i], r[i, :])  # R(i, :)
        torch.testing.assert_close(s[6:, i], r[:, i])  # R(:, i)


def test_relation_branch_rejects_other_feature_size():
    gsra = GSRA(64, feature_hw=(4, 4))
    with pytest.raises(ValueError, match=r"built for a 4 x 4 feature map .* got 5 x 7"):
        gsra(torch.randn(1, 64, 5, 7))
    with pytest.raises(ValueError, match="GSRA needs feature_hw"):
        GSRA(64)


def test_gsra_equals_its_definition_per_group():
    """Recompute each group on its own (weights are shared) and undo the channel shuffle."""
    torch.manual_seed(0)
    c, groups, h, w = 24, 4, 3, 5
    gsra = GSRA(c, (h, w), groups=groups).eval()
    for mod in gsra.modules():  # non-trivial BN statistics
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.5, 0.5)
            mod.running_var.uniform_(0.5, 2.0)
    x = torch.randn(2, c, h, w)
    y = gsra(x)
    cg = c // groups
    for gi in range(groups):
        g = x[:, gi * cg : (gi + 1) * cg]
        f = gsra.conv1x1(torch.cat([g.mean(3, keepdim=True), g.mean(2, keepdim=True).mT], 2))
        gate = f[:, :, :h].sigmoid() * f[:, :, h:].mT.sigmoid()
        gate = gate * gsra.relation.embed(gsra.relation.stacked(g)).sigmoid()
        expect = gsra.gn(g * gate)
        torch.testing.assert_close(y[:, gi::groups], expect)  # shuffled: channel j * G + gi


def test_gsra_parameter_overhead():
    """Measured against ConvNeXt-T cut after stage 3 (12.35 M parameters).

    The grouped part (coordinate 1x1 conv, theta, phi, GroupNorm: 516 weights) is
    negligible; the relation embedding (2N -> N/2 -> 1, N = h * w) costs N^2 + 1.5 N + 2.
    So GSRA adds < 1 % up to 16 x 16 features (256 px inputs), but 2.1 % at 256 x 512
    (CVUSA) and 2.7 % at 384 x 384 (University-1652). With SALAD the 256 x 512 model has
    13.10 M parameters, the 13.1 "MB" of the paper's Table II.
    """
    backbone = count_parameters(create_backbone("convnext_tiny", out_indices=(2,)))
    assert backbone == 12_348_000

    def gsra(hw):
        g = GSRA(384, hw)
        n = hw[0] * hw[1]
        assert count_parameters(g.relation.embed) == n * n + n + n // 2 + 2
        assert count_parameters(g) - count_parameters(g.relation.embed) == 516
        return count_parameters(g)

    assert 516 / backbone < 1e-4
    assert gsra((16, 16)) / backbone < 0.01
    assert 0.021 < gsra((16, 32)) / backbone < 0.022
    assert 0.026 < gsra((24, 24)) / backbone < 0.028
    salad = count_parameters(SALAD(384, num_clusters=128, cluster_dim=64))
    assert round((backbone + gsra((16, 32)) + salad) / 1e6, 2) == 13.10
    # the notebook's summary of the same counts (a model on the meta device)
    cost = attention_cost("convnext_tiny", (256, 512))
    assert cost["features"] == "16x32" and cost["backbone params"] == backbone
    assert cost["GSRA params"] == gsra((16, 32))
    assert cost["GSRA / backbone %"] == round(100 * gsra((16, 32)) / backbone, 3)
    assert attention_cost("convnext_tiny", (384, 384))["features"] == "24x24"


# ---- the attention zoo -------------------------------------------------------------------


@pytest.mark.parametrize("hw", [(5, 7), (1, 9), (3, 3)])
@pytest.mark.parametrize("name", ZOO)
def test_attention_zoo_shape_and_gradient_on_odd_sizes(name, hw):
    torch.manual_seed(0)
    module = create_attention(name, 64, feature_hw=hw)
    x = torch.randn(2, 64, *hw, requires_grad=True)
    y = module(x)
    assert y.shape == x.shape
    (y * torch.randn_like(y)).sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    for p in module.parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all()


def test_zoo_is_registered_and_eca_kernel_is_adaptive():
    assert set(ZOO) <= set(ATTENTION.names())
    assert eca_kernel_size(384) == 5  # |(log2 384 + 1) / 2| = 4 -> next odd
    assert eca_kernel_size(16) == 3 and eca_kernel_size(1024) == 5 and eca_kernel_size(4096) == 7


def test_cbam_authors_variant_is_residual():
    torch.manual_seed(0)
    cbam = create_attention("cbam", 32, residual=True, spatial_bn=False, mlp_bias=False)
    plain = create_attention("cbam", 32, spatial_bn=False, mlp_bias=False)
    plain.load_state_dict(cbam.state_dict())
    x = torch.randn(2, 32, 5, 7)
    torch.testing.assert_close(cbam(x), plain(x) + x)


# ---- the model ---------------------------------------------------------------------------

CELLS = [(a, "netvlad") for a in ZOO] + [("none", "salad"), ("gsra", "salad"), ("gsra", "gem")]


@pytest.mark.parametrize("attention,aggregator", CELLS)
def test_lrfr_table_cells_build_and_backprop(attention, aggregator):
    torch.manual_seed(0)
    model = create_model(
        "lrfr", backbone="convnext_atto", attention=attention, aggregator=aggregator,
        input_size=(64, 64), num_clusters=8, cluster_dim=16,
    )  # fmt: skip
    assert model.feature_hw == (4, 4)
    dims = {"netvlad": 8 * 160, "salad": 8 * 16, "gem": 160}
    assert model.out_dim == dims[aggregator]
    x = torch.randn(2, 3, 64, 64)
    model.train()
    y = model(x, view="drone")
    assert y.shape == (2, model.out_dim)
    y.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    model.eval()
    with torch.no_grad():
        g, s = model(x, view="satellite"), model(x, view="ground")
    torch.testing.assert_close(g.norm(dim=1), torch.ones(2))
    torch.testing.assert_close(g, s)  # one set of weights for every view


def test_lrfr_sizes_are_declared():
    model = create_model(
        "lrfr", backbone="convnext_atto", input_size={"drone": (64, 64), "satellite": (64, 64)},
        num_clusters=8, cluster_dim=16,
    )  # fmt: skip
    assert model.feature_size_for((96, 160)) == (6, 10)
    with pytest.raises(ValueError, match="built for a 4 x 4 feature map .* got 6 x 6"):
        model(torch.randn(1, 3, 96, 96), view="drone")
    with pytest.raises(ValueError, match="one feature size"):
        create_model(
            "lrfr", backbone="convnext_atto", input_size={"drone": (64, 64), "ground": (64, 128)},
            num_clusters=8,
        )  # fmt: skip
    with pytest.raises(ValueError, match="unknown view 'aerial'"):
        model(torch.randn(1, 3, 64, 64), view="aerial")
    with pytest.raises(KeyError, match="unknown LRFR aggregator 'vlad'"):
        create_model("lrfr", backbone="convnext_atto", aggregator="vlad", input_size=(64, 64))
