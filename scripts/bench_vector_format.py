#!/usr/bin/env python
"""Which file format holds a space's vectors: `.npy` (memory-mapped) against Parquet (FixedSizeList<float32>).

For N x D float32 vectors (default 1 M x 512, 2 GB) it times, for each format: writing the file (`.npy` through
`indexer.vectors.store.write_shard`, Parquet with pyarrow in row groups of 65,536 rows, uncompressed: float
embeddings do not compress; both fsynced), reading every row sequentially in chunks of 65,536 (what index builds do), and a
gather of 1,000 random rows (what `read_vectors` does for a query, a replay or a mining batch). The page cache
is warm (the file was just written; a shared machine's caches are not ours to drop): the figures compare the
formats' own work (decoding, copies), not the disk. Prints one line per format and the ratios.

Run: nice -n 10 python scripts/bench_vector_format.py [--rows 1000000 --dim 512]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CHUNK = 65_536


def _chunks(rows: int, dim: int, seed: int = 0):  # noqa: ANN202
    rng = np.random.default_rng(seed)
    for start in range(0, rows, CHUNK):
        yield rng.standard_normal((min(CHUNK, rows - start), dim), dtype=np.float32)


def bench_npy(folder: Path, rows: int, dim: int, picks: np.ndarray) -> dict[str, float]:
    from indexer.vectors.store import take_rows, write_shard

    path = folder / "v.npy"
    t0 = time.perf_counter()
    write_shard(path, _chunks(rows, dim), rows, dim)
    write = time.perf_counter() - t0
    t0 = time.perf_counter()
    matrix = np.load(path, mmap_mode="r")
    total = 0.0
    for start in range(0, rows, CHUNK):
        total += float(np.array(matrix[start:start + CHUNK])[:, 0].sum())
    sequential = time.perf_counter() - t0
    t0 = time.perf_counter()
    matrix = np.load(path, mmap_mode="r")  # a fresh open, as a new process would
    got = take_rows(matrix, np.sort(picks))
    gather = time.perf_counter() - t0
    assert got.shape == (len(picks), dim)
    return {"write_s": write, "sequential_s": sequential, "gather_ms": gather * 1000, "bytes": path.stat().st_size}


def bench_parquet(folder: Path, rows: int, dim: int, picks: np.ndarray) -> dict[str, float]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = folder / "v.parquet"
    schema = pa.schema([("id", pa.int64()), ("vector", pa.list_(pa.float32(), dim))])
    t0 = time.perf_counter()
    with pq.ParquetWriter(path, schema, compression="none") as writer:
        at = 0
        for chunk in _chunks(rows, dim):
            vectors = pa.FixedSizeListArray.from_arrays(pa.array(chunk.reshape(-1)), dim)
            writer.write_table(pa.table({"id": pa.array(np.arange(at, at + len(chunk))), "vector": vectors},
                                        schema=schema), row_group_size=CHUNK)
            at += len(chunk)
    with open(path, "rb+") as f:  # durable, as write_shard's file is
        os.fsync(f.fileno())
    write = time.perf_counter() - t0
    t0 = time.perf_counter()
    total = 0.0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=CHUNK, columns=["vector"]):
        col = batch.column(0)
        arr = col.values.to_numpy(zero_copy_only=False).reshape(len(col), dim)
        total += float(arr[:, 0].sum())
    sequential = time.perf_counter() - t0
    t0 = time.perf_counter()
    pf = pq.ParquetFile(path)  # a fresh open; read only the row groups holding the rows, then take them
    starts = np.cumsum([0] + [pf.metadata.row_group(g).num_rows for g in range(pf.num_row_groups)])
    picks = np.sort(picks)
    groups = np.unique(np.searchsorted(starts, picks, side="right") - 1)
    table = pf.read_row_groups(groups.tolist(), columns=["vector"])
    offsets = np.concatenate([[0], np.cumsum([starts[g + 1] - starts[g] for g in groups])])
    local = [offsets[np.searchsorted(groups, g)] + p - starts[g]
             for p, g in zip(picks, np.searchsorted(starts, picks, side="right") - 1)]
    col = table.column(0).take(np.asarray(local)).combine_chunks()
    got = col.values.to_numpy(zero_copy_only=False).reshape(len(picks), dim)
    gather = time.perf_counter() - t0
    assert got.shape == (len(picks), dim)
    return {"write_s": write, "sequential_s": sequential, "gather_ms": gather * 1000, "bytes": path.stat().st_size}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--dim", type=int, default=512)
    p.add_argument("--picks", type=int, default=1000)
    args = p.parse_args(argv)
    picks = np.random.default_rng(1).choice(args.rows, args.picks, replace=False)
    results = {}
    with tempfile.TemporaryDirectory(prefix="stylelens-format-") as tmp:
        for name, bench in (("npy", bench_npy), ("parquet", bench_parquet)):
            results[name] = bench(Path(tmp), args.rows, args.dim, picks)
            r = results[name]
            print(f"{name:8s} {args.rows:,} x {args.dim}: write {r['write_s']:.1f} s, sequential read {r['sequential_s']:.2f} s, "
                  f"gather of {args.picks:,} random rows {r['gather_ms']:.1f} ms, {r['bytes'] / 1e9:.2f} GB")
            (Path(tmp) / ("v." + name)).unlink()
    npy, pq_ = results["npy"], results["parquet"]
    print(f"parquet / npy: write {pq_['write_s'] / npy['write_s']:.2f}x, sequential read "
          f"{pq_['sequential_s'] / npy['sequential_s']:.2f}x, random gather {pq_['gather_ms'] / npy['gather_ms']:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
