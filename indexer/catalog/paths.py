"""Image paths in the catalog: a file is stored as (corpus root, path relative to that root).

A root is stored relative to the workspace home when it lies inside it (so a copied workspace folder works
as it is), else absolute. `join_root` is the one place a stored pair becomes an absolute path; readers use
it through `RootMap`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from .schema import CorpusRoot, ImageRecord


def join_root(root: str, relpath: str) -> str:
    """The absolute path of `relpath` under the absolute `root` ("" names the root itself: a file root)."""
    return os.path.join(root, relpath) if relpath else root


def root_abspath(home: str | Path, stored: str) -> str:
    """A stored root as an absolute path: relative ones are under the workspace home."""
    return stored if os.path.isabs(stored) else os.path.normpath(os.path.join(home, stored))


def stored_root(home: str | Path, root: str) -> str:
    """How an absolute root is stored: relative to `home` when it lies inside it, else as it is."""
    home = os.fspath(home)
    if root.startswith(home.rstrip(os.sep) + os.sep):
        return os.path.relpath(root, home)
    return root


def relative_to(root: str, path: str) -> str | None:
    """`path` relative to `root` ("" for the root itself), or None when it is not under it."""
    if path == root:
        return ""
    prefix = root.rstrip(os.sep) + os.sep
    return path[len(prefix):] if path.startswith(prefix) else None


@dataclass
class RootMap:
    """The absolute path of each corpus root (of one corpus, or of all), by root id."""

    roots: dict[int, str] = field(default_factory=dict)
    corpus_id: int | None = None

    @classmethod
    def load(cls, s: Session, home: str | Path, corpus_id: int | None = None) -> "RootMap":
        stmt = select(CorpusRoot.id, CorpusRoot.path)
        if corpus_id is not None:
            stmt = stmt.where(CorpusRoot.corpus_id == corpus_id)
        return cls({rid: root_abspath(home, p) for rid, p in s.execute(stmt)}, corpus_id)

    def abspath(self, root_id: int, relpath: str) -> str:
        return join_root(self.roots[root_id], relpath)

    def of(self, image: ImageRecord) -> str:
        return self.abspath(image.root_id, image.path)

    def candidates(self, path: str) -> list[tuple[int, str]]:
        """(root id, relative path) for every root holding the absolute `path`, innermost first."""
        found = [(rid, rel) for rid, root in self.roots.items() if (rel := relative_to(root, path)) is not None]
        return sorted(found, key=lambda item: len(item[1]))

    def locate(self, path: str) -> tuple[int, str]:
        """(root id, relative path) under which a new file is recorded: the innermost root holding it."""
        found = self.candidates(path)
        if not found:
            raise ValueError(f"{path} is under no root of the corpus")
        return found[0]


def image_path(s: Session, home: str | Path, image: ImageRecord) -> str:
    """The absolute path of one catalog image."""
    root = s.get(CorpusRoot, image.root_id)
    return join_root(root_abspath(home, root.path), image.path)
