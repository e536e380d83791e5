"""Folding changes into an on-disk IVF index without retraining (`ondisk_extend.extend_ondisk`): the new folder
holds exactly the live set, every entry is what a full build with the same trained quantizer would hold, the old
folder is left as it was, and bad input is refused before anything is published."""
from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np
import pytest

from indexer.vectors.ondisk import OnDiskIndex
from indexer.vectors.ondisk_extend import extend_ondisk
from indexer.vectors.ondisk_files import MANIFEST_FILE, check_files, read_manifest, sha256_file
from indexer.vectors.sharded_build import build_ondisk
from indexer.vectors.vector_source import VectorSource

DIM, N, NLIST = 32, 4000, 32


def unit(n: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture(scope="module", params=["IVF32,Flat", "IVF32,PQ8x8"])
def base(request, tmp_path_factory) -> tuple[OnDiskIndex, np.ndarray, np.ndarray]:
    """An on-disk base of N vectors under sparse ids: (index, ids, vectors)."""
    ids, x = np.arange(N, dtype=np.int64) * 5 + 2, unit(N, seed=1)
    out = tmp_path_factory.mktemp("base")
    build_ondisk(VectorSource.from_arrays(ids, x), DIM, "ip", request.param, out, "base", chunk_rows=900)
    return OnDiskIndex.open(out / "base", refine_factor=0), ids, x


def changes(ids: np.ndarray) -> dict[str, np.ndarray]:
    """150 new ids, 60 replaced and 300 removed base ids, 7 removals of ids the base never had."""
    rng = np.random.default_rng(3)
    touched = rng.choice(ids, 360, replace=False)
    return {"added": np.arange(150, dtype=np.int64) * 5 + 10 * N, "new_vectors": unit(150, seed=4),
            "replaced": np.sort(touched[:60]), "replacement": unit(60, seed=5), "removed": touched[60:],
            "unknown": np.arange(7, dtype=np.int64) * 5 + 3}


def extend(base: OnDiskIndex, ch: dict[str, np.ndarray], out: Path, name: str = "next") -> OnDiskIndex:
    add_ids = np.concatenate([ch["added"], ch["replaced"]])
    add_vectors = np.concatenate([ch["new_vectors"], ch["replacement"]])
    dead = np.concatenate([ch["removed"], ch["replaced"], ch["unknown"]])
    extend_ondisk(base, add_ids, add_vectors, dead, out, name)
    return OnDiskIndex.open(out / name, refine_factor=0)


def live_set(ids: np.ndarray, x: np.ndarray, ch: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    live = dict(zip(ids.tolist(), x))
    for i in ch["removed"].tolist():
        del live[i]
    live.update(zip(ch["replaced"].tolist(), ch["replacement"]))
    live.update(zip(ch["added"].tolist(), ch["new_vectors"]))
    order = sorted(live)
    return np.asarray(order, dtype=np.int64), np.stack([live[i] for i in order])


def list_entries(index: faiss.Index, list_no: int) -> list[tuple[int, bytes]]:
    """(id, code) of every entry of one inverted list, sorted (the order within a list carries no meaning)."""
    lists = faiss.extract_index_ivf(index).invlists
    size, code_size = lists.list_size(list_no), lists.code_size
    ids = faiss.rev_swig_ptr(lists.get_ids(list_no), size).copy()
    codes = faiss.rev_swig_ptr(lists.get_codes(list_no), size * code_size).reshape(size, code_size)
    return sorted(zip(ids.tolist(), (bytes(c) for c in codes)))


def test_the_extended_index_holds_exactly_what_a_full_build_on_the_same_quantizer_holds(base, tmp_path):
    """IVF assignment and encoding are deterministic for a fixed trained index, so every list must hold the same
    (id, code) entries as the trained index fed the live set in one call: kept base entries unchanged, removed
    and replaced ones gone, added and replacement vectors encoded anew."""
    index, ids, x = base
    ch = changes(ids)
    extended = extend(index, ch, tmp_path)
    live_ids, live_x = live_set(ids, x, ch)
    np.testing.assert_array_equal(extended.ids(), live_ids)
    assert extended.ntotal == len(live_ids) == N - 300 + 150
    one_go = faiss.read_index(str(index.path / "index.faiss"), faiss.IO_FLAG_ONDISK_SAME_DIR | faiss.IO_FLAG_READ_ONLY)
    ivf = faiss.extract_index_ivf(one_go)
    empty = faiss.ArrayInvertedLists(ivf.nlist, ivf.code_size)
    ivf.replace_invlists(empty, True)
    empty.this.disown()
    one_go.ntotal = ivf.ntotal = 0
    one_go.add_with_ids(live_x, live_ids)
    for list_no in range(NLIST):
        assert list_entries(extended.faiss_index, list_no) == list_entries(one_go, list_no), list_no
    manifest = extended.manifest
    assert manifest["extended_from"] == "base" and manifest["removed"] == 360 and manifest["added"] == 210
    assert manifest["choice"] == index.manifest["choice"] and manifest["train_rows"] == index.manifest["train_rows"]


def test_searches_see_the_changes_and_never_a_removed_or_stale_vector(base, tmp_path):
    index, ids, x = base
    ch = changes(ids)
    extended = extend(index, ch, tmp_path)
    extended.faiss_index.nprobe = NLIST  # every list scanned: IVF-Flat is then exact
    live_ids, live_x = live_set(ids, x, ch)
    queries = np.concatenate([unit(20, seed=9), ch["replacement"][:10], ch["new_vectors"][:10]])
    scores, found = extended.search(queries, 10)
    assert not np.isin(found, ch["removed"]).any()
    np.testing.assert_array_equal(found[20:30, 0], ch["replaced"][:10])  # found by its new vector
    np.testing.assert_array_equal(found[30:, 0], ch["added"][:10])
    if extended.kind == "ivf":
        truth = live_ids[np.argsort(-(queries @ live_x.T), axis=1, kind="stable")[:, :10]]
        np.testing.assert_array_equal(found, truth)
        # the same float32 dot products of 32 terms in another summation order: ~1e-7 apart
        np.testing.assert_allclose(scores, np.take_along_axis(queries @ live_x.T, np.searchsorted(live_ids, found), 1),
                                   rtol=0, atol=1e-5)


def test_the_old_folder_is_only_read(base, tmp_path):
    index, ids, _x = base
    before = {p.name: sha256_file(p) for p in index.path.iterdir()}
    extend(index, changes(ids), tmp_path)
    assert {p.name: sha256_file(p) for p in index.path.iterdir()} == before
    check_files(index.path, read_manifest(index.path), full=True)
    assert OnDiskIndex.open(index.path).ntotal == N


def test_an_extended_index_extends_again(base, tmp_path):
    index, ids, x = base
    ch = changes(ids)
    first = extend(index, ch, tmp_path, "first")
    second = extend_ondisk(first, np.array([10**7], dtype=np.int64), unit(1, seed=11), ch["added"][:5], tmp_path,
                           "second")
    again = OnDiskIndex.open(second.path, refine_factor=0)
    live_ids, _ = live_set(ids, x, ch)
    np.testing.assert_array_equal(again.ids(), np.union1d(np.setdiff1d(live_ids, ch["added"][:5]), [10**7]))
    check_files(again.path, read_manifest(again.path), full=True)


@pytest.mark.parametrize("bad, message", [
    (lambda ids: (ids[:1] * 0 + 10**8, unit(1, 0)[:, :8], ids[:0]), "dim"),
    (lambda ids: (np.array([10**8]), np.full((1, DIM), np.nan, np.float32), ids[:0]), "NaN"),
    (lambda ids: (np.array([10**8, 10**8]), unit(2, 0), ids[:0]), "unique"),
    (lambda ids: (np.array([-4]), unit(1, 0), ids[:0]), ">= 0"),
    (lambda ids: (ids[:1], unit(1, 0), ids[:0]), "already in the base"),
])
def test_bad_input_is_refused_and_publishes_nothing(base, tmp_path, bad, message):
    index, ids, _x = base
    add_ids, add_vectors, dead = bad(ids)
    with pytest.raises(ValueError, match=message):
        extend_ondisk(index, add_ids, add_vectors, dead, tmp_path, "next")
    assert list(tmp_path.iterdir()) == []
    assert (index.path / MANIFEST_FILE).is_file()
