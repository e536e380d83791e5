"""`mine_triplets`: batched, resumable PARASOL triplet mining recorded in the catalog."""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session
from tqdm.auto import tqdm

from indexer.catalog.schema import MiningRun, Triplet
from indexer.limits import check_k
from indexer.names import check_plain_name
from indexer.spaces import get_space
from indexer.triplet_manifest import JSONL_FILE, PARQUET_FILE
from indexer.vectors.layered import LayeredIndex
from indexer.workspace import Workspace

from ..catalog_lookup import allowed_ids, corpus_vectors
from ..index_cache import get_index
from ..query import QueryError
from .manifest import write_histograms, write_manifest
from .select import Picks, VectorTable, cross_similarity, pick_nearest_under_ceiling

@dataclass(frozen=True)
class MiningParams:
    """What a run mines; fixed for the life of a run (a resumed run must ask for the same)."""

    train: str
    style_db: str
    content_db: str
    k: int = 50
    content_ceiling: float = 0.8  # max content similarity of x and its style image s
    style_ceiling: float = 0.95   # max style similarity of x and its content image y
    allow_self: bool = False      # may x itself be picked as its own s or y
    style_space: str = "style"
    content_space: str = "content"

    def check(self) -> None:
        check_k(self.k)
        for name in ("content_ceiling", "style_ceiling"):
            if not -1.0 <= getattr(self, name) <= 1.0:
                raise QueryError(f"{name} is a cosine similarity in [-1, 1], got {getattr(self, name)}")


@dataclass
class MiningSummary:
    run: str
    train_images: int
    mined_now: int
    complete: int          # x with both y and s
    with_style: int
    with_content: int
    manifest_parquet: str
    manifest_jsonl: str
    histograms: str
    seconds: float
    params: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class _Inputs:
    """Everything a run reads, loaded (and so checked) before the run is recorded."""

    train_ids: np.ndarray
    train_style: np.ndarray
    train_content: np.ndarray
    style_db_content: VectorTable
    content_db_style: VectorTable
    style_allow: np.ndarray | None
    content_allow: np.ndarray | None
    style_index: LayeredIndex
    content_index: LayeredIndex


def load_inputs(ws: Workspace, params: MiningParams) -> _Inputs:
    """The spaces, corpora and indexes `params` names; QueryError / WorkspaceError when one is missing."""
    style_sp, content_sp = get_space(ws, params.style_space), get_space(ws, params.content_space)
    train_ids, train_style = corpus_vectors(ws, style_sp, params.train)
    return _Inputs(
        train_ids=train_ids, train_style=train_style,
        train_content=VectorTable(*corpus_vectors(ws, content_sp, params.train)).rows(train_ids)[0],
        style_db_content=VectorTable(*corpus_vectors(ws, content_sp, params.style_db)),
        content_db_style=VectorTable(*corpus_vectors(ws, style_sp, params.content_db)),
        style_allow=allowed_ids(ws, [params.style_db]), content_allow=allowed_ids(ws, [params.content_db]),
        style_index=get_index(ws, style_sp), content_index=get_index(ws, content_sp))


def mine_triplets(ws: Workspace, params: MiningParams, *, run: str | None = None, out: str | Path | None = None,
                  batch_size: int = 256, progress: bool | None = None, engine: str = "local",
                  ray_address: str | None = None, ray_concurrency: int | None = None) -> MiningSummary:
    """Mine (x, y, s) for every image x of the training corpus; resume `run` if it exists.

    `engine="ray"` spreads the batches over Ray actors that open the workspace's indexes themselves
    (`ray_workers.py`); the driver records their results in batch order, so both engines give the same
    triplets in the same order.

    The run is recorded together with its first batch of triplets, after every input was found: a command
    that fails on its arguments leaves no run behind to refuse the corrected one.
    """
    params.check()
    if engine not in ("local", "ray"):
        raise QueryError(f"unknown engine {engine!r}: choose local or ray")
    if engine == "ray":
        from indexer.pipeline.ray_engine import RayOptions, require_ray

        require_ray()
        RayOptions(ray_address, ray_concurrency).check()
    started = time.perf_counter()
    if run is None:
        run = f"mining-{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%S')}"
    name = check_plain_name(run, "a mining run name")  # also a folder: WORKSPACE/mining/<run>, WORKSPACE/parasol/<run>
    out_dir = Path(out) if out else ws.mining_run_dir(name)
    run_id = _existing_run(ws, name, params)
    data = load_inputs(ws, params)
    done: set[int] = set()
    if run_id is not None:
        with ws.session() as s:
            done = set(s.scalars(select(Triplet.x_id).where(Triplet.run_id == run_id)))
    train_ids = data.train_ids
    todo = np.asarray([i for i, x in enumerate(train_ids.tolist()) if x not in done], dtype=np.int64)
    batches = [todo[start:start + batch_size] for start in range(0, len(todo), batch_size)]
    if engine == "ray":
        from .ray_workers import mine_on_ray

        results = mine_on_ray(ws, params, train_ids, batches, ray_address, ray_concurrency)
    else:
        results = (mine_batch(data, params, rows) for rows in batches)
    with tqdm(total=len(todo), unit="x", desc=f"mining {name}", disable=None if progress is None else not progress) as bar:
        for rows, (s, y) in zip(batches, results):  # in batch order whatever the engine
            x_ids = train_ids[rows]
            with ws.session() as session:  # one transaction per batch: a kill loses at most this batch
                batch_run = run_id if run_id is not None else _create_run(session, name, params)
                session.add_all(
                    Triplet(run_id=batch_run, x_id=int(x), s_id=_id(s.ids[j]), y_id=_id(y.ids[j]),
                            s_style_sim=_f(s.primary[j]), s_content_sim=_f(s.cross[j]),
                            y_content_sim=_f(y.primary[j]), y_style_sim=_f(y.cross[j]))
                    for j, x in enumerate(x_ids.tolist()))
            run_id = batch_run  # committed: the run exists from now on
            bar.update(len(rows))
    with ws.session() as session:
        run_id = run_id if run_id is not None else _create_run(session, name, params)
        row = session.get(MiningRun, run_id)
        row.status, row.finished_at = "done", datetime.now(timezone.utc)
    table = write_manifest(ws, run_id, out_dir)
    histograms = write_histograms(table, params, out_dir / "similarities.png")
    complete = int(sum(1 for r in table if r["y_id"] is not None and r["s_id"] is not None))
    return MiningSummary(
        run=name, train_images=len(train_ids), mined_now=len(todo), complete=complete,
        with_style=sum(1 for r in table if r["s_id"] is not None),
        with_content=sum(1 for r in table if r["y_id"] is not None),
        manifest_parquet=str(out_dir / PARQUET_FILE), manifest_jsonl=str(out_dir / JSONL_FILE),
        histograms=str(histograms), seconds=round(time.perf_counter() - started, 3), params=asdict(params))


def mine_batch(data: _Inputs, params: MiningParams, rows: np.ndarray) -> tuple[Picks, Picks]:
    """(style image picks, content image picks) for the training images at positions `rows`: the work of one
    batch, the same whichever engine runs it."""
    kk = params.k if params.allow_self else params.k + 1  # top-k others when x may not pick itself
    x_ids = data.train_ids[rows]
    exclude = None if params.allow_self else x_ids
    s_sim, s_ids = data.style_index.search(data.train_style[rows], kk, allow=data.style_allow)
    s = pick_nearest_under_ceiling(s_ids, s_sim, cross_similarity(data.train_content[rows], s_ids,
                                                                  data.style_db_content),
                                   params.content_ceiling, exclude)
    y_sim, y_ids = data.content_index.search(data.train_content[rows], kk, allow=data.content_allow)
    y = pick_nearest_under_ceiling(y_ids, y_sim, cross_similarity(data.train_style[rows], y_ids,
                                                                  data.content_db_style),
                                   params.style_ceiling, exclude)
    return s, y


def _existing_run(ws: Workspace, name: str, params: MiningParams) -> int | None:
    """The id of run `name` when it exists (it must have been started with `params`), else None."""
    with ws.session() as s:
        row = s.scalar(select(MiningRun).where(MiningRun.name == name))
        if row is None:
            return None
        if row.params != _params_json(params):
            raise QueryError(f"mining run {name!r} was started with other parameters ({row.params}); "
                             "resume it with the same ones or choose another --run name")
        return row.id


def _create_run(session: Session, name: str, params: MiningParams) -> int:
    """Record run `name` in `session`'s transaction (committed with the run's first triplets)."""
    row = MiningRun(name=name, params=_params_json(params), status="running")
    session.add(row)
    session.flush()
    return row.id


def _params_json(params: MiningParams) -> str:
    return json.dumps(asdict(params), sort_keys=True)


def _id(value: np.int64) -> int | None:
    return int(value) if value >= 0 else None


def _f(value: np.float32) -> float | None:
    return None if np.isnan(value) else float(value)
