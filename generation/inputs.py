"""Resolve the CLI's `PATH|ID` (content) and `PATH|ID[:weight]` (style) references into decoded images.

A reference is, in this order: an existing file (the whole string, so a path containing ':' or ending in
':0.5' is still a path); a catalog image id, written `12` or `id:12`; or either of those followed by a
`:weight` suffix (styles only). Images go through the indexer's decoder (EXIF orientation, every mode to
RGB, decompression-bomb guard) and are pinned by the sha256 of the exact bytes read, which the record
keeps so a later `regenerate` can refuse a changed file.

Sources are written `path:/abs/file.png` or `id:12` (`StyleRef.source` / `ContentRef.source`); both forms
are resolved again by `load_source`. `describe_inputs` / `recorded_inputs` turn resolved inputs into the
JSON a generation record keeps, and back (refusing inputs whose bytes changed since).
"""
from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from indexer.catalog.paths import image_path
from indexer.catalog.schema import ImageRecord
from indexer.imaging.decode import ImageRejected, decode_file, sha256_file
from indexer.limits import check_id
from indexer.workspace import Workspace

from .base import ContentRef, StyleRef, StylizeError

DEFAULT_MAX_SIDE = 1024
"""Longer side of decoded inputs: stylizers work at or below this size, and the value is recorded so a
regeneration decodes exactly the same pixels."""

_ID = re.compile(r"(?:id:)?(\d+)", re.IGNORECASE)
_WEIGHT = re.compile(r"(.+):([+-]?[0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?|[+-]?inf|nan)", re.IGNORECASE)


class InputError(StylizeError):
    """A content or style reference cannot be resolved: no such file, not an image, unknown catalog id."""


@dataclass(frozen=True)
class LoadedImage:
    """A decoded input image and where it came from (`path:...` or `id:N`)."""

    image: Image.Image
    source: str
    sha256: str


def resolve_content(ws: Workspace | None, ref: str, *, prompt: str | None = None,
                    max_side: int = DEFAULT_MAX_SIDE) -> ContentRef:
    """`PATH|ID` -> a ContentRef with the decoded image (and an optional prompt for img2img methods)."""
    loaded = load_source(ws, _source_of(ref), max_side=max_side)
    return ContentRef(image=loaded.image, prompt=prompt, source=loaded.source, sha256=loaded.sha256)


def resolve_style(ws: Workspace | None, ref: str, *, max_side: int = DEFAULT_MAX_SIDE) -> StyleRef:
    """`PATH|ID[:weight]` -> a StyleRef with the decoded image and its weight (default 1)."""
    target, weight = split_weight(ref)
    loaded = load_source(ws, _source_of(target), max_side=max_side)
    return StyleRef(image=loaded.image, weight=weight, source=loaded.source, sha256=loaded.sha256)


def split_weight(ref: str) -> tuple[str, float]:
    """(`PATH|ID`, weight) of a style reference. An existing file or a bare id is never split."""
    if _is_file(ref) or _ID.fullmatch(ref.strip()):
        return ref, 1.0
    match = _WEIGHT.fullmatch(ref)
    if match is None:
        return ref, 1.0
    weight = float(match.group(2))
    if not math.isfinite(weight) or weight < 0:
        raise InputError(f"the style weight in {ref!r} must be a finite number >= 0")
    return match.group(1), weight


def load_source(ws: Workspace | None, source: str, *, max_side: int = DEFAULT_MAX_SIDE) -> LoadedImage:
    """Decode the image a source names (`path:/abs/file` or `id:N`); clear errors for anything unusable."""
    kind, _, value = source.partition(":")
    if kind == "path" and value:
        return _load_path(value, max_side)
    if kind == "id" and value.isdigit():
        return _load_catalog_image(ws, check_id(int(value)), max_side)
    raise InputError(f"cannot read the image source {source!r}; expected path:/file or id:N")


def describe_inputs(content: ContentRef, styles: Sequence[StyleRef], *, max_side: int = DEFAULT_MAX_SIDE,
                    steps: Sequence[Sequence[float]] | None = None) -> dict[str, Any]:
    """The JSON-able description of a request's inputs that a generation record keeps.

    `{"content": {source, sha256, prompt}, "styles": [{source, sha256, weight}], "decode": {"max_side"}}`
    plus `"steps"` (the per-step weights) for a strip. A style given as a vector keeps the vector itself.
    """
    def style(s: StyleRef) -> dict[str, Any]:
        row: dict[str, Any] = {"source": s.source or ("vector" if s.vector is not None else ""),
                               "sha256": s.sha256, "weight": float(s.weight)}
        if s.vector is not None:
            row["vector"] = [float(x) for x in np.asarray(s.vector, dtype=np.float64).ravel()]
        return row

    out: dict[str, Any] = {
        "content": {"source": content.source, "sha256": content.sha256, "prompt": content.prompt},
        "styles": [style(s) for s in styles],
        "decode": {"max_side": int(max_side)},
    }
    if steps is not None:
        out["steps"] = [[float(w) for w in row] for row in steps]
    return out


def recorded_inputs(ws: Workspace | None, inputs: dict[str, Any]) -> tuple[ContentRef, list[StyleRef]]:
    """Resolve a record's `inputs` again: every image is re-read and must have the recorded sha256."""
    max_side = int(inputs.get("decode", {}).get("max_side", DEFAULT_MAX_SIDE))
    c = inputs["content"]
    if c.get("source"):
        loaded = _load_pinned(ws, c["source"], c.get("sha256"), max_side, "content")
        content = ContentRef(image=loaded.image, prompt=c.get("prompt"), source=loaded.source, sha256=loaded.sha256)
    elif c.get("prompt"):
        content = ContentRef(prompt=c["prompt"])
    else:
        raise InputError("the recorded content was an image without a source (e.g. in memory); it cannot be re-read")
    styles = []
    for i, s in enumerate(inputs["styles"]):
        if "vector" in s:
            styles.append(StyleRef(vector=np.asarray(s["vector"], dtype=np.float32), weight=s["weight"],
                                   source=s.get("source", "vector")))
            continue
        if not s.get("source"):
            raise InputError(f"recorded style {i + 1} was an image without a source; it cannot be re-read")
        loaded = _load_pinned(ws, s["source"], s.get("sha256"), max_side, f"style {i + 1}")
        styles.append(StyleRef(image=loaded.image, weight=s["weight"], source=loaded.source, sha256=loaded.sha256))
    return content, styles


def _load_pinned(ws: Workspace | None, source: str, sha256: str | None, max_side: int, what: str) -> LoadedImage:
    """`load_source`, refused unless the bytes still have the recorded sha256. The decoder hashes what it
    reads; only when decoding fails is the file hashed on its own, so one replaced by something that is no
    longer an image is reported as changed rather than as unreadable."""
    try:
        loaded = load_source(ws, source, max_side=max_side)
    except InputError:
        path = source.removeprefix("path:") if source.startswith("path:") else None
        if sha256 and path and os.path.isfile(path):
            _check_pinned(sha256_file(path), sha256, source, what)
        raise
    if sha256:
        _check_pinned(loaded.sha256, sha256, source, what)
    return loaded


def _check_pinned(now: str, recorded: str, source: str, what: str) -> None:
    if now != recorded:
        raise InputError(f"the {what} image {source} changed since it was recorded (sha256 {now[:12]}..., "
                         f"recorded {recorded[:12]}...); restore the original file to regenerate")


def _source_of(ref: str) -> str:
    """The source string of a `PATH|ID` reference (without a weight)."""
    text = ref.strip()
    if not text:
        raise InputError("an image reference is empty; give a file path or a catalog id (12 or id:12)")
    if _is_file(ref):
        return f"path:{os.path.abspath(os.path.expanduser(ref))}"
    match = _ID.fullmatch(text)
    if match:
        return f"id:{check_id(int(match.group(1)))}"
    if os.path.isdir(os.path.expanduser(ref)):
        raise InputError(f"{ref} is a folder, not an image file")
    raise InputError(f"no such image file: {ref} (a catalog image is written 12 or id:12)")


def _is_file(ref: str) -> bool:
    return os.path.isfile(os.path.expanduser(ref))


def _load_path(path: str, max_side: int) -> LoadedImage:
    try:
        decoded = decode_file(path, max_side=max_side)
    except ImageRejected as exc:
        raise InputError(f"cannot use {path} as an image: {exc.reason}") from None
    return LoadedImage(decoded.image, f"path:{path}", decoded.sha256)


def _load_catalog_image(ws: Workspace | None, image_id: int, max_side: int) -> LoadedImage:
    """A catalog image by id, refused when it failed to index or its file changed since it was indexed."""
    if ws is None:
        raise InputError(f"catalog image id:{image_id} needs a workspace")
    with ws.session() as s:
        row = s.get(ImageRecord, image_id)
        facts = None if row is None else (image_path(s, ws.home, row), row.sha256, row.status, row.error)
    if facts is None:
        raise InputError(f"no image with id {image_id} in the catalog")
    path, sha256, status, error = facts
    if status == "failed":
        raise InputError(f"catalog image {image_id} ({path}) could not be indexed: {error}")
    try:
        decoded = decode_file(path, max_side=max_side)
    except ImageRejected as exc:
        raise InputError(f"catalog image {image_id} ({path}) cannot be read: {exc.reason}") from None
    if sha256 and decoded.sha256 != sha256:
        raise InputError(f"catalog image {image_id} ({path}) changed on disk since it was indexed; "
                         "re-run `stylelens index` or give the file path instead")
    return LoadedImage(decoded.image, f"id:{image_id}", decoded.sha256)
