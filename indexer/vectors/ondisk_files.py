"""Files of one on-disk index and their integrity: a folder published whole, checked cheaply on open.

An on-disk index is the folder `<out_dir>/<name>/` holding

* `index.faiss`   - the small part: coarse quantizer, PQ tables, per-list sizes and offsets;
* `lists.ivfdata` - the inverted lists (codes + ids), memory-mapped by queries, never read whole;
* `ids.npy`       - every stored id, sorted int64, memory-mappable (`ids()` / `contains()` without a list walk);
* `manifest.json` - dim, metric, choice, ntotal, and size + sha256 of the three files above.

The folder is filled under a temporary name and swapped in by `atomic.atomic_dir`, so a reader sees the old
index or the new one, never a mix; a killed build leaves only `.<name>.*.tmp` folders that
`remove_build_temporaries` deletes. Faiss opens `lists.ivfdata` by the basename recorded in `index.faiss`
relative to the folder it is read from (IO_FLAG_ONDISK_SAME_DIR), so the folder can be moved.

`check_files` (every open) compares sizes and hashes only `index.faiss` and `ids.npy` while they are small (up
to CHEAP_MAX_BYTES, so a cold open stays well under a second); `verify` also hashes the inverted lists (~1.7 s
per GB) and large sidecars, for `stylelens check` and checkpoints.
"""
from __future__ import annotations

import contextlib
import ctypes
import hashlib
import json
import os
import shutil
import sys
import threading
from pathlib import Path
from typing import Any, Iterator

from .storage import IndexFileError

FILE_KIND = "stylelens.ondisk_index"
FORMAT_VERSION = 1
INDEX_FILE = "index.faiss"
LISTS_FILE = "lists.ivfdata"
IDS_FILE = "ids.npy"
MANIFEST_FILE = "manifest.json"
DATA_FILES = (INDEX_FILE, LISTS_FILE, IDS_FILE)
CHEAP_FILES = (INDEX_FILE, IDS_FILE)  # hashed on every open while no larger than CHEAP_MAX_BYTES
CHEAP_MAX_BYTES = 64 << 20  # ~0.1 s of sha256 here; ids.npy passes it at 8M ids, then only its size is checked
_CHUNK = 1 << 22
_LIBC = ctypes.CDLL(None)


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 4 MiB chunks."""
    hasher = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            hasher.update(chunk)
    return hasher.hexdigest()


def write_manifest(folder: Path, header: dict[str, Any]) -> dict[str, Any]:
    """Record size + sha256 of the data files in `folder` with `header`; return the manifest written."""
    files = {name: {"size": (folder / name).stat().st_size, "sha256": sha256_file(folder / name)}
             for name in DATA_FILES}
    manifest = {"file_kind": FILE_KIND, "format": FORMAT_VERSION, **header, "files": files}
    with open(folder / MANIFEST_FILE, "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
    return manifest


def read_manifest(folder: Path) -> dict[str, Any]:
    """The manifest of an on-disk index folder; IndexFileError if missing, unreadable or foreign."""
    path = folder / MANIFEST_FILE
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise IndexFileError(f"{folder} is not an on-disk index (no {MANIFEST_FILE})") from exc
    except (OSError, ValueError) as exc:
        raise IndexFileError(f"{path} is unreadable: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("file_kind") != FILE_KIND:
        raise IndexFileError(f"{folder} is not a StyleLens on-disk index")
    if manifest.get("format") != FORMAT_VERSION:
        raise IndexFileError(f"{folder} has on-disk format {manifest.get('format')}; this build reads {FORMAT_VERSION}")
    if not isinstance(manifest.get("files"), dict) or set(manifest["files"]) != set(DATA_FILES):
        raise IndexFileError(f"{path} does not list the files {DATA_FILES}")
    return manifest


def check_files(folder: Path, manifest: dict[str, Any], *, full: bool = False) -> None:
    """Sizes of every data file, sha256 of the small ones (of all with `full`); IndexFileError on mismatch.

    Done before faiss reads a byte: faiss's reader can abort the process on a truncated file."""
    for name in DATA_FILES:
        expected = manifest["files"][name]
        path = folder / name
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise IndexFileError(f"{path} is missing: {exc}") from exc
        if size != expected.get("size"):
            raise IndexFileError(f"{path} is truncated or corrupt ({size} bytes, manifest says {expected.get('size')})")
        cheap = name in CHEAP_FILES and size <= CHEAP_MAX_BYTES
        if (full or cheap) and sha256_file(path) != expected.get("sha256"):
            raise IndexFileError(f"{path} is corrupt (sha256 mismatch)")


_STDOUT_LOCK = threading.Lock()


@contextlib.contextmanager
def faiss_quiet() -> Iterator[None]:
    """Send file descriptor 1 to /dev/null while faiss opens or merges on-disk lists: its C++ code `printf`s
    ("IO_FLAG_ONDISK_SAME_DIR: updating ondisk filename ...", "resizing ...") unconditionally, which would
    corrupt a CLI's JSON output. C's stdio buffer is flushed before fd 1 is restored. Known cost: whatever
    another thread writes to fd 1 during those milliseconds is lost too (the lock only serialises openers)."""
    with _STDOUT_LOCK:
        sys.stdout.flush()
        saved, devnull = os.dup(1), os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        try:
            yield
        finally:
            _LIBC.fflush(None)
            os.dup2(saved, 1)
            os.close(saved)
            os.close(devnull)


def remove_build_temporaries(out_dir: str | os.PathLike[str], name: str) -> list[str]:
    """Delete what a killed build of `<out_dir>/<name>` left (`.<name>.*.tmp` folders); return their names.

    If the kill fell inside the final swap (the old folder renamed aside, the new one not yet in place), the
    old complete index is renamed back instead of deleted. Call it only when no build of `name` is running."""
    out_dir = Path(out_dir)
    target, previous = out_dir / name, out_dir / f".{name}.old.tmp"
    if previous.is_dir() and not target.exists():
        os.replace(previous, target)
    removed = []
    for leftover in sorted(out_dir.glob(f".{name}.*.tmp")):
        if leftover.is_dir() and not leftover.is_symlink():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
        removed.append(leftover.name)
    return removed


def folder_bytes(folder: Path) -> int:
    """Bytes on disk of the data files (what a workspace pays for this index)."""
    return sum((folder / name).stat().st_size for name in (*DATA_FILES, MANIFEST_FILE))
