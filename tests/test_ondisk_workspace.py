"""On-disk bases in a workspace: a space that outgrows the memory budget gets a memory-mapped IVF base built
from the vector store; small runs layer on it without touching it, deletions never come back, a fold past the
threshold writes a new one from the old lists and the delta (no retraining) and deletes the old, a corpus that
outgrew its training sample is retrained, and a killed build's folder is cleaned away."""
# ruff: noqa: F811 - the tests take the imported `ws` fixture as their argument
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import assert_consistent
from sqlalchemy import select, update
from test_layered_index import (add_images, full_build, remove, replace_vectors, unit,  # noqa: F401 - ws:
                               ws)  # a copy of this module's `template`

from indexer import index_sync
from indexer.catalog.schema import IndexSnapshot
from indexer.index_bases import ONDISK_SUFFIX, BuildPlace, choose_base
from indexer.spaces import list_spaces
from indexer.vectors import store
from indexer.vectors.ondisk import OnDiskIndex
from indexer.vectors.ondisk_files import read_manifest
from indexer.workspace import Workspace

N = 3000
BUDGET = 60_000  # bytes: too small for 3,000 vectors in RAM (flat ~0.2 MB at 16-d), enough for the quantizer + ids


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    from tiny_workspace import build_workspace, write_images

    root = tmp_path_factory.mktemp("ondisk-ws")
    build_workspace(root / "ws", write_images(root / "img"))
    ws = Workspace.open(root / "ws")
    try:
        ws.set_setting(index_sync.MEMORY_BUDGET_KEY, str(BUDGET))
        add_images(ws, N, seed=0)
        for sp in list_spaces(ws):
            index_sync.checkpoint(ws, sp)
    finally:
        ws.close()
    return root / "ws"


def recall_at_10(index, fresh, queries: np.ndarray) -> float:  # noqa: ANN001
    _s, got = index.search(queries, 10)
    _s, truth = fresh.search(queries, 10)
    return float(np.mean([len(set(g) & set(t)) / 10 for g, t in zip(got, truth)]))


def test_choice_moves_on_disk_past_the_budget() -> None:
    assert choose_base(N, 16, "ip", None).kind == "flat"  # default budget: small spaces stay in memory
    small_budget = choose_base(N, 16, "ip", BUDGET)
    assert small_budget.extra.get("ondisk") and small_budget.kind in ("ivf", "ivfpq")
    assert choose_base(1_000_000, 512, "ip", None).extra.get("ondisk")  # past HNSW_MAX_VECTORS


def test_a_space_past_the_budget_gets_an_on_disk_base(ws: Workspace) -> None:
    for sp in list_spaces(ws):
        snap = index_sync.current_snapshot(ws, sp)
        assert snap.file.endswith(ONDISK_SUFFIX) and (ws.index_dir / snap.file).is_dir()
        index = index_sync.load_index(ws, sp)
        assert isinstance(index.base, OnDiskIndex)
        fresh = full_build(ws, sp)
        np.testing.assert_array_equal(index.ids(), fresh.ids())
        with ws.session() as s:
            ids, vectors = index_sync.vectors_for(s, sp, fresh.ids()[::60].tolist())
        scores, top = index.search(vectors, 10)
        np.testing.assert_array_equal(top[:, 0], ids)  # a stored vector's own list is always probed
        # the synthetic vectors are isotropic noise, the hardest case for IVF (nprobe of nlist lists are read):
        # most, not all, true neighbours come back; what comes back is scored exactly
        assert recall_at_10(index, fresh, vectors) >= 0.5
        with ws.session() as s:
            for row, found in zip(range(len(top)), top):
                _i, hit_vectors = index_sync.vectors_for(s, sp, found.tolist())
                want = np.sort(hit_vectors @ vectors[row])[::-1]
                np.testing.assert_allclose(scores[row], want, rtol=0, atol=1e-5)
        _s, hit = index.search(unit(1, sp.dim, seed=5), 5, allow=fresh.ids()[:50])  # a small allow-list: exact
        _s, want = fresh.search(unit(1, sp.dim, seed=5), 5, allow=fresh.ids()[:50])
        np.testing.assert_array_equal(hit, want)
    assert_consistent(ws)  # hashes every file of every on-disk base


def test_small_runs_layer_on_the_base_and_deletions_never_return(ws: Workspace) -> None:
    sp = list_spaces(ws)[0]
    before = index_sync.current_snapshot(ws, sp).file
    lists = ws.index_dir / before / "lists.ivfdata"
    mtime = lists.stat().st_mtime_ns
    victim = int(index_sync.load_index(ws, sp).ids()[7])
    added = add_images(ws, 20, seed=9)
    remove(ws, [victim])
    for space in list_spaces(ws):
        info = index_sync.checkpoint(ws, space)
        with ws.session() as s:  # derived from the base's ids and the log, not counted: the same number
            assert info.ntotal == store.count_vectors(s, space) == len(full_build(ws, space).ids())
        now = index_sync.current_snapshot(ws, space)  # what `status` and /metrics report, derived the same way
        assert (now.ntotal, now.pending) == (info.ntotal, info.pending)
    assert index_sync.current_snapshot(ws, sp).file == before and lists.stat().st_mtime_ns == mtime
    index = index_sync.load_index(ws, sp)
    fresh = full_build(ws, sp)
    np.testing.assert_array_equal(index.ids(), fresh.ids())
    with ws.session() as s:
        ids, vectors = index_sync.vectors_for(s, sp, added + [int(fresh.ids()[0])])
    _s, top = index.search(vectors, 10)
    np.testing.assert_array_equal(top[:, 0], ids)  # every new image finds itself first
    assert victim not in top and victim not in index.ids()
    assert_consistent(ws)


def test_a_fold_extends_the_base_without_retraining_and_removes_the_old(ws: Workspace) -> None:
    sp = list_spaces(ws)[0]
    before = index_sync.current_snapshot(ws, sp).file
    trained_on = _snapshot_row(ws, sp).trained_on
    old_ids = index_sync.load_index(ws, sp).ids()
    added = add_images(ws, N // 5, seed=11)  # past the 10 % fold threshold
    replace_vectors(ws, sp, added[:20] + old_ids[:30].tolist(), seed=12)
    remove(ws, old_ids[30:80].tolist() + added[-3:])  # from the base, and from the delta
    info = index_sync.checkpoint(ws, sp)
    assert info.ntotal == len(full_build(ws, sp).ids())
    assert info.file != before and info.file.endswith(ONDISK_SUFFIX) and info.pending == 0
    assert not (ws.index_dir / before).exists()
    assert read_manifest(ws.index_dir / info.file)["extended_from"] == before  # old lists + delta, no training
    assert _snapshot_row(ws, sp).trained_on == trained_on
    index = index_sync.load_index(ws, sp)
    fresh = full_build(ws, sp)
    assert isinstance(index.base, OnDiskIndex) and index.pending == 0
    np.testing.assert_array_equal(index.ids(), fresh.ids())
    probe = added[:40] + old_ids[:30].tolist()  # new, and replaced: each found first by its current vector
    with ws.session() as s:
        ids, vectors = index_sync.vectors_for(s, sp, probe)
    _s, top = index.search(vectors, 10)
    np.testing.assert_array_equal(top[:, 0], ids)
    assert not np.isin(top, old_ids[30:80]).any()
    assert_consistent(ws)


def test_a_corpus_past_its_training_sample_is_retrained_at_the_fold(ws: Workspace) -> None:
    sp = list_spaces(ws)[0]
    before = index_sync.current_snapshot(ws, sp).file
    with ws.session() as s:  # as if the base had been trained when the space held a quarter of this
        s.execute(update(IndexSnapshot).where(IndexSnapshot.file == before).values(trained_on=N // 5))
    add_images(ws, N // 5, seed=13)
    info = index_sync.checkpoint(ws, sp)
    assert "extended_from" not in read_manifest(ws.index_dir / info.file)  # trained anew from the store
    assert _snapshot_row(ws, sp).trained_on == info.ntotal >= N + N // 5
    np.testing.assert_array_equal(index_sync.load_index(ws, sp).ids(), full_build(ws, sp).ids())


def _snapshot_row(ws: Workspace, sp) -> IndexSnapshot:  # noqa: ANN001
    with ws.session() as s:
        row = s.scalar(select(IndexSnapshot).where(IndexSnapshot.space_id == sp.id, IndexSnapshot.is_current.is_(True)))
        s.expunge(row)
        return row


def test_a_killed_build_leaves_only_a_temporary_folder_that_is_removed(ws: Workspace) -> None:
    leftover = ws.index_dir / f".content-9-deadbeef{ONDISK_SUFFIX}.x1y2.tmp"
    leftover.mkdir()
    (leftover / "lists.ivfdata").write_bytes(b"half")
    removed = index_sync.remove_stale_temporaries(ws)
    assert leftover.name in removed and not leftover.exists()


def test_a_build_place_is_threads_or_ray_and_nothing_else() -> None:
    assert BuildPlace().executor == "thread" and BuildPlace("ray", "auto").ray_address == "auto"
    with pytest.raises(ValueError, match="'thread' or 'ray', not 'process'"):
        BuildPlace("process")  # build_ondisk_base would otherwise have sent it to a Ray cluster
