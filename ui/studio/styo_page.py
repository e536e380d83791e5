"""StyO page: fine-tune a one-shot face stylization model (`generation.styo.finetune`, IDL) on a source face,
a target portrait and a set of real faces, in the background with progress; then stylize with any of the
workspace's fine-tuned models (FCC), recorded like every generation. A model's name fine-tuned again resumes
it (or trains it further); the same models are in the Refine page's generate panel and the CLI."""
from __future__ import annotations

import time
from concurrent.futures import Future
from dataclasses import dataclass, field

import streamlit as st

from generation.jobs import build_stylizer
from generation.styo import MODELS, Params, finetune, list_finetuned
from generation.styo.models import missing_files
from generation.styo.store import RECORD, FineTuned, model_folder
from indexer.corpora import list_corpora
from indexer.workspace import Workspace
from ui.studio import generate_panel, jobs, state, thumbs, uploads
from ui.studio.context import workspace
from ui.studio.errors import message, shown_errors
from ui.studio.params_form import params_form

_JOB, _LAST = "styo_job", "styo_last"
POLL_SECONDS = 0.5
_NO_CORPUS = "(none: use the folder)"


@dataclass
class FinetuneJob:
    """A fine-tuning run in the background and the (done, total, loss) it last reported."""

    name: str
    future: Future
    progress: list = field(default_factory=lambda: [0, 0, None])

    def report(self, done: int, total: int, loss: float) -> None:
        """`finetune`'s on_step, called from the job's thread (one list store: no lock needed)."""
        self.progress = [done, total, loss]


def _start(ws: Workspace, name: str, **kwargs) -> FinetuneJob:  # noqa: ANN003 - finetune's keywords
    job = FinetuneJob(name, Future())
    job.future = jobs.submit(finetune, name, ws=ws, progress=False, on_step=job.report, **kwargs)
    return job


def _form(ws: Workspace) -> FinetuneJob | None:
    """Source and target uploads, the auxiliary faces, the base and the training knobs."""
    st.subheader("Fine-tune a model")
    left, right = st.columns(2)
    with left:
        source = uploads.image_upload("Source face (the photo to stylize)", key="styo_source")
    with right:
        target = uploads.image_upload("Target portrait (the style to learn)", key="styo_target")
    with st.form("styo_finetune"):
        name = st.text_input("Model name", key="styo_name", help="letters, digits, '.', '_', '-'; an existing "
                             "name resumes that model")
        folder_col, corpus_col = st.columns(2)
        folder = folder_col.text_input("Folder of real faces (the auxiliary set)", key="styo_aux_folder")
        corpora = [_NO_CORPUS, *(c.name for c in list_corpora(ws))]
        corpus = corpus_col.selectbox("... or a corpus of real faces", corpora, key="styo_aux_corpus")
        base_col, steps_col, lr_col = st.columns(3)
        base = base_col.selectbox("Base model", list(MODELS), key="styo_base",
                                  format_func=lambda m: f"{m} (weights not here)" if missing_files(MODELS[m]) else m)
        steps = steps_col.number_input("Iterations", min_value=1, max_value=100_000, value=400, key="styo_steps")
        lr = lr_col.number_input("Learning rate (0: 1e-6, or 1e-4 with LoRA)", min_value=0.0, max_value=1.0,
                                 value=0.0, format="%.1e", key="styo_lr")
        lora = st.checkbox("Train a LoRA adapter instead of the whole UNet (smaller GPUs)", key="styo_lora")
        if not st.form_submit_button("Fine-tune", key="styo_go"):
            return None
    name = name.strip()
    with shown_errors("Cannot fine-tune"):
        if (model_folder(name, ws) / RECORD).is_file():
            st.info(f"{name} exists: resuming it with its own images and settings (to {int(steps)} iterations)")
            return _start(ws, name, settings={"steps": int(steps)})
        settings = {"steps": int(steps), **({"lora": True} if lora else {}), **({"lr": float(lr)} if lr > 0 else {})}
        aux = f"corpus:{corpus}" if corpus != _NO_CORPUS else folder.strip()
        return _start(ws, name, source=str(source.path) if source else None,
                      target=str(target.path) if target else None, aux=aux or None, base=base, settings=settings)
    return None


def _watch(job: FinetuneJob) -> None:
    """Progress until the run ends, then its outcome."""
    bar = st.progress(0.0, text=f"Fine-tuning {job.name}...")
    while not job.future.done():
        done, total, loss = job.progress
        bar.progress(min(1.0, done / max(1, total)), text=f"Fine-tuning {job.name}: {done} of {total} iterations"
                     + (f", loss {loss:.4f}" if loss is not None else ""))
        time.sleep(POLL_SECONDS)
    error = job.future.exception()
    if error is not None:
        bar.empty()
        st.error(f"Fine-tuning {job.name or '(no name)'} failed: {message(error)}")
        return
    model: FineTuned = job.future.result()
    bar.progress(1.0, text=f"Fine-tuning {job.name}: finished")
    st.success(f"{model.model_id}: {model.step} of {model.steps} iterations, saved in {model.folder}")


def _model_card(ws: Workspace, model: FineTuned, params: dict, seed: int) -> None:
    with st.container(border=True):
        st.markdown(f"**{model.model_id}**")
        st.caption(model.describe())
        src_col, tgt_col, loss_col = st.columns([1, 1, 2])
        with src_col:
            thumbs.show(str(model.image_path("source")), "source")
        with tgt_col:
            thumbs.show(str(model.image_path("target")), "target")
        with loss_col:
            losses = model.record.get("losses") or []
            if losses:
                st.line_chart({"triple loss": losses}, height=160)
        go, resume = st.columns(2)
        if go.button("Stylize", key=f"styo-stylize-{model.name}", type="primary", disabled=not model.weights_present()):
            st.session_state.pop(_LAST, None)
            with shown_errors(f"Stylizing with {model.model_id} failed"):
                options = {"model": model.model_id}
                source, target = (state.Pick(str(model.image_path(w)), str(model.image_path(w)), w)
                                  for w in ("source", "target"))
                stylizer = build_stylizer("styo", options, workspace=ws)
                st.session_state[_LAST] = generate_panel.run_generation(
                    ws, stylizer, source, [target], params, seed, steps=2, options=options)
        if model.step < model.steps and resume.button("Resume fine-tuning", key=f"styo-resume-{model.name}"):
            st.session_state[_JOB] = _start(ws, model.name, settings={"steps": model.steps})
            st.rerun()


def render() -> None:
    """The whole page."""
    st.title("StyO")
    st.caption("One-shot face stylization: fine-tune on one face and one portrait (IDL), then stylize that face "
               "in that portrait's style (FCC).")
    state.show_flashes()
    ws = workspace()
    started = _form(ws)
    if started is not None:
        st.session_state[_JOB] = started
    job: FinetuneJob | None = st.session_state.get(_JOB)
    if job is not None:
        _watch(job)
    st.divider()
    st.subheader("Fine-tuned models")
    models = list_finetuned(ws)
    if not models:
        st.info("No fine-tuned StyO models in this workspace yet.")
        return
    params = params_form(Params, key="styo-params")
    seed = int(st.number_input("Seed", min_value=0, max_value=2**31 - 1, value=0, key="styo_seed"))
    for model in models:
        _model_card(ws, model, params, seed)
    if _LAST in st.session_state:
        generate_panel.show(st.session_state[_LAST])


if __name__ == "__main__":
    render()
