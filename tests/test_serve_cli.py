"""`stylelens serve` as a process: it refuses a non-loopback address without a token, and on loopback it
answers /healthz and a search with exact ids over real HTTP (uvicorn)."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from tiny_workspace import build_workspace, write_images

from ui.cli import main


def test_serve_refuses_other_addresses_without_a_token(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.delenv("STYLELENS_API_TOKEN", raising=False)
    assert main(["serve", "--host", "0.0.0.0", "--workspace", str(tmp_path / "ws")]) == 1
    assert "--token" in capsys.readouterr().err
    assert not (tmp_path / "ws").exists()  # refused before the workspace was opened


def test_serve_answers_over_http(tmp_path) -> None:
    ids = build_workspace(tmp_path / "ws", write_images(tmp_path / "img"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    proc = subprocess.Popen([sys.executable, "-m", "ui.cli", "serve", "--workspace", str(tmp_path / "ws"),
                             "--port", str(port)], env=env)
    try:
        url, deadline = f"http://127.0.0.1:{port}", time.time() + 120
        while time.time() < deadline:
            try:
                if httpx.get(f"{url}/healthz", timeout=2).json() == {"status": "ok"}:
                    break
            except httpx.TransportError:
                time.sleep(0.3)
        r = httpx.post(f"{url}/v1/search", json={"query": {"image_id": ids[2]}, "k": 1}, timeout=60)
        assert r.status_code == 200 and [h["id"] for h in r.json()["items"]] == [ids[2]]
        assert httpx.post(f"{url}/v1/collections", json={"name": "x"}).status_code == 403
    finally:
        proc.terminate()
        proc.wait(30)
