"""One catalog image for interfaces that serve it (the HTTP API): its metadata, its file -- only when it
lies inside a root of its corpus -- and a small JPEG thumbnail."""
from __future__ import annotations

import io
import json
import os
from dataclasses import asdict, dataclass
from functools import lru_cache

from sqlalchemy import select

from indexer.catalog.paths import RootMap, image_path
from indexer.catalog.schema import (
    Collection,
    CollectionItem,
    Corpus,
    ImageRecord,
)
from indexer.imaging.decode import ImageRejected, decode_file
from indexer.limits import check_id
from indexer.workspace import Workspace

from .query import QueryError

THUMB_SIDE = 256


class ImageNotFound(QueryError):
    """No catalog image with that id, or its file is not servable."""


@dataclass(frozen=True)
class ImageInfo:
    id: int
    path: str
    corpus: str
    status: str
    width: int | None
    height: int | None
    format: str | None
    bytes: int
    sha256: str | None
    taken_at: str | None
    duplicate_of: int | None
    collections: list[str]
    tags: list[str]

    def to_dict(self) -> dict:
        return asdict(self)


def image_info(ws: Workspace, image_id: int) -> ImageInfo:
    """Metadata of one catalog image, with the collections it is in and the tags it carries there."""
    check_id(image_id, "image id")
    with ws.session() as s:
        row = s.execute(select(ImageRecord, Corpus.name).join(Corpus, Corpus.id == ImageRecord.corpus_id)
                        .where(ImageRecord.id == image_id)).first()
        if row is None:
            raise ImageNotFound(f"no image with id {image_id} in the catalog")
        image, corpus = row
        path = image_path(s, ws.home, image)
        items = s.execute(select(Collection.name, CollectionItem.tags)
                          .join(Collection, Collection.id == CollectionItem.collection_id)
                          .where(CollectionItem.image_id == image_id).order_by(Collection.name)).all()
    tags = sorted({t for _n, raw in items for t in json.loads(raw or "[]")})
    return ImageInfo(image.id, path, corpus, image.status, image.width, image.height, image.format, image.bytes,
                     image.sha256, image.taken_at.isoformat() if image.taken_at else None, image.duplicate_of,
                     [n for n, _t in items], tags)


def servable_file(ws: Workspace, image_id: int) -> str:
    """The real path of an image's file, only when it is a regular file inside one of its corpus's roots
    (a link leading elsewhere is refused); the path comes from the catalog, never from the caller."""
    check_id(image_id, "image id")
    with ws.session() as s:
        image = s.get(ImageRecord, image_id)
        if image is None:
            raise ImageNotFound(f"no image with id {image_id} in the catalog")
        roots = list(RootMap.load(s, ws.home, image.corpus_id).roots.values())
        path = image_path(s, ws.home, image)
    real = os.path.realpath(path)
    inside = any(real == r or real.startswith(r.rstrip(os.sep) + os.sep) for r in map(os.path.realpath, roots))
    if not inside or not os.path.isfile(real):
        raise ImageNotFound(f"the file of image {image_id} is not available")
    return real


def thumbnail_jpeg(ws: Workspace, image_id: int, side: int = THUMB_SIDE) -> bytes:
    """A JPEG at most `side` pixels on its longer side, cached per file version."""
    path = servable_file(ws, image_id)
    info = os.stat(path)
    result = _thumbnail(path, info.st_mtime_ns, info.st_size, side)
    if isinstance(result, str):
        raise ImageNotFound(f"image {image_id} has no preview: {result}")
    return result


@lru_cache(maxsize=2048)
def _thumbnail(path: str, _mtime_ns: int, _size: int, side: int) -> bytes | str:
    return render_thumbnail(path, side)


def render_thumbnail(path: str, side: int = THUMB_SIDE) -> bytes | str:
    """JPEG bytes of `path` decoded by the indexer's decoder (EXIF orientation, every mode to RGB,
    decompression-bomb guard) at most `side` pixels long, or the reason there is none (uncached)."""
    try:
        image = decode_file(path, max_side=side).image
    except ImageRejected as exc:
        return exc.reason
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=85)
    return buf.getvalue()
