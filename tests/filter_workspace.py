"""A tiny-profile workspace made for filter tests: 30 seeded pattern images with known folders, sizes,
dates (EXIF DateTimeOriginal on some JPEGs, file mtimes on the PNGs), two corpora, and collections with
tags. The content space is forced to an HNSW index, so filters run against an ANN index.

    a/x/0..9.jpg   corpus a, EXIF date 2020-01-(i+1) 12:00
    a/y/10..19.png corpus a, mtime 2023-06-(i-9) 00:00 UTC
    b/20..29.png   corpus b, mtime 2024-03-(i-19) 00:00 UTC
    size by i % 3: 0 landscape 80x48, 1 portrait 48x80, 2 square 64x64
    collection fav: 1, 2, 3 (2 and 3 tagged red); collection misc: 25 (tagged red, blue)
"""
from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from corpus_factory import pattern_image
from PIL import Image
from sqlalchemy import select

from indexer.catalog.schema import ImageRecord
from indexer.index_settings import IndexSettings
from indexer.pipeline.run import index_paths
from indexer.workspace import Workspace
from retrieval.collections import add_images, create_collection

SIZES = [(80, 48), (48, 80), (64, 64)]
N = 30


def image_file(root: Path, i: int) -> Path:
    if i < 10:
        return root / "a" / "x" / f"{i}.jpg"
    return root / ("a/y" if i < 20 else "b") / f"{i}.png"


def build(root: Path) -> tuple[Workspace, dict[int, int]]:
    """The workspace and {file number: catalog id}."""
    rng = np.random.default_rng(7)
    for i in range(N):
        path = image_file(root / "data", i)
        path.parent.mkdir(parents=True, exist_ok=True)
        colours = tuple(tuple(int(c) for c in rng.integers(0, 255, 3)) for _ in range(4))
        im = pattern_image(SIZES[i % 3], colours)
        if i < 10:
            exif = Image.Exif()
            exif.get_ifd(0x8769)[36867] = f"2020:01:{i + 1:02d} 12:00:00"
            im.save(path, quality=95, exif=exif)
        else:
            im.save(path)
            day = datetime(2023, 6, i - 9, tzinfo=timezone.utc) if i < 20 else datetime(2024, 3, i - 19, tzinfo=timezone.utc)
            os.utime(path, (day.timestamp(), day.timestamp()))
    ws = Workspace.open(root / "ws")
    settings = IndexSettings({"content": "HNSW32"})
    index_paths(ws, [str(root / "data" / "a")], "a", profile="tiny", workers=0, progress=False, index_settings=settings)
    index_paths(ws, [str(root / "data" / "b")], "b", workers=0, progress=False)
    with ws.session() as s:
        by_name = {Path(p).name: i for p, i in s.execute(select(ImageRecord.path, ImageRecord.id))}
    ids = {i: by_name[image_file(root, i).name] for i in range(N)}
    create_collection(ws, "fav")
    add_images(ws, "fav", [ids[1]], added_by="test")
    add_images(ws, "fav", [ids[2], ids[3]], added_by="test", tags=("red",))
    create_collection(ws, "misc")
    add_images(ws, "misc", [ids[25]], added_by="test", tags=("red", "blue"))
    return ws, ids
