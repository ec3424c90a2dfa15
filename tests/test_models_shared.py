"""Backbone wrapper and coordinate attention: shapes, cut points, gates, gradients."""

import pytest
import torch

from cvgl_core.models.attention import create_attention
from cvgl_core.models.attention.ca import CoordAtt
from cvgl_core.models.backbones import create_backbone


def test_convnext_cut_after_third_stage_has_stride_16():
    bb = create_backbone("convnext_atto", out_indices=(2,))
    (f,) = bb(torch.randn(1, 3, 64, 96))
    assert f.shape == (1, bb.channels[0], 4, 6)
    assert bb.reductions == [16]
    # The fourth stage is not built (LRFR's cut).
    assert not any("stages.3" in n for n, _ in bb.named_parameters())


def test_unknown_backbone_is_named():
    with pytest.raises(KeyError, match="unknown backbone 'convnext_tinyy'"):
        create_backbone("convnext_tinyy")


def test_coordinate_attention_equals_its_definition():
    torch.manual_seed(0)
    ca = CoordAtt(16).eval()
    x = torch.randn(2, 16, 5, 7)
    y = ca(x)
    g_h, g_w = ca.last_gates
    assert g_h.shape == (2, 16, 5, 1) and g_w.shape == (2, 16, 1, 7)
    # mip = max(8, 16 // 32) = 8 as in the original code.
    assert ca.conv1.out_channels == 8
    # Recompute the gate at one position by hand from the pooled vectors.
    z_h, z_w = x.mean(3)[0, :, 2], x.mean(2)[0, :, 4]

    def branch(z, conv):
        f = ca.act(ca.bn1(ca.conv1(z.view(1, 16, 1, 1))))
        return torch.sigmoid(conv(f)).flatten()

    expect = x[0, :, 2, 4] * branch(z_h, ca.conv_h) * branch(z_w, ca.conv_w)
    torch.testing.assert_close(y[0, :, 2, 4], expect)


@pytest.mark.parametrize("hw", [(5, 7), (1, 9), (8, 8)])
def test_attention_registry_shape_and_gradient(hw):
    x = torch.randn(2, 32, *hw, requires_grad=True)
    for name in ("none", "ca"):
        y = create_attention(name, 32)(x)
        assert y.shape == x.shape
        y.sum().backward()
        assert torch.isfinite(x.grad).all()


def test_gem_matches_formula_and_reduces_to_mean_at_p1():
    from cvgl_core.models.pooling import GeM

    x = torch.rand(2, 4, 3, 5) + 0.1
    gem = GeM(p=3.0, normalize=False)
    expect = (x**3).mean(dim=(2, 3)) ** (1 / 3)
    torch.testing.assert_close(gem(x), expect)
    torch.testing.assert_close(GeM(p=1.0, normalize=False)(x), x.mean(dim=(2, 3)))
    y = GeM()(x)
    torch.testing.assert_close(y.norm(dim=1), torch.ones(2))
