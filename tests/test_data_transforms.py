"""Polar transform, limited-FoV crops and joint augmentations: geometry checked by hand."""

import math

import numpy as np
import pytest
import torch
from PIL import Image

from cvgl_core.data.polar import PolarTransform, _polar_grid_cpu, polar_grid, polar_transform
from cvgl_core.data.transforms import (
    IMAGENET_MEAN,
    JointAugment,
    ViewTransform,
    crop_at_heading,
    crop_rows,
    fixed_fov_shifts,
    fov_crop,
    fov_crop_width,
    joint_hflip,
    joint_rot90,
    mirror_panorama,
    shift_to_heading,
)

S, H, W = 65, 16, 64  # odd S: pixel 32 is centred exactly on the image centre S/2 = 32.5


def _dot(row: int, col: int, size: int = S) -> torch.Tensor:
    x = torch.zeros(3, size, size)
    x[:, row, col] = 1.0
    return x


def _column_of(p: torch.Tensor) -> int:
    return int(p.sum(dim=(0, 1)).argmax())


@pytest.mark.parametrize(
    "where, column",
    [("north", W // 2), ("east", 3 * W // 4), ("south", 0), ("west", W // 4)],
)
def test_polar_dot_lands_in_the_compass_column(where, column):
    c, d = S // 2, 20  # centre pixel, distance in pixels
    row, col = {"north": (c - d, c), "east": (c, c + d), "south": (c + d, c), "west": (c, c - d)}[
        where
    ]
    p = polar_transform(_dot(row, col), (H, W))
    assert p.shape == (3, H, W)
    assert _column_of(p) == column
    # the ring of radius d: r = S/2 * (H - 1 - ii) / H  ->  ii = H - 1 - d * H / (S/2)
    assert int(p.sum(dim=(0, 2)).argmax()) == round(H - 1 - d * H / (S / 2))


def test_polar_dot_due_north_even_size_both_conventions():
    size = 64
    x = torch.zeros(3, size, size)
    x[:, 10, 31:33] = 1.0  # straddles the centre column of an even image
    for conv in ("center", "safa"):
        p = polar_transform(x, (32, 128), convention=conv)
        assert _column_of(p) == 64  # W / 2


def test_polar_outer_row_is_the_rim_and_bottom_row_the_centre():
    x = torch.zeros(1, S, S)
    x[:, S // 2, S // 2] = 1.0
    p = polar_transform(x, (H, W))
    assert p[0, -1].min() > 0.5 and p[0, :-2].abs().max() == 0  # centre only in the last row


def test_polar_batch_equals_per_sample_and_grid_is_cached():
    x = torch.rand(5, 3, 32, 32)
    batch = polar_transform(x, (8, 32))
    single = torch.stack([polar_transform(xi, (8, 32)) for xi in x])
    torch.testing.assert_close(batch, single)
    hits = _polar_grid_cpu.cache_info().hits
    polar_grid(32, (8, 32))
    assert _polar_grid_cpu.cache_info().hits == hits + 1
    assert PolarTransform((8, 32))(x).shape == (5, 3, 8, 32)
    with pytest.raises(ValueError, match=r"\(C, S, S\)"):
        polar_transform(torch.rand(3, 32, 30), (8, 32))


def test_polar_matches_the_formula_at_a_sample_point():
    # an aerial image that is a linear ramp in row: bilinear sampling reproduces it exactly
    size = 40
    ramp = torch.arange(size, dtype=torch.float32).view(1, size, 1).expand(1, size, size)
    p = polar_transform(ramp.contiguous(), (10, 36), convention="safa")
    ii, jj = 3, 5
    r = size / 2 * (10 - 1 - ii) / 10
    row = size / 2 + r * math.cos(2 * math.pi * jj / 36)
    assert float(p[0, ii, jj]) == pytest.approx(row, abs=1e-4)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_rot90_of_satellite_rolls_the_polar_panorama(k):
    sat = torch.rand(3, 32, 32)
    pano = polar_transform(sat, (8, 32))
    rotated = polar_transform(torch.rot90(sat, k, dims=(-2, -1)), (8, 32))
    # joint_rot90 applies the same rule to a panorama
    _, rolled = joint_rot90(sat, pano, k)
    torch.testing.assert_close(rotated, rolled, atol=1e-5, rtol=0)
    # and that rule is a left roll by k quarter widths (north content -> west for k = 1)
    torch.testing.assert_close(rolled, torch.roll(pano, -k * 8, dims=-1))


def test_hflip_of_satellite_mirrors_the_polar_panorama_about_north():
    sat = torch.rand(3, 32, 32)
    pano = polar_transform(sat, (8, 32))
    flipped = polar_transform(torch.flip(sat, dims=[-1]), (8, 32))
    _, mirrored = joint_hflip(sat, pano)
    torch.testing.assert_close(flipped, mirrored, atol=1e-5, rtol=0)
    # north (W/2) and south (0) columns stay; a plain flip would move them by one column
    torch.testing.assert_close(mirrored[..., 16], pano[..., 16])
    torch.testing.assert_close(mirrored[..., 0], pano[..., 0])
    assert not torch.allclose(torch.flip(pano, dims=[-1]), flipped, atol=1e-3)


def test_joint_augment_keeps_polar_consistency_on_random_draws():
    torch.manual_seed(0)
    aug = JointAugment("panorama", flip_p=0.5, rotate_p=0.75)
    for _ in range(12):
        sat = torch.rand(3, 32, 32)
        pano = polar_transform(sat, (8, 32))
        pano2, sat2 = aug(pano, sat)
        torch.testing.assert_close(polar_transform(sat2, (8, 32)), pano2, atol=1e-5, rtol=0)
    # the same with an already polar reference
    polar_aug = JointAugment("panorama", 0.5, 0.75, reference_is_polar=True)
    for _ in range(6):
        sat = torch.rand(3, 32, 32)
        pano = polar_transform(sat, (8, 32))
        pano2, ref2 = polar_aug(pano.clone(), pano.clone())
        torch.testing.assert_close(ref2, pano2)


def test_mirror_is_an_involution():
    p = torch.rand(2, 3, 4, 12)
    torch.testing.assert_close(mirror_panorama(mirror_panorama(p)), p)


@pytest.mark.parametrize("fov", [70.0, 90.0, 180.0, 360.0])
def test_fov_heading_recovers_the_crop_exactly(fov):
    gen = torch.Generator().manual_seed(1)
    pano = torch.rand(3, 8, 512)
    for _ in range(20):
        crop, heading = fov_crop(pano, fov, generator=gen)
        assert crop.shape == (3, 8, int(fov / 360 * 512))
        assert -180 <= heading < 180
        assert torch.equal(crop_at_heading(pano, heading, fov), crop)


def test_fov_heading_convention_north_is_zero():
    pano = torch.arange(512.0).view(1, 1, 512)
    # shift 0 with a 360 degree view: the panorama itself, centre column W/2 = north
    crop, heading = fov_crop(pano, 360.0, shift=0)
    assert torch.equal(crop, pano) and heading == 0.0
    # a 90 degree crop centred on east: columns 3W/4 - 64 .. 3W/4 + 64
    crop = crop_at_heading(pano, 90.0, 90.0)
    assert crop[0, 0, 0] == 384 - 64 and crop.shape[-1] == 128
    # the DSM formula
    assert shift_to_heading(128, 512, 90.0) == pytest.approx(((384 / 512) * 360 + 45) % 360 - 180)


def test_fov_crop_numpy_and_pil_agree_with_torch():
    a = np.random.default_rng(0).integers(0, 255, size=(8, 64, 3), dtype=np.uint8)
    t = torch.from_numpy(a).permute(2, 0, 1)
    ct, ht = fov_crop(t, 90.0, shift=17)
    cn, hn = fov_crop(a, 90.0, shift=17)
    cp, hp = fov_crop(Image.fromarray(a), 90.0, shift=17)
    assert ht == hn == hp
    assert np.array_equal(ct.permute(1, 2, 0).numpy(), cn)
    assert np.array_equal(np.asarray(cp), cn)
    assert np.array_equal(np.asarray(crop_at_heading(Image.fromarray(a), hn, 90.0)), cn)


def test_fixed_headings_are_seeded_and_noise_bounds_the_shift():
    a, b = fixed_fov_shifts(50, 512, 360, seed=3), fixed_fov_shifts(50, 512, 360, seed=3)
    assert np.array_equal(a, b) and not np.array_equal(a, fixed_fov_shifts(50, 512, 360, seed=4))
    small = fixed_fov_shifts(200, 512, noise=10, seed=0)
    assert small.max() < int(512 * 10 / 360)
    assert fov_crop_width(512, 70) == 99
    with pytest.raises(ValueError, match="field of view"):
        fov_crop_width(512, 0)


def test_view_transform_resizes_normalises_and_crops_rows():
    img = Image.new("RGB", (40, 32), color=(int(IMAGENET_MEAN[0] * 255), 0, 0))
    x, heading = ViewTransform(size=(8, 16)).finish(ViewTransform(size=(8, 16)).load(img))
    assert x.shape == (3, 8, 16) and heading is None
    assert abs(float(x[0].mean())) < 0.02  # the mean maps to ~0
    assert crop_rows(Image.new("RGB", (10, 832)), 0.25, 0.75).size == (10, 416)
    vt = ViewTransform(size=(8, 64), fov=90.0, normalize=False)
    y, heading = vt.finish(vt.load(img), shift=5)
    assert y.shape == (3, 8, 16) and heading == shift_to_heading(5, 64, 90.0)
    polar = ViewTransform(size=(16, 16), polar_hw=(4, 32), normalize=False)
    assert polar.finish(polar.load(img))[0].shape == (3, 4, 32)
