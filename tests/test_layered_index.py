"""The layered index (base snapshot + exact delta + tombstones): same answers as a fresh build, a small run
never rewrites the base, a deletion never rebuilds an HNSW graph, folds happen past the threshold and equal a
full build, a long-lived process re-reads only the delta, and a crash mid-fold leaves the old state whole."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import assert_consistent
from sqlalchemy import delete, select

from indexer import index_sync
from indexer.catalog.schema import Corpus, CorpusRoot, Embedding, ImageRecord, IndexLogEntry
from indexer.pipeline.writer import add_vectors, remove_images
from indexer.spaces import SpaceInfo, get_space, list_spaces, set_index_factory
from indexer.vectors import VectorIndex, faiss_ops, storage
from indexer.vectors.layered import DELTA_MIN, LayeredIndex, fold_reason
from indexer.workspace import Workspace

DIM = 32
N_BASE = 3000


def unit(n: int, dim: int = DIM, seed: int = 0) -> np.ndarray:
    """Clustered unit vectors (clusters make near neighbours, so an ANN base has real work to do)."""
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((30, dim))
    x = centers[rng.integers(0, 30, n)] + 0.5 * rng.standard_normal((n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def scores_close(a: np.ndarray, b: np.ndarray) -> None:
    # the same dot products summed in different orders (faiss's blocked BLAS for the fresh build, a smaller
    # matrix for the delta): float32 rounding of 32 products of unit vectors stays well below 1e-5
    torch.testing.assert_close(torch.from_numpy(a), torch.from_numpy(b), rtol=0, atol=1e-5)


# ---------------------------------------------------------------------------- LayeredIndex on its own
def _changes(metric: str, factory: str) -> tuple[LayeredIndex, VectorIndex, dict[str, np.ndarray]]:
    """A base of N_BASE vectors, then 200 added, 100 replaced, 80 removed; and a fresh flat build of the result."""
    ids = np.arange(N_BASE, dtype=np.int64) * 3 + 1
    vecs = unit(N_BASE)
    base = VectorIndex.build(DIM, metric, factory, ids, vecs, seed=1)
    rng = np.random.default_rng(7)
    touched = rng.choice(ids, 180, replace=False)
    replaced, removed = touched[:100], touched[100:]
    added = np.arange(200, dtype=np.int64) * 3 + 2  # ids the base never had
    new_vecs = unit(300, seed=3)
    delta_ids = np.concatenate([replaced, added])
    layered = LayeredIndex(base, delta_ids, new_vecs, tombstones=np.concatenate([touched, added]))
    live = {int(i): v for i, v in zip(ids, vecs)}
    for i in removed:
        del live[int(i)]
    live.update({int(i): v for i, v in zip(delta_ids, new_vecs)})
    order = sorted(live)
    fresh = VectorIndex.build(DIM, metric, "Flat", order, np.stack([live[i] for i in order]))
    old = {int(i): vecs[np.flatnonzero(ids == i)[0]] for i in touched}
    return layered, fresh, {"replaced": replaced, "removed": removed, "added": added, "old": old}


@pytest.mark.parametrize("metric", ["ip", "l2"])
def test_flat_base_plus_delta_and_tombstones_equals_a_fresh_build(metric: str) -> None:
    layered, fresh, ch = _changes(metric, "Flat")
    assert layered.ntotal == fresh.ntotal == N_BASE + 200 - 80
    np.testing.assert_array_equal(layered.ids(), fresh.ids())
    probe = np.concatenate([ch["removed"][:5], ch["replaced"][:5], ch["added"][:5], [10**9]])
    np.testing.assert_array_equal(layered.contains(probe), fresh.contains(probe))
    queries = np.concatenate([unit(40, seed=11), np.stack([ch["old"][int(i)] for i in ch["removed"][:10]])])
    exclude = np.concatenate([ch["added"][:20], ch["replaced"][:20], ch["removed"][:5], fresh.ids()[:50]])
    rng = np.random.default_rng(5)
    allow_small = np.concatenate([ch["added"][:7], ch["replaced"][:7], ch["removed"][:7], [10**9]])
    allow_large = np.concatenate([rng.choice(fresh.ids(), 1500, replace=False), ch["removed"]])
    for kwargs, k in [({}, 10), ({"exclude": exclude}, 10), ({"allow": allow_small}, 30),
                      ({"allow": allow_large, "exclude": exclude}, 25), ({"allow": []}, 5)]:
        s_l, i_l = layered.search(queries, k, **kwargs)
        s_f, i_f = fresh.search(queries, k, **kwargs)
        np.testing.assert_array_equal(i_l, i_f, err_msg=str(list(kwargs)))
        finite = np.isfinite(s_f)
        np.testing.assert_array_equal(np.isfinite(s_l), finite)  # the same padding (allow_small: 14 live < k)
        scores_close(s_l[finite], s_f[finite])
    assert not np.isin(layered.search(queries, 50)[1], ch["removed"]).any()


def test_hnsw_base_finds_what_exact_search_finds_and_never_a_tombstone() -> None:
    """An HNSW base answers approximately, so the layered result is compared with exact ground truth by
    recall (a fresh HNSW build would be approximate too): the delta is exact and the base walk only skips
    tombstoned nodes, so recall@10 stays that of the graph (>= 0.95 at efSearch 64 on 3k clustered points)."""
    layered, truth, ch = _changes("ip", "HNSW16")
    queries = unit(200, seed=13)
    _s, got = layered.search(queries, 10)
    _s, want = truth.search(queries, 10)
    recall = np.mean([len(set(g) & set(w)) / 10 for g, w in zip(got, want)])
    assert recall >= 0.95, recall
    # the removed vectors themselves as queries: each would be its own top hit if a tombstone leaked
    olds = np.stack([ch["old"][int(i)] for i in np.concatenate([ch["removed"], ch["replaced"]])])
    _s, found = layered.search(olds, 10)
    assert not np.isin(found, ch["removed"]).any()
    assert all(len(set(row[row >= 0])) == (row >= 0).sum() for row in found)  # a replaced id at most once
    _s, new_hits = layered.search(unit(300, seed=3)[100:], 1)  # the added vectors find themselves (delta)
    np.testing.assert_array_equal(new_hits[:, 0], ch["added"])


def test_fold_policy_thresholds() -> None:
    assert fold_reason(100_000, 100, 1) is None  # an ordinary run: 100 adds, 1 delete
    assert fold_reason(100_000, 10_001, 0) is not None  # delta > 10 %
    assert fold_reason(100_000, 0, 20_001) is not None  # tombstones > 20 %
    assert fold_reason(10_000_000, 50_001, 0) is not None  # absolute cap on the delta
    assert fold_reason(20, DELTA_MIN, DELTA_MIN) is None  # a small workspace waits for DELTA_MIN changes


# ---------------------------------------------------------------------------- in a workspace
@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """A tiny-profile workspace padded with N_BASE synthetic images (random vectors in every space)."""
    from tiny_workspace import build_workspace, write_images

    root = tmp_path_factory.mktemp("layered")
    build_workspace(root / "ws", write_images(root / "img"))
    ws = Workspace.open(root / "ws")
    try:
        add_images(ws, N_BASE, seed=0)
        for sp in list_spaces(ws):
            index_sync.checkpoint(ws, sp)
    finally:
        ws.close()
    return root / "ws"


@pytest.fixture
def ws(template: Path, tmp_path: Path):
    shutil.copytree(template, tmp_path / "ws")
    w = Workspace.open(tmp_path / "ws")
    yield w
    w.close()


def add_images(ws: Workspace, n: int, seed: int) -> list[int]:
    """n synthetic indexed images with a vector in every space (as the indexing writer stores them)."""
    rng = np.random.default_rng(seed)
    spaces = list_spaces(ws)
    with ws.session() as s:
        corpus = s.scalar(select(Corpus))
        root_id = s.scalar(select(CorpusRoot.id).where(CorpusRoot.corpus_id == corpus.id))
        rows = [ImageRecord(corpus_id=corpus.id, root_id=root_id, path=f"syn-{seed}-{i}.jpg", bytes=0, mtime_ns=0,
                            status="indexed") for i in range(n)]
        s.add_all(rows)
        s.flush()
        for sp in spaces:
            vecs = rng.standard_normal((n, sp.dim)).astype(np.float32)
            vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
            add_vectors(s, ws, sp.id, [row.id for row in rows], vecs)
        return [r.id for r in rows]


def replace_vectors(ws: Workspace, sp: SpaceInfo, ids: list[int], seed: int) -> None:
    """New vectors for these images, as a re-indexed changed file gets them."""
    rng = np.random.default_rng(seed)
    with ws.session() as s:
        for image_id in ids:
            s.execute(delete(Embedding).where(Embedding.image_id == image_id, Embedding.space_id == sp.id))
            vec = rng.standard_normal(sp.dim).astype(np.float32)
            add_vectors(s, ws, sp.id, [image_id], (vec / np.linalg.norm(vec))[None])


def remove(ws: Workspace, ids: list[int]) -> None:
    with ws.session() as s:
        remove_images(s, {sp.name: sp.id for sp in list_spaces(ws)}, ids)


def full_build(ws: Workspace, sp: SpaceInfo) -> VectorIndex:
    with ws.session() as s:
        ids = sorted(s.scalars(select(Embedding.image_id).where(Embedding.space_id == sp.id)))
        got_ids, vecs = index_sync.vectors_for(s, sp, ids)
    return VectorIndex.build(sp.dim, sp.metric, "Flat", got_ids, vecs)


def assert_same_answers(index, fresh: VectorIndex, seed: int = 21) -> None:  # noqa: ANN001
    np.testing.assert_array_equal(index.ids(), fresh.ids())
    queries = unit(30, fresh.dim, seed=seed)
    s_i, i_i = index.search(queries, 10)
    s_f, i_f = fresh.search(queries, 10)
    np.testing.assert_array_equal(i_i, i_f)
    scores_close(s_i, s_f)


def first_synthetic(ws: Workspace) -> int:
    with ws.session() as s:
        return s.scalars(select(ImageRecord.id).where(ImageRecord.path.like("syn-%")).order_by(ImageRecord.id)).first()


def snapshot_file(ws: Workspace, sp: SpaceInfo) -> Path:
    return ws.index_dir / index_sync.current_snapshot(ws, sp).file


def file_state(path: Path) -> tuple:
    st = path.stat()
    return path.name, st.st_ino, st.st_mtime_ns, st.st_size, path.read_bytes()


def test_a_run_of_100_adds_and_a_delete_leaves_the_base_file_untouched(ws: Workspace) -> None:
    sp = get_space(ws, "content")
    path = snapshot_file(ws, sp)
    before = file_state(path)
    new = add_images(ws, 100, seed=1)
    remove(ws, new[:1] + [first_synthetic(ws)])
    info = index_sync.checkpoint(ws, sp)
    assert file_state(path) == before and snapshot_file(ws, sp) == path
    assert info.pending == 101 and info.ntotal == 5 + N_BASE + 100 - 2
    now = index_sync.current_snapshot(ws, sp)  # what `status` and /metrics report: the live count
    assert (now.ntotal, now.pending, now.file) == (info.ntotal, 101, path.name)
    assert index_sync.pending_changes(ws, sp) == 102  # the log is kept (100 adds, 2 removals)
    assert_same_answers(index_sync.load_index(ws, sp), full_build(ws, sp))
    assert len(assert_consistent(ws)) == 5 + N_BASE + 98


def test_a_delete_in_an_hnsw_space_never_rebuilds_the_graph(ws: Workspace, monkeypatch) -> None:
    set_index_factory(ws, "content", "HNSW16")
    sp = get_space(ws, "content")
    assert index_sync.checkpoint(ws, sp).kind == "hnsw"
    path = snapshot_file(ws, sp)
    before = file_state(path)
    rebuilds = []
    real = faiss_ops.rebuild_without
    monkeypatch.setattr(faiss_ops, "rebuild_without", lambda *a, **kw: rebuilds.append(1) or real(*a, **kw))
    victim = first_synthetic(ws)
    with ws.session() as s:
        _ids, victim_vec = index_sync.vectors_for(s, sp, [victim])
    remove(ws, [victim])
    index_sync.checkpoint(ws, sp)
    index = index_sync.load_index(ws, sp)
    assert rebuilds == [] and file_state(path) == before
    assert index.kind == "hnsw" and not index.contains([victim])[0] and victim not in index.ids()
    _s, found = index.search(victim_vec, 20)
    assert victim not in found  # its own vector as the query: it would be the first hit if it leaked
    assert len(assert_consistent(ws)) == 5 + N_BASE - 1
    # tombstones past 20 % of the base: the fold rebuilds the graph once, for all of them
    with ws.session() as s:
        many = list(s.scalars(select(ImageRecord.id).where(ImageRecord.path.like("syn-%")).limit(700)))
    remove(ws, many[:-5])
    replace_vectors(ws, sp, many[-5:], seed=9)  # replaced vectors leave the graph in the same rebuild
    info = index_sync.checkpoint(ws, sp)
    assert rebuilds == [1] and info.file != path.name and info.pending == 0
    assert not path.exists()
    assert len(assert_consistent(ws)) == 5 + N_BASE - 1 - 695
    folded = index_sync.load_index(ws, sp)
    _s, found = folded.search(victim_vec, 20)
    assert victim not in found and set(many[:-5]).isdisjoint(folded.ids().tolist())


def test_a_fold_past_the_threshold_equals_a_full_build(ws: Workspace) -> None:
    sp = get_space(ws, "content")
    path = snapshot_file(ws, sp)
    added = add_images(ws, 200, seed=2)
    replace_vectors(ws, sp, added[:50] + [7, 8, 9], seed=3)
    remove(ws, added[50:60])
    assert index_sync.checkpoint(ws, sp).file == path.name  # 190 + 3 changes: below max(256, 10 %)
    add_images(ws, 150, seed=4)  # now 343 > 300
    info = index_sync.checkpoint(ws, sp)
    assert info.file != path.name and not path.exists()
    assert index_sync.pending_changes(ws, sp) == 0 and info.ntotal == 5 + N_BASE + 340
    index = index_sync.load_index(ws, sp)
    assert index.pending == 0 and index.base_file == info.file
    assert_same_answers(index, full_build(ws, sp))


def test_the_index_cache_rereads_only_the_delta_while_the_snapshot_is_current(ws: Workspace, monkeypatch) -> None:
    from retrieval import index_cache

    sp = get_space(ws, "content")
    opened = []
    real = index_sync._open_base
    monkeypatch.setattr(index_sync, "_open_base", lambda *a, **kw: opened.append(kw["verify"]) or real(*a, **kw))
    first = index_cache.get_index(ws, sp)
    assert len(opened) == 1
    add_images(ws, 10, seed=5)
    index_sync.checkpoint(ws, sp)  # no fold: the log grew
    second = index_cache.get_index(ws, sp)
    assert second is not first and second.base is first.base and len(opened) == 1
    assert second.ntotal == first.ntotal + 10
    assert_same_answers(second, full_build(ws, sp))
    assert index_cache.get_index(ws, sp) is second and len(opened) == 1
    index_sync.checkpoint(ws, sp, force_fold=True)  # a new snapshot: the base is read again
    third = index_cache.get_index(ws, sp)
    assert opened == ["auto", "full", "auto"]  # the fold read the old base (hashed whole), the cache the new one
    assert third.base is not first.base and third.pending == 0
    assert_same_answers(third, full_build(ws, sp))


def test_a_crash_between_the_new_base_and_the_catalog_commit_keeps_the_old_state(ws: Workspace, monkeypatch) -> None:
    """The new base file is fully written, then the process dies before the catalog switches to it (simulated
    by an exception after `save`: the transaction never commits, as after a kill)."""
    sp = get_space(ws, "content")
    path = snapshot_file(ws, sp)
    before = file_state(path)
    add_images(ws, 400, seed=6)
    pending = index_sync.pending_changes(ws, sp)
    expected = full_build(ws, sp)
    real_save = VectorIndex.save

    def save_then_die(self, target):  # noqa: ANN001, ANN202
        real_save(self, target)
        raise KeyboardInterrupt("killed after writing the new base")

    monkeypatch.setattr(VectorIndex, "save", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        index_sync.checkpoint(ws, sp)
    monkeypatch.undo()
    assert file_state(path) == before and snapshot_file(ws, sp) == path  # the old snapshot is still current
    assert index_sync.pending_changes(ws, sp) == pending  # and no log entry was lost
    assert len(list(ws.index_dir.glob("content-*.faiss"))) == 2  # the orphan new base
    assert_same_answers(index_sync.load_index(ws, sp), expected)
    info = index_sync.checkpoint(ws, sp)  # the next run folds again and tidies the orphan
    assert [p.name for p in ws.index_dir.glob("content-*.faiss")] == [info.file]
    assert_same_answers(index_sync.load_index(ws, sp), expected)
    assert len(assert_consistent(ws)) == 5 + N_BASE + 400


def test_opening_a_large_snapshot_skips_the_payload_hash_but_never_the_framing(ws: Workspace, monkeypatch) -> None:
    """Above FULL_VERIFY_BYTES an open checks framing, sizes and the header hash, not the payload hash;
    check_consistency (and a fold) hash it whole. A small file is always hashed whole."""
    sp = get_space(ws, "content")
    path = snapshot_file(ws, sp)
    hashed = []
    real = storage._sha256_of
    monkeypatch.setattr(storage, "_sha256_of", lambda *a: hashed.append(1) or real(*a))
    index_sync.load_index(ws, sp)
    assert len(hashed) == 1  # a small file: hashed on every open
    monkeypatch.setattr(storage, "FULL_VERIFY_BYTES", 0)  # every file is "large" now
    hashed.clear()
    index_sync.load_index(ws, sp)
    assert hashed == []
    assert_consistent(ws)
    assert len(hashed) == len(list_spaces(ws))  # check_consistency hashes every snapshot whole
    raw = path.read_bytes()
    header_len = int.from_bytes(raw[12:16], "little")
    flipped = bytearray(raw)
    flipped[16 + header_len + (len(raw) - 16 - header_len - 80) // 2] ^= 0x10  # inside the stored vectors
    path.write_bytes(bytes(flipped))
    with pytest.raises(storage.IndexFileError, match="payload checksum"):
        VectorIndex.load(path, verify="full")
    monkeypatch.setattr(storage, "FULL_VERIFY_BYTES", 32 << 20)
    with pytest.raises(storage.IndexFileError, match="payload checksum"):
        VectorIndex.load(path)  # a bit-flipped small file is refused by a plain open
    path.write_bytes(raw + b"x")
    with pytest.raises(storage.IndexFileError):
        VectorIndex.load(path, verify="quick")
    path.write_bytes(raw)
    with pytest.raises(storage.IndexFileError, match="bytes"):
        VectorIndex.load(path, verify="quick", expected_bytes=len(raw) - 1)


def test_a_damaged_base_is_rebuilt_at_the_next_checkpoint(ws: Workspace) -> None:
    sp = get_space(ws, "content")
    path = snapshot_file(ws, sp)
    path.write_bytes(path.read_bytes()[:-10])  # torn
    add_images(ws, 3, seed=8)
    assert index_sync.load_index(ws, sp).ntotal == 5 + N_BASE + 3  # served from the catalog meanwhile
    info = index_sync.checkpoint(ws, sp)
    assert info.file != path.name and info.pending == 0
    assert_same_answers(index_sync.load_index(ws, sp), full_build(ws, sp))
    with ws.session() as s:
        assert s.scalar(select(IndexLogEntry.seq).where(IndexLogEntry.space_id == sp.id)) is None
