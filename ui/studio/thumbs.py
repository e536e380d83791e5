"""Thumbnails of catalog and uploaded images: decoded with the indexer's decoder (EXIF orientation, every
mode to RGB, decompression-bomb guard), at most THUMB_SIDE pixels, cached per file version."""
from __future__ import annotations

import io
import os

import streamlit as st

from indexer.imaging.decode import ImageRejected, decode_file
from retrieval.images import render_thumbnail

THUMB_SIDE = 256  # longer side in pixels: sharp in a 4-column grid, small to send


@st.cache_data(max_entries=4096, show_spinner=False)
def _thumbnail(path: str, mtime_ns: int, size: int) -> bytes | str:
    """JPEG bytes of the thumbnail, or the reason there is none (cached: the key pins the file version)."""
    return render_thumbnail(path, THUMB_SIDE)


def thumbnail(path: str) -> bytes | str:
    """The thumbnail of `path` as JPEG bytes, or a short reason why it cannot be shown."""
    try:
        info = os.stat(path)
    except OSError as exc:
        return f"file not readable ({exc.strerror or exc})"
    return _thumbnail(path, info.st_mtime_ns, info.st_size)


def show(path: str, caption: str) -> None:
    """Draw the thumbnail of `path` with `caption` (or the caption and why there is no picture)."""
    thumb = thumbnail(path)
    if isinstance(thumb, bytes):
        st.image(thumb, caption=caption, width="stretch")
    else:
        st.caption(caption)
        st.warning(f"no preview: {thumb}")


@st.cache_data(max_entries=32, show_spinner=False)
def _full(path: str, mtime_ns: int, size: int) -> tuple[bytes, dict] | str:
    """The whole image (EXIF-rotated, RGB) as PNG bytes plus its facts, or why it cannot be shown."""
    try:
        decoded = decode_file(path, max_side=None)
    except ImageRejected as exc:
        return exc.reason
    buf = io.BytesIO()
    decoded.image.save(buf, "PNG", compress_level=1)
    return buf.getvalue(), {"width": decoded.width, "height": decoded.height, "bytes": decoded.size,
                            "format": decoded.format}


def full_image(path: str) -> tuple[bytes, dict] | str:
    """`path` at full resolution as PNG bytes with {width, height, bytes, format}, or a reason why not."""
    try:
        info = os.stat(path)
    except OSError as exc:
        return f"file not readable ({exc.strerror or exc})"
    return _full(path, info.st_mtime_ns, info.st_size)
