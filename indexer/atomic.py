"""Atomic file writes: a temporary file in the target's folder, fsync, rename over the target, fsync the folder.

A reader (or a crash at any moment) sees the old file or the new one, never half of one. The temporary is
named `.<target name>.<random><suffix>` beside the target, so whoever owns the folder can recognise and
remove the leftovers of a writer that was killed (`remove_stale_temporaries`).

- `atomic_file` / `atomic_write_bytes` / `atomic_write_text`: write the content yourself;
- `atomic_path`: a library writes to a path (safetensors, PIL, matplotlib, pyarrow);
- `atomic_dir`: a whole folder (a checkpoint), swapped in with renames;
- `exclusive=True`: never replace an existing file (the final step is a hard link, which fails when the name
  is taken) - FileExistsError instead.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

NEW_FILE_MODE = 0o644


@contextmanager
def atomic_path(path: str | os.PathLike[str], *, suffix: str = ".tmp", exclusive: bool = False,
                mode: int | None = None) -> Iterator[Path]:
    """Yield a temporary path beside `path` for a writer that takes a file name; when the block ends without
    an error the file is fsynced and replaces `path` (with `exclusive`, is linked to it: FileExistsError when
    `path` exists). On any error the temporary is removed and `path` is untouched.

    The file gets `mode`, else the replaced file's permission bits, else 0644 (not mkstemp's 0600)."""
    path = Path(path)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    tmp = Path(name)
    try:
        _set_mode(fd, path, mode)
        os.close(fd)
        yield tmp
        _fsync_file(tmp)
        _publish(tmp, path, exclusive)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    fsync_dir(path.parent)


@contextmanager
def atomic_file(path: str | os.PathLike[str], *, suffix: str = ".tmp", exclusive: bool = False,
                mode: int | None = None) -> Iterator[BinaryIO]:
    """Yield a binary file to write `path`'s new content into; it replaces `path` only if the block ends
    without an error (see `atomic_path` for `exclusive` and `mode`)."""
    with atomic_path(path, suffix=suffix, exclusive=exclusive, mode=mode) as tmp, open(tmp, "wb") as f:
        yield f


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, *, suffix: str = ".tmp",
                       exclusive: bool = False, mode: int | None = None) -> None:
    """Replace `path` with `data` atomically."""
    with atomic_file(path, suffix=suffix, exclusive=exclusive, mode=mode) as f:
        f.write(data)


def atomic_write_text(path: str | os.PathLike[str], text: str, *, encoding: str = "utf-8",
                      suffix: str = ".tmp") -> None:
    """Replace `path` with `text` atomically."""
    atomic_write_bytes(path, text.encode(encoding), suffix=suffix)


@contextmanager
def atomic_dir(path: str | os.PathLike[str], *, previous: str | os.PathLike[str] | None = None) -> Iterator[Path]:
    """Yield a fresh temporary folder beside `path` to fill; when the block ends without an error every file in
    it is fsynced and it replaces the folder `path`. The old folder is first renamed to `previous` (default a
    temporary name) and removed once the new one is in place, so a crash leaves `path` or `previous` complete.
    A `previous` left by an interrupted swap is kept until the new folder is in place. On an error the
    temporary folder is removed and `path` is untouched."""
    path = Path(path)
    old = Path(previous) if previous is not None else path.parent / f".{path.name}.old.tmp"
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        _fsync_tree(tmp)
        if path.exists():
            if old.exists():
                shutil.rmtree(old)  # an older swap's leftover: `path` is the complete one
            os.replace(path, old)
        os.replace(tmp, path)
        fsync_dir(path.parent)
        if old.exists():
            shutil.rmtree(old)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def remove_stale_temporaries(path: str | os.PathLike[str], *, suffix: str = ".tmp",
                             older_than_s: float = 0.0) -> list[str]:
    """Delete the temporaries a killed writer of `path` left beside it (`.<name>.*<suffix>` files, at least
    `older_than_s` old, so a writer still at work keeps its own); return their names."""
    path = Path(path)
    removed = []
    now = time.time()
    for leftover in path.parent.glob(f".{path.name}.*"):
        if not leftover.name.endswith(suffix) or leftover.is_symlink() or not leftover.is_file():
            continue
        with contextlib.suppress(FileNotFoundError):
            if now - leftover.stat().st_mtime >= older_than_s:
                leftover.unlink()
                removed.append(leftover.name)
    return sorted(removed)


def fsync_dir(directory: str | os.PathLike[str]) -> None:
    """Make a rename in `directory` durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _publish(tmp: Path, path: Path, exclusive: bool) -> None:
    if not exclusive:
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise
    except OSError:  # a filesystem without hard links: exclusive create, still never clobbers
        with open(tmp, "rb") as src, open(path, "xb") as dst:
            shutil.copyfileobj(src, dst)
            dst.flush()
            os.fsync(dst.fileno())


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(root: Path) -> None:
    """fsync every file and folder under `root` (so a rename publishes complete content)."""
    for folder, _, files in os.walk(root):
        for name in files:
            _fsync_file(Path(folder) / name)
        fsync_dir(folder)


def _set_mode(fd: int, path: Path, mode: int | None) -> None:
    if mode is None:
        try:
            mode = path.stat().st_mode & 0o777
        except FileNotFoundError:
            mode = NEW_FILE_MODE
    with contextlib.suppress(AttributeError, OSError):  # no fchmod on Windows
        os.fchmod(fd, mode)
