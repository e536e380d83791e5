"""Curated collections: named sets of catalog images with tags, notes and provenance."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import func, select

from indexer.catalog.paths import RootMap, image_path
from indexer.catalog.schema import Collection, CollectionItem, Corpus, ImageRecord
from indexer.limits import MAX_K, check_fraction, check_id, check_ids, check_int, check_name
from indexer.spaces import get_space
from indexer.workspace import Workspace

from .catalog_lookup import allowed_ids, stored_vectors
from .index_cache import get_index
from .query import QueryError


@dataclass(frozen=True)
class ItemInfo:
    image_id: int | None
    path: str
    sha256: str | None
    corpus: str | None
    tags: tuple[str, ...]
    note: str | None
    added_by: str
    added_at: str

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class AddResult:
    added: list[int]
    already: list[int]


def create_collection(ws: Workspace, name: str, description: str | None = None) -> None:
    check_name(name, Collection.name, "the collection name")
    with ws.session() as s:
        if s.scalar(select(Collection).where(Collection.name == name)) is not None:
            raise QueryError(f"collection {name!r} already exists")
        s.add(Collection(name=name, description=description))


def require_collection(ws: Workspace, name: str) -> None:
    """QueryError naming the existing collections unless `name` is one (check before work that adds to it)."""
    with ws.session() as s:
        _get(s, name)


def list_collections(ws: Workspace) -> list[dict]:
    with ws.session() as s:
        rows = s.execute(
            select(Collection.name, Collection.description, Collection.created_at, func.count(CollectionItem.id))
            .outerjoin(CollectionItem, CollectionItem.collection_id == Collection.id)
            .group_by(Collection.id).order_by(Collection.name)
        )
        return [{"name": n, "description": d, "created_at": c.isoformat(), "items": k} for n, d, c, k in rows]


def add_images(ws: Workspace, name: str, image_ids: list[int], *, added_by: str, tags: tuple[str, ...] = (),
               note: str | None = None) -> AddResult:
    """Add catalog images (indexed or duplicate) to a collection; ones already in it are left as they are."""
    check_ids(image_ids)
    added, already = [], []
    with ws.session() as s:
        coll = _get(s, name)
        present = set(s.scalars(select(CollectionItem.image_id).where(CollectionItem.collection_id == coll.id)))
        for image_id in dict.fromkeys(image_ids):
            image = s.get(ImageRecord, image_id)
            if image is None or image.status == "failed":
                raise QueryError(f"no indexed image with id {image_id}")
            if image_id in present:
                already.append(image_id)
                continue
            s.add(CollectionItem(collection_id=coll.id, image_id=image_id, path=image_path(s, ws.home, image),
                                 sha256=image.sha256, tags=json.dumps(sorted(set(tags))), note=note, added_by=added_by))
            added.append(image_id)
    return AddResult(added, already)


def remove_images(ws: Workspace, name: str, image_ids: list[int]) -> int:
    check_ids(image_ids)
    with ws.session() as s:
        coll = _get(s, name)
        items = s.scalars(select(CollectionItem).where(CollectionItem.collection_id == coll.id,
                                                      CollectionItem.image_id.in_(image_ids))).all()
        for item in items:
            s.delete(item)
        return len(items)


def annotate(ws: Workspace, name: str, image_id: int, *, add_tags: tuple[str, ...] = (),
             remove_tags: tuple[str, ...] = (), note: str | None = None) -> ItemInfo:
    """Change an item's tags and/or note."""
    check_id(image_id)
    with ws.session() as s:
        coll = _get(s, name)
        item = s.scalar(select(CollectionItem).where(CollectionItem.collection_id == coll.id,
                                                     CollectionItem.image_id == image_id))
        if item is None:
            raise QueryError(f"image {image_id} is not in collection {name!r}")
        item.tags = json.dumps(sorted((set(json.loads(item.tags)) | set(add_tags)) - set(remove_tags)))
        if note is not None:
            item.note = note
        s.flush()
    return next(i for i in collection_items(ws, name) if i.image_id == image_id)


def collection_items(ws: Workspace, name: str) -> list[ItemInfo]:
    """The items in a stable order (by when they were added, then image id). A catalogued item has its
    file's current path (its folder may have moved since), one gone from the catalog the path it had."""
    with ws.session() as s:
        coll = _get(s, name)
        roots = RootMap.load(s, ws.home)
        rows = s.execute(
            select(CollectionItem, Corpus.name, ImageRecord.root_id, ImageRecord.path)
            .outerjoin(ImageRecord, ImageRecord.id == CollectionItem.image_id)
            .outerjoin(Corpus, Corpus.id == ImageRecord.corpus_id)
            .where(CollectionItem.collection_id == coll.id).order_by(CollectionItem.id)
        )
        return [ItemInfo(item.image_id, item.path if root_id is None else roots.abspath(root_id, relpath),
                         item.sha256, corpus, tuple(json.loads(item.tags)), item.note, item.added_by,
                         _iso(item.added_at)) for item, corpus, root_id, relpath in rows]


def style_neighbourhood(ws: Workspace, exemplars: list[int], *, max_distance: float, cap: int,
                        corpora: list[str] | None = None, space: str = "style") -> list[tuple[int, float]]:
    """Every image within `max_distance` (1 - cosine) of at least one exemplar in the style space, nearest
    first, at most `cap` of them: [(image id, distance to its nearest exemplar)]."""
    if not exemplars:
        raise QueryError("give at least one exemplar image id")
    check_ids(exemplars, "exemplar id")
    check_fraction(max_distance, "the maximum distance (1 - cosine)", 0.0, 2.0)
    check_int(cap, "the cap", 1, MAX_K)
    sp = get_space(ws, space)
    vectors = stored_vectors(ws, sp, exemplars)
    queries = [vectors[i] for i in exemplars]
    scores, ids = get_index(ws, sp).search(np.stack(queries), cap + len(exemplars), allow=allowed_ids(ws, corpora))
    best: dict[int, float] = {}
    for row_ids, row_scores in zip(ids, scores):
        for image_id, score in zip(row_ids.tolist(), row_scores.tolist()):
            distance = 1.0 - score
            if image_id >= 0 and distance <= max_distance:
                best[image_id] = min(distance, best.get(image_id, 2.0))
    return sorted(best.items(), key=lambda kv: (kv[1], kv[0]))[:cap]


def _get(s, name: str) -> Collection:  # noqa: ANN001
    coll = s.scalar(select(Collection).where(Collection.name == name))
    if coll is None:
        known = ", ".join(s.scalars(select(Collection.name).order_by(Collection.name))) or "none yet"
        raise QueryError(f"no collection named {name!r} (collections: {known})")
    return coll


def _iso(value: datetime) -> str:
    return value.isoformat()
