"""OUT handling: refuse to overwrite, stage in a temp sibling, swap in only when complete."""
from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from .items import ExportError


def _is_non_empty_dir(p: Path) -> bool:
    with os.scandir(p) as it:
        return any(True for _ in it)


def check_out(out: Path, overwrite: bool, sources: Sequence[str]) -> None:
    """Raise ExportError unless ``out`` may be (re)written."""
    if out.is_symlink():
        raise ExportError(f"output {out} is a symlink; give the real folder")
    if out.exists() and not out.is_dir():
        raise ExportError(f"output {out} exists and is not a folder")
    if out.parent == out:
        raise ExportError(f"refusing to export into the filesystem root {out}")
    if out.exists() and _is_non_empty_dir(out):
        if not overwrite:
            raise ExportError(
                f"output folder {out} exists and is not empty; "
                "pass overwrite=True (--overwrite) to replace it"
            )
        for src in sources:
            try:
                inside = Path(os.path.abspath(src)).resolve().is_relative_to(out)
            except OSError:
                inside = False
            if inside:
                raise ExportError(
                    f"refusing to overwrite {out}: it contains source image {src}"
                )


@contextmanager
def staged_output(out: str | Path, overwrite: bool, sources: Sequence[str]) -> Iterator[Path]:
    """Yield a fresh temp folder next to OUT; on success it replaces OUT.

    An interrupted or failed export leaves OUT untouched (the temp folder, named
    ``.<name>.export-*``, is removed on errors). The old OUT is removed only after the
    new one is complete; nothing outside OUT and the temp folder is ever deleted.
    """
    out = Path(os.path.abspath(out))
    out.parent.mkdir(parents=True, exist_ok=True)
    out = out.parent.resolve() / out.name
    check_out(out, overwrite, sources)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.export-", dir=out.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o755)
        check_out(out, overwrite, sources)  # re-check: OUT may have changed meanwhile
        old = None
        if out.exists():
            if _is_non_empty_dir(out):
                old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
                os.rename(out, old / "out")
            else:
                out.rmdir()
        os.rename(tmp, out)
        if old is not None:
            shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
