"""Catalog writes of an indexing run. Each call is one transaction: a kill between calls loses no committed
work, and the index log written alongside keeps every FAISS index derivable from the catalog."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from ..catalog.paths import RootMap
from ..catalog.schema import Embedding, ImageRecord, IndexLogEntry
from ..imaging.scan import FoundFile
from ..imaging.taken import mtime_taken_at
from ..layout import WorkspaceLayout
from ..vectors import store
from .prepare import Prepared

INDEXED, DUPLICATE, FAILED = "indexed", "duplicate", "failed"


@dataclass(frozen=True)
class Outcome:
    path: str
    status: str  # indexed | duplicate | failed
    was_new: bool
    image_id: int
    error: str | None = None


def record_batch(s: Session, roots: RootMap, space_ids: dict[str, int], items: list[tuple[FoundFile, Prepared]],
                 vectors: dict[str, np.ndarray], duplicate_of: dict[str, int | str],
                 layout: WorkspaceLayout | None = None) -> list[Outcome]:
    """Write decoded files: the embedded ones with their vectors, exact duplicates pointing at their original.

    `vectors[space][i]` belongs to the i-th item not in `duplicate_of` (see `find_duplicates`). Each space's
    vectors of the batch go into one new shard (`layout`: the workspace's, default the one whose session `s`
    is, see `store.session_workspace`). Rows are fetched and inserted a batch at a time: per-row round trips dominated
    indexing time.
    """
    existing = _existing_rows(s, roots, [found.path for found, _p in items])
    images: list[tuple[ImageRecord, bool]] = []
    for found, _prepared in items:
        image = existing.get(found.path)
        if image is None:
            image = _new_image(roots, found)
            s.add(image)
        else:
            _release(s, image, space_ids)
            image.bytes, image.mtime_ns = found.size, found.mtime_ns
        images.append((image, found.path not in existing))
    s.flush()  # one multi-row INSERT assigns the new ids
    outcomes: list[Outcome] = []
    ids_by_path: dict[str, int] = {}
    embedded: list[int] = []
    for (found, prepared), (image, was_new) in zip(items, images):
        image.sha256, image.width, image.height = prepared.sha256, prepared.width, prepared.height
        image.format, image.error = prepared.format, None
        image.taken_at = prepared.taken_at or mtime_taken_at(found.mtime_ns)
        ids_by_path[found.path] = image.id
        original = duplicate_of.get(found.path)
        if isinstance(original, str):
            original = ids_by_path[original]
        if original is not None:
            image.status, image.duplicate_of = DUPLICATE, original
        else:
            image.status, image.duplicate_of = INDEXED, None
            embedded.append(image.id)
        outcomes.append(Outcome(found.path, image.status, was_new, image.id))
    if embedded:
        layout = layout or store.session_workspace(s)
        for space, space_id in space_ids.items():
            add_vectors(s, layout, space_id, embedded, vectors[space][:len(embedded)])
    return outcomes


def add_vectors(s: Session, layout: WorkspaceLayout, space_id: int, image_ids: list[int], vectors: np.ndarray) -> None:
    """Store images' vectors in a space (one new shard of the vector store, the source of truth) and log the
    additions so the space's FAISS index picks them up at its next load or checkpoint."""
    store.append(s, layout, space_id, image_ids, vectors)
    s.add_all([IndexLogEntry(space_id=space_id, image_id=i, op="add") for i in image_ids])


def _new_image(roots: RootMap, found: FoundFile) -> ImageRecord:
    root_id, relpath = roots.locate(found.path)
    return ImageRecord(corpus_id=roots.corpus_id, root_id=root_id, path=relpath, bytes=found.size,
                       mtime_ns=found.mtime_ns, status=FAILED)


def _existing_rows(s: Session, roots: RootMap, paths: list[str]) -> dict[str, ImageRecord]:
    """The catalog rows of these absolute paths, by absolute path. A file is looked for under every root
    that holds it (with nested roots, it was recorded under the one it was first found in)."""
    by_root: dict[int, set[str]] = defaultdict(set)
    for path in paths:
        for root_id, relpath in roots.candidates(path):
            by_root[root_id].add(relpath)
    rows: dict[str, ImageRecord] = {}
    for root_id, relpaths in by_root.items():  # (root_id, path) is the unique index
        ordered = sorted(relpaths)
        for start in range(0, len(ordered), 900):
            for image in s.scalars(select(ImageRecord).where(ImageRecord.root_id == root_id,
                                                             ImageRecord.path.in_(ordered[start:start + 900]))):
                rows[roots.of(image)] = image
    return rows


def record_mtimes(s: Session, items: list[tuple[int, int]]) -> None:
    """New modification times [(image id, mtime_ns)] of files whose bytes did not change."""
    if items:
        s.execute(update(ImageRecord), [{"id": i, "mtime_ns": m} for i, m in items])


def record_failure(s: Session, roots: RootMap, space_ids: dict[str, int], path: str, reason: str,
                   size: int = 0, mtime_ns: int = 0) -> Outcome:
    """Record a file that could not be indexed; a previously indexed version leaves the index."""
    image, was_new = _upsert_image(s, roots, FoundFile(path=path, size=size, mtime_ns=mtime_ns))
    _release(s, image, space_ids)
    image.status, image.error, image.duplicate_of = FAILED, reason, None
    image.sha256 = image.width = image.height = image.format = None
    return Outcome(path, FAILED, was_new, image.id, reason)


def remove_images(s: Session, space_ids: dict[str, int], image_ids: list[int]) -> None:
    """Forget deleted files: their vectors leave every index; a duplicate of one takes its place."""
    for image_id in image_ids:
        image = s.get(ImageRecord, image_id)
        if image is None:
            continue
        _release(s, image, space_ids)
        s.delete(image)
    s.flush()


def find_duplicates(s: Session, roots: RootMap, items: list[tuple[FoundFile, Prepared]]) -> dict[str, int | str]:
    """Map each path whose bytes are already indexed in the corpus to its original: an image id, or the path
    of an earlier item of this batch. Files being re-processed in this batch never count as originals from
    the catalog, since their content may be what changed."""
    batch_paths = {found.path for found, _p in items}
    shas = sorted({p.sha256 for _f, p in items if p.sha256})
    existing: dict[str, int] = {}
    for start in range(0, len(shas), 900):
        for image_id, sha, root_id, relpath in s.execute(
            select(ImageRecord.id, ImageRecord.sha256, ImageRecord.root_id, ImageRecord.path).where(
                ImageRecord.corpus_id == roots.corpus_id, ImageRecord.status == INDEXED,
                ImageRecord.sha256.in_(shas[start:start + 900])).order_by(ImageRecord.id)
        ):
            if roots.abspath(root_id, relpath) not in batch_paths:
                existing.setdefault(sha, image_id)
    result: dict[str, int | str] = {}
    first_in_batch: dict[str, str] = {}
    for found, prepared in items:
        if prepared.sha256 in existing:
            result[found.path] = existing[prepared.sha256]
        elif prepared.sha256 in first_in_batch:
            result[found.path] = first_in_batch[prepared.sha256]
        else:
            first_in_batch[prepared.sha256] = found.path
    return result


def _upsert_image(s: Session, roots: RootMap, found: FoundFile) -> tuple[ImageRecord, bool]:
    image = _existing_rows(s, roots, [found.path]).get(found.path)
    was_new = image is None
    if image is None:
        image = _new_image(roots, found)
        s.add(image)
        s.flush()
    image.bytes, image.mtime_ns = found.size, found.mtime_ns
    return image, was_new


def _release(s: Session, image: ImageRecord, space_ids: dict[str, int]) -> None:
    """Take an image's current vectors out of the indexes; if it was an original, promote a duplicate."""
    if image.status != INDEXED:
        return
    heir = s.scalar(select(ImageRecord).where(ImageRecord.duplicate_of == image.id,
                                              ImageRecord.status == DUPLICATE).order_by(ImageRecord.id))
    held = s.execute(select(Embedding.space_id, Embedding.shard_id, Embedding.row)
                     .where(Embedding.image_id == image.id)).all()
    if heir is not None:
        for space_id, shard_id, row in held:  # the heir points at the same rows: nothing is copied
            s.merge(Embedding(image_id=heir.id, space_id=space_id, shard_id=shard_id, row=row))
            s.add(IndexLogEntry(space_id=space_id, image_id=heir.id, op="add"))
        heir.status, heir.duplicate_of = INDEXED, None
        for other in s.scalars(select(ImageRecord).where(ImageRecord.duplicate_of == image.id)):
            other.duplicate_of = heir.id
    s.execute(delete(Embedding).where(Embedding.image_id == image.id))
    if heir is None:
        store.mark_dead(s, [shard_id for _space, shard_id, _row in held])
    for space_id in space_ids.values():
        s.add(IndexLogEntry(space_id=space_id, image_id=image.id, op="remove"))
    image.status = FAILED  # placeholder until the caller sets the new status
    s.flush()
