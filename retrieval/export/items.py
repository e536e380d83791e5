"""Plain data types for dataset export: the items going in, the report coming out."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class ExportError(Exception):
    """An export that cannot be done as asked (bad arguments, OUT not empty, strict skip...)."""


@dataclass(frozen=True)
class ExportItem:
    """One image of a curated collection, as the catalog knows it."""

    id: int                  # catalog image id
    path: str                # absolute source path of the image file (read-only!)
    sha256: str
    corpus: str
    tags: tuple[str, ...] = ()
    note: str | None = None
    added_by: str | None = None   # provenance: query / mining run / person
    added_at: str | None = None   # ISO-8601
    vectors: dict[str, tuple[float, ...]] | None = None  # e.g. {"content": (...), "style": (...)}


@dataclass(frozen=True)
class SkippedItem:
    """An item left out of the export, and why."""

    id: int
    path: str
    reason: str


@dataclass(frozen=True)
class ExportReport:
    """What an export wrote: ``files`` are POSIX paths relative to ``out``, sorted."""

    format: str
    out: Path
    n_items: int
    files: tuple[str, ...] = ()
    skipped: tuple[SkippedItem, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (for ``--json`` output)."""
        return {
            "format": self.format,
            "out": str(self.out),
            "n_items": self.n_items,
            "files": list(self.files),
            "skipped": [{"id": s.id, "path": s.path, "reason": s.reason} for s in self.skipped],
        }
