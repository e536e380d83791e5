#!/usr/bin/env python
"""Scaling benchmark (issue 18, point 4): a cold `stylelens search` on a large workspace, as a user runs it.

  cold-cli  each run is a fresh `stylelens search --like ID --space SPACE -k K --json` process, started after
            every file of the workspace (catalog, index folders, vector shards) was evicted from the page cache
            with posix_fadvise, so the catalog rows, the index's small file, the probed lists and the re-ranked
            vectors all come from disk. Baseline in the same run: `stylelens --help` (the CLI's own imports) and
            the same search with warm caches. A different random synthetic image is the query each time. The
            package is byte-compiled first, as after a user's first run.

Run it on a workspace grown to the size of interest, e.g. 10M images of the full profile's dimensions
(content 512-d, style 100-d, layout 35-d):
  python scripts/grow_workspace.py SRC WS --images 10000000 --batch 250000
  python scripts/bench_scale.py cold-cli --workspace WS [--spaces content style layout] [--repeat 3]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from scale_build import drop_cache


def workspace_files(home: Path) -> list[Path]:
    """Every regular file of the workspace: what a cold search may have to read from disk."""
    return [p for p in home.rglob("*") if p.is_file() and not p.is_symlink()]


def pick_ids(home: Path, n: int, seed: int) -> list[int]:
    """n random ids of indexed images (read before the caches are dropped; not part of any timing)."""
    import sqlite3

    with sqlite3.connect(f"file:{home / 'catalog.sqlite'}?mode=ro", uri=True) as conn:
        lo, hi = conn.execute("SELECT MIN(id), MAX(id) FROM images WHERE status = 'indexed'").fetchone()
    return np.random.default_rng(seed).integers(lo, hi + 1, n).tolist()


def stylelens_command() -> str:
    """The `stylelens` console script of this Python's environment (what a user types), else the one on PATH."""
    beside = Path(sys.executable).parent / "stylelens"
    found = str(beside) if beside.is_file() else shutil.which("stylelens")
    if not found:
        raise SystemExit("no `stylelens` command: install the package (pip install -e .)")
    return found


def timed_cli(args: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    out = subprocess.run([stylelens_command(), *args], capture_output=True, text=True)
    wall = time.perf_counter() - start
    if out.returncode != 0:
        raise SystemExit(f"stylelens {' '.join(args)} failed ({out.returncode}):\n{out.stderr[-2000:]}")
    return wall, out.stdout


def byte_compile() -> None:
    """Write the package's .pyc files, as a user's first run does (with PYTHONDONTWRITEBYTECODE set, as in
    this project's sandbox, every run would compile ~700 modules again: ~0.1-0.2 s no user pays)."""
    import compileall

    root = Path(__file__).resolve().parent.parent
    for package in ("indexer", "retrieval", "ui", "generation"):
        compileall.compile_dir(root / package, quiet=1)


def cold_cli(args: argparse.Namespace) -> int:
    home = args.workspace.resolve()
    byte_compile()
    files = workspace_files(home)
    total = sum(p.stat().st_size for p in files)
    print(f"workspace {home}: {len(files):,} files, {total / 2**30:.1f} GiB", flush=True)
    baseline = [timed_cli(["--help"])[0] for _ in range(args.repeat)]
    print(f"baseline `stylelens --help` (imports only): median {statistics.median(baseline):.2f} s", flush=True)
    ids = iter(pick_ids(home, 2 * args.repeat * len(args.spaces), args.seed))
    rows = []
    for space in args.spaces:
        cold, warm = [], []
        for _ in range(args.repeat):
            query = ["search", "--workspace", str(home), "--like", str(next(ids)), "--space", space,
                     "-k", str(args.k), "--json"]
            drop_cache(*files)
            wall, out = timed_cli(query)
            results = json.loads(out)
            if len(results) != args.k:
                raise SystemExit(f"{space}: {len(results)} results for k={args.k}")
            cold.append(wall)
            query[4] = str(next(ids))
            warm.append(timed_cli(query)[0])
        rows.append({"space": space, "cold_s": [round(x, 2) for x in cold], "warm_s": [round(x, 2) for x in warm]})
        print(f"{space:8s} cold {statistics.median(cold):.2f} s (runs {', '.join(f'{x:.2f}' for x in cold)}), "
              f"warm {statistics.median(warm):.2f} s; target: cold under 2 s", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"workspace_bytes": total, "baseline_s": baseline, "rows": rows}, indent=1))
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="section", required=True)
    c = sub.add_parser("cold-cli", help="(4) a cold `stylelens search --like` on a large workspace")
    c.add_argument("--workspace", type=Path, required=True)
    c.add_argument("--spaces", nargs="+", default=["content", "style", "layout"])
    c.add_argument("--repeat", type=int, default=3)
    c.add_argument("-k", type=int, default=5)
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--json", type=Path, default=None, help="also write the figures here")
    c.set_defaults(func=cold_cli)
    args = p.parse_args(argv)
    if not os.access(args.workspace / "catalog.sqlite", os.R_OK):
        p.error(f"{args.workspace} has no readable catalog.sqlite")
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
