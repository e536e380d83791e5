"""A real font for labels drawn into images (strip grids): DejaVu Sans as shipped with matplotlib (a
dependency), else Pillow's own scalable default font. Pillow's old bitmap default is 11 px and unreadable."""
from __future__ import annotations

import functools
from pathlib import Path

from PIL import ImageFont

LABEL_SIZE = 15


def dejavu_path() -> Path | None:
    """matplotlib's DejaVuSans.ttf, when matplotlib is installed and ships it."""
    try:
        import matplotlib
    except ImportError:
        return None
    path = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    return path if path.is_file() else None


@functools.lru_cache(maxsize=8)
def label_font(size: int = LABEL_SIZE) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """DejaVu Sans at `size` px, else Pillow's default font at that size."""
    path = dejavu_path()
    if path is not None:
        try:
            return ImageFont.truetype(str(path), size)
        except OSError:
            pass
    return ImageFont.load_default(size=size)
