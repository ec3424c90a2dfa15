"""The synthetic world: geometry of every view, the real layouts, determinism, bad input."""

import hashlib
import os
import re
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from PIL import Image

from cvgl_core.cli import main
from cvgl_core.data.transforms import crop_at_heading
from cvgl_core.profiles import get_profile
from cvgl_core.synth import (
    CLEAN,
    World,
    drone_rgb,
    ensure_dataset,
    get_style,
    make_knobs,
    make_world,
    panorama,
    satellite_tile,
    world_knobs,
    write_dataset,
)
from cvgl_core.synth.layouts import vigor
from cvgl_core.synth.world import BUILDING, GROUND

TINY = get_profile("smoke").replace(
    name="smoke", num_locations=8, num_buildings=3, drone_views=2, sues_views=1
)


def flat_world(n=200, mpp=0.5) -> World:
    """A grey, empty, flat world: objects are added by the tests."""
    albedo = np.full((n, n, 3), 0.5, np.float32)
    return World(
        style=get_style("suburb"),
        mpp=mpp,
        albedo=albedo,
        wall=albedo.copy(),
        height=np.zeros((n, n), np.float32),
        kind=np.full((n, n), GROUND, np.uint8),
        shade=np.ones((n, n), np.float32),
        sun=(180.0, 45.0),
    )


def add_block(w: World, r0, r1, c0, c1, height, rgb=(0.9, 0.1, 0.1)):
    w.height[r0:r1, c0:c1] = height
    w.kind[r0:r1, c0:c1] = BUILDING
    w.albedo[r0:r1, c0:c1] = rgb
    w.wall[r0:r1, c0:c1] = rgb
    w._table = None


def _changed_columns(world, pos, hw):
    empty = flat_world(world.shape[0], world.mpp)
    a = panorama(world, pos, hw).astype(int)
    b = panorama(empty, pos, hw).astype(int)
    above = np.abs(a - b).sum(-1)[: hw[0] // 2 - 1]  # rows above the horizon
    return np.nonzero(above.max(0) > 30)[0]


# ---------------------------------------------------------------------------- geometry
@pytest.mark.parametrize("where, expected", [("north", 0.5), ("east", 0.75), ("west", 0.25)])
def test_tall_object_appears_at_its_azimuth_column(where, expected):
    w = flat_world()
    cam = (100.0, 100.0)
    # a narrow 30 m tower 20 m (40 px) from the camera
    box = {
        "north": (58, 62, 98, 102),
        "east": (98, 102, 138, 142),
        "west": (98, 102, 58, 62),
    }[where]
    add_block(w, *box, height=30.0)
    H, W = 32, 128
    cols = _changed_columns(w, cam, (H, W))
    assert len(cols) > 0
    centre = cols.mean() / W
    assert abs(centre - expected) < 2 / W, (where, cols)


def test_south_object_wraps_at_column_zero():
    w = flat_world()
    add_block(w, 138, 142, 98, 102, height=30.0)
    cols = _changed_columns(w, (100.0, 100.0), (32, 128))
    assert set(cols) <= {126, 127, 0, 1, 2}


def test_wall_occludes_what_is_behind_it():
    w = flat_world()
    add_block(w, 40, 44, 90, 110, height=40.0, rgb=(0.1, 0.9, 0.1))  # far, tall, green
    add_block(w, 80, 84, 90, 110, height=20.0, rgb=(0.1, 0.1, 0.9))  # near, blue
    img = panorama(w, (100.0, 100.0), (64, 256)).astype(int)
    col = 128  # north
    near_top = np.arctan(18.3 / 8.0)  # blue top elevation from 8 m away (rad)
    rows = np.arange(64)
    elev = np.deg2rad(45 - (rows + 0.5) * 90 / 64)
    under = rows[(elev < near_top - 0.05) & (elev > 0.05)]
    assert (img[under, col, 2] > img[under, col, 1]).all(), "blue wall hides the green one"


def test_crop_has_fov_fraction_of_the_width_and_faces_the_heading():
    w = flat_world()
    add_block(w, 58, 62, 138, 142, height=30.0)  # north-east, azimuth 45
    pano = panorama(w, (100.0, 100.0), (32, 512))
    for fov in (70, 90, 180, 270, 360):
        assert crop_at_heading(pano, 0.0, fov).shape == (32, int(fov / 360 * 512), 3)
    crop = crop_at_heading(pano, 45.0, 90).astype(int)
    sky = crop_at_heading(panorama(flat_world(), (100.0, 100.0), (32, 512)), 45.0, 90).astype(int)
    cols = np.nonzero(np.abs(crop - sky).sum(-1)[:14].max(0) > 30)[0]
    assert abs(cols.mean() - crop.shape[1] / 2) <= 2


def test_satellite_tile_is_north_up():
    w = flat_world()
    add_block(w, 60, 70, 95, 105, height=5.0)  # north of the centre
    tile = satellite_tile(w, (100.0, 100.0), 80, 40)
    red = (tile[..., 0] > 150) & (tile[..., 1] < 100)
    rows, cols = np.nonzero(red)
    assert rows.mean() < 20 and abs(cols.mean() - 19.5) < 2


def test_higher_drone_covers_more_ground():
    w = flat_world()
    add_block(w, 90, 110, 90, 110, height=0.1)  # a 10 m red square at the target
    fracs = []
    for alt in (30.0, 45.0, 60.0):
        img = drone_rgb(w, (100.0, 100.0), alt, 30.0, alt / 2, 48)
        fracs.append(((img[..., 0] > 0.7) & (img[..., 1] < 0.3)).mean())
    assert fracs[0] > fracs[1] > fracs[2] > 0
    assert fracs[2] < 0.5 * fracs[0]  # ground area seen grows with distance squared


def test_drone_looks_at_the_target():
    w = flat_world()
    add_block(w, 96, 104, 96, 104, height=0.1)
    img = drone_rgb(w, (100.0, 100.0), 40.0, 200.0, 30.0, 48)
    rows, cols = np.nonzero((img[..., 0] > 0.7) & (img[..., 1] < 0.3))
    assert abs(rows.mean() - 23.5) < 2 and abs(cols.mean() - 23.5) < 2


def test_world_is_deterministic_and_styles_differ():
    a = make_world("suburb", 64, seed=3)
    b = make_world("suburb", 64, seed=3)
    c = make_world("metropolis", 64, seed=3)
    assert np.array_equal(a.albedo, b.albedo) and np.array_equal(a.height, b.height)
    assert not np.array_equal(a.albedo, c.albedo)


# ---------------------------------------------------------------------------- layouts
@pytest.fixture(scope="module")
def written(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth") / "all"
    counts = write_dataset("all", root, TINY, seed=0)
    return root, counts


def _files(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_cvusa_layout(written):
    root = written[0] / "cvusa"
    for split in ("train", "val"):
        lines = (root / f"splits/{split}-19zl.csv").read_text().splitlines()
        assert lines
        for line in lines:
            sat, pano, ann = line.split(",")
            assert re.fullmatch(r"bingmap/19/\d{7}\.jpg", sat)
            assert (root / sat).is_file() and (root / pano).is_file()
            assert pano == f"streetview/panos/{sat[11:18]}.jpg"
    h, w = Image.open(root / pano).size[::-1]
    assert (h, w) == TINY.pano_hw
    assert Image.open(root / sat).size == (TINY.sat_size, TINY.sat_size)


def test_cvact_layout(written):
    root = written[0] / "cvact"
    mat = scipy.io.loadmat(root / "ACT_data.mat")
    ids = mat["panoIds"]
    assert all(len(i) == 22 for i in ids)
    assert mat["utm"].shape == (len(ids), 2)
    train = mat["trainSet"]["trainInd"][0][0] - 1
    assert np.array_equal(train, mat["trainSet"][0][0][1] - 1)  # Sample4Geo reads it so
    val = mat["valSet"]["valInd"][0][0] - 1
    test = mat["valSetAll"]["valInd"][0][0] - 1
    assert train.shape[1] == 1 and val.shape[1] == 1
    assert set(val.ravel()) <= set(test.ravel()) and not set(train.ravel()) & set(test.ravel())
    for inds, folder in (
        (train, "ANU_data_small"),
        (val, "ANU_data_small"),
        (test, "ANU_data_test"),
    ):
        for pid in ids[inds].squeeze(1):
            assert (root / f"{folder}/streetview/{pid}_grdView.jpg").is_file()
            assert (root / f"{folder}/satview_polish/{pid}_satView_polish.jpg").is_file()
    h, w = Image.open(root / f"ANU_data_test/streetview/{ids[test[0, 0]]}_grdView.jpg").size[::-1]
    assert w == 2 * h


def test_vigor_layout_and_offsets_point_at_the_panorama(tmp_path, written):
    root = written[0] / "vigor"
    for city in ("Chicago", "NewYork", "SanFrancisco", "Seattle"):
        tiles = (root / f"splits/{city}/satellite_list.txt").read_text().split()
        assert all((root / city / "satellite" / t).is_file() for t in tiles)
        lines = (root / f"splits/{city}/pano_label_balanced.txt").read_text().splitlines()
        train = (root / f"splits/{city}/same_area_balanced_train.txt").read_text().splitlines()
        test = (root / f"splits/{city}/same_area_balanced_test.txt").read_text().splitlines()
        assert sorted(train + test) == sorted(lines)
        for line in lines:
            f = line.split(" ")
            assert len(f) == 13 and (root / city / "panorama" / f[0]).is_file()
            assert len(set(f[1::3])) == 4 and set(f[1::3]) <= set(tiles)
            # the file names' lat/lng give the same offsets as the label (independent check)
            _, lat, lng, _ = f[0].split(",")
            lat0, _ = vigor.CITY_LATLNG[city]
            for sat, d_row, d_col in zip(f[1::3], f[2::3], f[3::3]):
                tlat, tlng = map(float, sat[len("satellite_") : -4].split("_"))
                row_m = (tlat - float(lat)) * vigor.M_PER_DEG
                col_m = (float(lng) - tlng) * vigor.M_PER_DEG * np.cos(np.deg2rad(lat0))
                S = TINY.sat_size
                r, c = vigor.offset_to_pixel(float(d_row), float(d_col), S)
                assert abs(r - (S / 2 + row_m / vigor.TILE_M * S)) < 0.1
                assert abs(c - (S / 2 + col_m / vigor.TILE_M * S)) < 0.1
            assert max(abs(float(x)) for x in f[2:4]) <= 160 + 1e-6  # positive: central quarter


def test_vigor_offset_pixel_shows_the_ground_under_the_panorama(tmp_path):
    """Clean captures: the panorama's nadir row sees the ground under the camera, which is
    the satellite pixel the label points at (and not a pixel elsewhere in the tile)."""
    prof = TINY.replace(num_locations=16, pano_hw=(32, 128), sat_size=72)
    root = tmp_path / "v"
    write_dataset("vigor", root, prof, seed=1, **CLEAN)
    err_true, err_other = [], []
    for line in (root / "splits/Seattle/pano_label_balanced.txt").read_text().splitlines():
        f = line.split(" ")
        pano = np.asarray(Image.open(root / "Seattle/panorama" / f[0]), float)
        tile = np.asarray(Image.open(root / "Seattle/satellite" / f[1]), float)
        nadir = np.median(pano[-1], 0)
        r, c = vigor.offset_to_pixel(float(f[2]), float(f[3]), 72)
        err_true.append(np.abs(tile[int(r), int(c)] - nadir).sum())
        err_other.append(np.abs(tile[int(r + 24) % 72, int(c + 24) % 72] - nadir).sum())
    assert np.median(err_true) < 25 and np.median(err_true) < np.median(err_other)


def test_university1652_layout(written):
    root = written[0] / "university1652"
    train = sorted(p.name for p in (root / "train/satellite").iterdir())
    assert len(train) == TINY.num_buildings and all(re.fullmatch(r"\d{4}", c) for c in train)
    for c in train:
        assert (root / f"train/satellite/{c}/{c}.jpg").is_file()
        drones = sorted(p.name for p in (root / f"train/drone/{c}").iterdir())
        assert drones == [f"image-{i:02d}.jpeg" for i in range(1, TINY.drone_views + 1)]
        assert any((root / f"train/street/{c}").iterdir())
        assert (root / f"train/google/{c}").is_dir()
    q = {p.name for p in (root / "test/query_drone").iterdir()}
    g = {p.name for p in (root / "test/gallery_satellite").iterdir()}
    assert q == {p.name for p in (root / "test/query_satellite").iterdir()}
    assert q < g and not q & set(train)  # distractors: gallery buildings in no query
    assert g == {p.name for p in (root / "test/gallery_drone").iterdir()}
    assert q == {p.name for p in (root / "test/query_street").iterdir()}


def test_sues200_layout(written):
    root = written[0] / "sues200/SUES-200-512x512"
    locs = sorted(p.name for p in (root / "satellite-view").iterdir())
    assert locs == [f"{i:04d}" for i in range(1, TINY.num_buildings + 1)]
    for loc in locs:
        assert (root / f"satellite-view/{loc}/0.png").is_file()
        for h in (150, 200, 250, 300):
            assert len(list((root / f"drone_view_512/{loc}/{h}").glob("*.jpg"))) == TINY.sues_views
    for h in (150, 200, 250, 300):
        tr = {p.name for p in (root / f"Training/{h}/drone").iterdir()}
        qd = {p.name for p in (root / f"Testing/{h}/query_drone").iterdir()}
        assert tr | qd == set(locs) and not tr & qd
        assert {p.name for p in (root / f"Testing/{h}/gallery_satellite").iterdir()} == set(locs)
        assert {p.name for p in (root / f"Testing/{h}/gallery_drone").iterdir()} == set(locs)
        assert {p.name for p in (root / f"Training/{h}/satellite").iterdir()} == tr


def test_counts_match_files(written):
    root, counts = written
    assert counts["cvusa/train/ground"] + counts["cvusa/val/ground"] == TINY.num_locations
    n_jpg = len(list((root / "cvusa/streetview/panos").glob("*.jpg")))
    assert n_jpg == TINY.num_locations


@pytest.mark.slow
def test_same_seed_same_bytes(tmp_path, written):
    again = tmp_path / "again"
    write_dataset("all", again, TINY, seed=0, workers=2)  # parallel: same bytes too
    assert _files(written[0]) == _files(again)
    other = tmp_path / "other"
    write_dataset("cvusa", other, TINY, seed=1)
    a = _files(written[0] / "cvusa")
    assert any(a[k] != v for k, v in _files(other).items() if k in a and k.endswith(".jpg"))


def test_ensure_dataset_reuses_a_matching_cache(tmp_path):
    root = ensure_dataset("cvusa", tmp_path, TINY, seed=0)
    stamp = (root / "splits/train-19zl.csv").stat().st_mtime_ns
    assert ensure_dataset("cvusa", tmp_path, TINY, seed=0) == root
    assert (root / "splits/train-19zl.csv").stat().st_mtime_ns == stamp
    ensure_dataset("cvusa", tmp_path, TINY, seed=0, noise=0.0)  # other knobs: rewritten
    assert (root / "splits/train-19zl.csv").stat().st_mtime_ns != stamp
    assert world_knobs("cvusa", tmp_path) == {"noise": 0.0}
    # a world written with other knobs is kept when no knobs are asked for (a notebook's
    # data_dir pointing at it), and its knobs enter the run key of what trains on it
    stamp = (root / "splits/train-19zl.csv").stat().st_mtime_ns
    assert ensure_dataset("cvusa", tmp_path, TINY, seed=0) == root
    assert (root / "splits/train-19zl.csv").stat().st_mtime_ns == stamp
    from cvgl_core.config import load_config
    from cvgl_core.study import run_key

    cfg = load_config("configs/baseline/cvusa_smoke.yaml")
    cfg.data.data_dir = str(tmp_path / "elsewhere")  # nothing there: the default world
    default_key = run_key(cfg)
    cfg.data.data_dir = str(tmp_path)
    assert run_key(cfg) != default_key
    assert world_knobs("cvact", tmp_path) == {}  # no such world


# ---------------------------------------------------------------------------- bad input
def test_bad_inputs_give_one_clear_error_and_leave_nothing(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["synth", "--layout", "cvusb", "--out", str(out)]) == 2
    assert "Did you mean 'cvusa'" in capsys.readouterr().err
    assert main(["synth", "--layout", "cvusa", "--profile", "laptop", "--out", str(out)]) == 2
    assert "unknown profile 'laptop'" in capsys.readouterr().err
    assert main(["synth", "--layout", "cvusa", "--profile", "paper", "--out", str(out)]) == 2
    assert "no synthetic world" in capsys.readouterr().err
    assert main(["synth", "--layout", "cvusa", "--knob", "nois=0.1", "--out", str(out)]) == 2
    assert "Did you mean 'noise'" in capsys.readouterr().err
    with pytest.raises(ValueError, match="must be a number in"):
        make_knobs(noise=2.0)
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main(["synth", "--layout", "cvusa", "--out", str(out)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no temporary folder left


def test_path_that_cannot_be_created(tmp_path, capsys):
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    assert main(["synth", "--layout", "cvusa", "--out", str(a_file / "ds")]) == 2
    assert "cannot write to" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]
    if Path("/sys/kernel").is_dir():  # sysfs refuses new folders, even to root
        assert main(["synth", "--layout", "cvusa", "--out", "/sys/cvgl_synth_ds"]) == 2
        assert "cannot write to /sys/cvgl_synth_ds" in capsys.readouterr().err


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_non_writable_path(tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        assert main(["synth", "--layout", "cvusa", "--out", str(locked / "ds")]) == 2
        assert "not writable" in capsys.readouterr().err
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o700)


def test_failure_midway_leaves_no_partial_dataset(tmp_path, monkeypatch):
    from cvgl_core.synth.layouts import cvusa

    def boom(*a, **k):
        raise RuntimeError("renderer failed")

    monkeypatch.setattr(cvusa, "panorama", boom)
    with pytest.raises(RuntimeError):
        write_dataset("cvusa", tmp_path / "ds", TINY)
    assert list(tmp_path.iterdir()) == []
