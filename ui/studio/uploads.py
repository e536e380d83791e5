"""Uploaded images: size-limited, validated with the indexer's decoder, and stored only inside the
workspace, as WORKSPACE/uploads/<sha256>.<ext> (a name made from the bytes, never from the sender).

The same bytes always land in the same file, so an upload used twice (as a query, as a style, as
content) is one file, and searches and generation records can name it by path.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from indexer.atomic import atomic_write_bytes
from indexer.imaging.decode import ImageRejected, decode_bytes
from indexer.imaging.scan import IMAGE_EXTENSIONS
from indexer.layout import WorkspaceLayout

from . import UPLOAD_LIMIT_MB as MAX_UPLOAD_MB
from .context import workspace

MAX_UPLOAD_BYTES = MAX_UPLOAD_MB * 1024 * 1024
MAX_UPLOAD_PIXELS = 64_000_000  # well below the decoder's own ceiling: a query or style image needs no more
ACCEPTED_TYPES = sorted(ext.lstrip(".") for ext in IMAGE_EXTENSIONS)
_SUFFIX = {"JPEG": ".jpg", "MPO": ".jpg", "PNG": ".png", "WEBP": ".webp", "GIF": ".gif", "TIFF": ".tif",
           "BMP": ".bmp", "DIB": ".bmp"}
_CACHE_KEY = "_saved_uploads"  # session state: uploader file id -> SavedUpload (no re-decoding per rerun)


class UploadError(ValueError):
    """An upload was refused: empty, too large, not a usable image, or no safe place to keep it."""


@dataclass(frozen=True)
class SavedUpload:
    """A validated upload: where it is stored, the sha256 of its bytes, and the sender's name (display only)."""

    path: Path
    sha256: str
    name: str


def upload_dir(workspace: WorkspaceLayout) -> Path:
    """WORKSPACE/uploads, created if needed; refused when it is a link or otherwise leads outside the workspace."""
    root, folder = workspace.home, workspace.uploads_dir
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        raise UploadError(f"{folder} is not a plain folder inside the workspace; refusing to store uploads there")
    folder.mkdir(exist_ok=True)
    if folder.resolve().parent != root:
        raise UploadError(f"{folder} leads outside the workspace {root}; refusing to store uploads there")
    return folder


def save_upload(workspace: WorkspaceLayout, name: str, data: bytes, *, max_bytes: int = MAX_UPLOAD_BYTES,
                max_pixels: int = MAX_UPLOAD_PIXELS) -> SavedUpload:
    """Validate `data` as an image and store it under WORKSPACE/uploads/<sha256>.<ext>; UploadError if not."""
    shown = os.path.basename(name)[:120] or "the upload"
    if len(data) > max_bytes:
        raise UploadError(f"{shown} is {len(data) / 2**20:.1f} MiB; uploads are limited to {max_bytes / 2**20:g} MiB")
    try:
        decoded = decode_bytes(data, max_pixels=max_pixels, max_side=64)  # small: validation, not display
    except ImageRejected as exc:
        raise UploadError(f"{shown} is not a usable image: {exc.reason}") from None
    target = upload_dir(workspace) / f"{decoded.sha256}{_SUFFIX.get(decoded.format, '.img')}"
    if not target.is_file():
        atomic_write_bytes(target, data)
    return SavedUpload(target, decoded.sha256, shown)


def image_upload(label: str, key: str, help: str | None = None) -> SavedUpload | None:  # noqa: A002 - Streamlit's name
    """A drag-and-drop image uploader; the stored upload, or None (a refused file is shown with st.error)."""
    file = st.file_uploader(label, type=ACCEPTED_TYPES, key=key, help=help, max_upload_size=MAX_UPLOAD_MB)
    if file is None:
        return None
    saved: dict[str, SavedUpload] = st.session_state.setdefault(_CACHE_KEY, {})
    if file.file_id not in saved:
        try:
            saved[file.file_id] = save_upload(workspace(), file.name, file.getvalue())
        except (UploadError, OSError) as exc:
            st.error(f"Upload refused: {exc}")
            return None
    return saved[file.file_id]
