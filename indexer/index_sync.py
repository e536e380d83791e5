"""Keeps each space's FAISS index in step with the catalog.

The vector store (`embeddings` rows pointing into `vectors/` shards, `indexer.vectors.store`) is the source
of truth; every change to it appends to `index_log` in the same transaction. A snapshot is a FAISS file
written atomically plus the last log entry it contains, so the live index is always "current snapshot + the
newer log entries". A crash at any moment leaves either the old or the new snapshot current, never a
half-written one, and loses no change.

Layers (`indexer.vectors.layered`): the snapshot is the BASE, opened as it is; the newer log entries become
a small exact DELTA (the current vectors of added or replaced ids, read through `vectors_for`) and
TOMBSTONES (base ids removed or replaced), so loading costs the base's read plus the delta's size.
`checkpoint` folds the delta into a new base file only when `layered.fold_reason` says so (delta past 10 %
of the base, or tombstones past 20 %), or when the index type must change; otherwise it writes nothing and
keeps the log, whose length the fold threshold bounds. A fold of an on-disk base copies its inverted lists
into a new folder with the delta merged in and the tombstones dropped, keeping the trained quantizer
(`vectors.ondisk_extend`); it retrains from the store only once the corpus has grown IVF_RETRAIN_GROWTH times
past the training sample or needs another index type. An indexing run therefore costs what it changed,
not the corpus size, and a deletion never rebuilds an HNSW graph when it happens: the id is tombstoned, and
the graph is rebuilt once, at the fold that the accumulated tombstones trigger (amortised over those runs).

Integrity: a snapshot's framing, size (against the row's `bytes`) and header checksum are checked on every
open; the payload hash on every open of a small file, and for large ones when written, when a checkpoint
loads the base to fold into it, and by `stylelens check` (`load_index(verify="full")`, see
`indexer.vectors.storage`).
"""
from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from .catalog.schema import IndexLogEntry, IndexSnapshot
from .index_bases import (ONDISK_SUFFIX, Base, BuildPlace, build_ondisk_base, check_base, choose_base,
                          extend_ondisk_base, is_ondisk, new_name, ondisk_members, open_base, remove_base)
from .spaces import SpaceInfo
from .vectors import store
from .vectors.compaction import compact
from .vectors.faiss_index import IndexFileError, VectorIndex
from .vectors.layered import LayeredIndex, fold_reason
from .vectors.ondisk import OnDiskIndex
from .vectors.storage import TEMP_GLOB
from .vectors.selection import IndexChoice, parse_override
from .workspace import Workspace

log = logging.getLogger(__name__)

IVF_RETRAIN_GROWTH = 4  # retrain an IVF index once the corpus has grown this many times past its training set
MEMORY_BUDGET_KEY = "index_memory_budget"  # workspace setting, bytes per index


@dataclass(frozen=True)
class SnapshotInfo:
    space: str
    file: str
    kind: str
    factory: str
    ntotal: int  # vectors the live index holds (checkpoint, current_snapshot: base and delta together)
    bytes: int
    log_seq: int
    pending: int = 0  # images changed since the snapshot (served from the delta and tombstones)


def desired_choice(space: SpaceInfo, n_vectors: int, memory_budget: int | None = None) -> IndexChoice:
    """The index a space of this size should have: the user's factory string, or one chosen by size
    within the memory budget (`index_bases.choose_base`: in memory while small, on disk beyond)."""
    if space.index_factory:
        return parse_override(space.index_factory, dim=space.dim, metric=space.metric)
    return choose_base(n_vectors, space.dim, space.metric, memory_budget)


def memory_budget(ws: Workspace) -> int | None:
    value = ws.get_setting(MEMORY_BUDGET_KEY)
    return int(value) if value else None


def load_index(ws: Workspace, space: SpaceInfo, *, previous: LayeredIndex | None = None,
               verify: str = "auto") -> LayeredIndex:
    """The space's index as the catalog has it now: the current snapshot as base, the newer log entries as
    delta and tombstones. `previous` (a view this process already holds): its base object is reused when
    the snapshot file is still current, so only the delta is rebuilt. `verify`: see `vectors.storage`."""
    with ws.session() as s:
        index, _snapshot, _seq = _load_current(ws, s, space, memory_budget(ws), previous=previous, verify=verify)
        return index


def checkpoint(ws: Workspace, space: SpaceInfo, *, memory_budget_bytes: int | None = None,
               force_fold: bool = False, build: BuildPlace | None = None) -> SnapshotInfo:
    """Make the snapshot what the corpus needs: a new base when the delta is due for a fold
    (`layered.fold_reason`, or `force_fold`) or the corpus size calls for another index type; otherwise
    nothing is read or written (the base stays, the log is kept). Returns the live state (`ntotal` counts
    what searches see, `pending` the images changed since the snapshot).

    `space.index_factory` and `memory_budget_bytes` (default: the workspace's setting) choose the index, so a
    run can try a choice before it is kept. `build`: where an on-disk base built from scratch adds its shards
    (default: threads here; an `--engine ray` run passes its cluster). Call it holding the workspace's index
    lock (it writes snapshots and clears the temporary files of killed runs).
    """
    budget = memory_budget_bytes or memory_budget(ws)
    with ws.session() as s:
        info = _checkpoint_in(ws, s, space, budget, force_fold, build)
    remove_orphan_files(ws, space)
    compact(ws, space)  # batch shards merge whatever the snapshot did: vector locations are not in the index
    store.remove_orphans(ws, space)  # shards of a rolled-back or killed batch
    return info


def _checkpoint_in(ws: Workspace, s: Session, space: SpaceInfo, budget: int | None,
                   force_fold: bool, build: BuildPlace | None = None) -> SnapshotInfo:
    """`checkpoint`'s work inside one catalog session."""
    seq, snapshot = _log_head(s, space)
    ops = _last_ops(s, space, after=snapshot.log_seq, up_to=seq) if snapshot is not None else {}
    n = _live_count(ws, s, space, snapshot, ops)
    choice = desired_choice(space, n, budget)
    index: VectorIndex | None = None
    extended: tuple[int, int] | None = None
    if snapshot is not None:
        trained_on = snapshot.trained_on
        outgrown = n > IVF_RETRAIN_GROWTH * max(trained_on, 1)  # past its training sample: retrain
        rebuild = snapshot.factory != choice.factory and (
            space.index_factory is not None or snapshot.kind != choice.kind
            or (choice.kind in ("ivf", "ivfpq") and outgrown))
        if not rebuild:
            delta_n = sum(op == "add" for op in ops.values())
            reason = "forced" if force_fold and ops else fold_reason(snapshot.ntotal, delta_n, len(ops))
            if reason is None and _base_intact(ws, snapshot, space):
                return _snapshot_info(space, snapshot, ntotal=n, pending=len(ops))
            if reason is not None:
                log.info("space %s: folding %d change(s) into a new snapshot (%s)", space.name, len(ops), reason)
                if not snapshot.file.endswith(ONDISK_SUFFIX):
                    index = _open_base(ws, snapshot, space, verify="full")
                    if index is not None:
                        _fold(s, space, index, ops)
                elif is_ondisk(choice) and not outgrown:  # old lists + delta; else rebuilt from the store (below)
                    file = new_name(space, seq, choice)
                    extended = _extend_ondisk(ws, s, space, snapshot, file, ops)
        else:
            log.info("space %s: rebuilding %s -> %s (%s)", space.name, snapshot.factory, choice.factory,
                     choice.reason)
    if extended is not None:
        (ntotal, nbytes), factory, kind = extended, snapshot.factory, snapshot.kind
    elif index is None and is_ondisk(choice):
        file = new_name(space, seq, choice)
        ntotal, nbytes = build_ondisk_base(ws, s, space, choice, file, build)
        factory, kind, trained_on = choice.factory, choice.kind, ntotal
    else:
        file = new_name(space, seq, choice if index is None else index.choice)
        if index is None:
            index = _build_from_catalog(s, space, choice)
            trained_on = index.ntotal
        index.save(ws.index_dir / file)
        factory, kind, ntotal, nbytes = index.factory, index.kind, index.ntotal, (ws.index_dir / file).stat().st_size
    s.execute(update(IndexSnapshot).where(IndexSnapshot.space_id == space.id).values(is_current=False))
    row = IndexSnapshot(space_id=space.id, file=file, factory=factory, kind=kind, ntotal=ntotal,
                        trained_on=trained_on, log_seq=seq, bytes=nbytes, is_current=True)
    s.add(row)
    s.execute(delete(IndexLogEntry).where(IndexLogEntry.space_id == space.id, IndexLogEntry.seq <= seq))
    s.execute(delete(IndexSnapshot).where(IndexSnapshot.space_id == space.id, IndexSnapshot.is_current.is_(False)))
    s.flush()
    return _snapshot_info(space, row)


def current_snapshot(ws: Workspace, space: SpaceInfo) -> SnapshotInfo | None:
    """The current snapshot, with `ntotal` the vectors searches see (base minus tombstones plus delta, derived
    as a checkpoint derives it: no count of every row for an on-disk base) and `pending` the images changed
    since the snapshot."""
    with ws.session() as s:
        seq, row = _log_head(s, space)
        if row is None:
            return None
        ops = _last_ops(s, space, after=row.log_seq, up_to=seq)
        return _snapshot_info(space, row, ntotal=_live_count(ws, s, space, row, ops), pending=len(ops))


def pending_changes(ws: Workspace, space: SpaceInfo) -> int:
    """Log entries not yet folded into a snapshot."""
    with ws.session() as s:
        return s.scalar(select(func.count()).select_from(IndexLogEntry).where(IndexLogEntry.space_id == space.id))


def remove_orphan_files(ws: Workspace, space: SpaceInfo) -> None:
    """Delete this space's index files that no snapshot row points at (left by a crash or a switch), and the
    temporaries of snapshots a killed run was writing. Only under the index lock."""
    with ws.session() as s:
        keep = set(s.scalars(select(IndexSnapshot.file).where(IndexSnapshot.space_id == space.id)))
    for pattern in (f"{space.name}-*.faiss*", f"{space.name}-*{ONDISK_SUFFIX}"):
        for path in ws.index_dir.glob(pattern):
            if path.name not in keep:
                remove_base(path)
    remove_stale_temporaries(ws)


def remove_stale_temporaries(ws: Workspace) -> list[str]:
    """Delete the half-written snapshots (`.<file>.*.faiss.tmp`, see `save_index`, and `.<name>.ondisk.*.tmp`
    folders, see `atomic.atomic_dir`) a killed run left behind.

    Only while holding the workspace's index lock: every snapshot is written under it, so no live process
    is writing one of these files. Returns the names removed.
    """
    removed = []
    for path in ws.index_dir.glob(TEMP_GLOB):
        if path.is_file() and not path.is_symlink():
            path.unlink(missing_ok=True)
            removed.append(path.name)
    for path in ws.index_dir.glob(f".*{ONDISK_SUFFIX}.*.tmp"):  # on-disk bases are built in such a folder
        remove_base(path)  # (their names are new each time, so no swap with an older folder was under way)
        removed.append(path.name)
    if removed:
        log.info("removed %d temporary index file(s) left by an interrupted run", len(removed))
    return removed


def vectors_for(s: Session, space: SpaceInfo, image_ids: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """(ids ascending, vectors) of the given images that have a vector in this space (`store.read_vectors`;
    `s` must be a `Workspace.session`)."""
    return store.read_vectors(store.session_workspace(s), s, space, image_ids)


def _load_current(ws: Workspace, s: Session, space: SpaceInfo, budget: int | None, *,
                  previous: LayeredIndex | None = None,
                  verify: str = "auto") -> tuple[LayeredIndex, IndexSnapshot | None, int]:
    seq, snapshot = _log_head(s, space)
    base = None
    if snapshot is not None:
        if previous is not None and previous.base_file == snapshot.file:
            base = previous.base  # only the log grew: keep the base this process has
        else:
            base = _open_base(ws, snapshot, space, verify=verify)
    if base is None:
        n = store.count_vectors(s, space)
        return LayeredIndex(_build_from_catalog(s, space, desired_choice(space, n, budget))), None, seq
    ops = _last_ops(s, space, after=snapshot.log_seq, up_to=seq)
    ids, vectors = vectors_for(s, space, sorted(i for i, op in ops.items() if op == "add"))
    return LayeredIndex(base, ids, vectors, tombstones=np.fromiter(ops, np.int64, len(ops)),
                        base_file=snapshot.file), snapshot, seq


def _open_base(ws: Workspace, snapshot: IndexSnapshot, space: SpaceInfo, *, verify: str) -> Base | None:
    """The snapshot's index file, or None (logged) when it is missing or damaged: the caller rebuilds from the
    catalog. The one place a base is opened (an on-disk index kind would be dispatched here)."""
    try:
        return open_base(ws, space, snapshot.file, verify=verify, expected_bytes=snapshot.bytes)
    except (IndexFileError, FileNotFoundError) as exc:
        log.warning("space %s: snapshot %s unusable (%s); rebuilding from the catalog", space.name,
                    snapshot.file, exc)
        return None


def _base_intact(ws: Workspace, snapshot: IndexSnapshot, space: SpaceInfo) -> bool:
    """The snapshot file's framing, size and header check out (no payload hash: milliseconds at any size)."""
    try:
        check_base(ws, snapshot.file, snapshot.bytes)
        return True
    except IndexFileError as exc:
        log.warning("space %s: snapshot %s unusable (%s); rebuilding it from the catalog", space.name,
                    snapshot.file, exc)
        return False


def _log_head(s: Session, space: SpaceInfo) -> tuple[int, IndexSnapshot | None]:
    """(last log sequence number, current snapshot row)."""
    seq = s.scalar(select(func.max(IndexLogEntry.seq)).where(IndexLogEntry.space_id == space.id))
    snapshot = _current_row(s, space)
    if seq is None:
        seq = snapshot.log_seq if snapshot is not None else 0
    return seq, snapshot


def _last_ops(s: Session, space: SpaceInfo, after: int, up_to: int) -> dict[int, str]:
    """{image id: its last logged op} for the log entries in (after, up_to]."""
    last_op: dict[int, str] = {}
    for image_id, op in s.execute(
        select(IndexLogEntry.image_id, IndexLogEntry.op)
        .where(IndexLogEntry.space_id == space.id, IndexLogEntry.seq > after, IndexLogEntry.seq <= up_to)
        .order_by(IndexLogEntry.seq)
    ):
        last_op[image_id] = op
    return last_op


def _live_count(ws: Workspace, s: Session, space: SpaceInfo, snapshot: IndexSnapshot | None,
                last_op: dict[int, str]) -> int:
    """Vectors the space holds now. Counting the catalog's rows reads the whole (space, image) index: 0.4 s at
    10 M, paid by every run; with an on-disk base it is derived instead from the base's size, which of the
    logged ids it holds (its ids sidecar) and the ids whose last logged change is an add."""
    if snapshot is None or not snapshot.file.endswith(ONDISK_SUFFIX):
        return store.count_vectors(s, space)  # small spaces: milliseconds
    touched = np.fromiter(last_op, np.int64, len(last_op))
    try:
        in_base = int(ondisk_members(ws, snapshot.file, touched).sum()) if len(touched) else 0
    except (OSError, ValueError):  # a damaged base: the checkpoint rebuilds it from the store anyway
        return store.count_vectors(s, space)
    return snapshot.ntotal - in_base + sum(op == "add" for op in last_op.values())


def _extend_ondisk(ws: Workspace, s: Session, space: SpaceInfo, snapshot: IndexSnapshot, file: str,
                   last_op: dict[int, str]) -> tuple[int, int] | None:
    """Fold the logged changes into a new on-disk base written from the old one's lists (`ondisk_extend`); None
    when the old base is unusable (the caller then rebuilds from the store)."""
    base = _open_base(ws, snapshot, space, verify="full")
    if not isinstance(base, OnDiskIndex):
        return None
    touched = sorted(last_op)
    ids, vectors = vectors_for(s, space, [i for i in touched if last_op[i] == "add"])
    return extend_ondisk_base(ws, base, file, ids, vectors, np.asarray(touched, dtype=np.int64))


def _fold(s: Session, space: SpaceInfo, index: VectorIndex, last_op: dict[int, str]) -> None:
    """Apply the logged changes to a base in place (HNSW: the one graph rebuild the tombstones were waiting for)."""
    if not last_op:
        return
    touched = sorted(last_op)
    ids, vectors = vectors_for(s, space, [i for i in touched if last_op[i] == "add"])
    gone = np.setdiff1d(np.asarray(touched, dtype=np.int64), ids)
    dead = np.union1d(gone, ids[index.contains(ids)])  # removed, and replaced: one removal (one HNSW rebuild)
    if len(dead):
        index.remove(dead)
    if len(ids):
        index.add(ids, vectors)


def _build_from_catalog(s: Session, space: SpaceInfo, choice: IndexChoice) -> VectorIndex:
    """Build the space's index from every vector in the store, streamed in bounded chunks (in `s`'s
    transaction, so it matches the log position read there) into one preallocated matrix, ids ascending."""
    chunks = store.iter_vectors(store.session_workspace(s), space, session=s)
    id_arr, vectors = stack_vectors(store.count_vectors(s, space), chunks, space.dim)
    return VectorIndex.build(space.dim, space.metric, choice, id_arr, vectors)


def stack_vectors(n: int, chunks: Iterable[tuple[np.ndarray, np.ndarray]], dim: int) -> tuple[np.ndarray, np.ndarray]:
    """`n` vectors from (ids, vectors) chunks -> (int64 ids ascending, float32 (n, dim) matrix), filled in place."""
    ids, vectors = np.empty(n, np.int64), np.empty((n, dim), np.float32)
    at = 0
    for chunk_ids, chunk in chunks:
        if at + len(chunk_ids) > n:
            raise RuntimeError(f"the vector store changed while it was read ({n} vectors expected)")
        ids[at:at + len(chunk_ids)], vectors[at:at + len(chunk_ids)] = chunk_ids, chunk
        at += len(chunk_ids)
    if at != n:
        raise RuntimeError(f"the vector store changed while it was read ({at} of {n} vectors)")
    if n > 1 and not bool(np.all(ids[1:] > ids[:-1])):
        order = np.argsort(ids, kind="stable")
        ids, vectors = ids[order], vectors[order]
    return ids, vectors


def _current_row(s: Session, space: SpaceInfo) -> IndexSnapshot | None:
    return s.scalar(select(IndexSnapshot).where(IndexSnapshot.space_id == space.id, IndexSnapshot.is_current.is_(True)))


def _snapshot_info(space: SpaceInfo, row: IndexSnapshot, *, ntotal: int | None = None,
                   pending: int = 0) -> SnapshotInfo:
    return SnapshotInfo(space.name, row.file, row.kind, row.factory, row.ntotal if ntotal is None else ntotal,
                        row.bytes, row.log_seq, pending)
