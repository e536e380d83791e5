#!/usr/bin/env python
"""Load on `stylelens serve` over loopback: requests/s and p50/p95 latency of text, image and id queries at
1, 8 and 32 concurrent clients on a 10k-image workspace, without and then with a concurrent indexing run
(separate `stylelens index` processes, restarted on fresh folders until the loaded phases end). Any
non-200 answer or transport error is counted; the run fails when there is one. Bounded: each phase lasts
--seconds (default 6), 18 phases in all. Collapse is off: the padding images are noisy copies of the real
ones (near-duplicates by construction), which folding would reduce to the ~15 real pictures.

Workspace: the starter-profile demo photos indexed for real, padded to --images (default 10,000) with
`grow_workspace.py`; or --workspace DIR to pad a copy of an existing workspace.

Usage: python scripts/bench_serve.py [--workspace DIR] [--images 10000] [--seconds 6] [--json OUT]
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_e2e import write_bench_corpus  # noqa: E402
from grow_workspace import grow  # noqa: E402
from sample_corpus import write_sample_corpora  # noqa: E402

TEXTS = ["a cat", "espresso", "space shuttle", "astronaut", "a coin", "coffee cup", "rocket launch", "a horse"]
KINDS, CLIENTS = ("text", "image", "id"), (1, 8, 32)


def build_workspace(tmp: Path, src: Path | None, images: int) -> tuple[Path, list[int], bytes]:
    """A padded copy of `src` (or of the demo workspace made here); its real image ids and one query image."""
    from sqlalchemy import select

    from indexer.catalog.schema import Corpus, ImageRecord
    from indexer.pipeline.run import index_paths
    from indexer.workspace import Workspace

    photos, _styled = write_sample_corpora(tmp / "data")
    if src is None:
        src = tmp / "demo"
        ws = Workspace.open(src)
        index_paths(ws, [str(photos)], "photos", "content", profile="starter", workers=1, progress=False)
        ws.close()
    dst = tmp / "ws"
    print("workspace:", grow(src, dst, images, 0.02, 0), flush=True)
    ws = Workspace.open(dst)
    with ws.session() as s:
        ids = list(s.scalars(select(ImageRecord.id).join(Corpus, Corpus.id == ImageRecord.corpus_id)
                             .where(Corpus.name != "synthetic", ImageRecord.status == "indexed")))
    ws.close()
    return dst, ids, sorted(photos.glob("*"))[0].read_bytes()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(ws: Path, port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "ui.cli", "serve", "--workspace", str(ws), "--port", str(port)],
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})
    deadline = time.time() + 300
    while time.time() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError("the server did not come up in 300 s")


def body(kind: str, ids: list[int], image_b64: str, rng: random.Random) -> dict:
    """One query; collapse off: the padding images are noisy copies of the real ones, i.e. near-duplicates."""
    page = {"k": 10, "collapse": False}
    if kind == "text":
        return {"query": {"text": rng.choice(TEXTS)}, **page}
    if kind == "image":
        return {"query": {"image_base64": image_b64}, **page}
    return {"query": {"image_id": rng.choice(ids)}, **page}


async def phase(url: str, kind: str, clients: int, seconds: float, ids: list[int], image_b64: str) -> dict:
    """`clients` closed-loop clients for `seconds`: throughput, latency percentiles, errors."""
    latencies: list[float] = []
    errors: list[str] = []
    stop = time.perf_counter() + seconds

    async def client(n: int) -> None:
        rng = random.Random(n)
        async with httpx.AsyncClient(base_url=url, timeout=120) as http:
            while time.perf_counter() < stop:
                t0 = time.perf_counter()
                try:
                    r = await http.post("/v1/search", json=body(kind, ids, image_b64, rng))
                    ok = r.status_code == 200 and len(r.json()["items"]) == 10
                    if not ok:
                        errors.append(f"{r.status_code}: {r.text[:120]}")
                except httpx.HTTPError as exc:
                    errors.append(f"{type(exc).__name__}: {exc}")
                latencies.append(time.perf_counter() - t0)

    t0 = time.perf_counter()
    await asyncio.gather(*(client(n) for n in range(clients)))
    wall = time.perf_counter() - t0
    lat = np.array(latencies) * 1000
    return {"kind": kind, "clients": clients, "requests": len(lat), "rps": round(len(lat) / wall, 1),
            "p50_ms": round(float(np.percentile(lat, 50)), 1), "p95_ms": round(float(np.percentile(lat, 95)), 1),
            "errors": len(errors), "first_error": errors[0] if errors else None}


class Indexer:
    """`stylelens index` runs on fresh folders, one after another, for as long as it is on."""

    def __init__(self, ws: Path, tmp: Path) -> None:
        self.ws, self.tmp, self.proc, self.runs, self.failed = ws, tmp, None, 0, 0

    def poll(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            return
        if self.proc is not None:
            self.failed += self.proc.returncode != 0
        self.runs += 1
        folder = self.tmp / f"incoming{self.runs}"
        write_bench_corpus(folder, 48, side=512, seed=self.runs)
        self.proc = subprocess.Popen([sys.executable, "-m", "ui.cli", "index", str(folder / "jpegs"), "--corpus",
                                      f"incoming{self.runs}", "--workspace", str(self.ws), "--workers", "1",
                                      "--batch-size", "8"], stdout=subprocess.DEVNULL,
                                     env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.wait()
            self.failed += self.proc.returncode != 0


async def run_all(url: str, seconds: float, ids: list[int], image_b64: str, indexer: Indexer | None) -> list[dict]:
    rows = []
    for kind in KINDS:
        for clients in CLIENTS:
            if indexer is not None:
                indexer.poll()
            row = await phase(url, kind, clients, seconds, ids, image_b64)
            row["indexing"] = indexer is not None
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workspace", type=Path, help="workspace to pad a copy of (default: the demo, indexed here)")
    p.add_argument("--images", type=int, default=10_000)
    p.add_argument("--seconds", type=float, default=6.0, help="length of each phase")
    p.add_argument("--json", type=Path, help="write the rows here")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        ws, ids, image = build_workspace(tmp, args.workspace, args.images)
        port = free_port()
        server = start_server(ws, port)
        try:
            url, image_b64 = f"http://127.0.0.1:{port}", base64.b64encode(image).decode()
            for kind in KINDS:  # warm-up (first text / image query loads its models), not reported
                asyncio.run(phase(url, kind, 1, 1.0, ids, image_b64))
            rows = asyncio.run(run_all(url, args.seconds, ids, image_b64, None))
            indexer = Indexer(ws, tmp)
            rows += asyncio.run(run_all(url, args.seconds, ids, image_b64, indexer))
            indexer.stop()
        finally:
            server.terminate()
            server.wait(30)
    print(table(rows, indexer))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    errors = sum(r["errors"] for r in rows)
    print(f"errors: {errors}; indexing runs: {indexer.runs} ({indexer.failed} failed)")
    return 1 if errors or indexer.failed else 0


def table(rows: list[dict], indexer: Indexer) -> str:
    out = ["| query | clients | indexing | req/s | p50 ms | p95 ms | errors |", "|---|---:|---|---:|---:|---:|---:|"]
    out += [f"| {r['kind']} | {r['clients']} | {'yes' if r['indexing'] else 'no'} | {r['rps']} | {r['p50_ms']} | "
            f"{r['p95_ms']} | {r['errors']} |" for r in rows]
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
