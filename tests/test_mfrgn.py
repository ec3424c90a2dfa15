"""MFRGN (ACM MM 2024): linear attention, PPS, SCAM, GPAB, the model's switches, the meter."""

import pytest
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from cvgl_core.models import create_model
from cvgl_core.models.mfrgn import (
    GPAB,
    PPS_GROUND,
    PPS_SATELLITE,
    SCAM,
    LiteTransformerEncoder,
    PyramidPoolingSampling,
    dot_product_attention,
    linear_attention,
)
from cvgl_core.models.mfrgn.measure import LiveTensorBytes, measure_pair, table5_costs

SMOKE = dict(
    backbone="convnext_atto",
    d_model=32,
    heads=4,
    ffn_dim=64,
    ground_hw=(32, 128),
    satellite_hw=(64, 64),
    pps_satellite=((1, 1), (2, 2), (4, 4)),
    pps_ground=((1, 1), (1, 4), (2, 8)),
)


def flops(fn, *args) -> int:
    counter = FlopCounterMode(display=False)
    with counter:
        fn(*args)
    return counter.get_total_flops()


# ---------------------------------------------------------------- attention


def test_linear_attention_equals_per_token_loop():
    torch.manual_seed(0)
    B, H, L, S, D, Dv = 2, 3, 5, 7, 4, 6
    q, k, v = torch.randn(B, H, L, D), torch.randn(B, H, S, D), torch.randn(B, H, S, Dv)
    got = linear_attention(q, k, v)

    phi = lambda x: torch.where(x > 0, x + 1, torch.exp(x))  # elu(x) + 1, written out
    want = torch.empty(B, H, L, Dv)
    for b in range(B):
        for h in range(H):
            for l in range(L):
                num, den = torch.zeros(Dv), torch.tensor(0.0)
                for s in range(S):
                    sim = phi(q[b, h, l]) @ phi(k[b, h, s])
                    num, den = num + sim * v[b, h, s], den + sim
                want[b, h, l] = num / (den + 1e-6)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_dot_product_attention_equals_softmax_loop():
    torch.manual_seed(0)
    q, k, v = torch.randn(1, 2, 3, 4), torch.randn(1, 2, 5, 4), torch.randn(1, 2, 5, 3)
    got = dot_product_attention(q, k, v)
    for h in range(2):
        for l in range(3):
            w = torch.softmax(torch.stack([q[0, h, l] @ k[0, h, s] / 2.0 for s in range(5)]), 0)
            torch.testing.assert_close(got[0, h, l], (w[:, None] * v[0, h]).sum(0))


def test_linear_attention_flops_match_formula_and_grow_linearly():
    H, D = 4, 32
    counts = {}
    for n in (64, 128, 256):
        x = torch.randn(1, H, n, D)
        counts[n] = (flops(linear_attention, x, x, x), flops(dot_product_attention, x, x, x))
    # K^T V, Q (sum K), Q (KV): 2 FLOPs per multiply-add.
    assert counts[64][0] == 2 * H * 64 * (D * D + D + D * D)
    assert counts[128][0] == 2 * counts[64][0] and counts[256][0] == 4 * counts[64][0]
    assert counts[128][1] == 4 * counts[64][1] and counts[256][1] == 16 * counts[64][1]


def test_lite_transformer_encoder_cost_linear_vs_quadratic():
    # A layer's FLOPs are a*n + b*n^2 in the token count n (queries n, other tokens 2n).
    # Linear attention: b = 0. Dot product: the n^2 part is positive and quadruples with 2n.
    d = 32
    for att in ("linear", "dot"):
        layer = LiteTransformerEncoder(d, heads=4, ffn_dim=64, attention=att).eval()
        c1, c2, c4 = (
            flops(layer, torch.randn(1, n, d), torch.randn(1, 2 * n, d)) for n in (25, 50, 100)
        )
        if att == "linear":
            assert c2 == 2 * c1 and c4 == 2 * c2
        else:
            assert c2 - 2 * c1 > 0 and c4 - 2 * c2 == 4 * (c2 - 2 * c1)


def test_lte_shapes_residual_and_gradient():
    layer = LiteTransformerEncoder(16, heads=4, ffn_dim=32, dropout=0.0)
    q, kv = torch.randn(2, 5, 16, requires_grad=True), torch.randn(2, 9, 16, requires_grad=True)
    out = layer(q, kv)
    assert out.shape == (2, 5, 16)
    out.sum().backward()
    assert kv.grad.abs().sum() > 0  # cross-attention reaches the other tokens
    with pytest.raises(ValueError, match="attention must be one of"):
        LiteTransformerEncoder(16, attention="softmax")


# ---------------------------------------------------------------- PPS


def test_pps_token_counts_as_in_the_paper():
    assert PyramidPoolingSampling(PPS_SATELLITE).num_tokens == 1 + 36 + 144 + 441 == 622
    assert PyramidPoolingSampling(PPS_GROUND).num_tokens == 1 + 36 + 144 + 252 == 433
    assert PyramidPoolingSampling((1, 3, 6, 8)).num_tokens == 110  # Fig. 5
    x = torch.randn(2, 8, 32, 32)
    assert PyramidPoolingSampling(PPS_SATELLITE)(x).shape == (2, 8, 622)
    assert PyramidPoolingSampling(PPS_GROUND)(torch.randn(2, 8, 16, 32)).shape == (2, 8, 433)


def test_pps_levels_are_block_means():
    x = torch.randn(1, 3, 12, 12)
    y = PyramidPoolingSampling((1, 2, 6))(x)  # tokens: 1 + 4 + 36
    torch.testing.assert_close(y[:, :, 0], x.mean(dim=(2, 3)))
    torch.testing.assert_close(y[:, :, 1], x[:, :, :6, :6].mean(dim=(2, 3)))  # top-left block
    torch.testing.assert_close(y[:, :, 5 + 7], x[:, :, 2:4, 2:4].mean(dim=(2, 3)))  # (1, 1) of 6x6


# ---------------------------------------------------------------- SCAM and GPAB


def test_scam_update_schedule():
    torch.manual_seed(0)
    f_low, f_high = torch.randn(2, 11, 16), torch.randn(2, 7, 16)
    kw = dict(heads=4, ffn_dim=32, dropout=0.0)
    only_high = SCAM(16, A=2, B=0, **kw)
    low, high = only_high(f_low, f_high)
    assert torch.equal(low, f_low) and not torch.allclose(high, f_high)
    assert len(SCAM(16, **kw).high_updates) == 2 and len(SCAM(16, **kw).low_updates) == 1
    # Eq. 3: the low-level update attends to the updated F'_H.
    scam = SCAM(16, A=1, B=1, **kw)
    f_low.requires_grad_(True)
    low, high = scam(f_low, f_high)
    assert low.shape == f_low.shape and high.shape == f_high.shape
    grad_high = torch.autograd.grad(low.sum(), scam.high_updates[0].q_proj.weight)[0]
    assert grad_high.abs().sum() > 0


def test_gpab_reduces_to_pooling_when_gates_are_closed_or_open():
    torch.manual_seed(0)
    blk = GPAB(channels=6, d_model=8, spatial_kernel=(3, 5)).eval()
    s = [torch.randn(2, 6, 4, 5), torch.randn(2, 6, 1, 1)]  # two pyramid levels: 21 tokens
    prompt = torch.randn(2, 21, 8)
    mean = torch.cat([p.flatten(2) for p in s], 2).mean(2)
    with torch.no_grad():
        for m in (blk.channel_conv, blk.spatial_conv):
            m.weight.zero_()
            m.bias.fill_(-30.0)  # gates ~0: f^l = Pool(S)
        torch.testing.assert_close(blk(s, prompt), mean)
        for m in (blk.channel_conv, blk.spatial_conv):
            m.bias.fill_(30.0)  # gates ~1: f^l = Pool(2 S)
        torch.testing.assert_close(blk(s, prompt), 2 * mean)
    with pytest.raises(ValueError, match="prompt has 20 tokens"):
        blk(s, prompt[:, :20])


def test_gpab_spatial_gate_comes_from_channel_max_of_the_prompt():
    torch.manual_seed(0)
    blk = GPAB(channels=4, d_model=4, spatial_kernel=1).eval()
    s = [torch.ones(1, 4, 2, 2)]
    prompt = torch.randn(1, 4, 4)  # (B, tokens, d)
    with torch.no_grad():
        blk.channel_conv.weight.zero_()
        blk.channel_conv.bias.fill_(30.0)  # channel gate ~1
        blk.spatial_conv.weight.fill_(1.0)  # 1x1 identity on the channel-max map
        blk.spatial_conv.bias.zero_()
        f_g = blk.prompt_proj(prompt.transpose(1, 2))  # (B, C, tokens): the prompt f^g_i
        want = 1 + torch.sigmoid(f_g.amax(1)).mean()  # Pool(S * 1 * sp + S) with S = 1
        torch.testing.assert_close(blk(s, prompt), want.expand(1, 4))


# ---------------------------------------------------------------- the model


def test_descriptor_is_2048_with_7_to_1_split_and_l2_normalised():
    torch.manual_seed(0)
    model = create_model("mfrgn", **SMOKE).eval()
    assert model.descriptor_split == (1792, 256)
    # Zero the local projection: the last 256 dims are the local descriptor.
    with torch.no_grad():
        for head in model.heads.values():
            head.local.proj.weight.zero_()
            head.local.proj.bias.zero_()
        g = model(torch.randn(3, 3, 32, 128), view="ground")
        s = model(torch.randn(3, 3, 64, 64), view="satellite")
    for y in (g, s):
        assert y.shape == (3, 2048)
        torch.testing.assert_close(y.norm(dim=1), torch.ones(3))
        assert y[:, 1792:].abs().max() == 0 and y[:, :1792].abs().max() > 0
    assert create_model("mfrgn", ratio=(3, 1), **SMOKE).descriptor_split == (1536, 512)
    assert create_model("mfrgn", ratio=(1, 0), **SMOKE).descriptor_split == (2048, 0)
    with pytest.raises(ValueError, match="multiple of d_model"):
        create_model("mfrgn", ratio=(5, 1), **SMOKE)  # 1706.67 is no multiple of 32


def test_paper_sizes_give_the_paper_token_counts():
    with torch.device("meta"):  # no memory, no compute
        model = create_model("mfrgn", backbone="convnext_tiny")
    assert model.feature_hw["satellite"] == [(32, 32), (16, 16), (8, 8), (4, 4)]
    assert model.feature_hw["ground"] == [(16, 32), (8, 16), (4, 8), (2, 4)]
    # n_PPS ~ twice the S2-S4 tokens (Sec. 3.2): 622 vs 336 (satellite).
    assert model.heads["satellite"].global_proj.in_features == 622 + 256 + 64 + 16
    assert model.heads["ground"].global_proj.in_features == 433 + 128 + 32 + 8
    assert model.heads["ground"].global_proj.out_features == 1792 // 128
    y = model(torch.empty(2, 3, 256, 256, device="meta"), view="satellite")
    assert y.shape == (2, 2048)


def info_nce(q, r, tau=0.07, smoothing=0.1):
    logits = q @ r.T / tau
    labels = torch.arange(len(q))
    return 0.5 * (
        F.cross_entropy(logits, labels, label_smoothing=smoothing)
        + F.cross_entropy(logits.T, labels, label_smoothing=smoothing)
    )


TABLE4 = [(v, "linear", False) for v in ("baseline", "mbaseline", "l_ini", "g", "g_l_ini", "g_l_p")]
TABLE5 = [("g_l_p", "dot", False), ("g_l_p", "linear", True), ("g_l_p", "dot", True)]


@pytest.mark.parametrize("variant,attention,pps", TABLE4 + TABLE5)
def test_every_switch_builds_and_trains_one_step(variant, attention, pps):
    torch.manual_seed(0)
    model = create_model("mfrgn", variant=variant, attention=attention, pps=pps, **SMOKE)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    g, s = torch.randn(4, 3, 32, 128), torch.randn(4, 3, 64, 64)
    model.train()
    loss = info_nce(model(g, view="ground"), model(s, view="satellite"))
    loss.backward()
    assert torch.isfinite(loss)
    unused = [n for n, p in model.named_parameters() if p.grad is None]
    assert not unused, f"parameters without gradient (DDP would fail): {unused[:5]}"
    before = model.heads["ground"].global_proj.weight.detach().clone()
    opt.step()
    assert not torch.equal(before, model.heads["ground"].global_proj.weight)
    model.eval()
    with torch.no_grad():
        y = model(g, view="ground")
    assert y.shape == (4, 2048)
    torch.testing.assert_close(y.norm(dim=1), torch.ones(4))


def test_prompts_couple_local_flow_to_scam_only_in_l_p():
    torch.manual_seed(0)
    for variant, coupled in (("g_l_p", True), ("g_l_ini", False)):
        model = create_model("mfrgn", variant=variant, **SMOKE).eval()
        out = {}
        model.heads["satellite"].local.register_forward_hook(
            lambda m, i, o, out=out: out.setdefault("l", o)
        )
        model(torch.randn(2, 3, 64, 64), view="satellite")
        w = model.heads["satellite"].scam.low_updates[0].q_proj.weight
        (grad,) = torch.autograd.grad(out["l"].sum(), w, allow_unused=True)
        assert (grad is not None and grad.abs().sum() > 0) == coupled


def test_model_errors_name_the_problem():
    model = create_model("mfrgn", **SMOKE)
    with pytest.raises(ValueError, match=r"built for satellite input \(64, 64\), got \(96, 96\)"):
        model(torch.randn(1, 3, 96, 96), view="satellite")
    with pytest.raises(ValueError, match="view must be one of"):
        model(torch.randn(1, 3, 64, 64), view="aerial")
    # a drone image takes the ground branch (notebook 06), so it must have the ground size
    with pytest.raises(ValueError, match=r"built for ground input \(32, 128\)"):
        model(torch.randn(1, 3, 64, 64), view="drone")
    with pytest.raises(ValueError, match="unknown MFRGN variant 'g_l'"):
        create_model("mfrgn", variant="g_l", **SMOKE)
    street = model.eval()(torch.randn(1, 3, 32, 128), view="street")  # alias of ground
    assert street.shape == (1, 2048)


# ---------------------------------------------------------------- the meter


def test_live_tensor_bytes_counts_allocations_not_views():
    x = torch.randn(1000)
    tracker = LiveTensorBytes()
    with tracker:
        y = x * 2  # 4000 bytes
        v = y.view(10, 100).t()  # views: nothing new
        z = y + 1  # 4000 bytes; peak 8000
        del y
        w = z * 3  # y's storage lives on in its view v: 12000
        del v
        u = w * 3  # y's storage freed: 12000 again, not 16000
    assert tracker.peak == 12000 and u.numel() == 1000


def test_measure_pair_reports_flops_and_memory():
    model = create_model("mfrgn", **SMOKE)
    r = measure_pair(model)
    assert r["flops"] == r["flops_ground"] + r["flops_satellite"] > 0
    assert 0 < r["peak_activation_bytes"] < measure_pair(model, grad=True)["peak_activation_bytes"]
    assert model.training  # mode restored


@pytest.mark.slow
def test_table5_costs_at_cvact_paper_size_on_meta():
    dot, la, la_pps = table5_costs(backbone="convnext_tiny")  # CVACT sizes, nothing computed
    assert (dot["linear_attention"], la["linear_attention"], la_pps["pps"]) == (False, True, True)
    assert dot["flops"] > la["flops"] > la_pps["flops"]
    assert dot["peak_activation_bytes"] > la["peak_activation_bytes"]
    assert la["peak_activation_bytes"] > la_pps["peak_activation_bytes"]
