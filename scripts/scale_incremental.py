#!/usr/bin/env python
"""Scaling benchmarks (issue 18), one subcommand per section; each prints its figures.

  incremental  (c) an indexing run of a few images into a large workspace: what the checkpoint, a cold open
               and a warm process's refresh cost with the layered index (base + delta + tombstones), against
               folding everything into a new snapshot as every run did before (`checkpoint(force_fold=True)`;
               for an on-disk base that fold is `ondisk_extend`: old lists + delta, no retraining; compare
               `bench_scale.py rebuild` for the from-scratch build a fold used to be).

Workspaces are synthetic: a seed of clustered vectors in the starter dimensions (content 1280-d, style
100-d, `bench_mining.fill_workspace`) grown to --n images by `grow_workspace.grow`, so the catalog and the
index files are the real ones. Run: nice -n 10 python scripts/bench_scale.py incremental --n 100000
"""
from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

SEED_IMAGES = 1000


def _timed(fn, *args, **kwargs):  # noqa: ANN001, ANN202
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def make_workspace(root: Path, n: int, content_dim: int, style_dim: int) -> Path:
    """A workspace of `n` synthetic images (seed by bench_mining.fill_workspace, grown by grow_workspace)."""
    from bench_mining import fill_workspace
    from grow_workspace import grow

    seed = root / "seed"
    fill_workspace(seed, SEED_IMAGES, 1, content_dim, style_dim).close()
    start = time.perf_counter()
    info = grow(seed / "ws", root / "ws", n, noise=0.02, seed=0)
    print(f"workspace of {info['images']:,} images built in {time.perf_counter() - start:.0f} s: {info['indexes']}")
    shutil.rmtree(seed)
    return root / "ws"


def add_images(ws, n: int, seed: int) -> list[int]:  # noqa: ANN001
    """n new indexed images with a vector in every space, written as an indexing run writes them."""
    from sqlalchemy import select

    from indexer.catalog.schema import Corpus, CorpusRoot, ImageRecord
    from indexer.pipeline.writer import add_vectors
    from indexer.spaces import list_spaces

    rng = np.random.default_rng(seed)
    with ws.session() as s:
        corpus = s.scalar(select(Corpus).where(Corpus.name == "synthetic"))
        root_id = s.scalar(select(CorpusRoot.id).where(CorpusRoot.corpus_id == corpus.id))
        run = uuid.uuid4().hex[:8]  # a workspace given with --workspace may have had runs of this seed before
        rows = [ImageRecord(corpus_id=corpus.id, root_id=root_id, path=f"new-{seed}-{run}-{i}.jpg", bytes=0,
                            mtime_ns=0, status="indexed") for i in range(n)]
        s.add_all(rows)
        s.flush()
        for sp in list_spaces(ws):
            vecs = rng.standard_normal((n, sp.dim)).astype(np.float32)
            vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
            add_vectors(s, ws, sp.id, [row.id for row in rows], vecs)
        return [r.id for r in rows]


def one_run(ws, label: str, n_add: int, n_delete: int, seed: int, old_way: bool = True) -> dict:  # noqa: ANN001
    """Add and delete, then time: the layered checkpoint, a warm refresh, a cold open + query; then the old
    way (fold into a new snapshot: hash the whole base, apply, write a new one with fsync)."""
    from sqlalchemy import select

    from indexer import index_sync
    from indexer.catalog.schema import ImageRecord
    from indexer.pipeline.lock import index_lock
    from indexer.pipeline.writer import remove_images
    from indexer.spaces import list_spaces
    from retrieval.index_cache import get_index

    spaces = list_spaces(ws)
    warm = {sp.name: get_index(ws, sp) for sp in spaces}
    _ids, t_add = _timed(add_images, ws, n_add, seed)
    with ws.session() as s:
        gone = list(s.scalars(select(ImageRecord.id).where(ImageRecord.path.like("0%")).limit(n_delete)))
        remove_images(s, {sp.name: sp.id for sp in spaces}, gone)
    out: dict = {"run": label, "catalog_writes_s": round(t_add, 2)}
    rng = np.random.default_rng(seed)
    for sp in spaces:
        query = rng.standard_normal(sp.dim).astype(np.float32)
        query /= np.linalg.norm(query)
        with index_lock(ws):
            info, t_ckpt = _timed(index_sync.checkpoint, ws, sp)
        refreshed, t_refresh = _timed(get_index, ws, sp)
        probes = rng.standard_normal((50, sp.dim)).astype(np.float32)
        probes /= np.linalg.norm(probes, axis=1, keepdims=True)
        p50 = {name: 1000 * float(np.median([_timed(idx.search, q[None], 10)[1] for q in probes]))
               for name, idx in (("base_only", refreshed.base), ("layered", refreshed))}
        cold, t_cold = _timed(index_sync.load_index, ws, sp)
        _r, t_query = _timed(cold.search, query[None], 10)
        full, t_cold_full = _timed(index_sync.load_index, ws, sp, verify="full")
        t_fold = float("nan")
        if old_way:
            with index_lock(ws):
                _folded, t_fold = _timed(index_sync.checkpoint, ws, sp, force_fold=True)
        out[sp.name] = {
            "kind": info.kind, "ntotal": info.ntotal, "base_mb": round(info.bytes / 2**20, 1),
            "pending": info.pending,
            "checkpoint_s": round(t_ckpt, 3), "fold_s": round(t_fold, 2),
            "ratio_fold_over_checkpoint": round(t_fold / max(t_ckpt, 1e-6), 1),
            "warm_refresh_s": round(t_refresh, 3), "warm_kept_base": refreshed.base is warm[sp.name].base,
            "cold_open_s": round(t_cold, 3), "cold_open_full_hash_s": round(t_cold_full, 3),
            "first_query_ms": round(1000 * t_query, 2),
            "warm_p50_ms_base_only": round(p50["base_only"], 2), "warm_p50_ms_layered": round(p50["layered"], 2),
        }
        del cold, full
    return out


def incremental(args: argparse.Namespace) -> int:
    from indexer.workspace import Workspace

    tmp = Path(tempfile.mkdtemp(prefix="stylelens-scale-", dir=args.workdir))
    try:
        home = args.workspace or make_workspace(tmp, args.n, args.content_dim, args.style_dim)
        ws = Workspace.open(home)
        try:
            for i, (n_add, n_delete) in enumerate(args.runs):
                print(one_run(ws, f"+{n_add} -{n_delete}", n_add, n_delete, seed=100 + i, old_way=not args.no_old),
                      flush=True)
        finally:
            ws.close()
        print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GB")
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"kept {tmp}")
    return 0


def _run_spec(text: str) -> tuple[int, int]:
    add, _, delete = text.partition(":")
    return int(add), int(delete or 0)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="section", required=True)
    inc = sub.add_parser("incremental", help="(c) a small indexing run into a large workspace")
    inc.add_argument("--n", type=int, default=100_000, help="images in the workspace")
    inc.add_argument("--runs", type=_run_spec, nargs="+", default=[(100, 1), (1000, 0)],
                     help="runs as ADD:DELETE (default: 100:1 1000:0)")
    inc.add_argument("--content-dim", type=int, default=1280)
    inc.add_argument("--style-dim", type=int, default=100)
    inc.add_argument("--workdir", type=Path, default=None, help="where the temporary workspace goes")
    inc.add_argument("--keep", action="store_true", help="keep the workspace")
    inc.add_argument("--workspace", type=Path, default=None,
                     help="run in this existing workspace (e.g. grown to 1M images) instead of growing one; "
                          "it is changed")
    inc.add_argument("--no-old", action="store_true", help="skip the fold (one per space and run)")
    inc.set_defaults(func=incremental)
    args = p.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
