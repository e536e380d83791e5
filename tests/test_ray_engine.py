"""`--engine ray` against `--engine local`: same catalog rows, same vectors, same triplets; a killed Ray job
resumes from its shards to the same end state. One local Ray cluster (2 CPUs) serves the whole module."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_consistent, catalog_paths
from corpus_factory import write_mixed_corpus, write_random_patterns
from sqlalchemy import select

from indexer.catalog.schema import ImageRecord
from indexer.index_bases import ONDISK_SUFFIX, BuildPlace
from indexer.pipeline.run import index_paths
from indexer.spaces import list_spaces
from indexer.workspace import Workspace
from retrieval.catalog_lookup import corpus_vectors
from retrieval.mining.run import MiningParams, mine_triplets

REQUIRED = os.environ.get("STYLELENS_REQUIRE_RAY") == "1"  # CI installs the ray extra: no silent skip there
try:
    import ray
    import ray.data  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    if REQUIRED:
        raise RuntimeError(f"Ray is required (STYLELENS_REQUIRE_RAY=1): {exc}") from exc
    pytest.skip(f"Ray is not installed ({exc}): pip install -e \".[ray]\"", allow_module_level=True)

from indexer.pipeline import ray_engine  # noqa: E402
from indexer.pipeline.shards import list_shards, read_shard  # noqa: E402
from indexer.vectors.ondisk_files import read_manifest  # noqa: E402

# Vectors of one file from the two engines come from the same pixels through the same model, but in batches
# of other compositions (the local engine embeds early partial batches while decoders catch up; Ray's
# actors get exact batch_size batches), so BLAS sums in another order: float32 rounding, ~1e-7 relative per
# step. 1e-5 absolute on unit vectors is far below any difference a wrong pixel or a swapped file would make.
ATOL = 1e-5


@pytest.fixture(scope="module")
def cluster():
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a test cluster on localhost; lets the CLI driver join
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


def _rows(ws: Workspace) -> dict[str, tuple]:
    """Every catalog row by path, ids replaced by paths (ids depend on commit order, nothing else does)."""
    paths = {i: p for p, i in catalog_paths(ws).items()}
    with ws.session() as s:
        return {paths[r.id]: (r.status, r.error, r.sha256, r.width, r.height, r.format, r.bytes, r.mtime_ns,
                              r.taken_at, paths.get(r.duplicate_of)) for r in s.scalars(select(ImageRecord))}


def _vectors(ws: Workspace, corpus: str) -> dict[tuple[str, str], np.ndarray]:
    paths = {i: p for p, i in catalog_paths(ws).items()}
    out = {}
    for space in list_spaces(ws):
        ids, vecs = corpus_vectors(ws, space, corpus)
        out.update({(space.name, paths[int(i)]): v for i, v in zip(ids, vecs)})
    return out


def _assert_same_end_state(a: Workspace, b: Workspace, corpus: str) -> None:
    rows_a, rows_b = _rows(a), _rows(b)
    assert rows_a == rows_b
    va, vb = _vectors(a, corpus), _vectors(b, corpus)
    assert va.keys() == vb.keys() and len(va) > 0
    for key in va:
        np.testing.assert_allclose(va[key], vb[key], rtol=0, atol=ATOL, err_msg=str(key))
    assert_consistent(a)
    assert_consistent(b)


@pytest.fixture(scope="module")
def mixed(cluster, tmp_path_factory):
    """A corpus with good images, an exact duplicate and bad files, indexed by both engines."""
    base = tmp_path_factory.mktemp("ray-mixed")
    write_mixed_corpus(base / "corpus")
    local, on_ray = Workspace.open(base / "local"), Workspace.open(base / "ray")
    index_paths(local, [str(base / "corpus")], "mixed", profile="tiny", workers=1, progress=False)
    summary = index_paths(on_ray, [str(base / "corpus")], "mixed", profile="tiny", progress=False, batch_size=8,
                          engine="ray")
    yield local, on_ray, summary, base / "corpus"
    local.close()
    on_ray.close()


def test_ray_and_local_give_the_same_rows_and_vectors(mixed) -> None:
    local, on_ray, summary, root = mixed
    assert summary.failed > 0 and summary.duplicates > 0 and summary.added > 0  # the corpus tests all three
    _assert_same_end_state(local, on_ray, "mixed")
    assert list_shards(on_ray.jobs_dir) == []  # committed shards are deleted
    again = index_paths(on_ray, [str(root)], "mixed", progress=False, engine="ray")
    assert (again.added, again.updated, again.failed) == (0, 0, 0)  # recorded failures are not retried


def test_mining_on_ray_equals_local(mixed, tmp_path: Path) -> None:
    _local, ws, _summary, _root = mixed
    params = MiningParams("mixed", "mixed", "mixed", k=5, content_ceiling=0.99, style_ceiling=0.999)
    runs = []
    for engine in ("local", "ray"):
        mine_triplets(ws, params, run=f"m-{engine}", out=tmp_path / engine, batch_size=3, progress=False,
                      engine=engine, ray_concurrency=2)
        runs.append((tmp_path / engine / "triplets.jsonl").read_text())
    assert runs[0] == runs[1] and runs[0].count("\n") > 6  # several batches, same triplets in the same order


def test_a_ray_run_builds_on_disk_bases_with_ray_tasks(mixed, monkeypatch) -> None:
    """The run hands its cluster to the checkpoint, and an on-disk build there adds its shards as Ray tasks."""
    from test_layered_index import add_images

    from indexer import index_sync
    from indexer.pipeline import run

    _local, ws, _summary, root = mixed
    seen = []
    real = run.checkpoint
    monkeypatch.setattr(run, "checkpoint", lambda *a, **kw: seen.append(kw.get("build")) or real(*a, **kw))
    index_paths(ws, [str(root)], "mixed", progress=False, engine="ray")
    assert seen and all(place == BuildPlace("ray", None) for place in seen)
    added = add_images(ws, 3000, seed=4)  # enough vectors for an IVF base; a tiny budget puts it on disk
    space = list_spaces(ws)[0]
    info = index_sync.checkpoint(ws, space, memory_budget_bytes=60_000, build=BuildPlace("ray", None))
    assert info.file.endswith(ONDISK_SUFFIX)
    assert read_manifest(ws.index_dir / info.file)["executor"] == "ray"
    index = index_sync.load_index(ws, space)
    with ws.session() as s:
        ids, vectors = index_sync.vectors_for(s, space, added[::97])  # random vectors (the corpus has duplicates)
    _s, top = index.search(vectors, 5)
    np.testing.assert_array_equal(top[:, 0], ids)  # each stored vector's own list is probed: found first
    assert set(added) <= set(index.ids().tolist())
    assert_consistent(ws)


DRIVER = textwrap.dedent("""
    import sys, time
    import indexer.pipeline.run as run
    from indexer.workspace import Workspace

    real = run._Committer.shard

    def slow(self, rows):  # a slow catalog: the cluster runs ahead, its shards wait on disk
        n = real(self, rows)
        time.sleep(0.7)
        return n

    run._Committer.shard = slow
    ws = Workspace.open(sys.argv[1])
    run.index_paths(ws, [sys.argv[2]], "kill", profile="tiny", progress=False, batch_size=4, engine="ray",
                    ray_address=sys.argv[3])
""")


def test_killed_ray_job_resumes_from_its_shards(cluster, tmp_path: Path, monkeypatch) -> None:
    root = tmp_path / "corpus"
    write_random_patterns(root, 32, seed=7)
    ws_dir = tmp_path / "ray"
    proc = subprocess.Popen([sys.executable, "-c", DRIVER, str(ws_dir), str(root), cluster], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    # generous: on a loaded 2-core machine the cluster's start and the tiny models' load take most of a minute
    deadline, committed, waiting = time.monotonic() + 300, 0, []
    while time.monotonic() < deadline and proc.poll() is None:
        waiting = list_shards(ws_dir / "jobs")
        committed = _indexed(ws_dir)
        if committed >= 8 and len(waiting) >= 2:
            os.kill(proc.pid, signal.SIGKILL)  # the driver; Ray ends its job's tasks and actors
            break
        time.sleep(0.05)
    if proc.poll() is None:  # the deadline passed with the job still short of 8 commits: stop it all the same
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()[-3000:]
    assert 8 <= committed < 32, "the kill must land mid-run for this test to mean anything"
    left_paths = set()
    for shard in list_shards(ws_dir / "jobs"):
        left_paths |= {r.found.path for r in read_shard(shard)[1]}
    ws = Workspace.open(ws_dir)
    before = set(catalog_paths(ws))
    assert left_paths - before, "shards written by the cluster must survive the killed driver"
    computed: list[str] = []
    real = ray_engine._run_dataset

    def recording(left, *args, **kwargs):  # noqa: ANN001, ANN202
        computed.extend(left)
        return real(left, *args, **kwargs)

    monkeypatch.setattr(ray_engine, "_run_dataset", recording)
    summary = index_paths(ws, [str(root)], "kill", progress=False, batch_size=4, engine="ray")
    assert (summary.added, summary.unchanged, summary.failed) == (32 - len(before), len(before), 0)
    # the rerun embedded only what neither the catalog nor a surviving shard held
    assert not set(computed) & (left_paths | before)
    assert set(computed) | left_paths | before == set(catalog_paths(ws)) and len(catalog_paths(ws)) == 32
    local = Workspace.open(tmp_path / "local")
    index_paths(local, [str(root)], "kill", profile="tiny", workers=1, progress=False)
    rows = _rows(ws)
    assert rows.keys() == _rows(local).keys()
    _assert_same_end_state(local, ws, "kill")
    assert list_shards(ws.jobs_dir) == []
    ws.close()
    local.close()


def _indexed(ws_dir: Path) -> int:
    import sqlite3

    db = ws_dir / "catalog.sqlite"
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as con:
            return con.execute("select count(*) from images where status = 'indexed'").fetchone()[0]
    except sqlite3.Error:
        return 0


def test_local_engine_never_imports_ray(tmp_path: Path) -> None:
    write_random_patterns(tmp_path / "few", 3, seed=1)
    code = textwrap.dedent(f"""
        import sys
        from ui.cli import main
        assert main(["index", {str(tmp_path / "few")!r}, "--corpus", "few", "--profile", "tiny", "--workers", "0",
                     "--workspace", {str(tmp_path / "ws")!r}, "--engine", "local"]) == 0
        assert not [m for m in sys.modules if m == "ray" or m.startswith("ray.")], "ray was imported"
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
