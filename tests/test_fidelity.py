"""Issue 16, the papers as their authors ran them: CBAM's BatchNorm, LRFR's Table III modules,
value clipping, LRFR's loss on repeated labels, SAFA's polar image from the full-size aerial,
pretrained tags, the R@1% rule per table, GLQINet's text reading, MFRGN's GPAB as the code."""

from pathlib import Path

import numpy as np
import pytest
import timm
import torch
import torch.nn.functional as F
from PIL import Image

from cvgl_core.config import load_config
from cvgl_core.data.base import DataOptions
from cvgl_core.evaluation import retrieval_metrics
from cvgl_core.evaluation.metrics import one_percent_k
from cvgl_core.losses import create_loss
from cvgl_core.models import create_model
from cvgl_core.models.attention.cbam import CBAM
from cvgl_core.models.backbones import check_model_name
from cvgl_core.models.mfrgn.gpab import GPAB
from cvgl_core.models.resnet_ca import ResNet18_CA
from cvgl_core.utils import seed_everything
from tests.training_toy import ToyModel, run

PAPER_CONFIGS = sorted(Path("configs").glob("*/*_paper.yaml"))


# ---------------------------------------------------------------- CBAM and LRFR's Table III


def test_cbam_batchnorm_is_the_originals():
    bn = CBAM(64).spatial[1]  # Jongchan/attention-module BasicConv: momentum 0.01, eps 1e-5
    assert (bn.momentum, bn.eps) == (0.01, 1e-5)
    bn.train()
    bn(torch.full((4, 1, 3, 3), 5.0))
    assert float(bn.running_mean) == pytest.approx(0.05)  # 0.99 * 0 + 0.01 * 5


def _lrfr(attention, variant):
    return create_model(
        "lrfr", backbone="convnext_atto", attention=attention, aggregator="gem",
        input_size=(32, 32), attention_variant=variant,
    )  # fmt: skip


def test_lrfr_code_variant_builds_the_authors_cbam_and_eca():
    cbam = _lrfr("cbam", "lrfr_code").attention  # 160 channels at ConvNeXt-atto's stage 3
    assert cbam.residual and isinstance(cbam.spatial[1], torch.nn.Identity)
    assert cbam.mlp[0].bias is None and cbam.spatial[0].bias is not None
    x = torch.randn(2, 160, 4, 4)
    # WenjianGan/LRFR models/attention.py CBAM.forward, written out
    mlp = cbam.mlp
    ca = torch.sigmoid(mlp(x.amax((2, 3), keepdim=True)) + mlp(x.mean((2, 3), keepdim=True)))
    out = x * ca
    pooled = torch.cat([out.amax(1, keepdim=True), out.mean(1, keepdim=True)], 1)
    expected = out * torch.sigmoid(cbam.spatial[0](pooled)) + x
    torch.testing.assert_close(cbam(x), expected)
    assert _lrfr("eca", "lrfr_code").attention.conv.kernel_size == (3,)
    assert _lrfr("eca", "original").attention.conv.kernel_size == (5,)  # adaptive k at 160 ch
    assert not _lrfr("cbam", "original").attention.residual
    with pytest.raises(KeyError, match="attention_variant 'authors'"):
        _lrfr("cbam", "authors")


def test_every_lrfr_config_builds_table_iii_as_the_authors():
    for path in Path("configs/lrfr").glob("*.yaml"):
        assert load_config(path).model.kwargs["attention_variant"] == "lrfr_code", path


# ---------------------------------------------------------------- gradient clipping by value


def _weights(out):
    return torch.load(Path(out) / "last.pt", map_location="cpu", weights_only=True)["model"]


@pytest.mark.parametrize("mode", ["value", "norm"])
def test_gradient_clipping_mode(tmp_path, mode):
    # plain SGD, lr 1, one epoch of 3 steps: each step moves a weight by its clipped gradient
    over = [
        "optim.name=sgd", "optim.momentum=0.0", "optim.lr=1.0", "optim.backbone_lr=null",
        "optim.weight_decay=0.0", "schedule.name=constant", "schedule.warmup_epochs=0",
        "train.grad_clip=0.001", f"train.grad_clip_mode={mode}",
        "loss.kwargs={learnable_temperature: false}",
    ]  # fmt: skip
    seed_everything(0)
    start = ToyModel(dropout=0.1).state_dict()
    run(tmp_path, epochs=1, overrides=over, dropout=0.1)
    end = _weights(tmp_path)
    step = torch.cat([(end[k] - start[k]).flatten() for k in start if start[k].is_floating_point()])
    if mode == "value":  # every element moves at most 0.001 per step, the total much more
        assert float(step.abs().max()) <= 3 * 0.001 + 1e-6
        assert float(step.norm()) > 3 * 0.001
    else:  # the global norm moves at most 0.001 per step
        assert float(step.norm()) <= 3 * 0.001 + 1e-6


def test_unknown_clipping_mode_is_refused(tmp_path):
    with pytest.raises(ValueError, match="train.grad_clip_mode must be"):
        run(tmp_path, epochs=1, overrides=["train.grad_clip_mode=elementwise"])


# ---------------------------------------------------------------- LRFR's loss, repeated labels


def test_semi_soft_triplet_refuses_repeated_labels():
    q, r = F.normalize(torch.randn(4, 8), dim=1), F.normalize(torch.randn(4, 8), dim=1)
    loss = create_loss("semi_soft_triplet")
    assert torch.isfinite(loss(q, r, torch.tensor([0, 1, 2, 3])))
    with pytest.raises(ValueError, match="sampler=unique_label"):
        loss(q, r, torch.tensor([0, 1, 1, 3]))


# ---------------------------------------------------------------- SAFA polar from the full aerial


def _safa_polar(img: np.ndarray, height: int, width: int) -> np.ndarray:
    """SAFA's data_preparation.py, written out: pixel-index grid, bilinear, zero outside."""
    s = img.shape[0]
    ii, jj = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    x = s / 2.0 + s / 2.0 / height * (height - 1 - ii) * np.cos(2 * np.pi * jj / width)  # row
    y = s / 2.0 - s / 2.0 / height * (height - 1 - ii) * np.sin(2 * np.pi * jj / width)  # col
    x0, y0 = x.astype(int), y.astype(int)
    out = np.zeros((height, width, img.shape[2]))
    for dx in (0, 1):
        for dy in (0, 1):
            xi, yi = x0 + dx, y0 + dy
            ok = (xi >= 0) & (xi < s) & (yi >= 0) & (yi < s)
            wgt = (1 - np.abs(x - xi)) * (1 - np.abs(y - yi))
            val = np.zeros_like(out)
            val[ok] = img[xi[ok], yi[ok]]
            out += wgt[..., None] * val
    return out


@pytest.mark.parametrize("config", ["awm/cvusa", "lrfr/cvusa"])
def test_paper_polar_is_safas_from_the_full_750_px_aerial(tmp_path, config):
    cfg = load_config(f"configs/{config}_paper.yaml")
    options = {**cfg.data.options, "normalize": False}
    options.pop("fov", None)  # the satellite transform only
    tf = DataOptions.parse(
        {}, {k: v for k, v in options.items() if k in DataOptions.__dataclass_fields__}
    ).transform("satellite")
    assert tf.size == (750, 750) and tf.polar_convention == "safa"
    g = np.random.default_rng(0)  # a smooth 750 px tile with some texture
    yy, xx = np.mgrid[0:750, 0:750] / 750.0
    tile = np.stack([128 + 100 * np.sin(6 * xx + k) * np.cos(5 * yy - k) for k in range(3)], -1)
    tile = np.clip(tile + g.normal(0, 8, tile.shape), 0, 255).astype(np.uint8)
    Image.fromarray(tile).save(tmp_path / "tile.png")
    with Image.open(tmp_path / "tile.png") as im:
        ours, _ = tf.finish(tf.load(im.convert("RGB")))
    ours = ours.permute(1, 2, 0).numpy() * 255.0  # (H, W, 3)
    h, w = tf.polar_hw
    expected = _safa_polar(tile.astype(np.float64), h, w)
    assert ours.shape == expected.shape
    assert float(np.abs(ours - expected).max()) <= 1.0


# ---------------------------------------------------------------- pretrained tags


@pytest.mark.parametrize("path", PAPER_CONFIGS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_paper_configs_name_a_pretrained_tag_timm_knows(path):
    name = load_config(path).model.kwargs.get("backbone", "resnet18")
    arch, _, tag = name.partition(".")
    assert tag, f"{path}: backbone {name!r} names no pretrained tag"
    assert timm.list_pretrained(name) == [name]  # registry lookup, no download
    check_model_name(name)


def test_unknown_tags_are_refused_and_resnet18_ca_takes_a_tag():
    with pytest.raises(KeyError, match="no pretrained tag 'in2k'"):
        check_model_name("convnext_tiny.in2k")
    with pytest.raises(KeyError, match="unknown backbone"):
        check_model_name("convnext_tinyy")
    ResNet18_CA(backbone="resnet18.tv_in1k")
    with pytest.raises(ValueError, match="needs a resnet18"):
        ResNet18_CA(backbone="resnet50.tv_in1k")


# ---------------------------------------------------------------- R@1% rules


def test_round_plus_one_is_the_university_1652_rule_and_is_recorded():
    # University-1652 / LRFR: top1 = round(0.01 R); hit if CMC[top1], i.e. rank <= round(0.01 R)
    assert [one_percent_k(r, "round_plus_one") for r in (951, 8884, 250, 350, 49)] == [
        11,
        90,
        3,
        5,
        1,
    ]  # fmt: skip  (round half to even: 2.5 -> 2, 3.5 -> 4)
    q = torch.eye(4)
    out = retrieval_metrics(q, q, query_labels=np.arange(4), reference_labels=np.arange(4),
                            one_percent="round_plus_one")  # fmt: skip
    assert out["k_one_percent_rule"] == "round_plus_one" and out["k_one_percent"] == 1
    assert (
        retrieval_metrics(q, q, query_labels=np.arange(4), reference_labels=np.arange(4))[
            "k_one_percent_rule"
        ]
        == "floor_plus_one"
    )


RULES = {"lrfr/university1652": "round_plus_one", "lrfr/cvusa": "floor", "lrfr/cvact": "floor",
         "awm/cvusa": "floor_plus_one", "awm/cvact": "floor_plus_one", "mfrgn/cvusa": "floor",
         "mfrgn/cvact": "floor", "mfrgn/vigor": "floor", "frg/cvusa": "floor_plus_one",
         "frg/vigor": "floor_plus_one", "glqinet/university1652": "round_plus_one",
         "glqinet/sues200": "round_plus_one"}  # fmt: skip


@pytest.mark.parametrize("name", sorted(RULES))
def test_every_profile_of_a_paper_uses_its_codes_rule(name):
    for prof in ("smoke", "cpu", "paper"):
        assert load_config(f"configs/{name}_{prof}.yaml").eval.kwargs["one_percent"] == RULES[name]


# ---------------------------------------------------------------- GLQINet, the text's reading


def test_glqinet_cells_mode_is_gap_of_iglam_over_each_stripes_cells():
    torch.manual_seed(0)
    m = create_model("glqinet", num_classes=3, backbone="resnet18", stripe_mode="cells", t=2)
    m.eval()
    x = torch.randn(1, 3, 128, 128)  # resnet18: 4 x 4 map
    feats = m.features(x)
    assert len(feats) == 4 * 2
    f = m.backbone(x)[-1]
    cells = f.flatten(2).transpose(1, 2)  # (1, 16, C)
    top_rows = cells[:, :8]  # horizontal stripe 0 of t = 2: rows 0-1, all 4 columns
    expected = m.iglam.attn(top_rows, torch.cat([top_rows, cells], 1)).mean(1)  # eqs. 7-10
    torch.testing.assert_close(feats[0], expected)
    with pytest.raises(KeyError, match="stripe_mode"):
        create_model("glqinet", num_classes=3, backbone="resnet18", stripe_mode="stripes")


def test_ce_triplet_eq13_divides_by_three():
    g = torch.Generator().manual_seed(0)
    k, b, c = 16, 4, 5
    out = {"logits": [torch.randn(b, c, generator=g) for _ in range(k)],
           "features": [torch.randn(b, 8, generator=g) for _ in range(k)]}  # fmt: skip
    labels = torch.arange(b)
    heads = create_loss("ce_triplet")(out, out, labels)
    eq13 = create_loss("ce_triplet", normalise="eq13")(out, out, labels)
    torch.testing.assert_close(eq13, heads * k / 3)  # 16 / 3 = 5.3 x
    with pytest.raises(ValueError, match="normalise"):
        create_loss("ce_triplet", normalise="mean")


# ---------------------------------------------------------------- MFRGN's GPAB as the code


def test_gpab_code_options_prompt_kernel_and_sequence_gate():
    torch.manual_seed(0)
    blk = GPAB(8, 16, spatial_kernel=(7, 13), prompt_kernel=5, sequence_spatial=True)
    assert blk.prompt_proj[0].kernel_size == (5,) and blk.prompt_proj[2].padding == (2,)
    assert blk.spatial_conv.kernel_size == (91, 1)  # 7 * 13 along the token sequence
    blk.eval()
    pieces = [torch.randn(2, 8, 1, 1), torch.randn(2, 8, 3, 4)]  # 13 sampled tokens
    prompt = torch.randn(2, 13, 16)
    f_g = blk.prompt_proj(prompt.transpose(1, 2))  # (2, 8, 13)
    ch = torch.sigmoid(blk.channel_conv(f_g.mean(2)[..., None, None]))[..., 0]  # (2, 8, 1)
    sp = torch.sigmoid(blk.spatial_conv(f_g.amax(1, keepdim=True)[..., None]))[..., 0]
    s = torch.cat([p.flatten(2) for p in pieces], 2)
    torch.testing.assert_close(blk(pieces, prompt), (s * ch * sp + s).mean(2))
    with pytest.raises(ValueError, match="prompt_kernel"):
        GPAB(8, 16, prompt_kernel=4)
