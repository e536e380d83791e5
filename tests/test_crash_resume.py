"""kill -9 an indexing run in the middle, re-run it, and check nothing is lost or doubled."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from conftest import assert_consistent
from PIL import Image

from indexer.workspace import Workspace

N_IMAGES = 240


def _write_corpus(root: Path) -> None:
    root.mkdir()
    rng = np.random.default_rng(0)
    for i in range(N_IMAGES):
        arr = rng.integers(0, 255, (160, 160, 3), dtype=np.uint8)
        Image.fromarray(arr).save(root / f"img{i:03d}.png")


def _cli(ws: Path, root: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "ui.cli", "index", str(root), "--corpus", "c", "--profile", "tiny",
            "--workspace", str(ws), "--batch-size", "4", "--workers", "1", *extra]


def _indexed(db: Path) -> int:
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return con.execute("select count(*) from images where status='indexed'").fetchone()[0]
        finally:
            con.close()
    except sqlite3.OperationalError:  # not created yet
        return 0


def test_kill_minus_9_mid_run_then_rerun_loses_and_doubles_nothing(tmp_path: Path) -> None:
    root, ws_dir = tmp_path / "corpus", tmp_path / "ws"
    _write_corpus(root)
    proc = subprocess.Popen(_cli(ws_dir, root), start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    at_kill = 0
    while time.monotonic() < deadline and proc.poll() is None:
        at_kill = _indexed(ws_dir / "catalog.sqlite")
        if at_kill >= 8:
            os.killpg(proc.pid, signal.SIGKILL)  # the run and its decoding workers, no clean-up
            break
        time.sleep(0.005)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]
    assert 8 <= at_kill < N_IMAGES, "the kill must land mid-run for this test to mean anything"

    done = subprocess.run(_cli(ws_dir, root, "--json"), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout)
    assert summary["failed"] == 0 and summary["removed"] == 0
    assert summary["unchanged"] >= at_kill  # committed batches were not redone
    assert summary["unchanged"] + summary["added"] == N_IMAGES

    ws = Workspace.open(ws_dir)
    try:
        assert len(assert_consistent(ws)) == N_IMAGES
    finally:
        ws.close()
