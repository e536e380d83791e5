"""Index page: add a folder as a corpus with its role (`indexer.pipeline.run.index_paths`, in the
background) and watch its progress; failed files with their reasons (`indexer.status.failed_files`); the
status of every corpus and space (`indexer.status.workspace_status`)."""
from __future__ import annotations

import os
import time
from concurrent.futures import Future
from dataclasses import dataclass, field

import streamlit as st

from indexer.corpora import ROLES
from indexer.pipeline.run import IndexSummary, default_workers, index_paths
from indexer.status import failed_files, workspace_status
from indexer.workspace import Workspace
from ui.studio import jobs, state
from ui.studio.context import workspace
from ui.studio.errors import message

_JOB = "index_job"
POLL_SECONDS = 0.5
_PROFILES = {"auto": None, "starter": "starter", "full": "full"}


@dataclass
class IndexJob:
    """A run in the background: what was asked, its Future, and the (done, total) it last reported."""

    corpus: str
    paths: list[str]
    future: Future
    progress: list[int] = field(default_factory=lambda: [0, 0])

    def report(self, done: int, total: int) -> None:
        """`index_paths`' on_progress callback, called from the job's thread (one list store: no lock needed)."""
        self.progress = [done, total]


def _form(ws: Workspace) -> IndexJob | None:
    new_workspace = ws.get_setting("profile") is None
    with st.form("index"):
        folder = st.text_input("Folder on this machine", key="index_folder", placeholder="/path/to/images")
        name_col, role_col = st.columns(2)
        corpus = name_col.text_input("Corpus name", key="index_corpus")
        role = role_col.selectbox("Role", ROLES, index=ROLES.index("both"), key="index_role",
                                  help="content: photos to stylize and mine x/y from; style: artworks; both")
        profile = None
        if new_workspace:
            profile = _PROFILES[st.selectbox("Models of this new workspace", list(_PROFILES), key="index_profile",
                                             help="auto: full when its weights are here, else starter")]
        workers = st.number_input("Decoding processes (0 = in the server process)", min_value=0, max_value=64,
                                  value=default_workers(), key="index_workers")
        if not st.form_submit_button("Index", key="index_go"):
            return None
    path = os.path.abspath(os.path.expanduser(folder.strip())) if folder.strip() else ""
    if not path or not os.path.isdir(path):
        st.error(f"No such folder: {folder or '(empty)'}")
        return None
    job = IndexJob(corpus.strip(), [path], Future())
    job.future = jobs.submit(index_paths, ws, [path], corpus.strip(), role, profile=profile, workers=int(workers),
                             progress=False, on_progress=job.report)
    return job


def _watch(job: IndexJob) -> None:
    """Progress until the job ends (also after a page switch: the job runs on in the background)."""
    bar = st.progress(0.0, text=f"Indexing {job.corpus}...")
    while not job.future.done():
        done, total = job.progress
        bar.progress(min(1.0, done / max(1, total)),
                     text=f"Indexing {job.corpus}: {done} of {total} new or changed files")
        time.sleep(POLL_SECONDS)
    bar.progress(1.0, text=f"Indexing {job.corpus}: finished")


def _outcome(job: IndexJob) -> None:
    error = job.future.exception()
    if error is not None:
        state.show_message("error", f"Indexing {job.corpus or '(no name)'} failed: {message(error)}")
        return
    s: IndexSummary = job.future.result()
    if s.notice:
        st.info(s.notice)
    st.success(f"Corpus {s.corpus} ({s.role}), profile {s.profile}: {s.added} added, {s.updated} updated, "
               f"{s.removed} removed, {s.unchanged} unchanged, {s.duplicates} duplicates, {s.failed} failed "
               f"in {s.seconds:.1f}s")
    if s.failures:
        st.warning(f"{len(s.failures)} files failed in this run")
        st.dataframe(s.failures, hide_index=True)


def corpus_rows(corpora: list[dict]) -> list[dict]:
    """One table row per corpus, with a count for every image status any corpus has (0, never empty)."""
    statuses = sorted({k for c in corpora for k in c["images"]})
    return [{"corpus": c["name"], "role": c["role"], "folders": ", ".join(c["roots"]),
             **{k: int(c["images"].get(k) or 0) for k in statuses}} for c in corpora]


def _status(ws: Workspace) -> None:
    status = workspace_status(ws)
    st.subheader("Spaces")
    st.caption(f"Workspace {status['workspace']} · profile {status['profile'] or 'not chosen yet'} · "
               f"database {status['database']}")
    st.dataframe([{"space": sp["name"], "encoder": sp["encoder_id"], "dim": sp["dim"], "metric": sp["metric"],
                   "index": sp["index"]["factory"] if sp["index"] else "none yet",
                   "vectors": sp["index"]["vectors"] if sp["index"] else 0,
                   "pending changes": sp["pending_changes"], "images without a vector": sp["missing_vectors"]}
                  for sp in status["spaces"]], hide_index=True)
    st.subheader("Corpora")
    if status["corpora"]:
        st.dataframe(corpus_rows(status["corpora"]), hide_index=True)
    else:
        st.info("No corpora yet: index a folder above (photos as content, artworks as style).")
    failed = failed_files(ws)
    st.subheader(f"Failed files ({len(failed)})")
    if failed:
        st.dataframe(failed, hide_index=True, column_order=("corpus", "path", "reason"))
    else:
        st.caption("None.")


def render() -> None:
    """The whole page."""
    st.title("Index")
    state.show_flashes()
    ws = workspace()
    started = _form(ws)
    if started is not None:
        st.session_state[_JOB] = started
    job: IndexJob | None = st.session_state.get(_JOB)
    if job is not None:
        _watch(job)
        _outcome(job)
    _status(ws)


if __name__ == "__main__":
    render()
