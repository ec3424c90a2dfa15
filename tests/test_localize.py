"""`index build` / `localize` on a folder in the VIGOR layout and on a folder of tiles with a
CSV, the Python API, bad input (one clear line each), and the localisation metrics."""

from __future__ import annotations

import numpy as np
import pytest

from cvgl_core.cli import main
from cvgl_core.data import build_dataset
from cvgl_core.evaluation import evaluate_retrieval
from cvgl_core.localize import (
    Index,
    build_index,
    build_index_from_folder,
    distance_m,
    evaluate_localization,
    load_model,
)
from tests.data_fixtures import write_image
from tests.localize_toy import save_checkpoint, toy_config, vigor_world


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("localize")
    root = vigor_world(tmp)
    ckpt = save_checkpoint(tmp / "best.pt", toy_config(root), seed=0)
    other = save_checkpoint(tmp / "other.pt", toy_config(root), seed=1)
    assert main(["index", "build", "--checkpoint", str(ckpt), "--out", str(tmp / "g.idx")]) == 0
    return dict(tmp=tmp, root=root, ckpt=ckpt, other=other, index=tmp / "g.idx")


def pano(world, k=2, city="NewYork"):
    return next((world["root"] / city / "panorama").glob(f"pano0{k:03d},*"))


def test_localize_prints_ranked_tiles_with_errors_and_writes_a_figure(world, capsys):
    photo = pano(world)  # 'pano0002,40.002000,-73.500000,.jpg': its name holds the truth
    fig = world["tmp"] / "fig.png"
    argv = ["localize", "--index", str(world["index"]), str(photo), "--top", "3"]
    assert main([*argv, "--fov", "90", "--heading", "30", "--figure", str(fig)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == str(photo) and "rank" in lines[1]
    rows = [line.split() for line in lines[2:5]]
    assert [r[0] for r in rows] == ["1", "2", "3"]
    for r in rows:  # rank, score, lat,lon, error "m", tile; truth from the photo's name
        lat, lon = map(float, r[2].split(","))
        assert r[4] == "m" and r[5].endswith(".png")
        assert float(r[3]) == pytest.approx(
            distance_m((40.002, -73.5), (lat, lon), "latlon"), abs=0.1
        )
    assert fig.is_file() and fig.stat().st_size > 1000
    assert main(["index", "info", str(world["index"])]) == 0
    assert "24 tiles" in capsys.readouterr().out


def test_python_api_in_three_lines(world):
    index = Index.load(world["index"])
    model = index.load_model()
    matches = index.search(model, pano(world), k=5)
    assert [m.rank for m in matches] == [1, 2, 3, 4, 5]
    assert matches[0].score >= matches[-1].score
    for m in matches:
        assert m.error_m == pytest.approx(distance_m((40.002, -73.5), m.coords, "latlon"))
    assert matches[0].tile.endswith(".png") and matches[0].tile.count("/") == 2


def test_bad_input_gets_one_clear_line(world, capsys, tmp_path):
    base = ["localize", "--index", str(world["index"])]
    not_image = tmp_path / "notes.jpg"
    not_image.write_text("not an image")
    assert main([*base, str(not_image)]) == 2
    assert "cannot read image" in capsys.readouterr().err
    assert main([*base, "--checkpoint", str(world["other"]), str(pano(world))]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not the model this index was built with" in err[0]
    assert main([*base, "--view", "drone", str(pano(world))]) == 2
    assert "built for ground queries" in capsys.readouterr().err
    tile = next((world["root"] / "NewYork" / "satellite").iterdir())
    assert main([*base, str(tile)]) == 2
    assert "square image" in capsys.readouterr().err
    assert main(["localize", "--index", str(tmp_path), str(pano(world))]) == 2
    assert "not a gallery index" in capsys.readouterr().err
    with pytest.raises(ValueError, match="does not hold the weights of"):
        build_index(world["ckpt"], model=load_model(world["other"])[0])


def test_folder_of_tiles_with_a_csv_and_a_drone_model(world, tmp_path, capsys):
    for k in range(3):
        write_image(tmp_path / "tiles" / f"t{k}.png", (16, 16), k)
    csv = tmp_path / "tiles.csv"
    csv.write_text("file,x,y\n" + "".join(f"tiles/t{k}.png,{100 * k},0\n" for k in range(3)))
    drone = save_checkpoint(tmp_path / "drone.pt", toy_config(world["root"], "university1652"))
    index = build_index_from_folder(drone, csv)
    assert index.coord_kind == "metres" and index.meta["query_view"] == "drone"
    np.testing.assert_array_equal(index.coords[:, 0], [0, 100, 200])
    model = index.load_model()
    with pytest.raises(ValueError, match="looks like a ground panorama"):
        index.search(model, pano(world))
    matches = index.search(model, tmp_path / "tiles" / "t1.png", k=3, truth=(100, 0))
    assert sorted(m.error_m for m in matches) == [0, 100, 100]
    empty = tmp_path / "empty.csv"
    empty.write_text("file,x,y\n")
    out = tmp_path / "e.idx"
    assert main(["index", "build", "--checkpoint", str(drone), "--tiles", str(empty),
                 "--out", str(out)]) == 2  # fmt: skip
    assert "the gallery is empty" in capsys.readouterr().err and not out.exists()


def test_localisation_metrics_next_to_the_evaluators_recall(world):
    index = build_index(world["ckpt"], dtype="float32")
    model = index.load_model()
    cfg = toy_config(world["root"])
    q = build_dataset("vigor", world["root"], "test", "query", **cfg.data.options)
    r = build_dataset("vigor", world["root"], "test", "reference", **cfg.data.options)
    got = evaluate_localization(model, index, q, ks=(1, 5, 24))
    want = evaluate_retrieval(model, q, r, progress=False)
    assert got["R@1"] == pytest.approx(want["R@1"])
    assert got["R@5"] == pytest.approx(want["R@5"])
    assert got["R@24"] == 100.0  # the whole gallery
    assert set(got) >= {"<=25m", "<=50m", "<=100m", "<=1km", "median_m"}
    assert got["located"] == len(q)


def test_photo_transform_takes_the_datasets_image_options_only():
    from cvgl_core.localize.model import view_transform

    cfg = {"data": {"dataset": "cvact", "options": {"crop_middle_half": True, "fov": 90}}}
    t = view_transform(cfg, "ground")
    assert t.row_crop == (0.25, 0.75) and t.fov == 90 and t.size is not None
    assert view_transform(cfg, "ground", fov=180).fov == 180
    vigor = {"data": {"dataset": "vigor", "options": {"area": "cross", "sizes": {"ground": 8}}}}
    t = view_transform(vigor, "ground")
    assert t.row_crop is None and t.size == (8, 8) and t.fov is None
