"""The vector store (indexer.vectors.store, .compaction): shards written before the rows that name them, exact
reads, bounded streaming, orphans after a rollback, compaction that keeps every vector; SQLite and PostgreSQL."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pg_server import throwaway_server
from sqlalchemy import delete, insert, select

from indexer.catalog.schema import Corpus, CorpusRoot, Embedding, ImageRecord, Space, VectorShard
from indexer.spaces import get_space
from indexer.vectors import store
from indexer.vectors.compaction import compact
from indexer.workspace import Workspace

DIM = 24


@pytest.fixture(scope="module")
def pg_url():
    with throwaway_server(port_offset=37) as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def ws(request, tmp_path: Path):
    url = None
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_url").create_database(f"vs{abs(hash(request.node.name)) % 10**8}")
    workspace = Workspace.open(tmp_path / "ws", db_url=url)
    with workspace.session() as s:
        s.add(Space(name="content", encoder_id="synthetic", dim=DIM, metric="ip"))
        s.add(Corpus(name="c", role="both", roots=[CorpusRoot(path=str(tmp_path / "imgs"))]))
    yield workspace
    workspace.close()


def _images(ws: Workspace, ids: range) -> None:
    with ws.session() as s:
        s.execute(insert(ImageRecord), [dict(id=i, corpus_id=1, root_id=1, path=f"{i}.jpg", bytes=1, mtime_ns=0,
                                             status="indexed") for i in ids])


def _add(ws: Workspace, ids: range, rng: np.random.Generator) -> np.ndarray:
    _images(ws, ids)
    vectors = rng.standard_normal((len(ids), DIM)).astype(np.float32)
    with ws.session() as s:
        store.append(s, ws, get_space(ws, "content").id, list(ids), vectors)
    return vectors


def _all(ws: Workspace) -> dict[int, bytes]:
    space = get_space(ws, "content")
    return {int(i): v.tobytes() for ids, vecs in store.iter_vectors(ws, space) for i, v in zip(ids, vecs)}


def _files(ws: Workspace) -> set[str]:
    return {f"content/{p.name}" for p in ws.space_vectors_dir("content").glob("*.npy")}


def _catalog_files(ws: Workspace) -> set[str]:
    with ws.session() as s:
        return set(s.scalars(select(VectorShard.file)))


def test_append_then_read_is_bit_exact_sorted_and_leaves_out_ids_without_a_vector(ws: Workspace) -> None:
    rng = np.random.default_rng(0)
    first, second = _add(ws, range(10, 20), rng), _add(ws, range(1, 6), rng)
    space = get_space(ws, "content")
    with ws.session() as s:
        ids, vectors = store.read_vectors(ws, s, space, [15, 3, 999, 10, 19, 1])
        assert store.count_vectors(s, space) == 15
    assert ids.tolist() == [1, 3, 10, 15, 19] and ids.dtype == np.int64 and vectors.dtype == np.float32
    expected = np.stack([second[0], second[2], first[0], first[5], first[9]])
    assert vectors.tobytes() == expected.tobytes()
    assert _files(ws) == _catalog_files(ws) and len(_files(ws)) == 2


def test_iter_vectors_streams_every_vector_in_chunks_of_at_most_chunk_rows(ws: Workspace) -> None:
    rng = np.random.default_rng(1)
    vectors = np.concatenate([_add(ws, range(1, 38), rng), _add(ws, range(100, 103), rng)])
    space = get_space(ws, "content")
    chunks = list(store.iter_vectors(ws, space, chunk_rows=8))
    assert max(len(ids) for ids, _v in chunks) <= 8 and all(len(ids) == len(v) for ids, v in chunks)
    ids = np.concatenate([c[0] for c in chunks])
    assert ids.tolist() == [*range(1, 38), *range(100, 103)]
    assert np.concatenate([c[1] for c in chunks]).tobytes() == vectors.tobytes()


def test_a_wrong_shape_is_refused_and_writes_nothing(ws: Workspace) -> None:
    _images(ws, range(1, 4))
    with pytest.raises(store.VectorStoreError, match=r"takes \(3, 24\) vectors"), ws.session() as s:
        store.append(s, ws, get_space(ws, "content").id, [1, 2, 3], np.zeros((3, DIM + 1), np.float32))
    assert _files(ws) == set() and _all(ws) == {}


def test_a_rolled_back_batch_leaves_an_orphan_that_remove_orphans_deletes(ws: Workspace) -> None:
    rng = np.random.default_rng(2)
    kept = _add(ws, range(1, 4), rng)
    _images(ws, range(10, 13))
    with pytest.raises(KeyboardInterrupt), ws.session() as s:
        store.append(s, ws, get_space(ws, "content").id, [10, 11, 12], np.ones((3, DIM), np.float32))
        raise KeyboardInterrupt  # killed before the commit: the file exists, no row names it
    orphans = _files(ws) - _catalog_files(ws)
    assert len(orphans) == 1
    (ws.space_vectors_dir("content") / ".shard-1-dead.npy.abc.tmp").write_bytes(b"half")  # a killed write
    assert store.remove_orphans(ws, get_space(ws, "content")) == sorted([*orphans, "content/.shard-1-dead.npy.abc.tmp"])
    assert _files(ws) == _catalog_files(ws) and len(_files(ws)) == 1
    assert sorted(_all(ws)) == [1, 2, 3] and b"".join(_all(ws).values()) == kept.tobytes()


def test_compaction_keeps_every_live_vector_frees_dead_rows_and_deletes_the_old_files(ws: Workspace) -> None:
    rng = np.random.default_rng(3)
    for start in range(0, 50, 10):  # five shards of ten
        _add(ws, range(start + 1, start + 11), rng)
    _release(ws, [*range(11, 21), *range(21, 28), 5])  # shard 2 all dead, shard 3 mostly dead, one of shard 1
    before, old_files = _all(ws), _catalog_files(ws)
    space = get_space(ws, "content")
    result = compact(ws, space, max_shards=2, chunk_rows=4, shard_rows=16)
    assert set(result.merged) == old_files and len(result.written) == 2  # 32 live rows: shards of 16 + 16
    assert result.rows == 32 and _all(ws) == before
    assert _files(ws) == _catalog_files(ws) == set(result.written)
    with ws.session() as s:
        assert s.scalars(select(VectorShard.rows).order_by(VectorShard.id)).all() == [16, 16]
        rows = s.execute(select(Embedding.image_id, Embedding.row).order_by(Embedding.image_id)).all()
    assert [r for _i, r in rows] == [*range(16), *range(16)]  # image-id order, no gap
    assert compact(ws, space, max_shards=2).merged == []  # nothing left to do


def _release(ws: Workspace, image_ids: list[int]) -> None:
    """What the writer does when images leave: their embeddings go, their shards count the dead rows."""
    with ws.session() as s:
        shard_ids = s.scalars(select(Embedding.shard_id).where(Embedding.image_id.in_(image_ids))).all()
        s.execute(delete(Embedding).where(Embedding.image_id.in_(image_ids)))
        store.mark_dead(s, shard_ids)


def test_compaction_under_the_shard_limit_rewrites_only_mostly_dead_shards(ws: Workspace) -> None:
    rng = np.random.default_rng(7)
    for start in range(0, 40, 10):  # four shards of ten
        _add(ws, range(start + 1, start + 11), rng)
    files = sorted(_catalog_files(ws), key=lambda f: int(f.split("-")[1]))
    _release(ws, [*range(11, 21), *range(21, 28), 5])  # shard 2 all dead, shard 3 mostly dead, one of shard 1
    before = _all(ws)
    result = compact(ws, get_space(ws, "content"))
    assert set(result.merged) == {files[1], files[2]} and len(result.written) == 1 and result.rows == 3
    assert _all(ws) == before and _catalog_files(ws) == {files[0], files[3], *result.written} == _files(ws)


def test_compaction_leaves_dense_shards_alone_under_the_shard_limit(ws: Workspace) -> None:
    rng = np.random.default_rng(4)
    for start in range(0, 30, 10):
        _add(ws, range(start + 1, start + 11), rng)
    files = _catalog_files(ws)
    assert compact(ws, get_space(ws, "content"), max_shards=8).merged == [] and _catalog_files(ws) == files


def test_a_reader_that_read_locations_before_a_compaction_still_gets_the_vectors(ws: Workspace, monkeypatch) -> None:
    rng = np.random.default_rng(5)
    vectors = np.concatenate([_add(ws, range(1, 6), rng), _add(ws, range(6, 11), rng)])
    space = get_space(ws, "content")
    with ws.session() as s:  # what a reader in another process read just before the compaction committed
        stale = store._locations(s, space, list(range(1, 11)))  # noqa: SLF001
    compact(ws, space, max_shards=1)
    assert not set(stale[1]) & _files(ws)  # the shards it names are gone
    real, calls = store._locations, []  # noqa: SLF001

    def first_stale(*args):  # noqa: ANN002, ANN202
        calls.append(1)
        return stale if len(calls) == 1 else real(*args)

    monkeypatch.setattr(store, "_locations", first_stale)
    store._OPEN.clear()  # noqa: SLF001 - a process that had not opened the old shards
    with ws.session() as s:
        ids, got = store.read_vectors(ws, s, space, list(range(1, 11)))
    assert len(calls) == 2 and ids.tolist() == list(range(1, 11)) and got.tobytes() == vectors.tobytes()


def test_the_consistency_check_names_a_lost_shard(ws: Workspace) -> None:
    from indexer.consistency import check_consistency
    from indexer.index_sync import checkpoint
    from indexer.pipeline.lock import index_lock

    rng = np.random.default_rng(6)
    _add(ws, range(1, 6), rng)
    _add(ws, range(6, 9), rng)
    with index_lock(ws):
        checkpoint(ws, get_space(ws, "content"))
    assert check_consistency(ws).ok
    lost = sorted(_catalog_files(ws))[0]
    (ws.vectors_dir / lost).unlink()
    assert f"content stored vectors: 1 shard file(s) missing, resized or too short (e.g. {lost})" in \
        check_consistency(ws).problems
    store._OPEN.clear()  # noqa: SLF001 - a process that had not opened it
    with pytest.raises(store.VectorStoreError, match="vector shard the catalog names is missing"), ws.session() as s:
        store.read_vectors(ws, s, get_space(ws, "content"), range(1, 9))
