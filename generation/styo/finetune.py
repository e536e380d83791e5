"""`finetune`: IDL for one named model, from the inputs to a saved, resumable, reusable fine-tuned model.

A new name: the source and target images are decoded and copied into the model folder, the auxiliary set
is chosen, the base model loads, four rare identifiers are chosen from its tokenizer (or checked, when
given), and the record is written before the first iteration. The same name again: training resumes from
the last checkpoint with the recorded images, auxiliary set and settings (re-reading every image and
refusing any that changed); only `steps`, `save_every` and `gradient_checkpointing` may differ, so a model
can also be trained further. Checkpoints every `save_every` iterations, at the end, and on Ctrl-C (after the
iteration under way).
"""
from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from indexer.encoders.runtime import resolve_device
from indexer.imaging.decode import ImageRejected, decode_file, sha256_file
from indexer.layout import WorkspaceLayout

from ..base import StylizeError
from ..diffusion import resolve_dtype
from . import auxset, checkpoint, identifiers, store
from .models import DEFAULT_BASE, ModelSpec, load_base, resolve_base
from .prompts import Identifiers, inference_prompts, text, training_prompts
from .store import FineTuned
from .training import IDL, TrainSettings

RESUMABLE = ("steps", "save_every", "gradient_checkpointing")  # settings a re-run may change
StepCallback = Callable[[int, int, float], None]  # (iterations done, total, loss)


def _decode(path: str | os.PathLike[str], what: str) -> tuple[Image.Image, str]:
    try:
        decoded = decode_file(path, max_side=auxset.MAX_SIDE)
    except ImageRejected as exc:
        raise StylizeError(f"cannot use {path} as the {what} image: {exc.reason}") from None
    return decoded.image, decoded.sha256


def _settings(values: dict[str, Any] | TrainSettings | None) -> TrainSettings:
    if isinstance(values, TrainSettings):
        return values
    known = {f.name for f in dataclasses.fields(TrainSettings)}
    unknown = sorted(set(values or {}) - known)
    if unknown:
        raise StylizeError(f"unknown fine-tuning setting(s) {unknown}; known: {sorted(known)}")
    return TrainSettings(**(values or {}))


def _recorded_settings(model: FineTuned, given: dict[str, Any] | TrainSettings | None) -> TrainSettings:
    """The recorded settings with the resumable ones replaced; any other given value must equal the record's."""
    training = model.record["training"]
    recorded = TrainSettings(**{f.name: training[f.name] for f in dataclasses.fields(TrainSettings)})
    given = dataclasses.asdict(given) if isinstance(given, TrainSettings) else dict(given or {})
    _settings(given)  # unknown keys and types
    if given.get("lr") is None:
        given.pop("lr", None)
    for key, value in given.items():
        if key not in RESUMABLE and value is not None and value != getattr(recorded, key):
            raise StylizeError(f"StyO model {model.name!r} was fine-tuned with {key}={getattr(recorded, key)!r}, "
                               f"not {value!r}; re-run without it to resume, or fine-tune a new --name")
    settings = dataclasses.replace(recorded, **{k: v for k, v in given.items() if k in RESUMABLE and v is not None})
    settings.validate()
    if settings.steps < model.step:
        raise StylizeError(f"StyO model {model.name!r} already has {model.step} iterations; steps must be at least "
                           "that")
    return settings


def _check_same(model: FineTuned, which: str, path: str | None, base: str | None) -> None:
    if path is not None:
        _, digest = _decode(path, which)
        if digest != model.record[which]["sha256"]:
            raise StylizeError(f"StyO model {model.name!r} was fine-tuned on another {which} image "
                               f"({model.record[which]['from']}); fine-tune a new --name for {path}")
    if base is not None and resolve_base(base).model_id != model.base_id:
        raise StylizeError(f"StyO model {model.name!r} was fine-tuned from {model.base_id}, not {base}")


def _create(folder: Path, spec: ModelSpec, settings: TrainSettings, resolution: int, ids: Identifiers,
            images: dict[str, tuple[str, str]], aux: auxset.AuxSet, variant: str | None) -> FineTuned:
    """Write the new model's folder (image copies and record) beside its place, then move it in."""
    if folder.exists():
        raise StylizeError(f"{folder} exists and is not a StyO model; remove it or pick another name")
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.creating-"))
    pinned = {}
    for which, (path, digest) in images.items():
        name = which + (Path(path).suffix.lower() or ".img")
        shutil.copyfile(path, staging / name)
        if sha256_file(staging / name) != digest:
            raise StylizeError(f"the {which} image {path} changed while it was being copied")
        pinned[which] = {"file": name, "sha256": digest, "from": str(Path(path).resolve())}
    settings = dataclasses.replace(settings, resolution=resolution, lr=settings.learning_rate)
    training = dict(dataclasses.asdict(settings), optimizer="Adam",
                    loss="sum of the src/tgt/aux MSE terms, shared t and eps")
    prompts = {k: text(p) for k, p in training_prompts(ids).items()}
    prompts["sty"] = text(inference_prompts(ids, 1, 1)[1])
    record = {"name": folder.name,
              "base": {"model": spec.model_id, "source": spec.source, "variant": variant},
              "resolution": resolution, "identifiers": ids.to_dict(), "prompts": prompts, **pinned,
              "aux": aux.record(), "training": training, "step": 0, "checkpoint": None, "losses": [],
              "created": store.now(), "updated": store.now()}
    store.write_record(staging, record)
    staging.rename(folder)
    return store.read(folder)


def finetune(name: str, source: str | None = None, target: str | None = None, aux: str | None = None, *,
             base: str | None = None, settings: dict[str, Any] | TrainSettings | None = None,
             identifier_words: dict[str, str] | None = None, aux_limit: int = auxset.DEFAULT_LIMIT,
             ws: WorkspaceLayout | None = None, device: str = "auto",
             dtype: str | torch.dtype = "auto", variant: str | None = None, allow_download: bool = False,
             progress: bool | None = None, on_step: StepCallback | None = None) -> FineTuned:
    """Fine-tune (or resume) the StyO model `name` in the workspace `ws` (WORKSPACE/models/styo/<name>).

    `source` / `target`: image files; `aux`: a folder of face images or `corpus:NAME` (needs an opened `ws`).
    `settings`: `TrainSettings` fields (a dict: only the ones given); `identifier_words`: S_src, S_tgt,
    C_src, C_tgt to use instead of the automatic choice. `on_step(done, total, loss)` after each iteration.
    """
    if ws is None:
        raise StylizeError("StyO fine-tuning keeps its model in a workspace; none was given")
    folder = store.model_folder(name, ws)
    with store.training_lock(folder):
        model = store.read(folder) if (folder / store.RECORD).is_file() else None
        if model is None:
            data = _new_inputs(source, target, aux, base, settings, aux_limit, ws, variant)
        else:
            data = _recorded_inputs(model, source, target, aux, base, settings)
        device = _check_device(resolve_device(device))
        parts = load_base(data.spec, device, resolve_dtype(dtype, device), data.variant, allow_download,
                          checkpoint.unet_folder(model) if model is not None else None, unet_dtype=torch.float32)
        if model is None:
            ids = (identifiers.check(parts.tokenizer, Identifiers.from_dict(identifier_words)) if identifier_words
                   else identifiers.choose(parts.tokenizer))
            resolution = data.settings.resolution or data.spec.resolution
            # the IDL is built before the model folder exists: inputs it refuses (e.g. a resolution the model
            # cannot down-sample) leave no half-made model behind that every later run would "resume"
            idl = IDL(parts, {k: text(p) for k, p in training_prompts(ids).items()}, data.source, data.target,
                      data.aux.images, data.settings, resolution)
            model = _create(folder, data.spec, data.settings, resolution, ids, data.pinned, data.aux, data.variant)
        else:
            idl = IDL(parts, model.record["prompts"], data.source, data.target, data.aux.images, data.settings,
                      int(model.record["resolution"]))
            checkpoint.resume(model, idl)
        return _train(model, idl, data.settings, progress, on_step)


def _check_device(device: str) -> str:
    """A torch device string that can be used here; StylizeError naming `device` otherwise."""
    try:
        kind = torch.device(device).type
    except (RuntimeError, TypeError, ValueError):
        raise StylizeError(f"device must be auto, cpu, cuda or cuda:N, got {device!r}") from None
    if kind == "cuda" and not torch.cuda.is_available():
        raise StylizeError(f"device {device!r}: no CUDA GPU is available here; use --device cpu (or auto)")
    return device


@dataclass
class _Data:
    """What a run trains on: settings, base, decoded images (and, for a new model, the files to pin)."""

    settings: TrainSettings
    spec: ModelSpec
    source: Image.Image
    target: Image.Image
    aux: auxset.AuxSet
    variant: str | None
    pinned: dict[str, tuple[str, str]]


def _new_inputs(source: str | None, target: str | None, aux: str | None, base: str | None,
                settings: dict[str, Any] | TrainSettings | None, aux_limit: int, ws: Any,
                variant: str | None) -> _Data:
    missing = [n for n, v in (("source", source), ("target", target), ("aux", aux)) if not v]
    if missing:
        raise StylizeError(f"a new StyO model needs {', '.join(missing)} (source and target images, and aux: a "
                           "folder of faces or corpus:NAME)")
    run_settings = _settings(settings)
    run_settings.validate()
    spec = resolve_base(base or DEFAULT_BASE)
    (src, src_sha), (tgt, tgt_sha) = _decode(source, "source"), _decode(target, "target")
    return _Data(run_settings, spec, src, tgt, auxset.resolve(aux, ws, aux_limit, run_settings.seed), variant,
                 {"source": (source, src_sha), "target": (target, tgt_sha)})


def _recorded_inputs(model: FineTuned, source: str | None, target: str | None, aux: str | None, base: str | None,
                     settings: dict[str, Any] | TrainSettings | None) -> _Data:
    for which, path in (("source", source), ("target", target)):
        _check_same(model, which, path, base)
    if aux is not None and aux != model.record["aux"]["spec"]:
        raise StylizeError(f"StyO model {model.name!r} was fine-tuned with aux {model.record['aux']['spec']!r}, not "
                           f"{aux!r}; re-run without --aux to resume")
    src, _ = _decode(model.image_path("source"), "source")
    tgt, _ = _decode(model.image_path("target"), "target")
    return _Data(_recorded_settings(model, settings), resolve_base(model.base_id), src, tgt,
                 auxset.reload(model.record["aux"]), model.record["base"].get("variant"), {})


@contextmanager
def _interrupt_between_steps() -> Iterator[Callable[[], bool]]:
    """Ctrl-C during an iteration lets it finish (so the checkpoint holds whole iterations and a resumed run
    stays exact); a second Ctrl-C stops at once. Only the main thread can catch signals: elsewhere (the
    Studio's background job) nothing changes."""
    hits: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return
    previous = signal.getsignal(signal.SIGINT)

    def handler(_signum: int, _frame: Any) -> None:
        hits.append(1)
        signal.signal(signal.SIGINT, previous)

    signal.signal(signal.SIGINT, handler)
    try:
        yield lambda: bool(hits)
    finally:
        signal.signal(signal.SIGINT, previous)


def _train(model: FineTuned, idl: IDL, settings: TrainSettings, progress: bool | None,
           on_step: StepCallback | None) -> FineTuned:
    """The iterations from the model's step to `settings.steps`, checkpointing as it goes."""
    from tqdm.auto import tqdm

    losses = list(model.record.get("losses", []))
    done = model.step
    if settings.steps != model.steps:
        model = store.FineTuned(model.folder, dict(model.record, training=dict(model.record["training"],
                                                                                steps=settings.steps)))
    with tqdm(total=settings.steps, initial=done, desc=f"train styo {model.name}",
              disable=None if progress is None else not progress) as bar, _interrupt_between_steps() as interrupted:
        while done < settings.steps:
            losses.append(idl.train_step(done))
            done += 1
            bar.update(1)
            bar.set_postfix(loss=f"{losses[-1]:.4f}")
            if on_step is not None:
                on_step(done, settings.steps, losses[-1])
            stop = interrupted()
            if stop or done % settings.save_every == 0 or done == settings.steps:
                model = checkpoint.save(model, idl, done, losses)
            if stop:
                raise KeyboardInterrupt
    model = model.reload()
    if model.steps != settings.steps:  # nothing was left to train, but the target changed: record it
        store.write_record(model.folder, dict(model.record, training=dict(model.record["training"],
                                                                           steps=settings.steps)))
        model = model.reload()
    return model
