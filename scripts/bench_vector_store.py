#!/usr/bin/env python
"""The vector store on a real workspace (e.g. one grown by scripts/grow_workspace.py): what the catalog and the
shards weigh per image, and how long the store's reads take per space: counting, a gather of 1,000 random ids
(a query's, a replay's or a mining batch's read), streaming every vector (an index build's read; peak RSS shows
it stays bounded) and the compaction every checkpoint runs (it merges shards only when there is work).

Run: nice -n 10 python scripts/bench_vector_store.py WORKSPACE [--gather 1000]
"""
from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("workspace", type=Path)
    p.add_argument("--gather", type=int, default=1000)
    p.add_argument("--skip-stream", action="store_true", help="do not stream every vector")
    args = p.parse_args(argv)
    from sqlalchemy import func, select

    from indexer.catalog.schema import ImageRecord, VectorShard
    from indexer.spaces import list_spaces
    from indexer.vectors import store
    from indexer.pipeline.lock import index_lock
    from indexer.vectors.compaction import compact
    from indexer.workspace import Workspace

    ws = Workspace.open(args.workspace)
    try:
        with ws.session() as s:
            images = s.scalar(select(func.count()).select_from(ImageRecord))
        catalog = sum(f.stat().st_size for f in ws.home.glob("catalog.sqlite*"))
        shard_bytes = sum(f.stat().st_size for f in ws.vectors_dir.rglob("*.npy"))
        print(f"{images:,} images: catalog {catalog / 1e6:,.1f} MB ({catalog / max(images, 1):,.0f} B/image), "
              f"vector shards {shard_bytes / 1e9:,.2f} GB ({shard_bytes / max(images, 1):,.0f} B/image)")
        rng = np.random.default_rng(0)
        for space in list_spaces(ws):
            with ws.session() as s:
                t0 = time.perf_counter()
                n = store.count_vectors(s, space)
                count_s = time.perf_counter() - t0
                ids = rng.choice(n, min(args.gather, n), replace=False) + 1  # ids are dense from 1 in a grown workspace
                store._OPEN.clear()  # noqa: SLF001 - a fresh process's first read
                t0 = time.perf_counter()
                got, _vectors = store.read_vectors(ws, s, space, ids.tolist())
                gather_ms = (time.perf_counter() - t0) * 1000
            t0 = time.perf_counter()
            with index_lock(ws):
                compaction = compact(ws, space)  # as every checkpoint runs it
            plan_s = time.perf_counter() - t0
            with ws.session() as s:
                shards = s.scalar(select(func.count()).select_from(VectorShard).where(VectorShard.space_id == space.id))
            line = (f"  {space.name} ({space.dim}-d): {n:,} vectors in {shards} shards; count {count_s * 1000:.0f} ms, "
                    f"gather of {len(ids):,} random ids {gather_ms:.0f} ms ({len(got):,} found), "
                    f"compaction check {plan_s * 1000:.0f} ms ({len(compaction.merged)} shards merged)")
            if not args.skip_stream:
                t0, rows, biggest = time.perf_counter(), 0, 0
                for chunk_ids, _chunk in store.iter_vectors(ws, space):
                    rows += len(chunk_ids)
                    biggest = max(biggest, len(chunk_ids))
                secs = time.perf_counter() - t0
                line += (f", stream of all {rows:,} in {secs:.1f} s ({rows / secs:,.0f} rows/s, chunks <= {biggest:,}, "
                         f"peak RSS so far {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6:.2f} GB)")
            print(line)
    finally:
        ws.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
