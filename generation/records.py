"""Generation records in the catalog: write one per run, read it back, and make the run again.

The row layout is documented on `indexer.catalog.schema.GenerationRecord`. In short: one record per
stylize call or per interpolation strip (its step weights in `inputs["steps"]`), output paths relative to
`out_dir`, every input image pinned by sha256, and the stylizer pinned by method + build options + the
model ids it reported. `parent_id` names the record a run was derived from.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from indexer.catalog.schema import GenerationRecord
from indexer.imaging.decode import sha256_file
from indexer.limits import check_id
from indexer.workspace import Workspace

from .base import ContentRef, StyleRef, StylizeError, StylizeResult
from .inputs import DEFAULT_MAX_SIDE, InputError, describe_inputs, recorded_inputs
from .jobs import Generated, GenerationRequest, build_stylizer, generate
from .outputs import SavedOutputs

KINDS = ("stylize", "interpolate")


class RecordError(StylizeError):
    """A record is missing, or cannot be reproduced as recorded (changed inputs, different models)."""


@dataclass(frozen=True)
class StoredRecord:
    """A generation record with its JSON columns parsed."""

    id: int
    kind: str
    method: str
    params: dict[str, Any]
    seed: int
    options: dict[str, Any]
    model_ids: dict[str, str]
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    out_dir: str
    parent_id: int | None
    created_at: datetime | None

    def output_paths(self) -> list[Path]:
        """Absolute paths of the recorded images (not the grid), in order."""
        return [Path(self.out_dir) / f["path"] for f in self.outputs["files"]]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["created_at"] = self.created_at.isoformat() if self.created_at else None
        return data


def record_result(ws: Workspace, result: StylizeResult, content: ContentRef, styles: Sequence[StyleRef],
                  outputs: SavedOutputs, kind: str = "stylize", parent: int | None = None, *,
                  options: dict[str, Any] | None = None, steps: Sequence[Sequence[float]] | None = None,
                  max_side: int = DEFAULT_MAX_SIDE) -> int:
    """Store one run; returns the new record's id.

    `result` carries method, params, seed and model ids (for a strip, any step's: they share them);
    `options` how the stylizer was built; `steps` a strip's per-step weights (required for
    kind="interpolate"); `max_side` how the input images were decoded.
    """
    if kind not in KINDS:
        raise RecordError(f"record kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if (kind == "interpolate") != (steps is not None):
        raise RecordError("an interpolate record needs its step weights, and only it has them")
    inputs = describe_inputs(content, styles, max_side=max_side, steps=steps)
    row = GenerationRecord(
        kind=kind, method=result.method, params=_json(result.params), seed=int(result.seed),
        options=_json(options or {}), model_ids=_json(result.model_ids), inputs=_json(inputs),
        outputs=_json(outputs.to_dict()), out_dir=str(outputs.out_dir), parent_id=parent)
    with ws.session() as s:
        if parent is not None and s.get(GenerationRecord, parent) is None:
            raise RecordError(f"no generation record {parent} (given as the parent)")
        s.add(row)
        s.flush()
        return int(row.id)


def record_generation(ws: Workspace, request: GenerationRequest, generated: Generated,
                      options: dict[str, Any] | None = None, parent: int | None = None) -> int:
    """`record_result` for what `generation.jobs.generate` made from `request`."""
    return record_result(ws, generated.result, request.content, request.styles, generated.saved,
                         kind=request.kind, parent=parent, options=options, steps=request.steps,
                         max_side=request.max_side)


def load_record(ws: Workspace, record_id: int) -> StoredRecord:
    """The record `record_id`, or RecordError when there is none."""
    check_id(record_id, "a generation record id")
    with ws.session() as s:
        row = s.get(GenerationRecord, int(record_id))
        if row is None:
            raise RecordError(f"no generation record {record_id}")
        return StoredRecord(
            id=row.id, kind=row.kind, method=row.method, params=json.loads(row.params), seed=int(row.seed),
            options=json.loads(row.options), model_ids=json.loads(row.model_ids), inputs=json.loads(row.inputs),
            outputs=json.loads(row.outputs), out_dir=row.out_dir, parent_id=row.parent_id, created_at=row.created_at)


def regenerate(ws: Workspace, record_id: int, out_dir: str | Path, *, overwrite: bool = False,
               progress: bool | None = None) -> StylizeResult:
    """Make record `record_id` again in `out_dir`, under the recorded file names.

    The inputs are re-read and must match their recorded sha256; the stylizer is rebuilt from the
    recorded method and options and must report the recorded model ids; params and seed are the
    recorded ones. For a strip the result holds every step's images in order (and the grid is redrawn).
    Compare with `differing_outputs`.
    """
    rec = load_record(ws, record_id)
    try:
        content, styles = recorded_inputs(ws, rec.inputs)
    except InputError as exc:
        raise RecordError(f"cannot regenerate record {rec.id}: {exc}") from None
    stylizer = build_stylizer(rec.method, rec.options, workspace=ws)
    if dict(stylizer.model_ids) != rec.model_ids:
        raise RecordError(f"cannot regenerate record {rec.id}: it was made with models {rec.model_ids}, "
                          f"but {rec.method!r} here runs {dict(stylizer.model_ids)}")
    steps = rec.inputs.get("steps")
    request = GenerationRequest(content, styles, rec.params, rec.seed,
                                [tuple(row) for row in steps] if steps is not None else None,
                                int(rec.inputs.get("decode", {}).get("max_side", DEFAULT_MAX_SIDE)))
    grid = rec.outputs.get("grid")
    generated = generate(stylizer, request, out_dir, overwrite=overwrite,
                         names=[f["path"] for f in rec.outputs["files"]], grid=grid["path"] if grid else None,
                         progress=progress)
    return generated.result


def differing_outputs(rec: StoredRecord, out_dir: str | Path) -> list[str]:
    """Names of the record's files (images and grid) whose copy in `out_dir` is missing or not
    byte-identical to what was recorded; empty when a regeneration reproduced the run exactly."""
    files = list(rec.outputs["files"]) + ([rec.outputs["grid"]] if rec.outputs.get("grid") else [])
    out = Path(out_dir)
    return [f["path"] for f in files if not (out / f["path"]).is_file() or sha256_file(out / f["path"]) != f["sha256"]]


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)
