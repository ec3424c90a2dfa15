"""Atomic writers leave the modes a plain open() / mkdir() would under the current umask
(mkstemp alone gives 0600 files and mkdtemp 0700 folders, unreadable to colleagues)."""

import os
import stat

import pytest

from cvgl_core.utils import atomic_dir, atomic_write_text
from cvgl_core.utils.io import current_umask


@pytest.fixture
def umask():
    old = os.umask(0o022)
    os.umask(old)

    def set_mask(mask):
        os.umask(mask)

    yield set_mask
    os.umask(old)


def _mode(path):
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("mask", [0o022, 0o002])
def test_atomic_writers_honour_the_umask(tmp_path, umask, mask):
    umask(mask)
    assert current_umask() == mask
    plain_file, plain_dir = tmp_path / "plain.txt", tmp_path / "plain"
    plain_file.write_text("x")
    plain_dir.mkdir()
    atomic_write_text(tmp_path / "a.txt", "x")
    assert _mode(tmp_path / "a.txt") == _mode(plain_file) == 0o666 & ~mask
    with atomic_dir(tmp_path / "d") as d:
        (d / "f").write_text("x")
    assert _mode(tmp_path / "d") == _mode(plain_dir) == 0o777 & ~mask


def test_atomic_write_keeps_the_mode_of_the_file_it_replaces(tmp_path, umask):
    umask(0o022)
    path = tmp_path / "shared.csv"
    path.write_text("old")
    path.chmod(0o664)  # widened by hand, as open(path, "w") would keep it
    atomic_write_text(path, "new")
    assert path.read_text() == "new" and _mode(path) == 0o664
