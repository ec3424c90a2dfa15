"""An empty split listing is an error in every layout: `data check` fails naming it and the
dataset classes refuse to build an empty split (a model trained on nothing is no result)."""

import shutil

import numpy as np
import pytest
from data_fixtures import write_cvact, write_cvusa, write_sues, write_university, write_vigor

from cvgl_core.cli import main
from cvgl_core.data import build_dataset


def _empty_cvusa(root):
    write_cvusa(root)
    (root / "splits/train-19zl.csv").write_text("")
    return "cvusa", "train-19zl.csv: empty split file"


def _empty_cvact(root):
    import scipy.io

    write_cvact(root)
    mat = scipy.io.loadmat(root / "ACT_data.mat")
    empty = np.zeros((0, 1))
    scipy.io.savemat(
        root / "ACT_data.mat",
        {**{k: mat[k] for k in ("panoIds", "utm", "valSet", "valSetAll")},
         "trainSet": {"trainNum": 0.0, "trainInd": empty}},
    )  # fmt: skip
    return "cvact", "no items"


def _empty_vigor(root):
    write_vigor(root)
    for f in root.glob("splits/*/same_area_balanced_train.txt"):
        f.write_text("")
    return "vigor", "no items"


def _empty_university(root):
    write_university(root)
    for d in (root / "train/drone").iterdir():
        shutil.rmtree(d)
    return "university1652", "no items"


def _empty_sues(root):
    write_sues(root)
    for f in root.glob("drone_view_512/*/150/*.jpg"):  # the 150 m folders, emptied
        f.unlink()
    return "sues200", "no items"


@pytest.mark.parametrize(
    "make", [_empty_cvusa, _empty_cvact, _empty_vigor, _empty_university, _empty_sues]
)
def test_empty_split_fails_check_and_dataset(tmp_path, capsys, make):
    name, says = make(tmp_path)
    assert main(["data", "check", name, str(tmp_path), "--no-decode"]) == 1
    out = capsys.readouterr()
    assert "empty" in out.out and says in out.out, out.out
    assert out.err.startswith("error:") and out.err.count("\n") == 1
    with pytest.raises(ValueError, match=says):
        options = {"altitude": 150} if name == "sues200" else {}
        build_dataset(name, tmp_path, "train", "pair", **options)


def test_a_folder_with_no_split_at_all_fails_check(tmp_path, capsys):
    write_sues(tmp_path)
    for d in (tmp_path / "drone_view_512").iterdir():
        shutil.rmtree(d)  # no altitude folder left: nothing to check is not "ok"
    assert main(["data", "check", "sues200", str(tmp_path)]) == 1
    assert "nothing to check" in capsys.readouterr().err
