"""Index choices a command asks for (`--index-factory`, `--index-memory`), kept only once it succeeded.

A forced factory that cannot work on this corpus (e.g. `IVF4096,Flat` on 40 images: "cannot train") used
to be saved before the run, so every later run failed too. Now the run uses the choices as given, and they
become the workspace's settings in one transaction after its snapshots were written.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from sqlalchemy import select

from .catalog.schema import Setting, Space
from .index_sync import MEMORY_BUDGET_KEY
from .spaces import SpaceInfo
from .vectors.selection import parse_override
from .workspace import Workspace, WorkspaceError


@dataclass(frozen=True)
class IndexSettings:
    """`factories`: {space: faiss factory string, or None for the automatic choice}; `memory_budget`: bytes
    per index for the automatic choice (None: keep the workspace's)."""

    factories: dict[str, str | None] = field(default_factory=dict)
    memory_budget: int | None = None

    def check(self, spaces: dict[str, tuple[int, str]]) -> None:
        """Validate against {space: (dimension, metric)}: unknown spaces and bad factory strings raise."""
        if self.memory_budget is not None and self.memory_budget <= 0:
            raise ValueError(f"the index memory budget must be positive, got {self.memory_budget}")
        for name, factory in self.factories.items():
            if name not in spaces:
                known = ", ".join(sorted(spaces)) or "none"
                raise WorkspaceError(f"no space named {name!r} for --index-factory (spaces: {known})")
            if factory is not None:
                dim, metric = spaces[name]
                parse_override(factory, dim=dim, metric=metric)  # raises InvalidFactoryError

    def applied_to(self, space: SpaceInfo) -> SpaceInfo:
        """`space` as this run builds it: with its forced factory, if one was given."""
        if space.name not in self.factories:
            return space
        return replace(space, index_factory=self.factories[space.name])

    def save(self, ws: Workspace) -> None:
        """Keep the choices for the workspace's later runs (one transaction)."""
        if not self.factories and self.memory_budget is None:
            return
        with ws.session() as s:
            for name, factory in self.factories.items():
                row = s.scalar(select(Space).where(Space.name == name))
                if row is None:
                    raise WorkspaceError(f"no space named {name!r}")
                row.index_factory = factory
            if self.memory_budget is not None:
                s.merge(Setting(key=MEMORY_BUDGET_KEY, value=str(self.memory_budget)))
