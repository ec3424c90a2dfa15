"""AWM: ResNet18_CA blocks, FCA windows (incl. wrap-around), FMC descriptor, pairwise modes."""

import copy

import pytest
import timm
import torch
import torch.nn.functional as F

from cvgl_core.models import create_model
from cvgl_core.models.fca import circular_correlation, circular_window_sums, crop_columns
from cvgl_core.models.resnet_ca import BasicBlockCA, ResNet18_CA, resnet_feature_hw

SAT = (32, 128)  # polar satellite; ground 90 deg -> 32 x 32, 70 deg -> 32 x 24


def _awm(**kw):
    torch.manual_seed(0)
    return create_model("awm", satellite_size=SAT, **kw).eval()


def _force_gates(ca, g_w_pattern):
    """Replace CA's gates by g_h = 1 and g_w = the given (W,) pattern on every channel."""

    def gates(x):
        b, c, h, w = x.shape
        return x.new_ones(b, c, h, 1), g_w_pattern.view(1, 1, 1, w).expand(b, c, 1, w)

    ca.gates = gates


def _unit_gates(x):
    b, c, h, w = x.shape
    return x.new_ones(b, c, h, 1), x.new_ones(b, c, 1, w)


def test_block_with_unit_gates_equals_plain_basic_block():
    torch.manual_seed(0)
    net = timm.create_model("resnet18").eval()
    for m in net.modules():  # non-trivial BN (timm zero-initialises bn2's weight)
        if isinstance(m, torch.nn.BatchNorm2d):
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.normal_()
            m.running_mean.normal_()
            m.running_var.uniform_(0.5, 2.0)
    for block in (net.layer1[0], net.layer2[0]):  # without and with a downsampling shortcut
        ca_block = BasicBlockCA(copy.deepcopy(block)).eval()
        ca_block.ca.gates = _unit_gates
        x = torch.randn(2, block.conv1.in_channels, 8, 12)
        torch.testing.assert_close(ca_block(x), block(x))
        torch.testing.assert_close(ca_block.last_mask, torch.ones(2, *block(x).shape[2:]))


def _timm_key(k):
    if k.startswith("stem."):
        return {"0": "conv1", "1": "bn1"}[k.split(".")[1]] + k[6:]
    _, i, rest = k.split(".", 2)
    return f"layer{int(i) + 1}.{rest}"


def test_without_ca_it_is_timm_resnet18():
    torch.manual_seed(0)
    ours = ResNet18_CA(use_ca=False).eval()
    ref = timm.create_model("resnet18").eval()
    state = {_timm_key(k): v for k, v in ours.state_dict().items()}
    missing, unexpected = ref.load_state_dict(state, strict=False)
    assert not unexpected and all(k.startswith("fc.") for k in missing)
    x = torch.randn(1, 3, 32, 48)
    feats, masks = ours(x)
    torch.testing.assert_close(feats[-1], ref.forward_features(x))
    assert masks == [None] * 4


def test_feature_sizes_match_the_paper():
    # Sec. 3.3.1: a 128 x 99 (70 deg) crop ends in a 4 x 4 map at block 4.
    assert resnet_feature_hw(128, 99) == [(32, 25), (16, 13), (8, 7), (4, 4)]
    assert [w for _, w in resnet_feature_hw(128, 512)] == [128, 64, 32, 16]
    feats, _ = ResNet18_CA().eval()(torch.randn(1, 3, 128, 99))
    assert [tuple(f.shape[2:]) for f in feats] == resnet_feature_hw(128, 99)
    for fov, dim in ((70, 100_352), (90, 122_880)):
        assert create_model("awm", fov=fov).descriptor_dim() == dim


def test_circular_helpers_against_loops():
    torch.manual_seed(0)
    colsum, w = torch.randn(2, 7), 3
    loop = torch.stack([colsum[:, [(k + x) % 7 for x in range(w)]].sum(1) for k in range(7)], 1)
    torch.testing.assert_close(circular_window_sums(colsum, w), loop)
    a, b = torch.randn(2, 3, 2, w), torch.randn(4, 3, 2, 7)
    loop = torch.stack(
        [
            torch.einsum("qchx,rchx->qr", a, b[..., [(k + x) % 7 for x in range(w)]])
            for k in range(7)
        ],
        dim=2,
    )
    torch.testing.assert_close(circular_correlation(a, b), loop)
    x, start = torch.arange(7.0).view(1, 1, 1, 7).repeat(2, 1, 1, 1), torch.tensor([5, 1])
    assert crop_columns(x, start, w)[:, 0, 0].tolist() == [[5, 6, 0], [1, 2, 3]]
    with pytest.raises(ValueError, match="window width 8"):
        circular_window_sums(colsum, 8)


def test_fca_picks_the_window_the_gates_dictate_including_wrap_around():
    model = _awm(fov=90)  # ground widths 8, 4, 2, 1 on satellite widths 32, 16, 8, 4
    expected = []
    for stage, w in zip(model.satellite.stages, model.widths):
        width = model.satellite_shapes[len(expected)][2]
        # Blocks 1-3: peak window straddles the right edge; block 4: an interior column.
        start = width - w // 2 if w > 1 else 2
        pattern = torch.full((width,), 0.1)
        pattern[[(start + x) % width for x in range(w)]] = 0.9
        _force_gates(stage[-1].ca, pattern)
        expected.append(start)
    x = torch.randn(2, 3, *SAT)
    with torch.no_grad():
        feats, masks = model.encode(x, "satellite")
        starts = model.window_starts(masks)
        desc = model(x, "satellite")
    assert [s.tolist() for s in starts] == [[e, e] for e in expected]
    assert expected[:3] == [28, 14, 7]  # wrap past the right edge
    crops = [
        f[..., [(e + k) % f.shape[-1] for k in range(w)]]
        for f, e, w in zip(feats, expected, model.widths)
    ]
    torch.testing.assert_close(desc, F.normalize(torch.cat([c.flatten(1) for c in crops], 1)))


@pytest.mark.parametrize("use_fmc", [True, False])
def test_descriptor_lengths_match_the_satellite_crops_for_70_and_90_degrees(use_fmc):
    lengths = {}
    model = _awm(use_fmc=use_fmc)
    for fov, ground_w in ((70, 24), (90, 32)):
        model.set_fov(fov)  # same weights, windows for this FoV
        assert model.ground_size == (32, ground_w)
        with torch.no_grad():
            g = model(torch.randn(2, 3, 32, ground_w), "ground")
            s = model(torch.randn(3, 3, *SAT), "satellite")
            feats, _ = model.encode(torch.randn(1, 3, *SAT), "satellite")
        crop_sizes = [f.shape[1] * f.shape[2] * w for f, w in zip(feats, model.widths)]
        assert g.shape == (2, sum(crop_sizes)) and s.shape == (3, sum(crop_sizes))
        assert model.descriptor_dim("ground") == model.descriptor_dim("satellite") == g.shape[1]
        torch.testing.assert_close(g.norm(dim=1), torch.ones(2))
        torch.testing.assert_close(s.norm(dim=1), torch.ones(3))
        assert model.similarity(g, s).shape == (2, 3)
        lengths[fov] = g.shape[1]
    # 70 deg: widths 6, 3, 2, 1; 90 deg: 8, 4, 2, 1 (heights 8, 4, 2, 1).
    if use_fmc:
        assert lengths == {
            70: 64 * 8 * 6 + 128 * 4 * 3 + 256 * 2 * 2 + 512 * 1 * 1,
            90: 64 * 8 * 8 + 128 * 4 * 4 + 256 * 2 * 2 + 512 * 1 * 1,
        }
    else:
        assert lengths == {70: 512, 90: 512}


def test_set_fov_and_bad_sizes_are_named():
    model = _awm(fov=90)
    model.set_fov(70)
    assert model.ground_size == (32, 24) and model.widths == [6, 3, 2, 1]
    with pytest.raises(ValueError, match="ground input must be 32x24"):
        model(torch.randn(1, 3, 32, 32), "ground")
    assert create_model("awm", ground_size=(32, 24), satellite_size=SAT).fov == 67.5
    with pytest.raises(ValueError, match="does not match fov=90"):
        create_model("awm", fov=90, ground_size=(32, 24), satellite_size=SAT)
    with pytest.raises(ValueError, match="use_ca=False needs use_fca=False"):
        create_model("awm", use_ca=False, satellite_size=SAT)
    with pytest.raises(KeyError, match="unknown fca_mode"):
        create_model("awm", fca_mode="peak", satellite_size=SAT)


@pytest.mark.parametrize(
    "kw", [{}, {"fca_mode": "correlation"}, {"use_fca": False}, {"use_ca": False, "use_fca": False}]
)
def test_gradients_reach_both_branches(kw):
    model = _awm(fov=90, **kw).train()
    # Batch 3: with a 1 x 1 block-4 map, train-mode BN over 2 samples outputs +-1 whatever
    # its input, which would zero the gradient of the last conv.
    g = model(torch.randn(3, 3, 32, 32), "ground")
    s = model(torch.randn(3, 3, *SAT), "satellite")
    sim = model.similarity(g, s)
    loss = F.softplus(10 * (sim - sim.diag().view(-1, 1))).mean()  # weighted soft-margin shape
    loss.backward()
    for branch in (model.ground, model.satellite):
        assert branch.stem[0].weight.grad.abs().sum() > 0
        assert branch.stages[3][1].conv2.weight.grad.abs().sum() > 0
        if model.use_ca:
            assert branch.stages[0][0].ca.conv_h.weight.grad.abs().sum() > 0


def _brute_force_similarity(model, xg, xs):
    """Per pair and block: score every window by loops, crop, normalise, dot."""
    gf, gm = model.encode(xg, "ground")
    sf, sm = model.encode(xs, "satellite")
    g = F.normalize(torch.cat([f.flatten(1) for f in gf], 1))
    out = torch.zeros(len(xg), len(xs))
    for q in range(len(xg)):
        for r in range(len(xs)):
            crops = []
            for i, w in enumerate(model.widths):
                width = sf[i].shape[-1]
                best, best_k = None, 0
                for k in range(width):
                    cols = [(k + x) % width for x in range(w)]
                    if model.align == "correlation":
                        score = (gm[i][q] * sm[i][r][:, cols]).sum()
                    else:
                        score = (gf[i][q] * sf[i][r][..., cols]).sum()
                    if best is None or score > best:
                        best, best_k = score, k
                crops.append(sf[i][r][..., [(best_k + x) % width for x in range(w)]].flatten())
            out[q, r] = g[q] @ F.normalize(torch.cat(crops), dim=0)
    return out


@pytest.mark.parametrize("kw", [{"fca_mode": "correlation"}, {"use_fca": False}])
def test_pairwise_similarity_matches_brute_force_and_chunks(kw):
    model = _awm(fov=70, use_fmc=True, **kw)
    assert model.pairwise
    torch.manual_seed(1)
    xg, xs = torch.randn(2, 3, 32, 24), torch.randn(3, 3, *SAT)
    with torch.no_grad():
        g, s = model(xg, "ground"), model(xs, "satellite")
        assert s.shape[1] == model.descriptor_dim("satellite")
        sim = model.similarity(g, s)
        torch.testing.assert_close(sim, _brute_force_similarity(model, xg, xs))
        chunked = torch.cat([model.similarity(g[i : i + 1], s) for i in range(2)])
        torch.testing.assert_close(chunked, sim)
        torch.testing.assert_close(model.similarity(g, s[1:]), sim[:, 1:])
    assert model.masks(xg, "ground")[-1].shape == (2, 1, 1)


def test_first_window_baseline_keeps_the_leftmost_columns():
    model = _awm(fov=90, use_fca=False, no_fca="first_window")
    assert not model.pairwise
    x = torch.randn(2, 3, *SAT)
    with torch.no_grad():
        feats, _ = model.encode(x, "satellite")
        desc = model(x, "satellite")
    crops = [f[..., :w].flatten(1) for f, w in zip(feats, model.widths)]
    torch.testing.assert_close(desc, F.normalize(torch.cat(crops, 1)))


def test_descriptor_memory_at_the_paper_sizes():
    from cvgl_core.models.awm import descriptor_memory

    peak = descriptor_memory(90, gallery=8884)
    assert peak["ground input"] == "128x128"
    assert peak["ground dim"] == peak["satellite record dim"] == 122_880
    assert peak["gallery MiB (float32)"] == round(8884 * 122_880 * 4 / 2**20, 1) == 4164.4
    assert peak["per query KiB"] == 480.0
    # DSM search: the satellite record keeps every block's full-width map of 128 x 512,
    # 64*32*128 + 128*16*64 + 256*8*32 + 512*4*16 floats.
    dsm = descriptor_memory(90, gallery=1, use_fca=False)
    assert dsm["satellite record dim"] == 262_144 + 131_072 + 65_536 + 32_768
