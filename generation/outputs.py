"""Writing generated images: stable generated names, no silent overwrites, nothing outside the out dir.

Names are `<method>-<request digest>-<index>.png` (steps of a strip: `...-step03.png`, the grid
`...-strip.png`), where the digest pins the whole request (method, params, seed, models, inputs). The
same request always gets the same names, so a re-run into the same folder is refused instead of silently
replacing files, and a regeneration into another folder can be compared file by file. PNG is lossless and
Pillow writes no timestamps, so the same pixels always give the same bytes.
"""
from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from indexer.atomic import atomic_write_bytes

GRID_CELL = 256  # longest side of a strip grid's thumbnails
_LABEL_HEIGHT = 22
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()  # what a plain open() would create


class OutputError(ValueError):
    """An output cannot be written: it exists (and overwriting was not asked for), or is outside the out dir."""


@dataclass(frozen=True)
class SavedFile:
    """One written file: its name relative to the out dir, and the sha256 of its bytes."""

    path: str
    sha256: str

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "sha256": self.sha256}


@dataclass(frozen=True)
class SavedOutputs:
    """What one request wrote: files (in call/step order) in `out_dir`, the strip grid, and which files
    each strip step made (`steps[i]` = indices into `files`; None for a single stylize call)."""

    out_dir: Path
    files: list[SavedFile]
    grid: SavedFile | None = None
    steps: list[list[int]] | None = None

    def paths(self) -> list[Path]:
        """Absolute paths of the images (not the grid), in order."""
        return [self.out_dir / f.path for f in self.files]

    def to_dict(self) -> dict[str, Any]:
        """The layout a generation record keeps in its `outputs` column (paths relative to `out_dir`)."""
        out: dict[str, Any] = {"files": [f.to_dict() for f in self.files],
                               "grid": self.grid.to_dict() if self.grid else None}
        if self.steps is not None:
            out["steps"] = self.steps
        return out


def request_digest(request: dict[str, Any]) -> str:
    """A short, stable digest of a JSON-able request (keys sorted), used in output names."""
    text = json.dumps(request, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def output_stem(method: str, digest: str) -> str:
    """`<method>-<digest>`: the prefix every file of one request shares (method made filename-safe)."""
    return f"{_UNSAFE.sub('_', method).strip('_') or 'generated'}-{digest}"


def output_names(stem: str, counts: Sequence[int], *, steps: bool = False) -> list[str]:
    """File names for `counts[i]` images of call i (a stylize run is one call; a strip one call per step)."""
    names = []
    for i, n in enumerate(counts):
        if steps:
            names += [f"{stem}-step{i:02d}.png"] if n == 1 else [f"{stem}-step{i:02d}-{j:02d}.png" for j in range(n)]
        else:
            names += [f"{stem}-{j:02d}.png" for j in range(n)]
    return names


def grid_name(stem: str) -> str:
    """The strip grid's file name for a request."""
    return f"{stem}-strip.png"


def check_free(out_dir: Path, stem: str, *, overwrite: bool = False) -> None:
    """Refuse early (before any model runs) when files of this request already exist in `out_dir`."""
    if overwrite:
        return
    taken = sorted(p.name for p in out_dir.glob(f"{stem}-*.png"))
    if taken:
        raise OutputError(f"{out_dir / taken[0]} already exists (the same request was run into this folder); "
                          "choose another --out folder or pass --overwrite")


def prepare_out_dir(out_dir: str | os.PathLike[str]) -> Path:
    """Create the out dir if needed and return its resolved absolute path."""
    path = Path(os.path.abspath(os.path.expanduser(out_dir)))
    if path.exists() and not path.is_dir():
        raise OutputError(f"output {path} exists and is not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the output folder {path}: {exc.strerror or exc}") from None
    return path.resolve()


def check_names(out_dir: Path, names: Sequence[str], *, overwrite: bool = False) -> list[Path]:
    """The targets of `names` in `out_dir`, refused when one is unsafe or (without `overwrite`) taken."""
    targets = [_target(out_dir, name) for name in names]
    if not overwrite:
        taken = [str(t) for t in targets if os.path.lexists(t)]
        if taken:
            more = f" (and {len(taken) - 1} more)" if len(taken) > 1 else ""
            raise OutputError(f"{taken[0]} already exists{more}; choose another --out folder or pass --overwrite")
    return targets


def save_images(images: Sequence[Image.Image], out_dir: Path, names: Sequence[str], *,
                overwrite: bool = False) -> list[SavedFile]:
    """Write `images` as PNG under `names` in `out_dir`; every target is checked before anything is written."""
    if len(images) != len(names):
        raise OutputError(f"{len(images)} images but {len(names)} names")
    targets = check_names(out_dir, names, overwrite=overwrite)
    return [SavedFile(name, write_png(image, target, overwrite=overwrite))
            for image, name, target in zip(images, names, targets)]


def strip_grid(images: Sequence[Image.Image], labels: Sequence[str], *, columns: int | None = None) -> Image.Image:
    """One image of an interpolation strip: thumbnails in a row (wrapped after 8), each labelled below."""
    if not images or len(images) != len(labels):
        raise OutputError("a strip grid needs one label per image and at least one image")
    thumbs = [_thumbnail(im) for im in images]
    cell_w = max(t.width for t in thumbs)
    cell_h = max(t.height for t in thumbs) + _LABEL_HEIGHT
    cols = columns or min(len(thumbs), 8)
    rows = math.ceil(len(thumbs) / cols)
    grid = Image.new("RGB", (cols * cell_w, rows * cell_h), (255, 255, 255))
    draw = ImageDraw.Draw(grid)
    font = ImageFont.load_default()
    for i, (thumb, label) in enumerate(zip(thumbs, labels)):
        x, y = (i % cols) * cell_w, (i // cols) * cell_h
        grid.paste(thumb, (x + (cell_w - thumb.width) // 2, y))
        draw.text((x + 4, y + cell_h - _LABEL_HEIGHT + 5), label, fill=(0, 0, 0), font=font)
    return grid


def save_strip_grid(images: Sequence[Image.Image], labels: Sequence[str], path: str | os.PathLike[str], *,
                    overwrite: bool = False) -> str:
    """Write the strip grid of `images` (one label per image) as a PNG at `path`; returns its sha256."""
    path = Path(os.path.abspath(path))
    [target] = check_names(path.parent, [path.name], overwrite=overwrite)
    return write_png(strip_grid(images, labels), target, overwrite=overwrite)


def step_label(weights: Sequence[float]) -> str:
    """`A 0.75 B 0.25`: the styles' weights at one step, styles named A, B, C... in the order given."""
    return " ".join(f"{_letter(i)} {w:.2f}" for i, w in enumerate(weights))


def write_png(image: Image.Image, path: Path, *, overwrite: bool = False) -> str:
    """Write one PNG atomically (`indexer.atomic`: temp file in the same folder, fsync, then link or replace);
    returns its sha256.

    Without `overwrite`, an existing file (or one appearing meanwhile) is never replaced: the final step is
    a hard link, which fails when the name is taken.
    """
    data = _png_bytes(image)
    try:
        atomic_write_bytes(path, data, exclusive=not overwrite, mode=_FILE_MODE)
    except FileExistsError:
        raise OutputError(f"{path} already exists; choose another --out folder or pass --overwrite") from None
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
    return hashlib.sha256(data).hexdigest()


def _png_bytes(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.convert("RGB").save(buf, "PNG")
    return buf.getvalue()


def _target(out_dir: Path, name: str) -> Path:
    """`out_dir / name`, refused unless it is a plain name directly inside `out_dir`."""
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\x00" in name:
        raise OutputError(f"refusing to write {name!r}: not a plain file name")
    target = out_dir / name
    if target.parent.resolve() != out_dir.resolve():
        raise OutputError(f"refusing to write {target}: outside the output folder {out_dir}")
    if target.is_symlink() or (target.exists() and not target.is_file()):
        raise OutputError(f"refusing to write {target}: it is a link or not a regular file")
    return target


def _thumbnail(image: Image.Image) -> Image.Image:
    thumb = image.convert("RGB")
    if max(thumb.size) > GRID_CELL:
        scale = GRID_CELL / max(thumb.size)
        thumb = thumb.resize((max(1, round(thumb.width * scale)), max(1, round(thumb.height * scale))),
                             Image.Resampling.LANCZOS)
    return thumb


def _letter(i: int) -> str:
    return chr(ord("A") + i) if i < 26 else f"S{i + 1}"
