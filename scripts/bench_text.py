#!/usr/bin/env python
"""Text-query latency of StyleLens in fresh processes, and the calibration of the weak-match warning (issue 17).

Latency, on an indexed workspace (e.g. the one `scripts/bench_quality.py --workspace DIR` keeps in DIR/workspace):
* cold CLI: wall time of `python -m ui.cli search "a cat"` in a new process, first with an empty label cache
  (a fresh $XDG_CACHE_HOME: what the very first query on a machine costs), then `--runs` times with it warm;
* library, fresh process: a new interpreter imports `retrieval.search`, opens the workspace and times its first
  text query, then the p50 / max of TEXT_QUERIES (warm), and lists which heavy modules were imported at all.
`--code DIR` runs another checkout's code (e.g. `git archive <commit> | tar -x -C DIR`), so before and after
are measured on the same workspace by the same script. The machine's load average is printed beside.

Calibration (`--calibrate`): the best label similarity of queries that have an ImageNet class and of queries
that do not, and how many of each a threshold flags: the evidence for `label_bridge.WEAK_MATCH_SIMILARITY`.

Usage:
  python scripts/bench_text.py --workspace /tmp/q17/workspace [--runs 3] [--json out.json]
  python scripts/bench_text.py --workspace /tmp/q17/workspace --code /tmp/base    # the old code, same workspace
  python scripts/bench_text.py --calibrate
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
FIRST_QUERY = "a cat"
TEXT_QUERIES = ["a dog", "a cup of coffee", "a rocket", "a motorcycle", "a flower", "a woman", "a pagoda",
                "a camera", "coins", "a brick wall"]
HEAVY = ("torch", "torchvision", "open_clip", "transformers", "sentence_transformers", "onnxruntime", "faiss")
# Queries whose concept is an ImageNet class (or a plain synonym of one), and queries whose concept is not.
IN_VOCABULARY = [
    "a cat", "espresso", "a rocket", "coffee", "a dog", "a horse", "a camera", "space shuttle", "a pizza",
    "a banana", "a sports car", "a church", "a lighthouse", "a goldfish", "a volcano", "a laptop", "an umbrella",
    "a strawberry", "a teddy bear", "a tractor", "a violin", "a mushroom", "a penguin", "a kitten", "a puppy",
    "a cup of coffee", "a bicycle", "a school bus", "a castle", "a zebra", "an airliner", "a red fox"]
OUT_OF_VOCABULARY = [
    "moon", "coins", "astronaut", "a woman", "a man", "a wedding", "a sunset", "a galaxy", "grass", "gravel",
    "retina", "the sky", "a crowd", "happiness", "a selfie", "snow", "fire", "a tree", "a river", "a city at night",
    "a painting", "a portrait", "clouds", "a baby", "a kiss", "a soldier", "an election", "a forest",
    "a beach party", "a nurse", "a hubble deep field", "planets", "a skeleton", "a dragon", "a motorcycle",
    "a pagoda"]  # the last two: ImageNet has moped / motor scooter and stupa, not these

PROBE = """
import json, sys, time
t0 = time.perf_counter()
from indexer.workspace import Workspace
from retrieval.search import search
ws = Workspace.open(sys.argv[1])
t1 = time.perf_counter()
search(ws, sys.argv[2], k=10)
t2 = time.perf_counter()
times = []
for q in json.loads(sys.argv[3]):
    s = time.perf_counter()
    search(ws, q, k=10)
    times.append(time.perf_counter() - s)
print(json.dumps({"import_open_s": t1 - t0, "first_s": t2 - t1, "warm_s": times,
                  "heavy_modules_loaded": sorted(m for m in json.loads(sys.argv[4]) if m in sys.modules)}))
"""


def _env(code: Path, cache: Path | None) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(code), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    if cache is not None:
        env["XDG_CACHE_HOME"] = str(cache)
    return env


def cold_cli(home: Path, code: Path, cache: Path | None) -> tuple[float, str]:
    """Wall seconds of one `stylelens search` in a new process, and its first result line."""
    cmd = [sys.executable, "-m", "ui.cli", "search", FIRST_QUERY, "--workspace", str(home), "-k", "5"]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, env=_env(code, cache), capture_output=True, text=True, cwd=code)
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {out.stderr[-800:]}")
    return wall, (out.stdout.strip().splitlines() or [""])[0]


def library_fresh_process(home: Path, code: Path, cache: Path | None) -> dict:
    """First and warm text-query times inside one new interpreter (see PROBE)."""
    cmd = [sys.executable, "-c", PROBE, str(home), FIRST_QUERY, json.dumps(TEXT_QUERIES), json.dumps(HEAVY)]
    out = subprocess.run(cmd, env=_env(code, cache), capture_output=True, text=True, cwd=code)
    if out.returncode != 0:
        raise RuntimeError(f"library probe failed: {out.stderr[-800:]}")
    res = json.loads(out.stdout.strip().splitlines()[-1])
    warm = np.array(res.pop("warm_s"))
    return {**{k: round(v, 3) if isinstance(v, float) else v for k, v in res.items()},
            "warm_p50_s": round(float(np.median(warm)), 4), "warm_max_s": round(float(warm.max()), 4),
            "warm_queries": len(warm)}


def latency(home: Path, code: Path, runs: int, user_cache: bool) -> dict:
    """Cold CLI (empty, then warm label cache) and a fresh library process, on workspace `home`."""
    with tempfile.TemporaryDirectory(prefix="stylelens-bench-cache-") as tmp:
        cache = None if user_cache else Path(tmp)
        result: dict = {"code": str(code), "workspace": str(home), "load_average_1min": round(os.getloadavg()[0], 2)}
        wall, line = cold_cli(home, code, cache)  # fills the label cache (the user's may be warm already)
        if not user_cache:
            result["cli_empty_cache_s"] = round(wall, 2)
        walls = []
        for _ in range(max(1, runs)):
            wall, line = cold_cli(home, code, cache)
            walls.append(round(wall, 2))
        result.update({"cli_warm_cache_s": walls, "cli_first_result": line,
                       "library": library_fresh_process(home, code, cache),
                       "load_average_1min_after": round(os.getloadavg()[0], 2)})
    return result


def calibrate(thresholds: tuple[float, ...] = (0.60, 0.65, 0.70, 0.75, 0.80)) -> dict:
    """Best label similarity per query (starter content encoder) and what each threshold would flag."""
    sys.path.insert(0, str(REPO))
    from indexer.encoders import create_encoder

    enc = create_encoder("starter/efficientnet-lite0")
    rows = {}
    for group, queries in (("in", IN_VOCABULARY), ("out", OUT_OF_VOCABULARY)):
        for q in queries:
            r = enc.resolve_text(q)
            rows[q] = {"group": group, "best": round(r.best_similarity, 3), "label": r.matches[0].label}
    sims = {g: np.array([r["best"] for r in rows.values() if r["group"] == g]) for g in ("in", "out")}
    stats = {g: {"n": int(v.size), "min": float(v.min()), "median": float(np.median(v)), "max": float(v.max())}
             for g, v in sims.items()}
    table = [{"threshold": t, "in_flagged": int(np.sum(sims["in"] < t)), "out_flagged": int(np.sum(sims["out"] < t))}
             for t in thresholds]
    return {"queries": rows, "stats": stats, "thresholds": table}


def print_latency(r: dict) -> None:
    lib = r["library"]
    empty = f"empty label cache {r['cli_empty_cache_s']} s, " if "cli_empty_cache_s" in r else ""
    print(f"code {r['code']}  workspace {r['workspace']}  load average {r['load_average_1min']} -> "
          f"{r['load_average_1min_after']} (2 cores)")
    print(f"  cold CLI `search {FIRST_QUERY!r}`: {empty}warm label cache {r['cli_warm_cache_s']} s")
    print(f"    first result: {r['cli_first_result']}")
    print(f"  library, fresh process: import + open {lib['import_open_s']} s, first query {lib['first_s']} s, "
          f"warm p50 {lib['warm_p50_s']} s (max {lib['warm_max_s']} s, {lib['warm_queries']} queries)")
    print(f"    heavy modules imported: {', '.join(lib['heavy_modules_loaded']) or 'none'}")


def print_calibration(c: dict) -> None:
    for q, r in c["queries"].items():
        print(f"  {r['group']:>3}  {q:<22} {r['best']:.3f}  {r['label']}")
    for g, s in c["stats"].items():
        name = "in" if g == "in" else "out-of"
        print(f"  {name}-vocabulary: n={s['n']} min {s['min']:.3f} median {s['median']:.3f} max {s['max']:.3f}")
    for t in c["thresholds"]:
        print(f"  weak below {t['threshold']:.2f}: flags {t['in_flagged']}/{c['stats']['in']['n']} in-vocabulary, "
              f"{t['out_flagged']}/{c['stats']['out']['n']} out-of-vocabulary")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workspace", type=Path, help="an indexed workspace (starter profile) to time queries on")
    p.add_argument("--code", type=Path, default=REPO, help="checkout whose code runs the queries (default: this one)")
    p.add_argument("--runs", type=int, default=3, help="cold CLI runs with a warm label cache")
    p.add_argument("--user-cache", action="store_true", help="use the real user cache dir, not a fresh temporary one")
    p.add_argument("--calibrate", action="store_true", help="weak-match threshold evidence (this checkout's code)")
    p.add_argument("--json", type=Path, metavar="OUT", help="also write the figures as JSON")
    args = p.parse_args(argv)
    if not args.workspace and not args.calibrate:
        p.error("give --workspace and/or --calibrate")
    out: dict = {}
    if args.workspace:
        out["latency"] = latency(args.workspace.resolve(), args.code.resolve(), args.runs, args.user_cache)
        print_latency(out["latency"])
    if args.calibrate:
        out["calibration"] = calibrate()
        print_calibration(out["calibration"])
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
