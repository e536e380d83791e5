"""Does the workspace agree with itself? The catalog, the stored vectors and every space's index.

After any crash and one completed re-run these must hold: every indexed image has exactly one vector in
each space and appears exactly once in each index, no index holds an id the catalog does not list as
indexed, every vector shard the catalog names is on disk whole and holds the rows pointed at, no file is
catalogued twice in a corpus (e.g. under two nested roots) or under another corpus's
root, and no duplicate record points nowhere. The tests and `scripts/check_reliability.py` read the same
report.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import func, select

from .catalog.paths import RootMap
from .catalog.schema import CorpusRoot, Embedding, ImageRecord, VectorShard
from .index_sync import load_index
from .spaces import list_spaces
from .workspace import Workspace


@dataclass
class ConsistencyReport:
    """What was found: the indexed ids and a sentence per disagreement (empty when all agree)."""

    indexed: set[int] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_consistency(ws: Workspace) -> ConsistencyReport:
    """Compare catalog, vectors and indexes of every space (loads each index once, verifying its whole file)."""
    report = ConsistencyReport()
    with ws.session() as s:
        report.indexed = set(s.scalars(select(ImageRecord.id).where(ImageRecord.status == "indexed")))
        dangling = s.scalar(select(func.count()).select_from(ImageRecord).where(
            ImageRecord.status == "duplicate", ImageRecord.duplicate_of.is_(None)))
        roots = RootMap.load(s, ws.home)
        files = s.execute(select(ImageRecord.corpus_id, ImageRecord.root_id, ImageRecord.path)).all()
        doubled = len(files) - len({(c, roots.abspath(r, p)) for c, r, p in files})
        astray = s.scalar(select(func.count()).select_from(ImageRecord).join(
            CorpusRoot, CorpusRoot.id == ImageRecord.root_id).where(CorpusRoot.corpus_id != ImageRecord.corpus_id))
    if dangling:
        report.problems.append(f"{dangling} duplicate record(s) point to no original")
    if doubled:
        report.problems.append(f"{doubled} path(s) catalogued twice in one corpus")
    if astray:
        report.problems.append(f"{astray} image(s) under a root of another corpus")
    for space in list_spaces(ws):
        with ws.session() as s:
            embedded = set(s.scalars(select(Embedding.image_id).where(Embedding.space_id == space.id)))
            shards = s.execute(select(VectorShard.file, VectorShard.rows, VectorShard.bytes, func.max(Embedding.row))
                               .outerjoin(Embedding, Embedding.shard_id == VectorShard.id)
                               .where(VectorShard.space_id == space.id)
                               .group_by(VectorShard.id, VectorShard.file, VectorShard.rows, VectorShard.bytes)).all()
        broken = [f for f, rows, size, top in shards if not _shard_whole(ws, f, size) or (top is not None and top >= rows)]
        if broken:
            report.problems.append(f"{space.name} stored vectors: {len(broken)} shard file(s) missing, resized or "
                                   f"too short (e.g. {broken[0]})")
        ids = load_index(ws, space, verify="full").ids()  # the one place large snapshots are hashed whole
        if len(ids) != len(np.unique(ids)):
            report.problems.append(f"the {space.name} index holds {len(ids) - len(np.unique(ids))} id(s) twice")
        in_index = set(ids.tolist())
        for label, got in (("index", in_index), ("stored vectors", embedded)):
            missing, extra = report.indexed - got, got - report.indexed
            if missing:
                report.problems.append(f"{space.name} {label}: {len(missing)} indexed image(s) missing")
            if extra:
                report.problems.append(f"{space.name} {label}: {len(extra)} id(s) not indexed in the catalog")
    return report


def _shard_whole(ws: Workspace, file: str, size: int) -> bool:
    path = ws.vectors_dir / file
    return path.is_file() and path.stat().st_size == size
