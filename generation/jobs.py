"""Run one generation request end to end: build the stylizer, check the outputs are free, run, save.

A request is a single stylize call or an interpolation strip (`steps` = one weight row per step). The
files are named from a digest of the whole request (see `generation.outputs`), checked before any model
runs, and written only when every image is made. Recording the run is `generation.records`' job.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from indexer.layout import WorkspaceLayout
from indexer.limits import check_seed

from .base import (
    ContentRef,
    ProgressCallback,
    StyleRef,
    StylizeError,
    Stylizer,
    StylizeResult,
    params_from_dict,
)
from .inputs import DEFAULT_MAX_SIDE, describe_inputs
from .interpolate import Weights, interpolation_strip
from .outputs import (
    SavedFile,
    SavedOutputs,
    check_free,
    check_names,
    grid_name,
    output_names,
    output_stem,
    prepare_out_dir,
    request_digest,
    save_images,
    save_strip_grid,
    step_label,
)
from .registry import create_stylizer


@dataclass
class GenerationRequest:
    """What to make: content, weighted styles, the method's params (a dict), a seed, and for a strip the
    per-step style weights (`steps`; see `generation.interpolate.interpolation_weights`)."""

    content: ContentRef
    styles: list[StyleRef]
    params: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    steps: list[Weights] | None = None
    max_side: int = DEFAULT_MAX_SIDE  # how the input images were decoded, for the record

    def __post_init__(self) -> None:
        check_seed(self.seed)  # before any model runs or file is written: the record's BIGINT holds it

    @property
    def kind(self) -> str:
        return "stylize" if self.steps is None else "interpolate"


@dataclass
class Generated:
    """The outcome of `generate`: the merged result (every image, in order), each call's result (one per
    strip step), what was written, and the JSON description the file names were derived from."""

    result: StylizeResult
    calls: list[StylizeResult]
    saved: SavedOutputs
    description: dict[str, Any]


def build_stylizer(method: str, options: dict[str, Any] | None = None,
                   workspace: WorkspaceLayout | None = None) -> Stylizer:
    """`create_stylizer(method, workspace=workspace, **options)`; a method whose module cannot be imported is
    a StylizeError."""
    try:
        return create_stylizer(method, workspace=workspace, **(options or {}))
    except ImportError as exc:
        raise StylizeError(f"method {method!r} is unavailable here: {exc}") from exc
    except TypeError as exc:  # an option the method's factory does not take
        raise StylizeError(f"method {method!r} does not accept {sorted(options or {})}: {exc}") from exc


def describe_request(stylizer: Stylizer, request: GenerationRequest) -> dict[str, Any]:
    """The request as the record keeps it: kind, method, resolved params, seed, model ids and inputs."""
    params = dataclasses.asdict(params_from_dict(stylizer.Params, request.params))
    return {"kind": request.kind, "method": stylizer.name, "params": params, "seed": int(request.seed),
            "model_ids": dict(stylizer.model_ids),
            "inputs": describe_inputs(request.content, request.styles, max_side=request.max_side,
                                      steps=request.steps)}


def generate(stylizer: Stylizer, request: GenerationRequest, out_dir: str | Path, *, overwrite: bool = False,
             names: Sequence[str] | None = None, grid: str | None = None,
             progress: bool | None = None, on_step: Callable[[int, int], None] | None = None,
             on_progress: ProgressCallback | None = None) -> Generated:
    """Make the request's images with `stylizer` and save them (PNG) in `out_dir`.

    `names` / `grid` replace the generated file names (one per image / the strip grid's; a regeneration
    reuses the recorded ones). Refuses before running when the files already exist, unless `overwrite`.
    `on_step(done, total)` reports each image (or strip step) made; `on_progress` each denoising step of
    each image, with its ETA (`generation.base.ProgressEvent`).
    """
    out = prepare_out_dir(out_dir)
    description = describe_request(stylizer, request)
    stem = output_stem(stylizer.name, request_digest(description))
    grid = grid or grid_name(stem)
    if names is None:
        check_free(out, stem, overwrite=overwrite)
    else:
        check_names(out, [*names, grid] if request.steps is not None else names, overwrite=overwrite)
    if request.steps is None:
        calls = [stylizer.stylize(request.content, request.styles, request.params, request.seed,
                                  on_progress=on_progress)]
        if on_step is not None:
            on_step(1, 1)
    else:
        calls = interpolation_strip(stylizer, request.content, request.styles, len(request.steps), request.params,
                                    request.seed, weights=request.steps, progress=progress, on_step=on_step,
                                    on_progress=on_progress)
    images = [im for call in calls for im in call.images]
    counts = [len(call.images) for call in calls]
    if names is None:
        names = output_names(stem, counts, steps=request.steps is not None)
    elif len(names) != len(images):
        raise StylizeError(f"the run made {len(images)} images where {len(names)} were expected")
    files = save_images(images, out, list(names), overwrite=overwrite)
    grid_file, step_files = _strip_extras(calls, request, out / grid, overwrite)
    first = calls[0]
    merged = StylizeResult(first.method, images, first.params, first.seed, first.model_ids)
    return Generated(merged, calls, SavedOutputs(out, files, grid_file, step_files), description)


def _strip_extras(calls: list[StylizeResult], request: GenerationRequest, grid: Path,
                  overwrite: bool) -> tuple[SavedFile | None, list[list[int]] | None]:
    """For a strip: the grid PNG (first image of each step, labelled with its weights) and step -> files."""
    if request.steps is None:
        return None, None
    step_files, start = [], 0
    for call in calls:
        step_files.append(list(range(start, start + len(call.images))))
        start += len(call.images)
    sha = save_strip_grid([call.images[0] for call in calls], [step_label(row) for row in request.steps],
                          grid, overwrite=overwrite)
    return SavedFile(grid.name, sha), step_files
