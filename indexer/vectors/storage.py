"""Checksummed, atomically written container for one FAISS index plus a small JSON header.

Layout (all integers little-endian)::

    b"SLVECIDX" | u32 format version | u32 header length | header (UTF-8 JSON)
    | payload (faiss.write_index bytes)
    | u64 payload length | sha256(payload) | sha256(header) | b"SLVIDEND"

`load_index` checks the magic numbers, the sizes and both checksums *before* handing a single byte to
FAISS, so a truncated or bit-flipped file raises `IndexFileError` instead of reaching FAISS's reader
(which can abort or crash the process on garbage). `save_index` writes a temporary file in the target
directory, flushes and fsyncs it, `os.replace`s it over the target and fsyncs the directory: readers see
either the old file or the new one, never a half-written one.
"""
from __future__ import annotations

import hashlib
import json
import os
import struct
from pathlib import Path
from typing import Any, BinaryIO

import faiss

from ..atomic import atomic_file

MAGIC = b"SLVECIDX"
END_MAGIC = b"SLVIDEND"
FORMAT_VERSION = 1
_PREFIX = struct.Struct("<8sII")  # magic, version, header length
_TRAILER = struct.Struct("<Q32s32s8s")  # payload length, sha256(payload), sha256(header), end magic
_MAX_HEADER = 1 << 20
_CHUNK = 1 << 22
TEMP_SUFFIX = ".faiss.tmp"  # save_index writes `.<target name>.<random>.faiss.tmp` beside the target
TEMP_GLOB = f".*{TEMP_SUFFIX}"


class IndexFileError(Exception):
    """An index file is missing, truncated, corrupt, or not a StyleLens index file."""


def save_index(path: str | os.PathLike[str], index: faiss.Index, header: dict[str, Any]) -> None:
    """Write `index` (a CPU index) and `header` to `path` atomically."""
    path = Path(path)
    header_bytes = json.dumps(header, sort_keys=True).encode("utf-8")
    if len(header_bytes) > _MAX_HEADER:
        raise ValueError(f"index header too large ({len(header_bytes)} bytes)")
    with atomic_file(path, suffix=TEMP_SUFFIX) as f:
        f.write(_PREFIX.pack(MAGIC, FORMAT_VERSION, len(header_bytes)))
        f.write(header_bytes)
        size, digest = write_payload(index, f)
        f.write(_TRAILER.pack(size, digest, hashlib.sha256(header_bytes).digest(), END_MAGIC))


def write_payload(index: faiss.Index, f: BinaryIO) -> tuple[int, bytes]:
    """Stream `faiss.write_index(index)` into `f`; return (bytes written, sha256 digest)."""
    hasher = hashlib.sha256()
    written = 0

    def sink(chunk: bytes) -> int:
        nonlocal written
        f.write(chunk)
        hasher.update(chunk)
        written += len(chunk)
        return len(chunk)

    writer = faiss.PyCallbackIOWriter(sink)
    faiss.write_index(index, writer)
    del writer  # flushes any buffered bytes through `sink`
    return written, hasher.digest()


def load_index(path: str | os.PathLike[str]) -> tuple[faiss.Index, dict[str, Any]]:
    """Verify and read a file written by `save_index`; return (CPU index, header)."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            header, start, size = _verify(f, os.fstat(f.fileno()).st_size, path)
            f.seek(start)
            index = _read_payload(f, size, path)
    except OSError as exc:
        raise IndexFileError(f"cannot read index file {path}: {exc}") from exc
    return index, header


def _verify(f: BinaryIO, file_size: int, path: Path) -> tuple[dict[str, Any], int, int]:
    """Check framing and checksums; return (header, payload offset, payload length)."""
    if file_size < _PREFIX.size + _TRAILER.size:
        raise IndexFileError(f"{path} is too short ({file_size} bytes) to be a StyleLens index file")
    magic, version, header_len = _PREFIX.unpack(f.read(_PREFIX.size))
    if magic != MAGIC:
        raise IndexFileError(f"{path} is not a StyleLens index file (bad magic {magic!r})")
    if version != FORMAT_VERSION:
        raise IndexFileError(f"{path} has format version {version}; this build reads {FORMAT_VERSION}")
    if header_len > _MAX_HEADER or _PREFIX.size + header_len + _TRAILER.size > file_size:
        raise IndexFileError(f"{path} is truncated or corrupt (header length {header_len})")
    header_bytes = f.read(header_len)
    f.seek(file_size - _TRAILER.size)
    size, payload_sha, header_sha, end = _TRAILER.unpack(f.read(_TRAILER.size))
    if end != END_MAGIC:
        raise IndexFileError(f"{path} is truncated or corrupt (missing end marker)")
    start = _PREFIX.size + header_len
    if start + size + _TRAILER.size != file_size:
        raise IndexFileError(f"{path} is truncated or corrupt (sizes do not add up to {file_size} bytes)")
    if hashlib.sha256(header_bytes).digest() != header_sha:
        raise IndexFileError(f"{path} is corrupt (header checksum mismatch)")
    f.seek(start)
    if _sha256_of(f, size) != payload_sha:
        raise IndexFileError(f"{path} is corrupt (payload checksum mismatch)")
    try:
        header = json.loads(header_bytes.decode("utf-8"))
    except ValueError as exc:
        raise IndexFileError(f"{path} has an unreadable header: {exc}") from exc
    return header, start, size


def _sha256_of(f: BinaryIO, size: int) -> bytes:
    hasher = hashlib.sha256()
    left = size
    while left:
        chunk = f.read(min(_CHUNK, left))
        if not chunk:
            raise IndexFileError("file shrank while being verified")
        hasher.update(chunk)
        left -= len(chunk)
    return hasher.digest()


def _read_payload(f: BinaryIO, size: int, path: Path) -> faiss.Index:
    left = size

    def source(n: int) -> bytes:
        nonlocal left
        chunk = f.read(min(n, left))
        left -= len(chunk)
        return chunk

    reader = faiss.PyCallbackIOReader(source)
    try:
        return faiss.read_index(reader)
    except RuntimeError as exc:  # checksum was fine, so this is a faiss version mismatch or a bug
        raise IndexFileError(f"faiss could not read the index in {path}: {exc}") from exc
    finally:
        del reader

