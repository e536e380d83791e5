"""OUT handling: refuse to overwrite, stage in a temp sibling, swap in only when complete.

A non-empty OUT is replaced only when asked (`overwrite`) and only when it is an earlier StyleLens export
holding nothing but what that export wrote (see `marker`); of the old export, only the files its marker
lists are deleted. Exports next to each other take a lock on their common parent folder; under it, what
an export killed with SIGKILL left beside OUT is tidied first (`_recover_interrupted`).
"""
from __future__ import annotations

import glob
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from indexer.filelock import LockBusy, file_lock

from .items import ExportError
from .marker import ExportMarker, check_replaceable, read_marker, remove_export

log = logging.getLogger(__name__)


def _is_non_empty_dir(p: Path) -> bool:
    with os.scandir(p) as it:
        return any(True for _ in it)


def check_out(out: Path, overwrite: bool, sources: Sequence[str]) -> ExportMarker | None:
    """Raise ExportError unless ``out`` may be (re)written; return the marker of the export it replaces."""
    if out.is_symlink():
        raise ExportError(f"output {out} is a symlink; give the real folder")
    if out.exists() and not out.is_dir():
        raise ExportError(f"output {out} exists and is not a folder")
    if out.parent == out:
        raise ExportError(f"refusing to export into the filesystem root {out}")
    if not out.exists() or not _is_non_empty_dir(out):
        return None
    if not overwrite:
        raise ExportError(f"output folder {out} exists and is not empty; choose another folder, or pass "
                          "--overwrite to replace an earlier StyleLens export there")
    for src in sources:
        try:
            inside = Path(os.path.abspath(src)).resolve().is_relative_to(out)
        except OSError:
            inside = False
        if inside:
            raise ExportError(f"refusing to overwrite {out}: it contains source image {src}")
    return check_replaceable(out)


@contextmanager
def staged_output(out: str | Path, overwrite: bool, sources: Sequence[str]) -> Iterator[Path]:
    """Yield a fresh temp folder next to OUT; on success it replaces OUT.

    An interrupted or failed export leaves OUT untouched (the temp folder, named
    ``.<name>.export-*``, is removed on errors, and by the next export after a kill). The old OUT is
    removed only after the new one is complete, and only the files its export wrote; nothing else is
    ever deleted.
    """
    out = Path(os.path.abspath(out))
    out.parent.mkdir(parents=True, exist_ok=True)
    out = out.parent.resolve() / out.name
    try:
        with file_lock(out.parent):
            _recover_interrupted(out)
            check_out(out, overwrite, sources)
            tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.export-", dir=out.parent))
            try:
                yield tmp
                os.chmod(tmp, 0o755)
                marker = check_out(out, overwrite, sources)  # re-check: OUT may have changed meanwhile
                old = None
                if marker is not None:
                    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
                    os.rename(out, old / "out")
                elif out.exists():
                    out.rmdir()
                os.rename(tmp, out)
                if old is not None:
                    _discard_old(old, marker)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
    except LockBusy:
        raise ExportError(f"another StyleLens export is writing into {out.parent}; run this one when it has "
                          "finished") from None


def _recover_interrupted(out: Path) -> None:
    """Tidy what a killed export left beside OUT (called under the parent's lock, so no export is live):
    its staging folders are deleted; an old export it had moved aside is put back when OUT is missing
    (the kill fell between the two renames), else deleted through its marker as the export would have."""
    pattern = glob.escape(str(out.parent / f".{out.name}")) + ".{}-*"
    for stale in glob.glob(pattern.format("export")):
        if os.path.isdir(stale) and not os.path.islink(stale):
            log.info("removing %s, left by an interrupted export", stale)
            shutil.rmtree(stale, ignore_errors=True)
    for held in map(Path, glob.glob(pattern.format("old"))):
        inner = held / "out"
        if inner.is_dir() and not out.exists():
            os.rename(inner, out)
            log.warning("put back the earlier export of %s that an interrupted export had moved aside", out)
        elif inner.is_dir():
            marker = read_marker(inner)
            if marker is None:
                continue  # not ours to delete: leave it for the user
            _discard_old(held, marker)
            continue
        try:
            held.rmdir()
        except OSError:
            pass


def _discard_old(old: Path, marker: ExportMarker) -> None:
    """Delete the replaced export (its own files only) and its holding folder; keep anything else."""
    left = remove_export(old / "out", marker)
    if left:
        log.warning("kept %d file(s) that appeared in the old export while it was replaced, in %s: %s",
                    len(left), old / "out", ", ".join(left[:5]))
        return
    old.rmdir()
