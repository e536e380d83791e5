"""On-disk IVF indexes: sharded build + merge, memory-mapped search, re-ranking, integrity, crash leftovers."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import faiss
import numpy as np
import pytest

from indexer.vectors import faiss_ops as ops
from indexer.vectors.ondisk import OnDiskIndex
from indexer.vectors.ondisk_files import IDS_FILE, INDEX_FILE, LISTS_FILE, MANIFEST_FILE, remove_build_temporaries
from indexer.vectors.selection import REFINE_FACTOR, choose_ondisk_index
from indexer.vectors.sharded_build import build_ondisk, train_template
from indexer.vectors.storage import IndexFileError
from indexer.vectors.vector_source import VectorSource

DIM = 32
N = 6000


def _clustered(n: int, dim: int, seed: int, centers: int = 60) -> np.ndarray:
    rng = np.random.default_rng(seed)
    c = rng.standard_normal((centers, dim)).astype(np.float32)
    x = c[rng.integers(0, centers, n)] + 0.35 * rng.standard_normal((n, dim)).astype(np.float32)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def corpus() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ids: sparse, not positions; vectors; held-out queries) from one seeded clustered mixture."""
    x = _clustered(N + 50, DIM, seed=1)
    ids = np.arange(N, dtype=np.int64) * 7 + 3
    return ids, x[:N], x[N:]


def _lookup(ids: np.ndarray, vectors: np.ndarray):
    def lookup(wanted: np.ndarray) -> np.ndarray:
        pos = np.searchsorted(ids, wanted)
        assert (ids[pos] == wanted).all()
        return vectors[pos]
    return lookup


@pytest.fixture(scope="module")
def pq_index(corpus, tmp_path_factory) -> OnDiskIndex:
    ids, x, _ = corpus
    out = tmp_path_factory.mktemp("pq")
    build_ondisk(VectorSource.from_arrays(ids, x), DIM, "ip", "IVF32,PQ8x8", out, "idx", workers=2, chunk_rows=1000)
    return OnDiskIndex.open(out / "idx", lookup=_lookup(ids, x))


def _recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(a) & set(b)) / truth.shape[1] for a, b in zip(found, truth)]))


def test_sharded_merge_equals_one_go_build(corpus, tmp_path):
    """Same trained quantizer + same vectors in the same order: IVF assignment and PQ encoding are
    deterministic and merge_ondisk appends shards list by list in shard (= chunk) order, so every
    inverted list holds the same (id, code) entries in the same order as one index fed in one call;
    the same lists scanned with the same nprobe give bit-identical results, ties included."""
    ids, x, queries = corpus
    source = VectorSource.from_arrays(ids, x)
    info = build_ondisk(source, DIM, "ip", "IVF32,PQ8x8", tmp_path, "sharded", workers=2, chunk_rows=700, seed=5)
    assert info.shards == -(-N // 700) and info.ntotal == N
    template, _ = train_template(source, DIM, info.choice, seed=5)
    one_go = faiss.deserialize_index(template)
    one_go.add_with_ids(x, ids)
    ops.apply_search_params(one_go, info.choice)
    merged = OnDiskIndex.open(tmp_path / "sharded", refine_factor=0)
    expected_d, expected_i = one_go.search(queries, 10)
    got_d, got_i = merged.search(queries, 10)
    np.testing.assert_array_equal(got_i, expected_i)
    np.testing.assert_array_equal(got_d, expected_d)
    for list_no in (0, 7, 31):  # the lists themselves, entry by entry
        a, b = merged.faiss_index.invlists, faiss.extract_index_ivf(one_go).invlists
        assert a.list_size(list_no) == b.list_size(list_no)
        size = a.list_size(list_no)
        np.testing.assert_array_equal(faiss.rev_swig_ptr(a.get_ids(list_no), size),
                                      faiss.rev_swig_ptr(b.get_ids(list_no), size))


def test_refine_reaches_recall(corpus, pq_index):
    ids, x, queries = corpus
    truth = ids[np.argsort(-(queries @ x.T), axis=1, kind="stable")[:, :10]]
    _, refined = pq_index.search(queries, 10)
    _, raw = OnDiskIndex.open(pq_index.path, refine_factor=0).search(queries, 10)
    assert _recall(refined, truth) >= 0.95
    assert _recall(raw, truth) < _recall(refined, truth)  # 8-byte codes alone miss neighbours
    scores, found = pq_index.search(queries[:3], 5)
    # refined scores are exact inner products; float32 dot products of 32 terms agree to ~1e-6
    np.testing.assert_allclose(scores, np.einsum("qkd,qd->qk", _lookup(ids, x)(found.ravel()).reshape(3, 5, DIM),
                                                 queries[:3]), rtol=0, atol=1e-5)
    assert (np.diff(scores, axis=1) <= 0).all()


def test_ids_contains_and_properties(corpus, pq_index):
    ids, _, _ = corpus
    assert pq_index.ntotal == N and pq_index.dim == DIM and pq_index.kind == "ivfpq" and pq_index.metric == "ip"
    assert pq_index.factory == "IVF32,PQ8x8" and pq_index.refine_factor == REFINE_FACTOR
    np.testing.assert_array_equal(pq_index.ids(), ids)
    assert isinstance(pq_index.ids(), np.memmap)
    np.testing.assert_array_equal(pq_index.contains([3, 4, 10, 7 * (N - 1) + 3, 10 ** 9]),
                                  [True, False, True, True, False])


def test_allow_exclude_and_padding(corpus, pq_index):
    ids, x, queries = corpus
    allow = ids[100:104]
    scores, found = pq_index.search(queries[:2], 6, allow=np.concatenate([allow, [5, 10 ** 9]]))
    assert set(found[0, :4]) == set(allow) and (found[:, 4:] == -1).all() and np.isneginf(scores[:, 4:]).all()
    scores, found = pq_index.search(queries[:2], 6, allow=allow, exclude=allow[:1])
    assert set(found[0, :3]) == set(allow[1:]) and (found[:, 3:] == -1).all()
    top = pq_index.search(queries[:1], 5)[1][0]
    _, without = pq_index.search(queries[:1], 5, exclude=top[:2])
    assert not set(top[:2]) & set(without[0]) and (without >= 0).all()
    big_allow = ids[::2]  # above nothing: selector path with refinement
    _, found = pq_index.search(queries, 10, allow=big_allow)
    assert np.isin(found, big_allow).all()
    assert (pq_index.search(queries[:1], 3, allow=[10 ** 9])[1] == -1).all()
    with pytest.raises(ValueError):
        pq_index.search(queries[:, :5], 3)
    with pytest.raises(ValueError):
        pq_index.search(queries, 0)


def test_flat_choice_without_lookup_and_l2(tmp_path):
    x = _clustered(3000, 16, seed=3)
    ids = np.arange(3000, dtype=np.int64)
    choice = choose_ondisk_index(3000, 16, metric="l2", refine=False)
    assert choice.kind == "ivf"
    build_ondisk(VectorSource.from_arrays(ids, x), 16, "l2", choice, tmp_path, "flat", chunk_rows=512)
    index = OnDiskIndex.open(tmp_path / "flat")
    assert index.refine_factor == 0 and index.metric == "l2"
    truth = np.argsort(((x[:20, None, :] - x[None]) ** 2).sum(-1), axis=1)[:, :10]
    assert _recall(index.search(x[:20], 10)[1], truth) >= 0.95
    assert (index.search(x[:3], 4, allow=[5, 6])[1][:, 2:] == -1).all()


def test_chunks_never_exceed_chunk_rows(corpus, tmp_path):
    ids, x, _ = corpus
    seen: list[int] = []
    base = VectorSource.from_arrays(ids, x)

    def chunks(rows: int):
        for chunk in base.chunks(rows):
            seen.append(len(chunk[0]))
            yield chunk

    source = VectorSource(chunks, N, DIM)  # no sample(): the builder samples in one streaming pass
    info = build_ondisk(source, DIM, "ip", "IVF16,Flat", tmp_path, "c", chunk_rows=512)
    assert max(seen) <= 512 and sum(seen) == 2 * N  # one pass to sample, one to add
    assert info.train_rows == min(N, 16 * 39) and info.ntotal == N

    def too_big(rows: int):
        yield ids, x
    with pytest.raises(ValueError, match="more than chunk_rows"):
        build_ondisk(VectorSource(too_big, N, DIM, base.sample), DIM, "ip", "IVF16,Flat", tmp_path, "d", chunk_rows=512)
    assert not (tmp_path / "d").exists() and not list(tmp_path.glob(".d.*"))


@pytest.mark.parametrize("bad", ["nan", "dup", "dim", "empty"])
def test_bad_input_is_refused_and_leaves_nothing(corpus, tmp_path, bad):
    ids, x, _ = corpus
    x, ids = x[:2000].copy(), ids[:2000].copy()
    if bad == "nan":
        x[1500, 3] = np.nan
    if bad == "dup":
        ids[1999] = ids[0]
    source = VectorSource.from_arrays(ids[:0], x[:0]) if bad == "empty" else VectorSource.from_arrays(ids, x)
    with pytest.raises(ValueError):
        build_ondisk(source, DIM + (bad == "dim"), "ip", "IVF16,Flat", tmp_path, "bad", chunk_rows=500)
    assert sorted(os.listdir(tmp_path)) == []


def test_relocated_folder_opens(corpus, pq_index, tmp_path):
    ids, _, queries = corpus
    moved = tmp_path / "elsewhere" / "idx"
    shutil.copytree(pq_index.path, moved)
    reopened = OnDiskIndex.open(moved, lookup=_lookup(*corpus[:2]))
    np.testing.assert_array_equal(reopened.search(queries, 10)[1], pq_index.search(queries, 10)[1])
    reopened.verify()


@pytest.mark.parametrize("damage", ["truncate_lists", "truncate_index", "flip_index", "flip_lists",
                                    "missing_ids", "manifest"])
def test_damaged_files_raise_index_file_error(pq_index, tmp_path, damage):
    folder = tmp_path / "idx"
    shutil.copytree(pq_index.path, folder)

    def rewrite(name: str, change) -> None:
        data = bytearray((folder / name).read_bytes())
        (folder / name).write_bytes(bytes(change(data)))

    if damage == "truncate_lists":
        rewrite(LISTS_FILE, lambda b: b[: len(b) // 2])
    elif damage == "truncate_index":
        rewrite(INDEX_FILE, lambda b: b[:100])
    elif damage == "flip_index":
        rewrite(INDEX_FILE, lambda b: b[:50] + bytes([b[50] ^ 0xFF]) + b[51:])
    elif damage == "flip_lists":  # same size: found by verify(), not by the cheap open
        rewrite(LISTS_FILE, lambda b: b[:-9] + bytes([b[-9] ^ 0xFF]) + b[-8:])
        index = OnDiskIndex.open(folder)
        with pytest.raises(IndexFileError, match="sha256"):
            index.verify()
        return
    elif damage == "missing_ids":
        (folder / IDS_FILE).unlink()
    else:
        (folder / MANIFEST_FILE).write_text("{not json")
    with pytest.raises(IndexFileError):
        OnDiskIndex.open(folder)


def test_killed_build_leaves_only_removable_temporaries(corpus, tmp_path):
    """A build process killed while adding shards: the published index is untouched, the leftovers are
    `.idx.*.tmp` folders, and remove_build_temporaries deletes exactly those."""
    ids, x, queries = corpus
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "ids.npy", ids)
    build_ondisk(VectorSource.from_arrays(ids, x), DIM, "ip", "IVF16,Flat", tmp_path, "idx", chunk_rows=1000)
    before = OnDiskIndex.open(tmp_path / "idx").search(queries, 5)
    script = f"""
import os, signal, numpy as np
from indexer.vectors.vector_source import VectorSource
from indexer.vectors.sharded_build import build_ondisk
ids, x = np.load({str(tmp_path / 'ids.npy')!r}), np.load({str(tmp_path / 'x.npy')!r})
base = VectorSource.from_arrays(ids, x)
def chunks(rows):
    for n, chunk in enumerate(base.chunks(rows)):
        if n == 3:
            os.kill(os.getpid(), signal.SIGKILL)
        yield chunk
build_ondisk(VectorSource(chunks, len(ids), {DIM}, base.sample), {DIM}, "ip", "IVF16,Flat", {str(tmp_path)!r}, "idx",
             chunk_rows=500)
"""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True)
    assert proc.returncode == -9
    leftovers = sorted(p.name for p in tmp_path.glob(".idx.*"))
    assert leftovers and all(name.endswith(".tmp") for name in leftovers)
    assert list((tmp_path / leftovers[0] / "shards").iterdir())  # it was killed mid-add
    after = OnDiskIndex.open(tmp_path / "idx").search(queries, 5)
    np.testing.assert_array_equal(after[1], before[1])
    assert remove_build_temporaries(tmp_path, "idx") == leftovers
    assert sorted(os.listdir(tmp_path)) == ["ids.npy", "idx", "x.npy"]


def test_cleanup_restores_an_interrupted_swap(corpus, tmp_path):
    ids, x, _ = corpus
    build_ondisk(VectorSource.from_arrays(ids, x), DIM, "ip", "IVF16,Flat", tmp_path, "idx", chunk_rows=2000)
    os.replace(tmp_path / "idx", tmp_path / ".idx.old.tmp")  # killed between the two renames of the swap
    (tmp_path / ".idx.abc123.tmp").mkdir()
    assert remove_build_temporaries(tmp_path, "idx") == [".idx.abc123.tmp"]
    assert OnDiskIndex.open(tmp_path / "idx").ntotal == N


def test_manifest_records_the_build(pq_index):
    manifest = json.loads((pq_index.path / MANIFEST_FILE).read_text())
    assert manifest["ntotal"] == N and manifest["shards"] == 6 and manifest["train_rows"] == min(N, 256 * 39)
    assert set(manifest["files"]) == {INDEX_FILE, LISTS_FILE, IDS_FILE}


def test_choose_ondisk_index_bounds_training():
    big = choose_ondisk_index(10_000_000, 512)
    assert big.kind == "ivfpq" and big.train_size <= 1 << 17 and big.extra["refine_factor"] >= 10
    assert "OPQ" not in big.factory
    assert choose_ondisk_index(1_000_000, 100).kind == "ivf"  # 100-d lists small enough to scan raw
    assert choose_ondisk_index(1_000_000, 1280, refine=False).kind == "ivf"
    with pytest.raises(ValueError, match="too few"):
        choose_ondisk_index(100, 512)


@pytest.mark.slow
def test_ray_tasks_build_the_same_index(corpus, tmp_path):
    ray = pytest.importorskip("ray")
    ids, x, queries = corpus
    source = VectorSource.from_arrays(ids, x)
    ray.init(num_cpus=2, include_dashboard=False)
    try:
        build_ondisk(source, DIM, "ip", "IVF16,PQ8x8", tmp_path, "ray", workers=2, chunk_rows=1000, executor="ray")
    finally:
        ray.shutdown()
    build_ondisk(source, DIM, "ip", "IVF16,PQ8x8", tmp_path, "local", workers=2, chunk_rows=1000)
    a = OnDiskIndex.open(tmp_path / "ray", refine_factor=0).search(queries, 10)
    b = OnDiskIndex.open(tmp_path / "local", refine_factor=0).search(queries, 10)
    np.testing.assert_array_equal(a[1], b[1])


def test_open_and_search_print_nothing_on_stdout(pq_index):
    """faiss printf()s when it relocates the lists file; a CLI's --json output must stay clean."""
    code = (f"import numpy as np; from indexer.vectors.ondisk import OnDiskIndex; "
            f"i = OnDiskIndex.open({str(pq_index.path)!r}, refine_factor=0); print('ok', i.search(np.ones((1, {DIM}), "
            f"np.float32), 3)[1].shape)")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout == "ok (1, 3)\n"
