"""An indexing run while the API answers a stream of queries: no request fails, and the new images are found
afterwards without a restart (the server notices the new log entries and snapshots)."""
from __future__ import annotations

import threading

import numpy as np
from corpus_factory import pattern_image
from fastapi.testclient import TestClient
from filter_workspace import build
from sqlalchemy import select

from indexer.catalog.schema import ImageRecord
from indexer.pipeline.run import index_paths
from ui.api.app import create_app

CLIENTS = 4


def test_indexing_during_a_query_stream_loses_no_query(tmp_path) -> None:
    ws, ids = build(tmp_path)
    new = tmp_path / "data" / "b" / "new"
    new.mkdir()
    rng = np.random.default_rng(99)
    for i in range(24):
        colours = tuple(tuple(int(c) for c in rng.integers(0, 255, 3)) for _ in range(4))
        pattern_image((56, 56), colours).save(new / f"new{i}.png")
    app = create_app(ws)
    done, results, lock = threading.Event(), [], threading.Lock()

    def stream(n: int) -> None:
        with TestClient(app) as client:
            bodies = [{"query": {"image_id": ids[n]}, "k": 5}, {"query": {"text": "red"}, "k": 5, "space": "style"},
                      {"query": {"image_id": ids[n]}, "k": 3, "filters": {"corpora": ["b"]}}]
            i = 0
            while not done.is_set() or i < 6:
                r = client.post("/v1/search", json=bodies[i % 3])
                with lock:
                    results.append((r.status_code, r.text[:200], len(r.json().get("items", []))))
                i += 1

    with TestClient(app):  # warm up: models and indexes loaded before the stream starts
        pass
    threads = [threading.Thread(target=stream, args=(n,)) for n in range(CLIENTS)]
    for t in threads:
        t.start()
    try:
        before = len(results)
        summary = index_paths(ws, [str(tmp_path / "data" / "b")], "b", workers=0, batch_size=4, progress=False)
        during = len(results) - before
    finally:
        done.set()
        for t in threads:
            t.join(60)
    failures = [r for r in results if r[0] != 200 or r[2] == 0]
    assert summary.added == 24 and during >= CLIENTS, (summary.added, during)  # the stream ran across the run
    assert len(results) >= 6 * CLIENTS and not failures, failures[:3]
    with ws.session() as s:
        new_id = s.scalar(select(ImageRecord.id).where(ImageRecord.path.endswith("new7.png")))  # kept relative
    with TestClient(app) as client:
        hit = client.post("/v1/search", json={"query": {"image_id": new_id}, "k": 1, "filters": {"corpora": ["b"]}})
    assert hit.json()["items"][0]["id"] == new_id
    ws.close()


def test_a_reload_in_progress_does_not_block_other_searches(tmp_path) -> None:
    """While one thread loads a new snapshot, others search the index they had; then everyone gets the new one."""
    from tiny_workspace import build_workspace, write_images

    from indexer.spaces import get_space
    from indexer.workspace import Workspace
    from retrieval import index_cache as indexes

    build_workspace(tmp_path / "ws", write_images(tmp_path / "img"))
    ws = Workspace.open(tmp_path / "ws")
    sp = get_space(ws, "content")
    old = indexes.get_index(ws, sp)
    index_paths(ws, [str(write_images(tmp_path / "more", n=2, seed=5))], "c2", workers=0, progress=False)
    with indexes._LOADING:  # another thread is loading
        assert indexes.get_index(ws, sp) is old
    new = indexes.get_index(ws, sp)
    assert new is not old and new.ntotal == old.ntotal + 2
    ws.close()
