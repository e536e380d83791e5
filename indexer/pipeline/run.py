"""`index_paths`: the whole indexing job, as the CLI and UI call it."""
from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Callable

import numpy as np
from tqdm.auto import tqdm

from ..catalog.paths import RootMap, relative_to
from ..catalog.schema import Corpus
from ..corpora import check_corpus_args, ensure_corpus, list_corpora
from ..imaging.scan import FoundFile, ScanProblem, ScanStats, scan
from ..index_bases import BuildPlace
from ..index_settings import IndexSettings
from ..index_sync import SnapshotInfo, checkpoint, remove_stale_temporaries
from ..limits import check_job, check_name
from ..relocate import detect_moves
from ..spaces import apply_profile, decide_profile, list_spaces, space_encoder
from ..workspace import Workspace, WorkspaceError
from .lock import index_lock
from .parallel import ordered_map, worker_pool
from .plan import Plan, known_files, make_plan, take_retouched
from .prepare import Prepared, PrepareTask, embed_pixels, prepare
from .writer import FAILED, find_duplicates, record_batch, record_failure, record_mtimes, remove_images

if TYPE_CHECKING:  # Ray stays unimported unless the ray engine runs
    from .ray_engine import RayOptions


@dataclass
class IndexSummary:
    corpus: str
    role: str
    profile: str
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    failed: int = 0
    duplicates: int = 0
    relocated: int = 0  # corpus roots moved to a given folder that holds their files (nothing re-embedded)
    relocations: list[dict] = field(default_factory=list)
    ignored: int = 0  # files skipped for not having an image extension
    failures: list[dict[str, str]] = field(default_factory=list)
    kept_missing_roots: list[str] = field(default_factory=list)
    seconds: float = 0.0
    spaces: dict[str, dict] = field(default_factory=dict)
    notice: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


ENGINES = ("local", "ray")
CHUNK = 4  # files per task sent to a decoding worker
MIN_EARLY_BATCH = 8  # smallest batch embedded early while the decoding workers catch up


def default_workers() -> int:
    """Decoding processes: leave one core to the model forward."""
    return max(1, (os.cpu_count() or 2) - 1)


def index_paths(ws: Workspace, paths: list[str], corpus: str, role: str | None = None, *,
                profile: str | None = None, encoders: dict[str, str] | None = None, workers: int | None = None,
                batch_size: int = 32, max_side: int = 1024, progress: bool | None = None,
                on_progress: Callable[[int, int], None] | None = None,
                index_settings: IndexSettings | None = None, engine: str = "local", ray_address: str | None = None,
                ray_concurrency: int | None = None, ray_num_gpus: float = 0.0) -> IndexSummary:
    """Index files and folders into `corpus`: new and changed files are embedded, deleted ones removed.

    Safe to interrupt at any point (even kill -9): every batch commits on its own, and re-running
    finishes the job. Returns what happened, including each failed file with its reason.
    `profile` and `encoders` ({space: encoder id}) choose the models of a new workspace.
    `on_progress(done, total)` is called as files to embed are settled (e.g. by the Studio's progress bar).
    `index_settings` (forced factories, memory budget) are checked before anything is written, used for
    this run's snapshots, and kept for the workspace only when the run succeeds.
    `engine` chooses who decodes and embeds the planned files: "local" (worker processes of this machine)
    or "ray" (Ray Data: `ray_address`, `ray_concurrency` embedding actors with `ray_num_gpus` GPUs each, see
    `ray_engine.RayOptions`); planning and committing are the same code for both.
    """
    started = time.perf_counter()
    ws.require_writable("indexing")  # before the lock file, the profile or the corpus is written
    check_name(corpus, Corpus.name, "the corpus name")
    check_job(workers, batch_size)
    if engine not in ENGINES:
        raise WorkspaceError(f"unknown engine {engine!r}: choose one of {', '.join(ENGINES)}")
    ray = None
    if engine == "ray":
        from .ray_engine import RayOptions, require_ray

        require_ray()
        ray = RayOptions(ray_address, ray_concurrency, ray_num_gpus)
        ray.check()
    with index_lock(ws):
        return _index_locked(ws, paths, corpus, role, profile, encoders, workers, batch_size, max_side,
                             progress, started, on_progress, index_settings or IndexSettings(),
                             ray)


def _refuse_unknown_missing(ws: Workspace, corpus: str, missing: set[str]) -> None:
    """A missing path the corpus has indexed before (an unmounted drive, a moved folder) keeps its catalog
    entries and is reported; a missing path it never had is a mistyped one, refused before anything is
    written."""
    known = next((c.roots for c in list_corpora(ws) if c.name == corpus), ())
    strays = sorted(r for r in missing if not any(relative_to(k, r) is not None for k in known))
    if strays:
        raise WorkspaceError(f"{strays[0]} does not exist; check the path"
                             + (f" ({len(strays) - 1} more missing)" if len(strays) > 1 else ""))


def _index_locked(ws: Workspace, paths: list[str], corpus: str, role: str | None, profile: str | None,
                  encoders: dict[str, str] | None, workers: int | None, batch_size: int, max_side: int,
                  progress: bool | None, started: float, on_progress: Callable[[int, int], None] | None,
                  settings: IndexSettings, ray: RayOptions | None) -> IndexSummary:
    remove_stale_temporaries(ws)  # of a killed run: no other run can be writing, we hold the lock
    decision = decide_profile(ws, profile, encoders)  # the arguments are checked before anything is written
    settings.check(decision.dims(ws))
    check_corpus_args(corpus, role)
    roots = [os.path.abspath(os.path.expanduser(p)) for p in paths]
    missing = {r for r in roots if not os.path.lexists(r)}
    _refuse_unknown_missing(ws, corpus, missing)
    n_workers = 0 if ray is not None else default_workers() if workers is None else workers
    with worker_pool(n_workers, warm_module=prepare.__module__) as pool:
        apply_profile(ws, decision)  # loads a new workspace's models (while the workers start) before fixing it
        with ws.session() as s:
            moves = detect_moves(ws, s, corpus, [r for r in roots if r not in missing])
        info = ensure_corpus(ws, corpus, role, [r for r in roots if r not in missing])
        summary = IndexSummary(corpus=info.name, role=info.role, profile=decision.profile, notice=decision.notice,
                               relocated=len(moves), relocations=[m.to_dict() for m in moves])
        spaces = [settings.applied_to(sp) for sp in list_spaces(ws)]
        space_ids = {sp.name: sp.id for sp in spaces}
        models = {sp.name: space_encoder(sp) for sp in spaces}
        with ws.session() as s:
            where = RootMap.load(s, ws.home, info.id)
            known = known_files(s, where)
        stats = ScanStats()
        live = [r for r in roots if r not in missing]  # missing roots are reported, not recorded as files
        plan = make_plan(known, scan(live, stats=stats), roots, missing)
        summary.ignored = stats.ignored
        summary.kept_missing_roots = plan.kept_missing_roots
        retouched = take_retouched(plan)
        with ws.session() as s:
            record_mtimes(s, [(old.id, found.mtime_ns) for found, old in retouched])
        summary.unchanged = len(plan.unchanged) + len(retouched)
        _record_problems(ws, where, space_ids, plan, known, summary)
        if plan.deleted:
            with ws.session() as s:
                remove_images(s, space_ids, [k.id for k in plan.deleted])
            summary.removed = len(plan.deleted)
        recipes = tuple((name, enc.preprocess) for name, enc in models.items())
        todo = {f.path: f for f in plan.to_process}
        commit = _Committer(ws, where, space_ids, todo, summary)
        # progress=None: a bar only on a terminal
        with _Progress(tqdm(total=len(todo), unit="img", desc=f"indexing {info.name}",
                            disable=None if progress is None else not progress), on_progress) as bar:
            if ray is not None:
                from .ray_engine import embedded_shards

                changed_ids = {found.path: old.id for found, old in plan.changed}
                for rows in embedded_shards(ws, todo, changed_ids, spaces, recipes, max_side, batch_size, ray):
                    bar.update(commit.shard(rows))
            else:
                _run_local(pool, n_workers, models, recipes, todo, max_side, batch_size, commit, bar)
        for space in spaces:
            snap: SnapshotInfo = checkpoint(ws, space, memory_budget_bytes=settings.memory_budget,
                                            build=BuildPlace("ray", ray.address) if ray is not None else None)
            summary.spaces[space.name] = {"kind": snap.kind, "factory": snap.factory, "ntotal": snap.ntotal}
    settings.save(ws)  # only now: a choice that failed (e.g. "cannot train") must not fail every later run
    summary.seconds = round(time.perf_counter() - started, 3)
    return summary


class _Progress:
    """A tqdm bar that also reports (done, total) to an optional callback."""

    def __init__(self, bar: tqdm, callback: Callable[[int, int], None] | None) -> None:
        self.bar, self.callback, self.done = bar, callback, 0
        if callback is not None:
            callback(0, int(bar.total or 0))

    def __enter__(self) -> "_Progress":
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.close()

    def update(self, n: int) -> None:
        if n:
            self.done += n
            self.bar.update(n)
            if self.callback is not None:
                self.callback(self.done, int(self.bar.total or 0))


def embed_prepared(space: str, encoder, prepared: list[Prepared]) -> np.ndarray:  # noqa: ANN001 - an Encoder
    """One space's vectors for a batch of decoded files: their uint8 crops finished and run as one batch."""
    return embed_pixels(encoder, np.stack([p.pixels[space] for p in prepared]))


def _run_local(pool, n_workers: int, models: dict, recipes: tuple, todo: dict[str, FoundFile],  # noqa: ANN001
               max_side: int, batch_size: int, commit: "_Committer", bar: _Progress) -> None:
    """The local executor: decode in the worker processes, embed in this one, commit batch by batch."""
    batch: list[tuple[FoundFile, Prepared]] = []
    bad: list[Prepared] = []

    def embed(fresh: list[Prepared]) -> dict[str, np.ndarray]:
        return {name: embed_prepared(name, enc, fresh) for name, enc in models.items()}

    # look ahead two batches, so decoding runs on while a batch is embedded and written
    ahead = max(4 * n_workers, 2 * batch_size // CHUNK + 1)

    def use_the_wait() -> None:  # the workers are behind: embed what is ready instead of idling
        if len(batch) >= MIN_EARLY_BATCH:
            bar.update(commit(batch, bad, embed))

    tasks = (PrepareTask(path, recipes, max_side) for path in todo)
    for prepared in ordered_map(prepare, tasks, pool=pool, workers=n_workers, chunk_size=CHUNK,
                                max_pending_chunks=ahead, on_wait=use_the_wait):
        if prepared.ok:
            batch.append((todo[prepared.path], prepared))
        else:
            bad.append(prepared)
        if len(batch) >= batch_size or len(bad) >= batch_size:
            bar.update(commit(batch, bad, embed))
    bar.update(commit(batch, bad, embed))


class _Committer:
    """Commits executor output through the writer, one transaction per batch, counting into the summary."""

    def __init__(self, ws: Workspace, where: RootMap, space_ids: dict[str, int], todo: dict[str, FoundFile],
                 summary: IndexSummary) -> None:
        self.ws, self.where, self.space_ids, self.todo, self.summary = ws, where, space_ids, todo, summary

    def shard(self, rows: list) -> int:
        """Commit one result shard of the ray engine (`shards.ShardRow`s, vectors already computed)."""
        by_path = {r.found.path: r.vectors for r in rows if r.prepared.ok}

        def stored(fresh: list[Prepared]) -> dict[str, np.ndarray]:
            return {name: np.stack([by_path[p.path][name] for p in fresh]) for name in self.space_ids}

        return self([(self.todo[r.found.path], r.prepared) for r in rows if r.prepared.ok],
                    [r.prepared for r in rows if not r.prepared.ok], stored)

    def __call__(self, batch: list[tuple[FoundFile, Prepared]], bad: list[Prepared],
                 embed: Callable[[list[Prepared]], dict[str, np.ndarray]]) -> int:
        """Embed (`embed(fresh)` gives each space's vectors of the non-duplicates) and commit one batch in one
        transaction; empties `batch` and `bad`; returns how many files it settled."""
        done = len(batch) + len(bad)
        if not done:
            return 0
        summary = self.summary
        with self.ws.session() as s:
            duplicates = find_duplicates(s, self.where, batch)
            fresh = [p for f, p in batch if f.path not in duplicates]
            vectors = embed(fresh) if fresh else {name: None for name in self.space_ids}
            for outcome in record_batch(s, self.where, self.space_ids, batch, vectors, duplicates):
                if outcome.status == "duplicate":
                    summary.duplicates += 1
                elif outcome.was_new:
                    summary.added += 1
                else:
                    summary.updated += 1
            for prepared in bad:
                found = self.todo[prepared.path]
                record_failure(s, self.where, self.space_ids, found.path, prepared.error or "unknown error",
                               found.size, found.mtime_ns)
                summary.failed += 1
                summary.failures.append({"path": found.path, "reason": prepared.error or "unknown error"})
        batch.clear()
        bad.clear()
        return done


def _record_problems(ws: Workspace, where: RootMap, space_ids: dict[str, int], plan: Plan, known: dict,
                     summary: IndexSummary) -> None:
    """Files the scan could not read: record each with its reason, unless already recorded just so."""
    fresh: list[ScanProblem] = []
    with ws.session() as s:
        for problem in plan.problems:
            old = known.get(problem.path)
            if old is not None and old.status == FAILED and old.error == problem.reason:
                summary.unchanged += 1
                continue
            record_failure(s, where, space_ids, problem.path, problem.reason)
            fresh.append(problem)
    summary.failed += len(fresh)
    summary.failures.extend({"path": p.path, "reason": p.reason} for p in fresh)
