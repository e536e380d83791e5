"""`mine-triplets --engine ray`: the mining batches spread over Ray actors.

Each actor opens the workspace read-only and loads the spaces' indexes and vectors itself (a shared
filesystem on a real cluster; memory-mapped indexes are then shared by the actors of one node), so nothing
large travels through the object store: a batch goes out as its row positions and comes back as its picks.
Results are yielded in batch order, and each batch runs the very function the local engine runs
(`run.mine_batch`), so both engines record the same triplets in the same order.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np

from indexer.workspace import Workspace

from .run import MiningParams, load_inputs, mine_batch
from .select import Picks


class MiningWorker:
    """One actor: the run's inputs loaded once, then `mine(rows)` per batch."""

    def __init__(self, home: str, db_url: str, params: MiningParams, train_ids: np.ndarray) -> None:
        self.ws = Workspace.open(home, db_url, read_only=True)
        self.params = params
        self.data = load_inputs(self.ws, params)
        if not np.array_equal(self.data.train_ids, train_ids):  # the catalog changed under the run
            raise RuntimeError("the training corpus changed while mining started; run mine-triplets again")

    def mine(self, rows: np.ndarray) -> tuple[Picks, Picks]:
        return mine_batch(self.data, self.params, rows)


def mine_on_ray(ws: Workspace, params: MiningParams, train_ids: np.ndarray, batches: list[np.ndarray],
                address: str | None, concurrency: int | None) -> Iterator[tuple[Picks, Picks]]:
    """Yield `mine_batch` of every batch, in order, computed by `concurrency` actors (default: one per CPU of
    the cluster, at most one per batch)."""
    if not batches:
        return
    import ray
    from ray.util import ActorPool

    from indexer.pipeline.ray_engine import connect

    started = connect(address)
    try:
        n = concurrency or max(1, int(ray.cluster_resources().get("CPU", 1)))
        worker = ray.remote(num_cpus=1)(MiningWorker)
        ids_ref = ray.put(train_ids)
        actors = [worker.remote(str(ws.home), ws.db_url, params, ids_ref) for _ in range(min(n, len(batches)))]
        yield from ActorPool(actors).map(lambda actor, rows: actor.mine.remote(rows), batches)
    finally:
        if started:
            ray.shutdown()
