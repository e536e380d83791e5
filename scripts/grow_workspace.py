#!/usr/bin/env python
"""Copy an indexed workspace and pad it to N images with synthetic vectors, to time searches at scale.

Embedding 10,000 real images with the starter models takes the better part of an hour on two cores; a
search's cost at that size does not depend on where the vectors came from, only on how many there are. So
each added image takes a real indexed image's vectors (every space) plus Gaussian noise (renormalised), under
a fake path in corpus "synthetic". Rows go through the catalog writer (`add_vector`) and the snapshots are
built by `checkpoint`, as indexing does, so the copy is an ordinary workspace (index type chosen for its size).

Usage: python scripts/grow_workspace.py SRC_WORKSPACE DST_WORKSPACE --images 10000
"""
from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

import numpy as np

BATCH = 2000


def grow(src: Path, dst: Path, images: int, noise: float, seed: int) -> dict:
    """Copy `src` to `dst` and add synthetic images until it holds `images`; returns the new counts."""
    from sqlalchemy import func, select

    from indexer.catalog.schema import Corpus, CorpusRoot, ImageRecord
    from indexer.corpora import ensure_corpus
    from indexer.index_sync import checkpoint
    from indexer.pipeline.lock import index_lock
    from indexer.pipeline.writer import add_vector
    from indexer.spaces import list_spaces
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
        for start in range(0, todo, BATCH):
            n = min(BATCH, todo - start)
            picks = rng.integers(0, len(next(iter(real.values()))), n)
            with ws.session() as s:
                root_id = s.scalar(select(CorpusRoot.id).where(CorpusRoot.corpus_id == corpus.id))
                rows = [ImageRecord(corpus_id=corpus.id, root_id=root_id, path=f"{start + i:06d}.jpg", bytes=0, mtime_ns=0,
                                    status="indexed") for i in range(n)]
                s.add_all(rows)
                s.flush()
                for sp in spaces:
                    vecs = real[sp.id][picks] + rng.normal(0, noise, (n, sp.dim)).astype(np.float32)
                    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
                    for row, vec in zip(rows, vecs):
                        add_vector(s, row.id, sp.id, vec)
        with index_lock(ws):
            snaps = {sp.name: checkpoint(ws, sp) for sp in spaces}
        return {"images": have + todo, "added": todo,
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
    args = p.parse_args(argv)
    if args.dst.exists():
        p.error(f"{args.dst} exists")
    t0 = time.perf_counter()
    print(grow(args.src, args.dst, args.images, args.noise, args.seed), f"in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
