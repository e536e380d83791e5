"""The marker that makes a folder a StyleLens export: ``OUT/.stylelens-export.json``.

An export writes the marker last, into its staging folder, so it appears in OUT together with the export
(the staging folder is renamed into place whole). It names the collection, the format and every file the
export wrote with its size. `overwrite` trusts a folder only through it: a folder without a readable
marker is not ours, and a file the marker does not list (or one changed since: other size, other mtime)
was not written by StyleLens, so it is never deleted. The marker is deterministic (sorted keys, no
timestamps), so exports stay byte-reproducible.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from .common import FIXED_MTIME, dumps, write_bytes
from .items import ExportError

MARKER = ".stylelens-export.json"
MARKER_KIND = "stylelens-export"
MARKER_VERSION = 1
MAX_MARKER_BYTES = 64 * 1024 * 1024
_SHOWN = 5  # foreign entries named in a refusal


@dataclass(frozen=True)
class ExportMarker:
    """What one export wrote: its collection, format and files (POSIX paths relative to OUT -> bytes)."""

    collection: str
    format: str
    files: dict[str, int]


def write_marker(root: Path, collection: str, fmt: str, files: list[str]) -> None:
    """Stamp every written file with the fixed mtime and record it, with its size, in ``root/MARKER``."""
    sizes: dict[str, int] = {}
    for rel in files:
        path = root / rel
        os.utime(path, (FIXED_MTIME, FIXED_MTIME))  # parquet's writer sets its own mtime
        sizes[rel] = path.stat().st_size
    doc = {"kind": MARKER_KIND, "version": MARKER_VERSION, "collection": collection, "format": fmt,
           "files": sizes}
    write_bytes(root, MARKER, (dumps(doc, indent=1) + "\n").encode("utf-8"))


def read_marker(folder: Path) -> ExportMarker | None:
    """The marker of ``folder``; None when it has none or one that is not a StyleLens export marker."""
    path = folder / MARKER
    try:
        if path.is_symlink() or not path.is_file() or path.stat().st_size > MAX_MARKER_BYTES:
            return None
        doc = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or doc.get("kind") != MARKER_KIND or doc.get("version") != MARKER_VERSION:
        return None
    files = doc.get("files")
    if not isinstance(files, dict) or not all(_plain_relative(k) and type(v) is int for k, v in files.items()):
        return None
    return ExportMarker(str(doc.get("collection")), str(doc.get("format")), dict(files))


def _plain_relative(rel: object) -> bool:
    """A POSIX path inside the folder: relative, no empty, '.' or '..' parts (a forged marker lists no escape)."""
    return isinstance(rel, str) and bool(rel) and "\\" not in rel and "\0" not in rel and all(
        part not in ("", ".", "..") for part in rel.split("/"))


def foreign_entries(folder: Path, marker: ExportMarker) -> list[str]:
    """Entries of ``folder`` that its export did not write, or that changed since (sorted, relative)."""
    wanted_dirs = {parent.as_posix() for rel in marker.files for parent in Path(rel).parents} - {"."}
    foreign: list[str] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        base = Path(dirpath).relative_to(folder)
        for name in dirnames:
            rel = (base / name).as_posix()
            if rel not in wanted_dirs or (Path(dirpath) / name).is_symlink():
                foreign.append(rel + "/")
        dirnames[:] = [n for n in dirnames if (base / n).as_posix() in wanted_dirs]
        for name in filenames:
            rel = (base / name).as_posix()
            if rel == MARKER:
                continue
            if rel not in marker.files or not _unchanged(Path(dirpath) / name, marker.files[rel]):
                foreign.append(rel)
    return sorted(foreign)


def _unchanged(path: Path, size: int) -> bool:
    """Still the file the export wrote: a regular file of that size with the fixed mtime."""
    try:
        st = path.lstat()
    except OSError:
        return False
    return path.is_file() and not path.is_symlink() and st.st_size == size and int(st.st_mtime) == FIXED_MTIME


def check_replaceable(out: Path) -> ExportMarker:
    """Raise ExportError unless ``out`` holds a StyleLens export and nothing else; return its marker."""
    marker = read_marker(out)
    if marker is None:
        raise ExportError(
            f"refusing to replace {out}: it is not empty and is not a StyleLens export (it has no {MARKER}); "
            "--overwrite only replaces an earlier export. Choose another folder, or empty this one yourself"
        )
    foreign = foreign_entries(out, marker)
    if foreign:
        shown = ", ".join(foreign[:_SHOWN]) + (f" and {len(foreign) - _SHOWN} more" if len(foreign) > _SHOWN else "")
        raise ExportError(
            f"refusing to replace the export in {out}: it holds {len(foreign)} file(s) the export did not "
            f"write or that changed since ({shown}); move them out of the folder, or export to another folder"
        )
    return marker


def remove_export(folder: Path, marker: ExportMarker) -> list[str]:
    """Delete the files ``marker`` lists, the marker and the emptied folders; return what was left.

    Only listed files are unlinked, so a file that appeared after the check survives (and is returned).
    """
    for rel, size in marker.files.items():
        path = folder / rel
        if _unchanged(path, size) and folder.resolve() in path.resolve().parents:
            path.unlink()
    (folder / MARKER).unlink(missing_ok=True)
    dirs = {parent for rel in marker.files for parent in Path(rel).parents} - {Path(".")}
    for rel_dir in sorted(dirs, key=lambda p: len(p.parts), reverse=True):
        try:
            (folder / rel_dir).rmdir()
        except OSError:
            pass
    try:
        folder.rmdir()
    except OSError:
        return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))
    return []
