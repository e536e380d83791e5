"""Decode one image file into a normalised RGB image, or reject it with a short human-readable reason.

`decode_file` is meant to run in worker processes (top-level, picklable, no global state touched: it
never changes `Image.MAX_IMAGE_PIXELS` or `ImageFile.LOAD_TRUNCATED_IMAGES`). It reads the file once,
hashes those exact bytes, checks the pixel count from the header before decoding anything, fully
decodes the first frame (so truncation is detected), applies the EXIF orientation, flattens alpha onto
white, converts every mode to 8-bit RGB (16-bit and float data are *scaled*, not clipped), and
downsizes to `max_side` (JPEGs are decoded at reduced scale via `draft`, which is several times faster).

Bad input of any kind raises `ImageRejected(reason)`; only MemoryError (and BaseExceptions such as
KeyboardInterrupt) propagate.
"""
from __future__ import annotations

import errno
import hashlib
import io
import os
import stat
import warnings
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from PIL import Image, UnidentifiedImageError

from .taken import exif_taken_at

DEFAULT_MAX_PIXELS = 178_956_970
"""Pillow's own hard limit (2 x Image.MAX_IMAGE_PIXELS, ~179 MP: 13,400 x 13,400): generous for photos and
scans, and a 3-byte-per-pixel decode stays under ~540 MB per worker. Pillow keeps enforcing its limit in
`Image.open` regardless, so a larger `max_pixels` also needs `Image.MAX_IMAGE_PIXELS` raised by the caller."""

DEFAULT_MAX_BYTES = 1 << 30
"""Files above 1 GiB are rejected before reading: they would be read whole into a worker's memory."""

ACCEPTED_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "WEBP", "GIF", "TIFF", "BMP", "DIB")
"""Pillow format ids tried, in this order ("JPEG" also yields "MPO" for multi-picture camera files). Other Pillow
plugins (EPS runs Ghostscript, PSD, ICO, ...) are never tried, which keeps the attack surface small."""

_TRANSPOSE = {  # EXIF orientation -> transpose, the same table as PIL.ImageOps.exif_transpose
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_ORIENTATION_TAG = 0x0112
_WHITE = (255, 255, 255)


class ImageRejected(Exception):
    """A file that cannot be used as an image; `reason` is short and meant for users and the catalog."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class DecodedImage:
    """An RGB image (at most `max_side` on its longer side) plus facts about the original file.

    `width`/`height` are the original's pixel size after EXIF rotation, not the (possibly smaller)
    size of `image`. `size` is the file size in bytes, `sha256` the hex digest of its exact bytes.
    """

    image: Image.Image
    width: int
    height: int
    sha256: str
    size: int
    format: str
    taken_at: datetime | None = None  # EXIF DateTimeOriginal (else DateTime), as written by the camera


def sha256_file(path: str | os.PathLike[str], chunk_size: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def decode_file(
    path: str | os.PathLike[str],
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_side: int | None = 1024,
    max_bytes: int = DEFAULT_MAX_BYTES,
    short_side: int | None = None,
) -> DecodedImage:
    """Read and decode `path`; raise `ImageRejected` with a reason for anything that is not a usable image."""
    data = read_image_bytes(path, max_bytes=max_bytes)
    return decode_bytes(data, max_pixels=max_pixels, max_side=max_side, short_side=short_side)


def read_image_bytes(path: str | os.PathLike[str], *, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """The bytes of a regular file, or `ImageRejected` (missing, directory, FIFO, empty, too big, unreadable).

    Opens non-blocking so that a FIFO named like an image cannot hang the worker.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        if os.path.islink(path):
            raise ImageRejected("broken symlink (target does not exist)") from None
        raise ImageRejected("file not found") from None
    except IsADirectoryError:
        raise ImageRejected("not a regular file (directory)") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ImageRejected("broken symlink (symlink loop)") from None
        raise ImageRejected(_os_reason(exc)) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = "directory" if stat.S_ISDIR(info.st_mode) else "FIFO, socket or device"
            raise ImageRejected(f"not a regular file ({kind})")
        if info.st_size > max_bytes:
            raise ImageRejected(f"file too large: {info.st_size} bytes exceeds the limit of {max_bytes}")
        with os.fdopen(fd, "rb") as f:
            fd = -1  # owned and closed by f from here on
            data = f.read()
    except OSError as exc:
        raise ImageRejected(_os_reason(exc)) from None
    finally:
        if fd >= 0:
            os.close(fd)
    if not data:
        raise ImageRejected("zero-byte file")
    return data


def decode_bytes(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS, max_side: int | None = 1024,
                 short_side: int | None = None) -> DecodedImage:
    """Decode an encoded image held in memory (see `decode_file`).

    `short_side` (model-input mode, used by indexing): downsize until the shorter side is exactly
    short_side, cheaply: JPEG's reduced-scale decoding, an integer box reduction, then one bilinear
    (antialiased) step of less than 2x; the models' own resizes then have almost nothing left to do.
    `max_side` is ignored in this mode.
    """
    if not data:
        raise ImageRejected("zero-byte file")
    digest = hashlib.sha256(data).hexdigest()
    with warnings.catch_warnings():
        # Our explicit check below is the guard, so Pillow's bomb warning is noise here; so are its
        # UserWarnings about corrupt EXIF (orientation falls back to 1), one per file from every worker.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")
        im = _open(data, max_pixels)
        try:
            width, height = im.size
            if width <= 0 or height <= 0:
                raise ImageRejected(f"truncated or corrupt image data: invalid size {width} x {height}")
            if width * height > max_pixels:
                raise ImageRejected(_too_large(width, height, max_pixels))
            fmt = im.format or "unknown"
            scale = _target_scale(width, height, None if short_side else max_side, short_side)
            if scale < 1 and fmt in ("JPEG", "MPO"):
                _draft(im, scale)
            try:
                im.load()
            except MemoryError:
                raise
            except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError, struct.error, ...
                raise ImageRejected(f"truncated or corrupt image data: {_describe(exc)}") from None
            orientation = _orientation(im)
            taken_at = exif_taken_at(im)
            try:
                rgb = to_rgb(im)
            except MemoryError:
                raise
            except ImageRejected:
                raise
            except Exception as exc:
                raise ImageRejected(f"unsupported mode {im.mode}: {_describe(exc)}") from None
            if short_side:
                rgb = _reduce(rgb, short_side)
                if scale < 1:
                    rgb = _shrink(rgb, scale, (width, height), Image.Resampling.BILINEAR)
            elif scale < 1:
                rgb = _shrink(rgb, scale, (width, height))
            if orientation in _TRANSPOSE:
                rgb = rgb.transpose(_TRANSPOSE[orientation])
                if orientation >= 5:
                    width, height = height, width
            if rgb is im:  # detach from the file object and the decoder state
                rgb = im.copy()
        finally:
            im.close()
    rgb.info = {}  # stale EXIF orientation / ICC / palette info no longer describe these pixels
    return DecodedImage(image=rgb, width=width, height=height, sha256=digest, size=len(data), format=fmt,
                        taken_at=taken_at)


def to_rgb(im: Image.Image) -> Image.Image:
    """Any Pillow mode -> 8-bit RGB: alpha/transparency flattened onto white, high bit depths scaled."""
    mode = im.mode
    if mode == "RGB" and "transparency" not in im.info:
        return im
    if mode == "CMYK":
        return _cmyk_to_rgb(im)
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        return Image.fromarray(_scale_to_uint8(np.asarray(im)), "L").convert("RGB")
    if mode in ("LAB", "HSV", "YCbCr"):
        return im.convert("RGB")
    has_alpha = mode in ("RGBA", "RGBa", "LA", "La", "PA") or "transparency" in im.info
    if mode == "P" and im.palette is not None and im.palette.mode == "RGBA":
        has_alpha = True
    if not has_alpha:
        return im.convert("RGB")
    rgba = im.convert("RGBA")
    background = Image.new("RGBA", rgba.size, _WHITE + (255,))
    return Image.alpha_composite(background, rgba).convert("RGB")


def _open(data: bytes, max_pixels: int) -> Image.Image:
    try:
        return Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except UnidentifiedImageError:
        raise ImageRejected("not an image (unrecognised format)") from None
    except Image.DecompressionBombError:  # Pillow's own hard limit fired before we saw the size
        size = _probe_size(data)
        limit = min(max_pixels, 2 * (Image.MAX_IMAGE_PIXELS or 0)) or max_pixels
        if size is None:
            reason = f"image too large: exceeds the limit of {limit} pixels (decompression-bomb guard)"
            raise ImageRejected(reason) from None
        raise ImageRejected(_too_large(*size, limit)) from None
    except MemoryError:
        raise
    except Exception as exc:
        raise ImageRejected(f"truncated or corrupt image data: {_describe(exc)}") from None


def _probe_size(data: bytes) -> tuple[int, int] | None:
    """Best effort: the header size of an image Pillow refused to open, for the error message only."""
    for fmt in ACCEPTED_FORMATS:
        factory, accept = Image.OPEN.get(fmt, (None, None))
        if factory is None or (accept is not None and not accept(data[:16])):
            continue
        try:
            return factory(io.BytesIO(data), "").size
        except Exception:
            continue
    return None


def _too_large(width: int, height: int, limit: int) -> str:
    return (
        f"image too large: {width} x {height} pixels exceeds the limit of {limit} "
        "(decompression-bomb guard)"
    )


def _target_scale(width: int, height: int, max_side: int | None, short_side: int | None) -> float:
    """The factor (<= 1) to decode at: longer side <= max_side, and no smaller than short_side needs."""
    scale = 1.0
    if max_side:
        scale = min(scale, max_side / max(width, height))
    if short_side:
        scale = min(scale, short_side / min(width, height))
    return scale


def _draft(im: Image.Image, scale: float) -> None:
    """Ask libjpeg to decode at 1/2, 1/4 or 1/8 scale while staying >= `scale` of the full size."""
    width, height = im.size
    target = (max(1, int(width * scale + 0.999)), max(1, int(height * scale + 0.999)))
    try:
        im.draft(None, target)
    except Exception:  # pragma: no cover - draft is an optimisation; full decode still works
        pass


def _shrink(im: Image.Image, scale: float, original: tuple[int, int],
            resample: Image.Resampling = Image.Resampling.BICUBIC) -> Image.Image:
    """Resize to `scale` of the original size (the image may already be smaller after a JPEG draft).
    Pillow's filters widen with the reduction factor, so every choice here is antialiased."""
    size = (max(1, round(original[0] * scale)), max(1, round(original[1] * scale)))
    if im.size == size or im.size[0] < size[0]:
        return im
    return im.resize(size, resample, reducing_gap=3.0)


def _reduce(im: Image.Image, short_side: int) -> Image.Image:
    """Box-reduce by the largest integer factor that keeps the shorter side >= short_side (fast, antialiased)."""
    factor = min(im.size) // short_side
    return im.reduce(factor) if factor >= 2 else im


def _orientation(im: Image.Image) -> int:
    """EXIF (or XMP) orientation 1..8; a broken EXIF block never rejects an otherwise good image."""
    try:
        value = im.getexif().get(_ORIENTATION_TAG, 1)
    except Exception:
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _scale_to_uint8(arr: np.ndarray) -> np.ndarray:
    """Map 16-bit / 32-bit int / float pixels to 0..255 by their nominal range, not by clipping.

    uint16 data: value / 257. Signed int ("I"): 0..255 kept, 0..65535 scaled as 16-bit, anything else
    stretched min..max. Float ("F"): 0..1 scaled by 255, else stretched min..max. NaN/inf become 0.
    """
    if arr.dtype.kind == "u" and arr.dtype.itemsize == 2:
        return ((arr.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    work = np.nan_to_num(arr.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    lo, hi = (float(work.min()), float(work.max())) if work.size else (0.0, 0.0)
    if arr.dtype.kind == "f" and lo >= 0.0 and hi <= 1.0:
        out = work * 255.0
    elif arr.dtype.kind in "iu" and lo >= 0 and hi <= 255:
        out = work
    elif arr.dtype.kind in "iu" and lo >= 0 and hi <= 65535:
        out = work * (255.0 / 65535.0)
    elif hi > lo:
        out = (work - lo) * (255.0 / (hi - lo))
    else:
        out = np.zeros_like(work)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _cmyk_to_rgb(im: Image.Image) -> Image.Image:
    """Use the embedded ICC profile when there is one (accurate colours), else Pillow's naive formula."""
    icc = im.info.get("icc_profile")
    if icc:
        try:
            from PIL import ImageCms  # optional in Pillow builds without littlecms

            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            dst = ImageCms.createProfile("sRGB")
            out = ImageCms.profileToProfile(im, src, dst, outputMode="RGB")
            if out is not None:
                return out
        except Exception:
            pass
    return im.convert("RGB")


def _describe(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    if type(exc).__name__ not in text and not isinstance(exc, OSError):
        text = f"{type(exc).__name__}: {text}"
    return text[:200]


def _os_reason(exc: OSError) -> str:
    if isinstance(exc, PermissionError):
        return "unreadable file: permission denied"
    return f"unreadable file: {exc.strerror or type(exc).__name__}"
