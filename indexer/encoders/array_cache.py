"""A disk cache for small arrays derived from models (label embeddings, classifier rows), shared by processes.

Why: a cold `stylelens search "a cat"` used to re-embed the 1,000 ImageNet label prompts on every start
(2-10 s on two cores). Those vectors depend only on the models and the prompts, so they are computed once
and kept here, under a key that names everything they depend on.

Safety:
* files are safetensors (no pickle, no code runs on load), one array named "data", with the full key and
  the sha256 of the array bytes in the header's metadata; a file whose key, checksum, dtype or shape does
  not match is ignored (and replaced by the next store), never trusted;
* writes are atomic: a temporary file in the same folder, flushed, fsynced, renamed over the target, then
  the folder fsynced, so a reader sees the old file, the new one, or none;
* a missing, read-only or full cache folder never breaks the caller: `get_or_compute` computes and returns
  the array anyway (it logs the reason at debug level).

Location: the folder given to `ArrayCache`, else the user cache dir (`$XDG_CACHE_HOME/stylelens`, default
`~/.cache/stylelens`), looked up at each use so a test or a service can point it elsewhere.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Callable, Mapping

import numpy as np

from ..atomic import atomic_write_bytes

log = logging.getLogger(__name__)

FORMAT = "stylelens-array-cache/1"
_TENSOR = "data"
TEMP_SUFFIX = ".tmp"


def user_cache_dir() -> Path:
    """`$XDG_CACHE_HOME/stylelens` when XDG_CACHE_HOME is an absolute path, else `~/.cache/stylelens`."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    root = Path(base) if base and os.path.isabs(base) else Path("~/.cache").expanduser()
    return root / "stylelens"


def text_digest(text: str) -> str:
    """sha256 hex digest of a string (e.g. a label list joined by newlines), for cache keys."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def file_digest(path: str | os.PathLike[str]) -> str:
    """sha256 hex digest of a file's bytes (about 0.1 s for a 90 MB weights file here)."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


class ArrayCache:
    """Arrays on disk under (kind, key): `get_or_compute("label-vectors", {...}, compute)`."""

    def __init__(self, folder: str | os.PathLike[str] | None = None):
        self._folder = Path(folder) if folder is not None else None

    @property
    def folder(self) -> Path:
        """Where the files live (the given folder, else the user cache dir as the environment says now)."""
        return self._folder if self._folder is not None else user_cache_dir()

    def path(self, kind: str, key: Mapping[str, str]) -> Path:
        """The file that holds (kind, key): `<kind>-<first 24 hex digits of the key's sha256>.safetensors`."""
        return self.folder / f"{kind}-{text_digest(_key_text(kind, key))[:24]}.safetensors"

    def load(self, kind: str, key: Mapping[str, str], rows: int | None = None) -> np.ndarray | None:
        """The cached 2-D float32 array, or None when absent, unreadable, or not exactly what `key` asks for
        (`rows`: the number of rows it must have)."""
        path = self.path(kind, key)
        try:
            array, meta = _read(path)
        except FileNotFoundError:
            return None
        except Exception as exc:  # noqa: BLE001 - any damage (truncation, bad header, I/O): not trusted
            log.debug("array cache: ignoring %s: %s", path, exc)
            return None
        problem = _mismatch(array, meta, _key_text(kind, key), rows)
        if problem:
            log.debug("array cache: ignoring %s: %s", path, problem)
            return None
        return array

    def store(self, kind: str, key: Mapping[str, str], array: np.ndarray) -> bool:
        """Write the array atomically; False (logged) when the folder cannot be written."""
        array = np.ascontiguousarray(array, dtype=np.float32)
        meta = {"format": FORMAT, "key": _key_text(kind, key), "sha256": _array_digest(array)}
        try:
            from safetensors.numpy import save

            data = save({_TENSOR: array}, metadata=meta)
            path = self.path(kind, key)
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(path, data, suffix=TEMP_SUFFIX)
        except OSError as exc:
            log.info("array cache: cannot write to %s (computing each time instead): %s", self.folder, exc)
            return False
        return True

    def get_or_compute(self, kind: str, key: Mapping[str, str], compute: Callable[[], np.ndarray],
                       rows: int | None = None) -> np.ndarray:
        """The cached array if valid, else `compute()` (stored for next time when the folder allows)."""
        cached = self.load(kind, key, rows)
        if cached is not None:
            return cached
        array = np.ascontiguousarray(compute(), dtype=np.float32)
        self.store(kind, key, array)
        return array


def _key_text(kind: str, key: Mapping[str, str]) -> str:
    return json.dumps({"kind": kind, **{k: str(v) for k, v in key.items()}}, sort_keys=True)


def _array_digest(array: np.ndarray) -> str:
    return hashlib.sha256(f"{array.dtype.str}{array.shape}".encode() + array.tobytes()).hexdigest()


def _read(path: Path) -> tuple[np.ndarray, dict[str, str]]:
    """(array, metadata) of a safetensors file, read into memory in one go (files are small)."""
    from safetensors.numpy import load

    raw = path.read_bytes()
    if len(raw) < 8:
        raise ValueError("truncated header")
    header_len = int.from_bytes(raw[:8], "little")
    if header_len > len(raw) - 8:
        raise ValueError("truncated header")
    meta = json.loads(raw[8 : 8 + header_len]).get("__metadata__") or {}
    tensors = load(raw)
    if set(tensors) != {_TENSOR}:
        raise ValueError(f"unexpected tensors {sorted(tensors)}")
    return tensors[_TENSOR], meta


def _mismatch(array: np.ndarray, meta: dict[str, str], key_text: str, rows: int | None) -> str | None:
    """Why a loaded file is not the wanted array, or None."""
    if meta.get("format") != FORMAT:
        return f"format {meta.get('format')!r}"
    if meta.get("key") != key_text:
        return "written for another key"
    if array.dtype != np.float32 or array.ndim != 2:
        return f"dtype {array.dtype} / shape {array.shape}"
    if rows is not None and array.shape[0] != rows:
        return f"{array.shape[0]} rows, wanted {rows}"
    if meta.get("sha256") != _array_digest(array):
        return "checksum mismatch"
    return None
