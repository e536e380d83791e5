#!/usr/bin/env python
"""Section (b'), a whole workspace's indexes built from scratch: every snapshot dropped, then `checkpoint` per
space, as on a first run, after a lost snapshot or a change of index type. Prints per space the index chosen,
seconds, bytes on disk, and the process's peak RSS (ru_maxrss, which counts the vector-store pages the build
touched as well as its own memory).

Usage: python scripts/bench_scale.py rebuild --workspace WS  (e.g. one grown by grow_workspace.py to 1M images)
"""
from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path


def rebuild(args: argparse.Namespace) -> int:
    from sqlalchemy import delete

    from indexer import index_sync
    from indexer.catalog.schema import IndexLogEntry, IndexSnapshot
    from indexer.index_bases import base_bytes, remove_base
    from indexer.pipeline.lock import index_lock
    from indexer.spaces import list_spaces
    from indexer.vectors import store
    from indexer.workspace import Workspace

    ws = Workspace.open(args.workspace)
    try:
        with index_lock(ws):
            with ws.session() as s:
                s.execute(delete(IndexSnapshot))
                s.execute(delete(IndexLogEntry))
            for path in ws.index_dir.iterdir():
                remove_base(path)
            total = time.perf_counter()
            print(f"{'space':8} {'vectors':>10} {'dim':>5}  {'index':28} {'seconds':>8} {'MB on disk':>11} "
                  f"{'peak RSS GB':>12}")
            for space in list_spaces(ws):
                with ws.session() as s:
                    n = store.count_vectors(s, space)
                start = time.perf_counter()
                info = index_sync.checkpoint(ws, space)
                seconds = time.perf_counter() - start
                rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
                print(f"{space.name:8} {n:>10,} {space.dim:>5}  {info.factory:28} {seconds:>8.1f} "
                      f"{base_bytes(ws, info.file) / 1e6:>11.1f} {rss:>12.2f}")
            print(f"all spaces: {time.perf_counter() - total:.1f} s, peak RSS "
                  f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6:.2f} GB")
    finally:
        ws.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="section", required=True)
    p = sub.add_parser("rebuild", help="every index of a workspace built from scratch")
    p.add_argument("--workspace", type=Path, required=True)
    p.set_defaults(func=rebuild)
    args = parser.parse_args(argv)
    return args.func(args)
