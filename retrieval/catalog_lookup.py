"""Catalog reads that searches need: which ids a corpus allows, where an image lives, its stored vectors."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import select

from indexer.catalog.paths import RootMap
from indexer.catalog.schema import Corpus, ImageRecord
from indexer.spaces import SpaceInfo
from indexer.vectors.store import read_vectors
from indexer.workspace import Workspace

from .query import QueryError


@dataclass(frozen=True)
class ImageRef:
    id: int
    path: str  # absolute
    corpus: str
    status: str
    duplicate_of: int | None


def allowed_ids(ws: Workspace, corpora: list[str] | None = None, roles: tuple[str, ...] | None = None) -> np.ndarray | None:
    """Indexed image ids in the named corpora (or corpora with one of `roles`); None = no restriction."""
    if not corpora and not roles:
        return None
    with ws.session() as s:
        stmt = select(ImageRecord.id).join(Corpus, Corpus.id == ImageRecord.corpus_id).where(
            ImageRecord.status == "indexed")
        if corpora:
            known = set(s.scalars(select(Corpus.name).where(Corpus.name.in_(corpora))))
            unknown = sorted(set(corpora) - known)
            if unknown:
                raise QueryError(f"no corpus named {', '.join(map(repr, unknown))}")
            stmt = stmt.where(Corpus.name.in_(corpora))
        if roles:
            stmt = stmt.where(Corpus.role.in_(roles))
        return np.fromiter(s.scalars(stmt), dtype=np.int64)


def image_refs(ws: Workspace, ids: list[int]) -> dict[int, ImageRef]:
    out: dict[int, ImageRef] = {}
    with ws.session() as s:
        roots = RootMap.load(s, ws.home)
        for start in range(0, len(ids), 900):
            rows = s.execute(
                select(ImageRecord.id, ImageRecord.root_id, ImageRecord.path, Corpus.name, ImageRecord.status,
                       ImageRecord.duplicate_of)
                .join(Corpus, Corpus.id == ImageRecord.corpus_id).where(ImageRecord.id.in_(ids[start:start + 900]))
            )
            out.update({i: ImageRef(i, roots.abspath(rid, rel), *rest) for i, rid, rel, *rest in rows})
    return out


def stored_vectors(ws: Workspace, space: SpaceInfo, ids: list[int]) -> dict[int, np.ndarray]:
    """Vectors of catalog images in a space; a duplicate's vector is its original's. Every id must have one."""
    out = available_vectors(ws, space, ids)
    lacking = [i for i in ids if i not in out]
    if lacking:
        ref = image_refs(ws, lacking[:1])[lacking[0]]
        raise QueryError(f"image {ref.id} ({ref.path}) has no {space.name} vector (status: {ref.status})")
    return out


def available_vectors(ws: Workspace, space: SpaceInfo, ids: list[int],
                      refs: dict[int, ImageRef] | None = None) -> dict[int, np.ndarray]:
    """Like `stored_vectors`, but ids without a vector in the space (e.g. a space added and not yet
    backfilled) are left out instead of failing; unknown ids still fail. `refs`: `image_refs` of the ids,
    when the caller already has them (reading several spaces for one list)."""
    refs = image_refs(ws, ids) if refs is None else refs
    missing = [i for i in ids if i not in refs]
    if missing:
        raise QueryError(f"no image with id {missing[0]} in the catalog")
    source = {i: (refs[i].duplicate_of if refs[i].status == "duplicate" and refs[i].duplicate_of else i) for i in ids}
    with ws.session() as s:
        found_ids, vectors = read_vectors(ws, s, space, sorted(set(source.values())))
    by_id = dict(zip(found_ids.tolist(), vectors))
    return {i: by_id[source[i]] for i in ids if source[i] in by_id}


def available_matrix(ws: Workspace, space: SpaceInfo, ids: list[int],
                     refs: dict[int, ImageRef] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """`available_vectors` as (a row per id, zero where the space has no vector for it; which rows have one)."""
    stored = available_vectors(ws, space, ids, refs)
    mat = np.zeros((len(ids), space.dim), np.float32)
    have = np.zeros(len(ids), bool)
    for n, i in enumerate(ids):
        if i in stored:
            mat[n], have[n] = stored[i], True
    return mat, have


def corpus_vectors(ws: Workspace, space: SpaceInfo, corpus: str) -> tuple[np.ndarray, np.ndarray]:
    """(ids, vectors) of every indexed image of a corpus in one space, ids ascending."""
    from indexer.catalog.schema import Embedding

    with ws.session() as s:
        if s.scalar(select(Corpus.id).where(Corpus.name == corpus)) is None:
            raise QueryError(f"no corpus named {corpus!r}")
        ids = np.fromiter(s.scalars(
            select(Embedding.image_id)
            .join(ImageRecord, ImageRecord.id == Embedding.image_id)
            .join(Corpus, Corpus.id == ImageRecord.corpus_id)
            .where(Corpus.name == corpus, Embedding.space_id == space.id, ImageRecord.status == "indexed")
        ), dtype=np.int64)
        return read_vectors(ws, s, space, ids.tolist())
