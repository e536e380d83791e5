"""The generation history: past runs (generation records) newest first, in the words a list shows, where a
run's images go by default, and "make this one again" into a fresh folder. The Studio's History page and
`stylelens history` / `stylelens regenerate` both use these functions."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from indexer.catalog.schema import GenerationRecord
from indexer.limits import check_k
from indexer.layout import WorkspaceLayout
from indexer.workspace import Workspace

from .base import StylizeResult
from .records import StoredRecord, differing_outputs, load_record, regenerate



def fresh_out_dir(layout: WorkspaceLayout) -> Path:
    """WORKSPACE/generated/<UTC time to the microsecond>: a new folder name for every run."""
    return layout.generated_dir / datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")


def _source(ref: dict[str, Any]) -> str:
    """`id:12`, a file name, or `"prompt"` for one input as the record describes it."""
    source = ref.get("source") or ""
    if source.startswith("path:"):
        return Path(source[5:]).name
    return source or (f'"{ref["prompt"]}"' if ref.get("prompt") else "-")


@dataclass(frozen=True)
class HistoryEntry:
    """One past run as a list shows it."""

    record: StoredRecord

    @property
    def content(self) -> str:
        """The content input: `id:12`, a file name, or the prompt in quotes (with the prompt when both)."""
        c = self.record.inputs.get("content") or {}
        text = _source(c)
        return f'{text} + "{c["prompt"]}"' if c.get("source") and c.get("prompt") else text

    @property
    def styles(self) -> list[str]:
        """The style inputs in order (a strip walks them in this order), weight added when not 1."""
        return [_source(s) + (f" ×{s['weight']:g}" if s.get("weight", 1) != 1 else "")
                for s in self.record.inputs.get("styles", [])]

    @property
    def images(self) -> list[Path]:
        """The run's images, in order."""
        return self.record.output_paths()

    @property
    def thumbnail(self) -> Path | None:
        """The picture that stands for the run: its strip grid, else its first image (None when none)."""
        grid = self.record.outputs.get("grid")
        return Path(self.record.out_dir) / grid["path"] if grid else next(iter(self.images), None)

    def summary(self) -> str:
        """`#7 interpolate · fast · 3 images · seed 0 · 2026-12-03 12:00 UTC`."""
        r = self.record
        when = f" · {r.created_at:%Y-%m-%d %H:%M} UTC" if r.created_at else ""
        n = len(self.images)
        return f"#{r.id} {r.kind} · {r.method} · {n} image{'s' if n != 1 else ''} · seed {r.seed}{when}"

    def inputs_text(self) -> str:
        """`content id:3 · styles id:4 → id:7`."""
        return f"content {self.content} · styles {' → '.join(self.styles) or '-'}"

    def params_text(self) -> str:
        """The parameters as `name=value` pairs, sorted by name (and the model, when one was chosen)."""
        model = self.record.options.get("model")
        pairs = [f"{k}={v}" for k, v in sorted(self.record.params.items())]
        return ", ".join(([f"model={model}"] if model else []) + pairs)

    def to_dict(self) -> dict[str, Any]:
        return {**self.record.to_dict(), "content": self.content, "styles": self.styles,
                "images": [str(p) for p in self.images],
                "thumbnail": str(self.thumbnail) if self.thumbnail else None}


def count_generations(ws: Workspace, method: str | None = None) -> int:
    """How many records there are (of `method`, when given)."""
    query = select(func.count(GenerationRecord.id))
    if method:
        query = query.where(GenerationRecord.method == method)
    with ws.session() as s:
        return int(s.scalar(query) or 0)


def list_generations(ws: Workspace, *, limit: int = 20, offset: int = 0,
                     method: str | None = None) -> list[HistoryEntry]:
    """Records newest first (highest id first), `offset` skipped, at most `limit`; only `method`'s if given."""
    check_k(limit, offset)
    query = select(GenerationRecord.id).order_by(GenerationRecord.id.desc()).limit(limit).offset(offset)
    if method:
        query = query.where(GenerationRecord.method == method)
    with ws.session() as s:
        ids = list(s.scalars(query))
    return [HistoryEntry(load_record(ws, i)) for i in ids]


@dataclass(frozen=True)
class Regenerated:
    """A run made again: where, its images, and the recorded files whose new copy differs (empty: exact)."""

    record_id: int
    out_dir: Path
    images: list[Path]
    differing: list[str]
    result: StylizeResult


def regenerate_record(ws: Workspace, record_id: int, out_dir: str | Path | None = None, *,
                      overwrite: bool = False, progress: bool | None = None) -> Regenerated:
    """Make record `record_id` again in `out_dir` (default: a fresh folder under WORKSPACE/generated) and
    compare the new files with the recorded ones."""
    from .outputs import prepare_out_dir

    record = load_record(ws, record_id)
    folder = prepare_out_dir(out_dir if out_dir is not None else fresh_out_dir(ws))
    result = regenerate(ws, record.id, folder, overwrite=overwrite, progress=progress)
    return Regenerated(record.id, folder, [folder / f["path"] for f in record.outputs["files"]],
                       differing_outputs(record, folder), result)
