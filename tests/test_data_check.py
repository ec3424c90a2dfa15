"""`python -m cvgl_core data check NAME ROOT` on good and broken folders."""

import pytest
from data_fixtures import write_cvact, write_cvusa, write_sues, write_university, write_vigor

from cvgl_core.cli import main
from cvgl_core.data.check import check_dataset


def _run(capsys, *argv):
    rc = main(["data", "check", *map(str, argv)])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_check_names_every_problem_of_a_broken_cvusa_folder(tmp_path, capsys):
    write_cvusa(tmp_path, n_train=4, n_val=3)
    (tmp_path / "streetview/panos/0000002.jpg").unlink()  # deleted image
    sat = tmp_path / "bingmap/19/0000003.jpg"
    sat.write_bytes(sat.read_bytes()[:60])  # truncated JPEG
    csv = tmp_path / "splits/val-19zl.csv"
    csv.write_text(
        csv.read_text()
        + "bingmap/19/0009999.jpg,streetview/panos/0009999.jpg,streetview/annotations/x.png\n"
        + "garbage-line\n"
    )
    rc, out, err = _run(capsys, "cvusa", tmp_path)
    assert rc == 1
    assert "panos/0000002.jpg: file not found" in out and "train-19zl.csv:2" in out
    assert "0000003.jpg: cannot read image" in out and "train-19zl.csv:3" in out
    assert "0009999.jpg: file not found" in out and "val-19zl.csv:4" in out
    assert "val-19zl.csv:5: malformed line 'garbage-line'" in out
    assert err.startswith("error: 5 problem(s); first (missing)") and "train-19zl.csv:2" in err
    # per split and view counts (the line pointing nowhere counts as an item, missing)
    assert any(l.split()[:5] == ["train", "ground", "4", "1", "0"] for l in out.splitlines())
    assert any(l.split()[:5] == ["train", "satellite", "4", "0", "1"] for l in out.splitlines())
    assert any(l.split()[:5] == ["val", "ground", "4", "1", "0"] for l in out.splitlines())


def test_check_good_folders_exit_zero_with_counts(tmp_path, capsys):
    write_cvusa(tmp_path / "cvusa", nested=True)
    rc, out, _ = _run(capsys, "cvusa", tmp_path / "cvusa")
    assert rc == 0 and "ok: cvusa" in out
    write_university(tmp_path / "u")
    rep = check_dataset("university1652", tmp_path / "u", log=lambda *a: None)
    assert rep.ok
    c = rep.counts()
    assert c[("train", "drone")] == 6 and c[("train", "street")] == 2
    assert c[("train google", "street")] == 1  # building 0002's google folder is empty
    assert c[("test gallery_satellite", "satellite")] == 3
    write_vigor(tmp_path / "v", tiles=4, panos=2)
    rep = check_dataset("auto", tmp_path / "v", log=lambda *a: None)
    assert rep.ok and rep.name == "vigor"
    assert rep.counts()[("same-area test", "ground")] == 8
    assert rep.counts()[("cross-area train", "satellite")] == 8
    write_sues(tmp_path / "s")
    rep = check_dataset("sues200", tmp_path / "s", log=lambda *a: None)
    assert rep.ok and rep.counts()[("200 test gallery", "drone")] == 8


def test_check_cvact_missing_ids_only_warn(tmp_path, capsys):
    write_cvact(tmp_path, missing_test=(8,))
    rc, out, _ = _run(capsys, "cvact", tmp_path)
    assert rc == 0 and "warning:" in out and "the loader skips it" in out


def test_check_bad_input(tmp_path, capsys):
    rc, _, err = _run(capsys, "cvusa", tmp_path / "missing")
    assert rc == 2 and "does not exist" in err and "missing" in err
    (tmp_path / "empty").mkdir()
    rc, _, err = _run(capsys, "vigor", tmp_path / "empty")
    assert rc == 2 and "does not look like VIGOR" in err
    rc, _, err = _run(capsys, "auto", tmp_path / "empty")
    assert rc == 2 and "matches no known dataset layout" in err
    write_university(tmp_path / "u")
    bad = tmp_path / "u/test/gallery_drone/0005/image-01.jpeg"
    bad.write_bytes(b"not a jpeg at all")
    rc, out, err = _run(capsys, "university1652", tmp_path / "u")
    assert rc == 1 and "image-01.jpeg: cannot read image" in err


def test_check_cli_help_lists_the_subcommand(capsys):
    with pytest.raises(SystemExit):
        main(["data", "--help"])
    assert "check" in capsys.readouterr().out
