"""Corpora: named sets of folders with a role (style | content | both)."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from .catalog.paths import root_abspath, stored_root
from .catalog.schema import Corpus, CorpusRoot
from .workspace import Workspace, WorkspaceError

ROLES = ("style", "content", "both")


@dataclass(frozen=True)
class CorpusInfo:
    id: int
    name: str
    role: str
    roots: tuple[str, ...]  # absolute


def _roots(ws: Workspace, corpus: Corpus) -> tuple[str, ...]:
    return tuple(sorted(root_abspath(ws.home, r.path) for r in corpus.roots))


def check_corpus_args(name: str, role: str | None) -> None:
    """Raise WorkspaceError for a corpus name or role no corpus can have (before anything is written)."""
    if not name or not name.strip():
        raise WorkspaceError("a corpus needs a non-empty name (--corpus NAME)")
    if role is not None and role not in ROLES:
        raise WorkspaceError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")


def ensure_corpus(ws: Workspace, name: str, role: str | None, roots: list[str]) -> CorpusInfo:
    """Get or create a corpus, adding any new roots. A role given for an existing corpus must match."""
    check_corpus_args(name, role)
    with ws.session() as s:
        corpus = s.scalar(select(Corpus).where(Corpus.name == name))
        if corpus is None:
            corpus = Corpus(name=name, role=role or "both")
            s.add(corpus)
            s.flush()
        elif role is not None and role != corpus.role:
            raise WorkspaceError(f"corpus {name!r} has role {corpus.role!r}, not {role!r}")
        have = set(_roots(ws, corpus))
        for root in roots:
            if root not in have:
                corpus.roots.append(CorpusRoot(path=stored_root(ws.home, root)))
        s.flush()
        return CorpusInfo(corpus.id, corpus.name, corpus.role, _roots(ws, corpus))


def list_corpora(ws: Workspace) -> list[CorpusInfo]:
    with ws.session() as s:
        return [CorpusInfo(c.id, c.name, c.role, _roots(ws, c))
                for c in s.scalars(select(Corpus).order_by(Corpus.name))]


def get_corpus(ws: Workspace, name: str) -> CorpusInfo:
    for corpus in list_corpora(ws):
        if corpus.name == name:
            return corpus
    known = ", ".join(c.name for c in list_corpora(ws)) or "none yet"
    raise WorkspaceError(f"no corpus named {name!r} (corpora: {known})")
