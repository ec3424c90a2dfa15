"""Atomic writes, the registry, profiles and the CLI skeleton."""

import subprocess
import sys

import pytest

from cvgl_core.cli import main
from cvgl_core.profiles import PROFILES, get_profile
from cvgl_core.utils import Registry, atomic_dir, atomic_write_text


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path):
    p = tmp_path / "a" / "table.csv"
    atomic_write_text(p, "x\n")
    atomic_write_text(p, "y\n")
    assert p.read_text() == "y\n"
    assert [q.name for q in p.parent.iterdir()] == ["table.csv"]


def test_atomic_dir_failure_leaves_nothing(tmp_path):
    dest = tmp_path / "ds"
    with pytest.raises(RuntimeError), atomic_dir(dest) as tmp:
        (tmp / "half.txt").write_text("half")
        raise RuntimeError("boom")
    assert not dest.exists()
    assert list(tmp_path.iterdir()) == []


def test_atomic_dir_refuses_non_empty_unless_overwrite(tmp_path):
    dest = tmp_path / "ds"
    dest.mkdir()
    (dest / "old.txt").write_text("old")
    with pytest.raises(FileExistsError, match="not empty"), atomic_dir(dest):
        pass
    with atomic_dir(dest, overwrite=True) as tmp:
        (tmp / "new.txt").write_text("new")
    assert sorted(p.name for p in dest.iterdir()) == ["new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]


def test_registry_unknown_name_lists_known_and_closest():
    reg = Registry("model")
    reg.register("lrfr")(lambda **kw: ("lrfr", kw))
    reg.register("mfrgn")(lambda **kw: ("mfrgn", kw))
    assert reg.create("LRFR", a=1) == ("lrfr", {"a": 1})
    with pytest.raises(KeyError, match=r"Did you mean 'lrfr'.*Known: lrfr, mfrgn"):
        reg.create("lrfrr")


def test_profiles_are_ordered_by_size():
    smoke, cpu = get_profile("smoke"), get_profile("cpu")
    assert smoke.num_locations < cpu.num_locations
    assert smoke.sat_size <= cpu.sat_size
    # no hub weights below the paper profile: smoke starts at random, cpu from the stand-in
    assert smoke.pretrained is False and cpu.pretrained == "standin"
    assert get_profile("paper").pretrained is True
    assert set(PROFILES) == {"smoke", "cpu", "paper"}
    with pytest.raises(KeyError, match="known: smoke, cpu, paper"):
        get_profile("laptop")


def test_cli_help_lists_every_command():
    out = subprocess.run(
        [sys.executable, "-m", "cvgl_core", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for cmd in ("notebooks",):
        assert cmd in out


def test_cli_bad_input_is_one_line(capsys):
    assert main(["notebooks", "--only", "no-such-notebook"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no notebook") and err.count("\n") == 1


def test_paper_profile_without_data_root_is_one_clear_error(capsys):
    assert main(["notebooks", "--profile", "paper", "--only", "00"]) == 2
    err = capsys.readouterr().err
    assert "-p data_root=" in err and err.count("\n") == 1
