"""Fold changes into an on-disk IVF index without retraining: a new folder from the old lists plus a delta.

`build_ondisk` trains and re-adds every vector; at 10 M vectors that is the better part of half an hour, and
a workspace folds its delta every 50,000 changes, so folding by rebuilding made an image's indexing cost grow
with the corpus. `extend_ondisk` instead keeps the old base's trained quantizer (and PQ codebooks):

1. the delta's vectors are added to an empty copy of the base (same quantizer: same list assignment and
   codes as a full build would give them);
2. `OnDiskInvertedLists.merge_from_multiple` writes the base's lists followed by the delta's, list by list,
   into a new tightly packed `lists.ivfdata` (a sequential copy of the old file, no vector is re-encoded);
3. entries of removed or replaced ids are dropped from the base part of each list (never from the delta
   part: a replaced id's new vector lives there) by moving the list's tail over them and shrinking it.

Cost: one read and one write of the lists (seconds per GB) plus the delta's add, not a training run. The old
folder is only read, so searches keep using it until the catalog names the new one; the new one is written
under a temporary name and published whole by `atomic_dir`. Training drifts as the corpus changes, so the
caller (`index_sync`) still rebuilds from scratch once the corpus has grown `IVF_RETRAIN_GROWTH` times past
the sample the quantizer was trained on, or when the size calls for another index type.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import faiss
import numpy as np

from ..atomic import atomic_dir
from .index_facts import sorted_member
from .ondisk import OnDiskIndex
from .ondisk_files import IDS_FILE, INDEX_FILE, LISTS_FILE, faiss_quiet, folder_bytes, write_manifest
from .sharded_build import OnDiskIndexInfo
from .selection import IndexChoice


def extend_ondisk(base: OnDiskIndex, add_ids: np.ndarray, add_vectors: np.ndarray, remove_ids: np.ndarray,
                  out_dir: str | os.PathLike[str], name: str) -> OnDiskIndexInfo:
    """Write `<out_dir>/<name>/`: `base` minus `remove_ids`, plus `add_vectors` under `add_ids` (see module doc).

    An id both removed and added is replaced: its base entry goes, its new vector comes. `remove_ids` not in the
    base are ignored. ValueError for bad input: a dim mismatch, non-finite vectors, negative or duplicate
    added ids, or an added id that stays in the base (it would be there twice)."""
    start = time.perf_counter()
    add_ids = np.ascontiguousarray(add_ids, dtype=np.int64).reshape(-1)
    add_vectors = np.ascontiguousarray(add_vectors, dtype=np.float32).reshape(len(add_ids), -1) if len(add_ids) \
        else np.empty((0, base.dim), np.float32)
    _check_delta(base, add_ids, add_vectors)
    dead = np.unique(np.asarray(remove_ids, dtype=np.int64).reshape(-1))
    dead = dead[base.contains(dead)] if len(dead) else dead
    if len(add_ids) and base.contains(add_ids[~sorted_member(add_ids, dead)]).any():
        raise ValueError("an added id is already in the base and not removed; replace it (remove and add)")
    manifest = base.manifest
    out_dir = Path(out_dir)
    seconds: dict[str, float] = {}
    with atomic_dir(out_dir / name) as tmp:
        os.chmod(tmp, 0o755)  # as build_ondisk: other processes read the published folder
        delta = _empty_copy(base.path)
        delta.add_with_ids(add_vectors, add_ids)
        seconds["add"] = time.perf_counter() - start
        start = time.perf_counter()
        merged = _empty_copy(base.path)
        ivf = faiss.extract_index_ivf(merged)
        lists = faiss.OnDiskInvertedLists(ivf.nlist, ivf.code_size, str(tmp / LISTS_FILE))
        sources = faiss.InvertedListsPtrVector()
        base_lists = faiss.extract_index_ivf(base.faiss_index).invlists
        sources.push_back(base_lists)
        sources.push_back(faiss.extract_index_ivf(delta).invlists)
        with faiss_quiet():
            total = lists.merge_from_multiple(sources.data(), sources.size(), False)
            removed = _drop_base_entries(lists, base_lists, ivf.code_size, dead) if len(dead) else 0
        ivf.replace_invlists(lists, True)
        lists.this.disown()
        merged.ntotal = ivf.ntotal = total - removed
        ids = np.union1d(np.setdiff1d(base.ids(), dead, assume_unique=True), add_ids)
        if merged.ntotal != len(ids):
            raise RuntimeError(f"extended index holds {merged.ntotal} vectors, expected {len(ids)}")
        faiss.write_index(merged, str(tmp / INDEX_FILE))
        del merged, delta  # unmaps the new lists
        np.save(tmp / IDS_FILE, ids)
        seconds["merge"] = time.perf_counter() - start
        start = time.perf_counter()
        header = {key: manifest[key] for key in ("dim", "metric", "kind", "choice", "train_rows", "seed")
                  if key in manifest}
        header.update(ntotal=int(len(ids)), faiss_version=faiss.__version__, shards=0,
                      extended_from=base.path.name, added=int(len(add_ids)), removed=int(removed))
        write_manifest(tmp, header)
        seconds["checksum"] = time.perf_counter() - start
    path = out_dir / name
    choice = IndexChoice.from_dict(manifest["choice"])
    return OnDiskIndexInfo(path, int(len(ids)), base.dim, base.metric, choice, 0, int(manifest.get("train_rows", 0)),
                           folder_bytes(path), seconds)


def _check_delta(base: OnDiskIndex, ids: np.ndarray, vectors: np.ndarray) -> None:
    if vectors.shape != (len(ids), base.dim):
        raise ValueError(f"{len(ids)} ids for vectors of shape {vectors.shape}; the index has dim {base.dim}")
    if len(ids) and ids.min() < 0:
        raise ValueError("ids must be >= 0 (-1 marks missing results)")
    if len(np.unique(ids)) != len(ids):
        raise ValueError("added ids must be unique")
    if not np.isfinite(vectors).all():
        raise ValueError("vectors contain NaN or infinite values")


def _empty_copy(folder: Path) -> faiss.Index:
    """The base's trained index (quantizer, PQ codebooks, search parameters) with empty in-memory lists."""
    with faiss_quiet():
        index = faiss.read_index(str(folder / INDEX_FILE), faiss.IO_FLAG_ONDISK_SAME_DIR | faiss.IO_FLAG_READ_ONLY)
    ivf = faiss.extract_index_ivf(index)
    lists = faiss.ArrayInvertedLists(ivf.nlist, ivf.code_size)
    ivf.replace_invlists(lists, True)
    lists.this.disown()  # the index owns and frees it
    index.ntotal = ivf.ntotal = 0
    return index


def _drop_base_entries(lists: faiss.InvertedLists, base_lists: faiss.InvertedLists, code_size: int,
                       dead: np.ndarray) -> int:
    """Remove the entries of `dead` (sorted) from the first base_lists.list_size(j) entries of every list j of
    `lists`, keeping the order of what stays; returns how many were removed."""
    removed = 0
    for list_no in range(lists.nlist):
        head = base_lists.list_size(list_no)
        if not head:
            continue
        size = lists.list_size(list_no)
        ids = faiss.rev_swig_ptr(lists.get_ids(list_no), size).copy()
        gone = sorted_member(ids[:head], dead)
        if not gone.any():
            continue
        keep = np.concatenate([~gone, np.ones(size - head, bool)])
        codes = faiss.rev_swig_ptr(lists.get_codes(list_no), size * code_size).reshape(size, code_size)
        kept_codes, kept_ids = np.ascontiguousarray(codes[keep]), np.ascontiguousarray(ids[keep])
        lists.update_entries(list_no, 0, len(kept_ids), faiss.swig_ptr(kept_ids), faiss.swig_ptr(kept_codes))
        lists.resize(list_no, len(kept_ids))
        removed += int(gone.sum())
    return removed
