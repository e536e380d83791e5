"""The generate action of the Refine page: a content image, the picked styles, a method with its main
parameters; runs `generation.jobs.generate` (a single stylize, or an interpolation strip along the same
path Refine walks) with progress per step, records it (`generation.records`), shows the strip and where
it was saved (WORKSPACE/generated/<time>/)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import streamlit as st

from generation import list_generators, list_methods
from generation.base import ContentRef, Stylizer
from generation.history import fresh_out_dir
from generation.inputs import resolve_content, resolve_style
from generation.interpolate import interpolation_weights
from generation.jobs import GenerationRequest, build_stylizer, generate
from generation.method import ProgressEvent
from generation.weights import WeightsMissingError
from generation.records import record_generation
from indexer.layout import WorkspaceLayout
from indexer.workspace import Workspace

from . import state, thumbs, uploads
from .errors import shown_errors
from .params_form import params_form

DEFAULT_METHOD = "fast"
_LAST = "last_generation"


@dataclass(frozen=True)
class GenerationView:
    """What a finished run left to show: its record, the strip grid (None for one stylize) and the images."""

    record_id: int
    method: str
    grid: Path | None
    images: list[Path]
    out_dir: Path


@st.cache_resource(show_spinner="Loading the method's models...")
def _stylizer(method: str, model: str | None, home: str) -> Stylizer:
    return build_stylizer(method, {"model": model} if model else None, workspace=WorkspaceLayout(home))


def _model_picker(ws: Workspace, method: str) -> tuple[str | None, bool]:
    """The method's models, its default first (a placeholder such as PARASOL's "<checkpoint folder ...>" is
    never the default); ones whose weights are not here say so. (model or None for the method's own, whether
    its weights are here)."""
    rows = [g for g in list_generators(ws) if g.method == method and g.model_id]
    present = {g.model_id: g.weights_present for g in rows}
    if len(rows) <= 1:  # one model (or none listed): the method's own default
        return None, all(present.values())
    options = list(present)
    default = next((i for i, m in enumerate(options) if not m.startswith("<")), 0)
    model = st.selectbox("Model", options, index=default, key=f"gen-{method}-model",
                         format_func=lambda m: m if present[m] else f"{m} (weights not here)")
    return model, present[model]


def weights_note(ws: Workspace, method: str, model: str | None) -> str:
    """What to do when the chosen model's weights are not on this machine (before any parameter is shown):
    the method's own missing-weights message in the Studio's words (the files, the exact folder), which
    building and loading the stylizer raises at once; a general note if it cannot be had."""
    name = model or method
    head = f"The weights of {name} are not on this machine, so {method} cannot run with it here.\n"
    try:
        _stylizer(method, model, str(ws.home)).load()
    except WeightsMissingError as exc:
        return head + exc.message("studio")
    except Exception:  # noqa: BLE001 - any other failure is shown when the form runs; keep the general note
        pass
    return head + ("Choose a model without “(weights not here)” in the Model list, or put its weights in place "
                   "(see the README's model section), then come back to this page.")


def run_generation(ws: Workspace, stylizer: Stylizer, content: state.Pick | None, styles: list[state.Pick],
                   params: dict[str, Any], seed: int, steps: int, prompt: str = "",
                   options: dict[str, Any] | None = None) -> GenerationView:
    """Resolve the picks, generate (a strip when 2+ styles) with a progress bar, record and return the run.
    `prompt`: text content for methods that take one (with or without a content image); `options`: how the
    stylizer was built (e.g. its model), recorded so `regenerate` rebuilds the same one."""
    content_ref = (resolve_content(ws, content.ref, prompt=prompt or None) if content is not None
                   else ContentRef(prompt=prompt))
    style_refs = [resolve_style(ws, p.ref) for p in styles]
    weights = interpolation_weights(len(style_refs), steps) if len(style_refs) >= 2 else None
    request = GenerationRequest(content_ref, style_refs, params, seed, weights)
    calls = len(weights) if weights else 1
    bar = st.progress(0.0, text=f"Generating with {stylizer.name}: 0 of {calls} images")
    images = [0]  # images finished so far

    def report(done: int, total: int) -> None:
        images[0] = done
        bar.progress(done / total, text=f"Generating with {stylizer.name}: {done} of {total} images")

    def step(event: ProgressEvent) -> None:  # every denoising step of the image under way
        bar.progress(min((images[0] + event.done / max(event.total, 1)) / calls, 1.0),
                     text=step_text(stylizer.name, images[0], calls, event))

    generated = generate(stylizer, request, fresh_out_dir(ws), progress=False, on_step=report, on_progress=step)
    record_id = record_generation(ws, request, generated, options)
    saved = generated.saved
    return GenerationView(record_id, stylizer.name, saved.out_dir / saved.grid.path if saved.grid else None,
                          saved.paths(), saved.out_dir)


def step_text(method: str, images_done: int, images: int, event: ProgressEvent) -> str:
    """`Generating with fast: image 2 of 5, step 12 of 50, about 8 s left for this image`."""
    left = f", about {event.eta:.0f} s left for this image" if event.done < event.total else ""
    return (f"Generating with {method}: image {min(images_done + 1, images)} of {images}, "
            f"step {event.done} of {event.total}{left}")


def _content_picker() -> state.Pick | None:
    """The content: set by "Stylize" on a result, or dropped here."""
    left, right = st.columns([1, 2])
    with right:
        dropped = uploads.image_upload("Drop a content image", key="gen_content_upload")
        if dropped is not None and st.button("Use the dropped image as content", key="gen_use_upload"):
            state.set_content(state.Pick(str(dropped.path), str(dropped.path), dropped.name))
    content = state.content()
    with left:
        if content is None:
            st.info("No content yet: “Stylize” on a search result, or drop an image.")
        else:
            thumbs.show(content.path, f"content: {content.label}")
    return content


def show(view: GenerationView) -> None:
    """The strip (or the images) of a finished run and where it was saved."""
    if view.grid is not None:
        st.image(str(view.grid), caption=f"interpolation strip ({view.method}, record {view.record_id})")
    else:
        st.image([str(p) for p in view.images], caption=[p.name for p in view.images], width=384)
    st.caption(f"Saved in {view.out_dir} (generation record {view.record_id}): "
               + ", ".join(p.name for p in ([view.grid] if view.grid else []) + view.images))


def render(ws: Workspace, styles: list[state.Pick], steps: int) -> None:
    """The generate section: content, method and parameters, the action, and the last result."""
    st.subheader("Generate")
    content = _content_picker()
    methods = list_methods()
    method = st.selectbox("Method", methods, key="gen_method",
                          index=methods.index(DEFAULT_METHOD) if DEFAULT_METHOD in methods else 0)
    model, weights_here = _model_picker(ws, method)
    if not weights_here:
        state.show_message("warning", weights_note(ws, method, model))
        return
    stylizer = None
    with shown_errors(f"Method {method} cannot run here"):
        stylizer = _stylizer(method, model, str(ws.home))
    if stylizer is None:
        return
    params = params_form(stylizer.Params, key=f"gen-{method}")
    seed = int(st.number_input("Seed", min_value=0, max_value=2**31 - 1, value=0, key="gen_seed"))
    prompt = st.text_input("Prompt", key=f"gen-{method}-prompt", help="text content (this method can generate "
                           "from words, or guide the content image)") if stylizer.supports_prompt else ""
    label = f"Generate a {steps}-step strip" if len(styles) >= 2 else "Stylize"
    if not styles:
        st.caption("Pick at least one style (two or more for an interpolation strip).")
    ready = bool(styles) and (content is not None or bool(prompt.strip()))
    if st.button(label, type="primary", key="gen_go", disabled=not ready):
        st.session_state.pop(_LAST, None)
        with shown_errors("Generation failed"):
            st.session_state[_LAST] = run_generation(ws, stylizer, content, styles, params, seed, steps, prompt,
                                                     {"model": model} if model else None)
    if _LAST in st.session_state:
        show(st.session_state[_LAST])
