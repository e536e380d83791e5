#!/usr/bin/env python
"""Copy an indexed workspace and pad it to N images with synthetic vectors, to time searches at scale.

Embedding 10,000 real images with the starter models takes the better part of an hour on two cores; a
search's cost at that size does not depend on where the vectors came from, only on how many there are. So
each added image takes a real indexed image's vectors (every space) plus Gaussian noise (renormalised), under
a fake path in corpus "synthetic". Each batch of `BATCH` images is one transaction: its image rows (one
multi-row INSERT) and one vector-store shard per space (`indexer.vectors.store.append`), so memory stays
bounded at any size (a 1 M-image copy never holds 1 M Python objects). The snapshots are then rebuilt from
the store by `checkpoint`, streaming the vectors (as after a lost snapshot), so the copy is an ordinary
workspace (index type chosen for its size); `--no-index` leaves that to the next `index` run.

Usage: python scripts/grow_workspace.py SRC_WORKSPACE DST_WORKSPACE --images 10000 [--no-index] [--batch N]
"""
from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

import numpy as np

BATCH = 20_000


def grow(src: Path, dst: Path, images: int, noise: float, seed: int, build_index: bool = True,
         batch: int = BATCH) -> dict:
    """Copy `src` to `dst` and add synthetic images until it holds `images`, `batch` per transaction (and per
    vector shard: at 10 M images, 250,000 keeps a space under compaction's 64 shards); returns the new counts."""
    from sqlalchemy import func, insert, select, update
    from tqdm import tqdm

    from indexer.catalog.schema import Corpus, CorpusRoot, ImageRecord, IndexSnapshot
    from indexer.corpora import ensure_corpus
    from indexer.index_sync import checkpoint
    from indexer.pipeline.lock import index_lock
    from indexer.spaces import list_spaces
    from indexer.vectors import store
    from indexer.workspace import Workspace
    from retrieval.catalog_lookup import corpus_vectors

    shutil.copytree(src, dst)
    ws = Workspace.open(dst)
    rng = np.random.default_rng(seed)
    try:
        spaces = list_spaces(ws)
        with ws.session() as s:
            have = s.scalar(select(func.count()).select_from(ImageRecord).where(ImageRecord.status == "indexed"))
            source = s.scalars(select(Corpus.name)).first()
        real = {sp.id: corpus_vectors(ws, sp, source)[1] for sp in spaces}
        corpus = ensure_corpus(ws, "synthetic", "both", [str(ws.home / "synthetic")])
        todo = max(0, images - have)
        timings = {"catalog_and_shards_s": 0.0, "index_s": 0.0}
        started = time.perf_counter()
        progress = tqdm(total=todo, unit="img", desc="grow", disable=None)
        for start in range(0, todo, batch):
            n = min(batch, todo - start)
            picks = rng.integers(0, len(next(iter(real.values()))), n)
            with ws.session() as s:
                root_id = s.scalar(select(CorpusRoot.id).where(CorpusRoot.corpus_id == corpus.id))
                first = int(s.scalar(select(func.max(ImageRecord.id))) or 0) + 1
                ids = np.arange(first, first + n, dtype=np.int64)
                s.execute(insert(ImageRecord), [dict(id=int(i), corpus_id=corpus.id, root_id=root_id,
                                                     path=f"{start + k:07d}.jpg", bytes=0, mtime_ns=0, status="indexed")
                                                for k, i in enumerate(ids)])
                for sp in spaces:
                    vecs = real[sp.id][picks] + noise * rng.standard_normal((n, sp.dim), dtype=np.float32)
                    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
                    store.append(s, ws, sp.id, ids, vecs)
                if todo:  # the snapshots lack these vectors: rebuilt from the store below (no index-log rows)
                    s.execute(update(IndexSnapshot).values(is_current=False))
            progress.update(n)
        progress.close()
        if ws.engine.dialect.name == "postgresql" and todo:  # explicit ids: move the sequence past them
            with ws.engine.begin() as conn:
                conn.exec_driver_sql("SELECT setval(pg_get_serial_sequence('images', 'id'), (SELECT MAX(id) FROM images))")
        timings["catalog_and_shards_s"] = round(time.perf_counter() - started, 1)
        snaps = {}
        if build_index:
            started = time.perf_counter()
            with index_lock(ws):
                snaps = {sp.name: checkpoint(ws, sp) for sp in spaces}
            timings["index_s"] = round(time.perf_counter() - started, 1)
        vector_bytes = sum(p.stat().st_size for p in ws.vectors_dir.rglob("*.npy"))
        return {"images": have + todo, "added": todo, "vector_bytes": vector_bytes,
                "catalog_bytes": ws.catalog_file.stat().st_size if ws.catalog_file.exists() else None, **timings,
                "indexes": {name: f"{snap.factory} ({snap.ntotal} vectors)" for name, snap in snaps.items()}}
    finally:
        ws.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("src", type=Path)
    p.add_argument("dst", type=Path)
    p.add_argument("--images", type=int, default=10_000, help="images the copy should hold")
    p.add_argument("--noise", type=float, default=0.02, help="std of the noise added to each coordinate")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch", type=int, default=BATCH, help="images per transaction and per vector shard")
    p.add_argument("--no-index", action="store_true", help="leave the index snapshots to the next `index` run")
    args = p.parse_args(argv)
    if args.dst.exists():
        p.error(f"{args.dst} exists")
    t0 = time.perf_counter()
    info = grow(args.src, args.dst, args.images, args.noise, args.seed, not args.no_index, args.batch)
    print(info, f"in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
