"""Checksummed, atomically written container for one FAISS index plus a small JSON header.

Layout (all integers little-endian)::

    b"SLVECIDX" | u32 format version | u32 header length | header (UTF-8 JSON)
    | payload (faiss.write_index bytes)
    | u64 payload length | sha256(payload) | sha256(header) | b"SLVIDEND"

`load_index` checks the framing *before* handing a single byte to FAISS, so a truncated or damaged file raises
`IndexFileError` instead of reaching FAISS's reader (which can abort or crash the process on garbage).
What is checked when (`verify`):

* always: magic numbers, format version, header length, end marker, that the sizes add up to the file's
  size (and to `expected_bytes`, the size the catalog recorded when the file was written), the header's
  sha256;
* "full": also the payload's sha256 (~1.7 s per GB here). "auto" (the default) does that for payloads up to
  FULL_VERIFY_BYTES (a small file costs ~50 ms at most, so a bit-flipped small file is always refused) and
  skips it above, where a per-query hash of GBs would dominate a cold CLI search. Large files get the full
  hash when written (computed from the bytes streamed out), whenever a checkpoint loads them to fold changes
  in, and from `stylelens check` (`indexer.consistency`). `save_index` writes a temporary file in the target
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
FULL_VERIFY_BYTES = 32 << 20  # payloads up to this size are hashed on every load (verify="auto")
VERIFY_MODES = ("auto", "full", "quick")
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


def load_index(path: str | os.PathLike[str], *, verify: str = "auto",
               expected_bytes: int | None = None) -> tuple[faiss.Index, dict[str, Any]]:
    """Verify (see the module docstring for what `verify` checks) and read a file written by `save_index`;
    return (CPU index, header)."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            header, start, size = _verify_sized(f, path, verify, expected_bytes)
            f.seek(start)
            index = _read_payload(f, size, path)
    except OSError as exc:
        raise IndexFileError(f"cannot read index file {path}: {exc}") from exc
    return index, header


def verify_file(path: str | os.PathLike[str], *, verify: str = "quick",
                expected_bytes: int | None = None) -> dict[str, Any]:
    """Check a file written by `save_index` without handing it to FAISS (`verify` as in `load_index`);
    return its header. Raises IndexFileError."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            return _verify_sized(f, path, verify, expected_bytes)[0]
    except OSError as exc:
        raise IndexFileError(f"cannot read index file {path}: {exc}") from exc


def _verify_sized(f: BinaryIO, path: Path, verify: str, expected_bytes: int | None) -> tuple[dict[str, Any], int, int]:
    """`_verify`, after checking the file has the size its snapshot row recorded (when given)."""
    file_size = os.fstat(f.fileno()).st_size
    if expected_bytes is not None and file_size != expected_bytes:
        raise IndexFileError(f"{path} has {file_size} bytes; {expected_bytes} were written")
    return _verify(f, file_size, path, verify)


def _verify(f: BinaryIO, file_size: int, path: Path, verify: str = "full") -> tuple[dict[str, Any], int, int]:
    """Check framing and checksums (the payload's per `verify`); return (header, payload offset, length)."""
    if verify not in VERIFY_MODES:
        raise ValueError(f"verify must be one of {VERIFY_MODES}, not {verify!r}")
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
    full = verify == "full" or (verify == "auto" and size <= FULL_VERIFY_BYTES)
    f.seek(start)
    if full and _sha256_of(f, size) != payload_sha:
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

