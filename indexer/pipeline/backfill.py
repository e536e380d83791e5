"""`backfill_space`: embed already-indexed images into a space added after they were indexed.

It reuses the indexing machinery: the same `prepare` in decoding workers (so a backfilled vector equals
the one `index` would have written), the same index lock, one transaction per batch with index-log
entries, and a checkpoint at the end. Interrupted, it simply resumes: it works on whatever indexed
images still lack a vector in the space. A file that changed or vanished since it was indexed is not
embedded from its new bytes (its other spaces would disagree); it is reported so `index` can refresh it.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

from sqlalchemy import func, select
from tqdm.auto import tqdm

from ..catalog.paths import RootMap
from ..catalog.schema import Embedding, ImageRecord
from ..index_sync import checkpoint
from ..limits import check_job
from ..spaces import get_space, space_encoder
from ..workspace import Workspace
from .lock import index_lock
from .parallel import ordered_map, worker_pool
from .prepare import Prepared, PrepareTask, prepare
from .run import CHUNK, default_workers, embed_prepared
from .writer import INDEXED, add_vectors


@dataclass
class BackfillSummary:
    space: str
    embedded: int = 0
    already: int = 0  # indexed images that had a vector in the space before this run
    stale: list[dict[str, str]] = field(default_factory=list)  # {id, path, reason}: re-run `index` for these
    ntotal: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def _lacking_vector(space_id: int):  # noqa: ANN202 - a SQLAlchemy where-clause
    has_vector = select(Embedding.image_id).where(Embedding.space_id == space_id)
    return (ImageRecord.status == INDEXED) & ImageRecord.id.not_in(has_vector)


def missing_images(ws: Workspace, space_id: int) -> list[tuple[int, str, str]]:
    """(id, path, sha256) of indexed images with no vector in the space, by id."""
    with ws.session() as s:
        roots = RootMap.load(s, ws.home)
        return [(i, roots.abspath(r, p), h) for i, r, p, h in s.execute(
            select(ImageRecord.id, ImageRecord.root_id, ImageRecord.path, ImageRecord.sha256)
            .where(_lacking_vector(space_id)).order_by(ImageRecord.id))]


def missing_count(ws: Workspace, space_id: int) -> int:
    """How many indexed images have no vector in the space (non-zero after `space add`, until backfilled)."""
    with ws.session() as s:
        return int(s.scalar(select(func.count()).select_from(ImageRecord).where(_lacking_vector(space_id))))


def backfill_space(ws: Workspace, name: str, *, workers: int | None = None, batch_size: int = 32,
                   max_side: int = 1024, progress: bool | None = None) -> BackfillSummary:
    """Give every indexed image a vector in space `name`; returns counts and the files to re-index."""
    started = time.perf_counter()
    ws.require_writable("backfilling a space")
    check_job(workers, batch_size)
    with index_lock(ws):
        space = get_space(ws, name)
        encoder = space_encoder(space)
        todo = missing_images(ws, space.id)
        with ws.session() as s:
            total = s.scalar(select(func.count()).select_from(ImageRecord).where(ImageRecord.status == INDEXED))
        summary = BackfillSummary(space=name, already=int(total or 0) - len(todo))
        expected = {path: (image_id, sha) for image_id, path, sha in todo}
        recipes = ((name, encoder.preprocess),)
        n_workers = (default_workers() if workers is None else workers) if todo else 0
        batch: list[tuple[int, Prepared]] = []
        with worker_pool(n_workers, warm_module=prepare.__module__) as pool, \
                tqdm(total=len(todo), unit="img", desc=f"backfilling {name}",
                     disable=None if progress is None else not progress) as bar:
            tasks = (PrepareTask(path, recipes, max_side) for _id, path, _sha in todo)
            for prepared in ordered_map(prepare, tasks, pool=pool, workers=max(1, n_workers), chunk_size=CHUNK):
                image_id, sha = expected[prepared.path]
                if not prepared.ok:
                    summary.stale.append({"id": image_id, "path": prepared.path, "reason": prepared.error or ""})
                    bar.update(1)
                elif prepared.sha256 != sha:
                    summary.stale.append({"id": image_id, "path": prepared.path,
                                          "reason": "file changed since it was indexed"})
                    bar.update(1)
                else:
                    batch.append((image_id, prepared))
                if len(batch) >= batch_size:
                    bar.update(_write(ws, space.id, name, encoder, batch, summary))
            bar.update(_write(ws, space.id, name, encoder, batch, summary))
        summary.ntotal = checkpoint(ws, space).ntotal
    summary.seconds = round(time.perf_counter() - started, 3)
    return summary


def _write(ws: Workspace, space_id: int, name: str, encoder, batch: list[tuple[int, Prepared]],  # noqa: ANN001
           summary: BackfillSummary) -> int:
    """Embed one batch and commit its vectors with their index-log entries; returns the batch size."""
    if not batch:
        return 0
    vectors = embed_prepared(name, encoder, [p for _id, p in batch])
    with ws.session() as s:
        add_vectors(s, ws, space_id, [image_id for image_id, _p in batch], vectors)
    done = len(batch)
    summary.embedded += done
    batch.clear()
    return done
