"""Moved corpus folders: point a corpus root at its new place, once the files are found there.

Images are stored relative to their root (see `indexer.catalog.paths`), so a move rewrites one row: ids,
vectors and indexes stay as they are and nothing is embedded again. `relocate_corpus` is the explicit
command; `detect_moves` is what `index_paths` does when a corpus's recorded folder is gone and the folder it
is given holds the same files.
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .catalog.paths import join_root, relative_to, root_abspath, stored_root
from .catalog.schema import Corpus, CorpusRoot, ImageRecord
from .imaging.decode import sha256_file
from .pipeline.lock import index_lock
from .workspace import Workspace, WorkspaceError

SAMPLE = 32  # files checked at the new place (spread over the root's files, by id)


class RelocateError(WorkspaceError):
    """A relocation refused: the new folder does not hold the corpus's files, or the root is ambiguous."""


@dataclass(frozen=True)
class Relocation:
    corpus: str
    old_root: str
    new_root: str
    images: int  # catalogued files under the root (all keep their ids and vectors)
    checked: int  # of them, found at the new place with their recorded size

    def to_dict(self) -> dict:
        return asdict(self)


def relocate_corpus(ws: Workspace, name: str, new_root: str, old_root: str | None = None) -> Relocation:
    """Point corpus `name`'s root `old_root` (default: its only root, or its only missing one) at `new_root`.

    Refused, with nothing written, unless a sample of the root's files exists under `new_root` with the
    recorded sizes. One transaction; roots nested in the old one move along."""
    ws.require_writable("relocating a corpus")
    new_abs = _absolute(new_root)
    if not os.path.exists(new_abs):
        raise RelocateError(f"{new_abs} does not exist")
    with index_lock(ws), ws.session() as s:
        corpus = s.scalar(select(Corpus).where(Corpus.name == name))
        if corpus is None:
            raise RelocateError(f"no corpus named {name!r}")
        root = _choose_root(ws, corpus, None if old_root is None else _absolute(old_root))
        old_abs = root_abspath(ws.home, root.path)
        problem = missing_files(s, root.id, new_abs, same_mtime=False)
        if problem is not None:
            raise RelocateError(f"{new_abs} does not hold corpus {name!r}'s files from {old_abs}: {problem}; "
                                "nothing was changed")
        return _move(ws, s, corpus, root, new_abs)


def detect_moves(ws: Workspace, s: Session, corpus_name: str, new_roots: list[str]) -> list[Relocation]:
    """For `index_paths`: each given folder that is not yet a root of the corpus but holds the same files
    (same relative names and sizes, and mtimes or else sha256; sampled) as a root whose folder is gone takes
    that root's place."""
    corpus = s.scalar(select(Corpus).where(Corpus.name == corpus_name))
    if corpus is None:
        return []
    moves: list[Relocation] = []
    for new_abs in new_roots:
        known = {root_abspath(ws.home, r.path) for r in corpus.roots}
        if new_abs in known:
            continue
        for root in corpus.roots:
            old_abs = root_abspath(ws.home, root.path)
            if os.path.lexists(old_abs) or not _has_files(s, root.id):
                continue
            if missing_files(s, root.id, new_abs, same_mtime=True) is None:
                moves.append(_move(ws, s, corpus, root, new_abs))
                break
    return moves


def missing_files(s: Session, root_id: int, new_root: str, *, same_mtime: bool, sample: int = SAMPLE) -> str | None:
    """Why `new_root` does not hold root `root_id`'s files (checked: a sample spread over them, each with its
    recorded size, and when `same_mtime` its mtime or else its sha256); None when it does."""
    rows = s.execute(select(ImageRecord.path, ImageRecord.bytes, ImageRecord.mtime_ns, ImageRecord.sha256)
                     .where(ImageRecord.root_id == root_id, ImageRecord.status != "failed")
                     .order_by(ImageRecord.id)).all()
    step = max(1, len(rows) // sample)
    for relpath, size, mtime_ns, sha256 in rows[::step][:sample]:
        path = join_root(new_root, relpath)
        try:
            st = os.stat(path)
        except OSError:
            return f"{path} is missing"
        if st.st_size != size:
            return f"{path} has {st.st_size} bytes, the catalogued file {size}"
        if same_mtime and st.st_mtime_ns != mtime_ns and sha256_file(path) != sha256:
            return f"{path} has other content"
    return None


def _has_files(s: Session, root_id: int) -> bool:
    return s.scalar(select(ImageRecord.id).where(ImageRecord.root_id == root_id, ImageRecord.status != "failed")
                    .limit(1)) is not None


def _choose_root(ws: Workspace, corpus: Corpus, old_abs: str | None) -> CorpusRoot:
    roots = {root_abspath(ws.home, r.path): r for r in corpus.roots}
    listed = ", ".join(sorted(roots)) or "none"
    if old_abs is not None:
        if old_abs not in roots:
            raise RelocateError(f"corpus {corpus.name!r} has no root {old_abs} (roots: {listed})")
        return roots[old_abs]
    if len(roots) == 1:
        return next(iter(roots.values()))
    gone = [r for path, r in roots.items() if not os.path.lexists(path)]
    if len(gone) == 1:
        return gone[0]
    raise RelocateError(f"corpus {corpus.name!r} has {len(roots)} roots ({listed}); name the one that moved "
                        "with --from OLDROOT")


def _move(ws: Workspace, s: Session, corpus: Corpus, root: CorpusRoot, new_abs: str) -> Relocation:
    """Rewrite `root` (and roots nested in it) to `new_abs`, in the caller's transaction."""
    old_abs = root_abspath(ws.home, root.path)
    targets = {root_abspath(ws.home, r.path): r for r in corpus.roots}
    if new_abs in targets and targets[new_abs] is not root:
        raise RelocateError(f"{new_abs} is already a root of corpus {corpus.name!r}")
    for path, other in targets.items():
        rel = relative_to(old_abs, path)
        if rel is not None:
            other.path = stored_root(ws.home, join_root(new_abs, rel))
    s.flush()
    count = select(func.count()).select_from(ImageRecord).where(ImageRecord.root_id == root.id)
    images = int(s.scalar(count))
    checked = min(SAMPLE, int(s.scalar(count.where(ImageRecord.status != "failed"))))
    return Relocation(corpus.name, old_abs, new_abs, images, checked)


def _absolute(path: str) -> str:
    return os.path.normpath(os.path.abspath(os.path.expanduser(path)))
