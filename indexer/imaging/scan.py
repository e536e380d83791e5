"""Find image files under one or more roots: recursive, sorted, never following a loop, never crashing.

`scan` yields a `FoundFile` for every candidate image and a `ScanProblem` (path + reason) for anything
it had to skip that a user would want to hear about: a root that does not exist, a broken symlink, a
directory it cannot list, a file it cannot stat, a non-regular file with an image name (FIFO, socket,
device), a name that is not valid UTF-8. Files with other extensions and hidden (dot-prefixed) entries
are skipped silently and only counted in an optional `ScanStats`.

Order is deterministic: roots sorted, then depth-first with each directory's entries sorted by name, so
the output equals a sort by path components. Directory symlinks are not followed by default; with
``follow_symlinks=True`` they are, and a directory already visited (a loop, or the same directory seen
twice) is reported and not entered again. File symlinks are followed (the link's own path is yielded,
size and mtime are the target's). Everything here is plain data, safe to pickle to worker processes.
"""
from __future__ import annotations

import errno
import os
import stat
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".gif", ".tif", ".tiff", ".bmp", ".dib"}
)
"""Lower-case extensions (with the dot) of the formats `decode_file` accepts; matched case-insensitively."""


@dataclass(frozen=True)
class FoundFile:
    """A candidate image: absolute normalised path, size in bytes, modification time in ns."""

    path: str
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class ScanProblem:
    """Something scan skipped on purpose. `path` is printable UTF-8 (undecodable bytes escaped as \\xNN)."""

    path: str
    reason: str


@dataclass
class ScanStats:
    """Counters filled in by `scan` when passed as ``stats=``; read them after the iterator is exhausted."""

    dirs: int = 0
    found: int = 0
    problems: int = 0
    ignored: int = 0
    hidden: int = 0
    dir_symlinks_skipped: int = 0
    ignored_extensions: Counter[str] = field(default_factory=Counter)


def printable_path(path: str | bytes | os.PathLike[str] | os.PathLike[bytes]) -> str:
    """`path` as valid UTF-8 text: bytes that are not UTF-8 become ``\\xNN`` escapes (lossy, for display)."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def is_valid_utf8_path(path: str) -> bool:
    """True when `path` (a str from the OS, possibly with surrogate escapes) can be stored as UTF-8 text."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def normalise(path: str | os.PathLike[str]) -> str:
    """Absolute, normalised path as str; symlinks are kept as they are (not resolved)."""
    return os.path.normpath(os.path.abspath(os.fspath(path)))


def has_image_extension(name: str, extensions: frozenset[str] = IMAGE_EXTENSIONS) -> bool:
    """Case-insensitive check of `name`'s extension against `extensions`."""
    return os.path.splitext(name)[1].lower() in extensions


def scan(
    roots: Sequence[str | Path],
    *,
    extensions: frozenset[str] = IMAGE_EXTENSIONS,
    include_hidden: bool = False,
    follow_symlinks: bool = False,
    stats: ScanStats | None = None,
) -> Iterator[FoundFile | ScanProblem]:
    """Yield `FoundFile` / `ScanProblem` for every image-named file under `roots` (files or directories).

    A root that is a file is yielded whatever its extension or name (the caller asked for it
    explicitly); overlapping roots yield each file once. `stats`, if given, is updated as items are
    yielded.
    """
    st = stats if stats is not None else ScanStats()
    visited: set[tuple[int, int]] = set()
    unique_roots = sorted({normalise(r) for r in roots})
    seen: set[str] | None = set() if len(unique_roots) > 1 else None  # overlapping roots: each file once
    for root in unique_roots:
        for item in _scan_root(root, extensions, include_hidden, follow_symlinks, st, visited):
            if isinstance(item, FoundFile):
                if seen is not None:
                    if item.path in seen:
                        continue
                    seen.add(item.path)
                st.found += 1
            else:
                st.problems += 1
            yield item


def _scan_root(
    root: str,
    extensions: frozenset[str],
    include_hidden: bool,
    follow_symlinks: bool,
    st: ScanStats,
    visited: set[tuple[int, int]],
) -> Iterator[FoundFile | ScanProblem]:
    if not is_valid_utf8_path(root):
        yield ScanProblem(printable_path(root), "path is not valid UTF-8 (cannot be stored); skipped")
        return
    try:
        info = os.stat(root)
    except FileNotFoundError:
        if os.path.islink(root):
            yield ScanProblem(root, "broken symlink (root target does not exist)")
        else:
            yield ScanProblem(root, "root does not exist")
        return
    except OSError as exc:
        yield ScanProblem(root, _os_reason("cannot stat root", exc))
        return
    if stat.S_ISDIR(info.st_mode):
        key = (info.st_dev, info.st_ino)
        if key in visited:  # already scanned as part of an earlier root
            return
        visited.add(key)
        yield from _walk(root, extensions, include_hidden, follow_symlinks, st, visited)
    elif stat.S_ISREG(info.st_mode):
        yield FoundFile(root, info.st_size, info.st_mtime_ns)
    else:
        yield ScanProblem(root, f"not a regular file ({_kind(info.st_mode)})")


def _walk(
    top: str,
    extensions: frozenset[str],
    include_hidden: bool,
    follow_symlinks: bool,
    st: ScanStats,
    visited: set[tuple[int, int]],
) -> Iterator[FoundFile | ScanProblem]:
    """Depth-first, sorted, iterative (no recursion limit on deep trees)."""
    stack: list[Iterator[os.DirEntry[str]]] = []
    listing = _list_dir(top, st)
    if isinstance(listing, ScanProblem):
        yield listing
        return
    stack.append(iter(listing))
    while stack:
        entry = next(stack[-1], None)
        if entry is None:
            stack.pop()
            continue
        if entry.name.startswith(".") and not include_hidden:
            st.hidden += 1
            continue
        path = entry.path
        try:
            is_link = entry.is_symlink()
            is_dir = entry.is_dir(follow_symlinks=False)
        except OSError as exc:  # pragma: no cover - d_type is cached on Linux; only exotic filesystems fail
            yield ScanProblem(printable_path(path), _os_reason("cannot inspect entry", exc))
            continue
        if is_dir or (is_link and follow_symlinks and _points_to_dir(path)):
            if not is_valid_utf8_path(path):
                yield ScanProblem(
                    printable_path(path), "directory name is not valid UTF-8 (cannot be stored); contents skipped"
                )
                continue
            try:
                dinfo = os.stat(path)
            except OSError as exc:
                yield ScanProblem(path, _os_reason("cannot stat directory", exc))
                continue
            key = (dinfo.st_dev, dinfo.st_ino)
            if key in visited:
                yield ScanProblem(path, "directory already scanned (symlink loop or duplicate link); not entered again")
                continue
            visited.add(key)
            listing = _list_dir(path, st)
            if isinstance(listing, ScanProblem):
                yield listing
            else:
                stack.append(iter(listing))
            continue
        if is_link and _points_to_dir(path):
            st.dir_symlinks_skipped += 1
            continue
        if not has_image_extension(entry.name, extensions):
            st.ignored += 1
            st.ignored_extensions[os.path.splitext(entry.name)[1].lower() or "(none)"] += 1
            continue
        if not is_valid_utf8_path(path):
            yield ScanProblem(printable_path(path), "file name is not valid UTF-8 (cannot be stored); skipped")
            continue
        yield _stat_file(path, is_link)


def _list_dir(path: str, st: ScanStats) -> list[os.DirEntry[str]] | ScanProblem:
    try:
        with os.scandir(path) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError as exc:
        return ScanProblem(printable_path(path), _os_reason("unreadable directory", exc))
    st.dirs += 1
    return entries


def _stat_file(path: str, is_link: bool) -> FoundFile | ScanProblem:
    try:
        info = os.stat(path)
    except OSError as exc:
        if is_link and exc.errno == errno.ELOOP:
            return ScanProblem(path, "broken symlink (symlink loop)")
        if is_link and isinstance(exc, FileNotFoundError):
            return ScanProblem(path, f"broken symlink (target missing: {_link_target(path)})")
        return ScanProblem(path, _os_reason("unreadable file (cannot stat)", exc))
    if not stat.S_ISREG(info.st_mode):
        return ScanProblem(path, f"not a regular file ({_kind(info.st_mode)})")
    return FoundFile(path, info.st_size, info.st_mtime_ns)


def _points_to_dir(path: str) -> bool:
    try:
        return stat.S_ISDIR(os.stat(path).st_mode)
    except OSError:
        return False


def _link_target(path: str) -> str:
    try:
        return printable_path(os.readlink(path))
    except OSError:  # pragma: no cover
        return "?"


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "directory"
    if stat.S_ISFIFO(mode):
        return "FIFO"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    return "special file"


def _os_reason(prefix: str, exc: OSError) -> str:
    return f"{prefix}: {exc.strerror or type(exc).__name__}"
