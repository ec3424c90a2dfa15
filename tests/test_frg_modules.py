"""FRG's modules (MC_GRA, MixVPR), deformable-conv FLOPs, and the `frg` model."""

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode
from torchvision.ops import DeformConv2d

from cvgl_core.models import create_model
from cvgl_core.models.flops import count_flops, deform_conv2d_flops
from cvgl_core.models.frg import FRG_ATTENTION
from cvgl_core.models.mc_gra import MCGRA
from cvgl_core.models.mixvpr import MixVPR

SMALL_MIXVPR = {"out_channels": 32, "out_rows": 2}


def _perturb(module, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if not name.startswith(("conv3.offset", "conv5.offset")):
                p.add_(0.3 * torch.randn(p.shape, generator=g))


# ---- MC_GRA ------------------------------------------------------------------------------


def test_zero_offsets_make_the_deformable_branch_a_standard_conv():
    torch.manual_seed(0)
    deform = MCGRA(32, (5, 7), deformable=True).eval()
    _perturb(deform)  # every weight but the (zero) offset convs
    standard = MCGRA(32, (5, 7), deformable=False).eval()
    missing, unexpected = standard.load_state_dict(deform.state_dict(), strict=False)
    assert not missing and all(".offset." in k for k in unexpected)
    x = torch.randn(2, 32, 5, 7)
    torch.testing.assert_close(deform.context(x), standard.context(x))
    torch.testing.assert_close(deform(x), standard(x))
    # Non-zero offsets do move the sampling points.
    with torch.no_grad():
        deform.conv3.offset.bias.fill_(0.5)
    assert not torch.allclose(deform.context(x), standard.context(x))


@pytest.mark.parametrize("deformable", [True, False])
@pytest.mark.parametrize("options", [{}, {"pool_fusion": "concat", "pos_encoding": "sine"}])
def test_mc_gra_gates_shape_and_gradient_on_odd_sizes(deformable, options):
    torch.manual_seed(0)
    module = MCGRA(48, (5, 7), deformable=deformable, context_channels=2, **options)
    x = torch.randn(2, 48, 5, 7, requires_grad=True)
    y = module(x)
    assert y.shape == x.shape
    a = module.last_gate
    assert a.shape == (2, 1, 5, 7) and ((a > 0) & (a < 1)).all()
    torch.testing.assert_close(y.detach(), a * x.detach())  # eq. (13)
    y.sum().backward()
    assert torch.isfinite(x.grad).all()
    assert all(p.grad is not None for n, p in module.named_parameters() if "offset" not in n)


def test_mc_gra_relation_branch_rejects_other_feature_size():
    module = MCGRA(32, (7, 39))
    with pytest.raises(ValueError, match=r"built for a 7 x 39 feature map .* got 7 x 38"):
        module(torch.randn(1, 32, 7, 38))


def test_mc_gra_relation_embeds_rows_and_columns_separately():
    """Eq. (10): S = (U'', U'''); the grouped 1x1 conv sees R(i,:) and R(:,i) apart."""
    module = MCGRA(32, (4, 4), reduction=8)
    conv = module.relation.embed[0]
    assert conv.groups == 2 and conv.in_channels == 32 and conv.out_channels == 4


# ---- MixVPR ------------------------------------------------------------------------------


def test_mixvpr_dimension_normalisation_and_projections():
    torch.manual_seed(0)
    mix = MixVPR(16, (3, 5), out_channels=8, out_rows=3, mix_depth=4)
    y = mix(torch.randn(2, 16, 3, 5))
    assert y.shape == (2, 8 * 3) and mix.out_dim == 24
    torch.testing.assert_close(y.norm(dim=1), torch.ones(2))
    lin = mix.mix[0].mix[1]
    assert lin.in_features == lin.out_features == 15  # mlp ratio 1 over n = h * w
    assert lin.bias.abs().max() == 0 and 0.015 < lin.weight.std() < 0.025  # trunc-normal(0.02)
    # Without mixers the descriptor is L2(W_r (W_d F^T)^T), eqs. (15)-(16).
    plain = MixVPR(16, (3, 5), out_channels=8, out_rows=3, mix_depth=0)
    x = torch.randn(2, 16, 3, 5)
    z = plain.channel_proj.weight @ x.flatten(2) + plain.channel_proj.bias[:, None]  # (B, d, n)
    o = z @ plain.row_proj.weight.T + plain.row_proj.bias  # (B, d, r)
    torch.testing.assert_close(plain(x), torch.nn.functional.normalize(o.flatten(1)))
    with pytest.raises(ValueError, match=r"built for a 3 x 5 feature map .* got 4 x 5"):
        mix(torch.randn(1, 16, 4, 5))


# ---- FLOPs -------------------------------------------------------------------------------


def test_deform_conv_flops_match_the_hand_count():
    conv = DeformConv2d(2, 3, 3, padding=1)
    x, offset = torch.randn(2, 2, 5, 7), torch.zeros(2, 18, 5, 7)
    # by hand: conv 2 * B * C_out * H_o * W_o * C_in * 9 = 2 * 2 * 3 * 35 * 2 * 9 = 7560,
    # sampling 8 * B * C_in * H_o * W_o * 9 = 8 * 2 * 2 * 35 * 9 = 10080
    assert count_flops(conv, x, offset) == 7560 + 10080
    assert deform_conv2d_flops((2, 2, 5, 7), (3, 2, 3, 3), (2, 3, 5, 7)) == 17640
    # DCNv2 mask: + B * C_in * H_o * W_o * 9 = 1260
    assert count_flops(conv, x, offset, torch.ones(2, 9, 5, 7)) == 17640 + 1260
    # torch alone counts the deformable conv as zero: why the formula is registered.
    with FlopCounterMode(display=False) as plain:
        conv(x, offset)
    assert plain.get_total_flops() == 0


def test_mc_gra_deformable_costs_offsets_and_sampling_on_top_of_standard():
    x = torch.randn(2, 32, 5, 7)
    deform, standard = MCGRA(32, (5, 7)), MCGRA(32, (5, 7), deformable=False)
    n = 2 * 35  # B * H * W, one input channel after channel pooling
    offsets = 2 * n * 18 * 9 + 2 * n * 50 * 25  # the offset convs (ordinary convs)
    sampling = 8 * n * 9 + 8 * n * 25  # bilinear sampling of the 3x3 and 5x5 kernels
    assert count_flops(deform, x) - count_flops(standard, x) == offsets + sampling


# ---- the model ---------------------------------------------------------------------------


def _frg(**kw):
    kw = {"backbone": "resnet18", "input_size": (32, 96), "mixvpr_kwargs": SMALL_MIXVPR, **kw}
    return create_model("frg", **kw)


@pytest.mark.parametrize(
    "attention,deformable", [(a, True) for a in FRG_ATTENTION] + [("mc_gra", False)]
)
def test_frg_table_cells_build_and_backprop(attention, deformable):
    torch.manual_seed(0)
    model = _frg(attention=attention, deformable=deformable)
    assert set(model.branches) == {"ground", "aerial"}
    assert model.out_dim == 64 and model.branches["ground"].feature_hw == (2, 6)
    ground, aerial = torch.randn(2, 3, 32, 96), torch.randn(2, 3, 32, 96)
    loss = (model(ground, view="ground") * model(aerial, view="satellite")).sum()
    loss.backward()
    for branch in model.branches.values():
        assert branch.backbone.body.conv1.weight.grad is not None
    model.eval()
    with torch.no_grad():
        g, s = model(ground, view="ground"), model(ground, view="satellite")
    assert g.shape == (2, 64)
    torch.testing.assert_close(g.norm(dim=1), torch.ones(2))
    assert not torch.allclose(g, s)  # separate weights per view


def test_frg_shared_weights_and_per_view_sizes():
    shared = _frg(share_weights=True).eval()
    assert set(shared.branches) == {"shared"}
    x = torch.randn(1, 3, 32, 96)
    with torch.no_grad():
        torch.testing.assert_close(shared(x, view="ground"), shared(x, view="satellite"))
    # VIGOR without polar transform: square aerial images, panoramas as before.
    model = _frg(input_size={"ground": (32, 96), "satellite": (48, 48)}).eval()
    assert model.branches["aerial"].feature_hw == (3, 3)
    assert model(torch.randn(1, 3, 48, 48), view="satellite").shape == (1, 64)
    ground_only = _frg(input_size={"ground": (32, 96)}, attention="none")
    with pytest.raises(KeyError, match="no FRG branch for view 'satellite'"):
        ground_only(torch.randn(1, 3, 32, 96), view="satellite")
    with pytest.raises(ValueError, match="built for a 3 x 3 feature map"):
        model(torch.randn(1, 3, 32, 96), view="satellite")
    with pytest.raises(KeyError, match="unknown FRG attention 'se'"):
        _frg(attention="se")


def test_frg_checkpoint_per_branch(tmp_path):
    """A backbone state dict for one branch only (e.g. a ground backbone trained elsewhere)."""
    torch.manual_seed(0)
    donor = _frg()
    path = tmp_path / "ground.pt"
    torch.save(donor.branches["ground"].backbone.body.state_dict(), path)
    torch.manual_seed(1)
    model = _frg(checkpoint={"ground": str(path)})
    ground, aerial = (model.branches[b].backbone.body.conv1.weight for b in ("ground", "aerial"))
    torch.testing.assert_close(ground, donor.branches["ground"].backbone.body.conv1.weight)
    assert not torch.allclose(aerial, donor.branches["aerial"].backbone.body.conv1.weight)
    with pytest.raises(KeyError, match=r"unknown FRG branch\(es\) \['drone'\]"):
        _frg(checkpoint={"drone": str(path)})


def test_branch_costs_count_the_deformable_offsets_and_sampling_by_hand():
    from cvgl_core.models.frg import branch_costs

    kw = {"backbone": "resnet18", "mixvpr_kwargs": SMALL_MIXVPR}
    d, s = branch_costs((32, 96), **kw), branch_costs((32, 96), deformable=False, **kw)
    assert d["feature map"] == s["feature map"] == "256x2x6"  # resnet18 layer3: stride 16
    # one pooled input channel: offset convs 1 -> 18 (3x3) and 1 -> 50 (5x5), with biases
    assert d["MC_GRA params"] - s["MC_GRA params"] == (18 * 9 + 18) + (50 * 25 + 50)
    n = 2 * 6  # feature positions of one image
    extra = 2 * n * 18 * 9 + 2 * n * 50 * 25 + 8 * n * (9 + 25)  # offset convs + sampling
    assert (d["MC_GRA MFLOPs"] - s["MC_GRA MFLOPs"]) * 1e6 == pytest.approx(extra)
    assert (d["branch GFLOPs"] - s["branch GFLOPs"]) * 1e9 == pytest.approx(extra)
    assert d["branch GFLOPs"] * 1e3 > d["MC_GRA MFLOPs"] > 0
