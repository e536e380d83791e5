"""PARASOL triplet-mining throughput (triplets/s): 10k training images against 100k-image style and
content databases, synthetic vectors written straight into a real workspace catalog, then the real
`mine_triplets` (batched searches, cross-space checks, catalog writes, manifest, histograms).

Vectors: a Gaussian mixture on the unit sphere (clustered like real embeddings), independently for the
content and style spaces. Run: python scripts/bench_mining.py [--train 10000 --db 100000]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sqlalchemy import insert

CHUNK = 50_000  # images per transaction: one vector-store shard per space each, bounded memory


def mixture(n: int, dim: int, rng: np.random.Generator, clusters: int = 256) -> np.ndarray:
    centres = rng.standard_normal((clusters, dim)).astype(np.float32)
    x = centres[rng.integers(0, clusters, n)] + 0.6 * rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def fill_workspace(root: Path, n_train: int, n_db: int, content_dim: int, style_dim: int, seed: int = 0):
    """A workspace with corpora train/style_db/content_db holding synthetic vectors in a tiny-profile layout."""
    from indexer.catalog.schema import Corpus, CorpusRoot, ImageRecord, IndexLogEntry, Space
    from indexer.index_sync import checkpoint
    from indexer.spaces import list_spaces
    from indexer.vectors import store
    from indexer.workspace import Workspace

    ws = Workspace.open(root / "ws")
    rng = np.random.default_rng(seed)
    with ws.session() as s:  # spaces of the sizes asked for; encoder ids say the vectors are synthetic
        s.add_all([Space(name="content", encoder_id="synthetic/content", dim=content_dim, metric="ip"),
                   Space(name="style", encoder_id="synthetic/style", dim=style_dim, metric="ip")])
        s.add_all([Corpus(name=c, role=r, roots=[CorpusRoot(path=f"/synthetic/{c}")])
                   for c, r in (("train", "both"), ("style_db", "style"), ("content_db", "content"))])
    ws.set_setting("profile", "synthetic")
    spaces = {sp.name: sp for sp in list_spaces(ws)}
    next_id = 1
    for corpus_id, n in ((1, n_train), (2, n_db), (3, n_db)):
        for start in range(0, n, CHUNK):
            ids = np.arange(next_id, next_id + min(CHUNK, n - start))
            next_id += len(ids)
            content, style = mixture(len(ids), content_dim, rng), mixture(len(ids), style_dim, rng)
            with ws.session() as s:
                s.execute(insert(ImageRecord), [dict(id=int(i), corpus_id=corpus_id, root_id=corpus_id, path=f"{i}.jpg",
                                                     sha256=f"{i:064x}", bytes=1, mtime_ns=0, status="indexed")
                                                for i in ids])
                for name, vecs in (("content", content), ("style", style)):
                    sid = spaces[name].id
                    store.append(s, ws, sid, ids, vecs)
                    s.execute(insert(IndexLogEntry), [dict(space_id=sid, image_id=int(i), op="add") for i in ids])
    for sp in spaces.values():
        checkpoint(ws, sp)
    return ws


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", type=int, default=10_000)
    parser.add_argument("--db", type=int, default=100_000)
    parser.add_argument("--content-dim", type=int, default=512)
    parser.add_argument("--style-dim", type=int, default=256)
    parser.add_argument("-k", type=int, default=50)
    args = parser.parse_args()
    from retrieval.index_cache import get_index
    from retrieval.mining.run import MiningParams, mine_triplets

    with tempfile.TemporaryDirectory(prefix="stylelens-mining-") as tmp:
        start = time.perf_counter()
        ws = fill_workspace(Path(tmp), args.train, args.db, args.content_dim, args.style_dim)
        from indexer.spaces import list_spaces

        kinds = {sp.name: get_index(ws, sp).factory for sp in list_spaces(ws)}
        print(f"catalog + indexes for {args.train:,} + 2 x {args.db:,} images: {time.perf_counter() - start:.1f}s "
              f"({kinds})")
        params = MiningParams("train", "style_db", "content_db", k=args.k, content_ceiling=0.5, style_ceiling=0.5)
        summary = mine_triplets(ws, params, run="bench", out=Path(tmp) / "out", progress=False)
        print(f"mined {summary.train_images:,} training images in {summary.seconds:.1f}s: "
              f"{summary.train_images / summary.seconds:,.0f} triplets/s "
              f"({summary.complete:,} complete, k={args.k}, content {args.content_dim}-d, style {args.style_dim}-d)")
        ws.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
