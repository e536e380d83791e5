"""Search filters, one implementation for the library, the CLI, the Studio and the HTTP API.

A `SearchFilter` names which catalog images a search may return: corpus, collection, tag (the tags of
collection items), a path glob, a date range on `images.taken_at` (EXIF DateTimeOriginal, else the file's
mtime, recorded at indexing), a minimum width / height and an orientation. `allowed_ids` turns it into
the sorted ids of the indexed images that pass every condition (None when the filter is empty), which the
vector search then treats as an allow-list.

Path globs use `fnmatch` on the full path: `*` also crosses `/`, so `*/holidays/*` matches any depth.
"""
from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timezone
from typing import Literal

import numpy as np
from sqlalchemy import Select, and_, select

from indexer.catalog.paths import RootMap
from indexer.catalog.schema import Collection, CollectionItem, Corpus, ImageRecord
from indexer.limits import LimitError, check_int
from indexer.workspace import Workspace

from .query import QueryError

Orientation = Literal["landscape", "portrait", "square"]
ORIENTATIONS: tuple[str, ...] = ("landscape", "portrait", "square")
MAX_SIDE = 1_000_000  # a bound for --min-width / --min-height (pixels)
MAX_FILTER_VALUES = 64  # corpora, collections or tags in one filter


@dataclass(frozen=True)
class SearchFilter:
    """Which images a search may return; every field set must hold (values within a field: any of them)."""

    corpora: tuple[str, ...] = ()
    collections: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    path_glob: str | None = None
    after: datetime | None = None  # taken_at >= after (a time with a zone is compared in UTC)
    before: datetime | None = None  # taken_at < before
    min_width: int | None = None
    min_height: int | None = None
    orientation: Orientation | None = None

    def __post_init__(self) -> None:
        for name in ("corpora", "collections", "tags"):
            values = getattr(self, name)
            if isinstance(values, str) or len(values) > MAX_FILTER_VALUES:
                raise LimitError(f"{name} must be a list of at most {MAX_FILTER_VALUES} names")
            object.__setattr__(self, name, tuple(values))
        for name in ("after", "before"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, naive_utc(getattr(self, name)))
        for name in ("min_width", "min_height"):
            if getattr(self, name) is not None:
                check_int(getattr(self, name), name.replace("_", " "), 1, MAX_SIDE)
        if self.orientation is not None and self.orientation not in ORIENTATIONS:
            raise QueryError(f"orientation must be one of {', '.join(ORIENTATIONS)}, not {self.orientation!r}")
        if self.after and self.before and self.after >= self.before:
            raise QueryError(f"the date range is empty: after {self.after} is not before {self.before}")
        if self.path_glob is not None and not self.path_glob.strip():
            raise QueryError("the path glob is empty")

    def is_empty(self) -> bool:
        return self == SearchFilter()

    def with_corpora(self, corpora: list[str] | tuple[str, ...] | None) -> SearchFilter:
        """This filter with `corpora` added (the library's older `corpora=` keyword)."""
        return replace(self, corpora=tuple(dict.fromkeys((*self.corpora, *(corpora or ())))))


def parse_date(text: str, *, end: bool = False) -> datetime:
    """'2024-05-01' or '2024-05-01T10:30' -> datetime; a bare date as a `before` bound means the day after."""
    try:
        if len(text.strip()) == 10:
            day = date.fromisoformat(text.strip())
            return datetime.combine(date.fromordinal(day.toordinal() + 1) if end else day, time())
        return naive_utc(datetime.fromisoformat(text.strip()))
    except ValueError:
        raise QueryError(f"cannot read the date {text!r}; write e.g. 2024-05-01 or 2024-05-01T10:30") from None


def naive_utc(value: datetime) -> datetime:
    """The form `images.taken_at` holds: a time with a zone becomes naive UTC; a naive one is kept as is."""
    return value if value.tzinfo is None else value.astimezone(timezone.utc).replace(tzinfo=None)


def allowed_ids(ws: Workspace, flt: SearchFilter | None) -> np.ndarray | None:
    """Sorted ids of the indexed images passing `flt`; None when there is nothing to filter."""
    if flt is None or flt.is_empty():
        return None
    with ws.session() as s:
        stmt = _statement(s, flt)
        if flt.path_glob is None and not flt.tags:
            return np.fromiter(s.scalars(stmt.order_by(ImageRecord.id)), dtype=np.int64)
        rows = s.execute(stmt.add_columns(ImageRecord.root_id, ImageRecord.path).order_by(ImageRecord.id)).all()
        roots = RootMap.load(s, ws.home) if flt.path_glob is not None else None
        tagged = _tagged(s, flt) if flt.tags else None
    keep = [i for i, root_id, rel in rows
            if (roots is None or fnmatch.fnmatchcase(roots.abspath(root_id, rel), flt.path_glob))
            and (tagged is None or i in tagged)]
    return np.asarray(keep, dtype=np.int64)


def _statement(s, flt: SearchFilter) -> Select:  # noqa: ANN001 - Session
    """The SQL part of the filter (everything but the glob and the tag match, which are checked in Python)."""
    stmt = select(ImageRecord.id).where(ImageRecord.status == "indexed")
    if flt.corpora:
        _require(s, Corpus.name, flt.corpora, "corpus")
        stmt = stmt.join(Corpus, Corpus.id == ImageRecord.corpus_id).where(Corpus.name.in_(flt.corpora))
    if flt.collections:
        _require(s, Collection.name, flt.collections, "collection")
        members = (select(CollectionItem.image_id).join(Collection, Collection.id == CollectionItem.collection_id)
                   .where(Collection.name.in_(flt.collections), CollectionItem.image_id.is_not(None)))
        stmt = stmt.where(ImageRecord.id.in_(members))
    if flt.after is not None:
        stmt = stmt.where(ImageRecord.taken_at >= flt.after)
    if flt.before is not None:
        stmt = stmt.where(ImageRecord.taken_at < flt.before)
    if flt.min_width is not None:
        stmt = stmt.where(ImageRecord.width >= flt.min_width)
    if flt.min_height is not None:
        stmt = stmt.where(ImageRecord.height >= flt.min_height)
    if flt.orientation == "landscape":
        stmt = stmt.where(ImageRecord.width > ImageRecord.height)
    elif flt.orientation == "portrait":
        stmt = stmt.where(ImageRecord.width < ImageRecord.height)
    elif flt.orientation == "square":
        stmt = stmt.where(and_(ImageRecord.width == ImageRecord.height, ImageRecord.width.is_not(None)))
    return stmt


def _tagged(s, flt: SearchFilter) -> set[int]:  # noqa: ANN001 - Session
    """Images carrying any of the filter's tags on a collection item (tags are JSON lists of strings)."""
    wanted = set(flt.tags)
    rows = s.execute(select(CollectionItem.image_id, CollectionItem.tags).where(CollectionItem.image_id.is_not(None)))
    return {i for i, tags in rows if wanted & set(json.loads(tags or "[]"))}


def _require(s, column, names: tuple[str, ...], what: str) -> None:  # noqa: ANN001
    known = set(s.scalars(select(column).where(column.in_(names))))
    unknown = sorted(set(names) - known)
    if unknown:
        raise QueryError(f"no {what} named {', '.join(map(repr, unknown))}")

