"""When a picture was taken: EXIF DateTimeOriginal (else the EXIF DateTime), or the file's mtime.

Recorded at indexing in `images.taken_at` (naive datetime: EXIF dates carry no time zone, so they are kept
as the camera wrote them; an mtime is converted to UTC) and used by the date filters (`retrieval.filters`).
"""
from __future__ import annotations

from datetime import datetime, timezone

from PIL import Image

_EXIF_IFD = 0x8769
_DATETIME_ORIGINAL, _DATETIME = 36867, 306


def exif_taken_at(im: Image.Image) -> datetime | None:
    """DateTimeOriginal, else DateTime, of an open image; None when absent or unreadable."""
    try:
        exif = im.getexif()
        value = exif.get_ifd(_EXIF_IFD).get(_DATETIME_ORIGINAL) or exif.get(_DATETIME)
    except Exception:  # noqa: BLE001 - a broken EXIF block only loses the date
        return None
    return parse_exif_date(value)


def parse_exif_date(value: object) -> datetime | None:
    """'YYYY:MM:DD HH:MM:SS' (EXIF) -> datetime; None for blanks and malformed values."""
    if isinstance(value, bytes):
        value = value.decode("ascii", "ignore")
    if not isinstance(value, str):
        return None
    try:
        return datetime.strptime(value.strip().rstrip("\x00")[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None


def mtime_taken_at(mtime_ns: int) -> datetime:
    """A file's modification time as a naive UTC datetime (the fallback when EXIF has no date)."""
    return datetime.fromtimestamp(mtime_ns / 1e9, timezone.utc).replace(tzinfo=None)


def file_taken_at(path: str, mtime_ns: int) -> datetime:
    """The date of a file on disk (EXIF header only, no pixel decoding); its mtime when that fails."""
    try:
        with Image.open(path) as im:
            found = exif_taken_at(im)
    except Exception:  # noqa: BLE001 - missing, unreadable or not an image: fall back to the mtime
        found = None
    return found or mtime_taken_at(mtime_ns)
