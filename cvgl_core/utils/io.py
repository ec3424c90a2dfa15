"""Atomic writes: a reader (or a crash) never sees a half-written result or checkpoint.

Every file is written beside its destination under a temporary name, flushed and
fsynced, then renamed over the destination (rename is atomic on POSIX within one
file system). Folders are built under a temporary name and renamed as a whole.

Modes follow the umask: mkstemp creates 0600 files and mkdtemp 0700 folders whatever the
umask, so both are chmod-ed to what a plain open() / mkdir() would give (a replaced file
keeps its mode, as open(path, "w") keeps it), and colleagues sharing a lab server can read
results and generated data.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path


def current_umask() -> int:
    """The process umask, read without changing it where Linux exposes it."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # elsewhere: set and restore (not thread-safe, but brief)
    os.umask(mask)
    return mask


def _plain_mode(path: Path, default: int) -> int:
    """The mode open() (default 0o666) or mkdir() (0o777) would leave at `path`."""
    with contextlib.suppress(FileNotFoundError):
        return stat.S_IMODE(path.stat().st_mode)
    return default & ~current_umask()


def check_parent_writable(path: Path) -> None:
    """Create path's folder if needed; one PermissionError naming it when it is read-only."""
    parent = path.parent
    parent.mkdir(parents=True, exist_ok=True)
    if not os.access(parent, os.W_OK):
        raise PermissionError(f"cannot write to {parent}: the folder is not writable")


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    path = Path(path)
    check_parent_writable(path)
    mode = _plain_mode(path, 0o666)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    return atomic_write_bytes(path, text.encode(encoding))


def atomic_torch_save(obj, path: str | os.PathLike) -> Path:
    """torch.save through a temporary file, so a killed process leaves the old file intact."""
    import io

    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    return atomic_write_bytes(path, buf.getvalue())


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary folder that becomes `path` only if the block succeeds.

    Raises FileExistsError when `path` exists and is not empty unless `overwrite`.
    On any exception the temporary folder is removed and `path` is untouched.
    """
    path = Path(path)
    if path.exists():
        if not path.is_dir():
            raise FileExistsError(f"{path} exists and is not a folder")
        if any(path.iterdir()) and not overwrite:
            raise FileExistsError(
                f"{path} exists and is not empty; pass overwrite=True (--overwrite) to replace it"
            )
    check_parent_writable(path)
    mode = _plain_mode(path, 0o777)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    os.chmod(tmp, mode)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if path.exists():
        # Move the old folder aside first so that there is no moment with neither.
        old = path.with_name(f".{path.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(path, old)
        os.replace(tmp, path)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, path)
