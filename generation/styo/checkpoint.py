"""Writing and reading a fine-tuned model's checkpoint (layout in `store`), safetensors only.

`save` writes a new step folder (the UNet with `save_pretrained`, or the LoRA adapter; Adam's state) and
then points the record at it. `resume` puts a checkpoint's weights and optimizer state back into a
training run; `load_finetuned` builds the model for stylizing: the base's frozen parts plus the fine-tuned
UNet, in eval mode.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch

from indexer.imaging.decode import sha256_file

from ..diffusion import quiet_diffusers
from . import store
from .lora import add_lora, load_lora, lora_state
from .models import Parts, WeightsMissingError, load_base, resolve_base
from .store import OPTIMIZER_FILE, WEIGHTS_FILES, FineTuned
from .training import IDL


def save(model: FineTuned, idl: IDL, step: int, losses: list[float]) -> FineTuned:
    """Checkpoint `idl` after `step` iterations; returns the model with its record updated."""
    from safetensors.torch import save_file

    step_dir = model.folder / store.step_dir_name(step)
    partial = model.folder / (step_dir.name + ".partial")
    for leftover in (partial, step_dir):
        if leftover.exists():
            _remove(leftover)
    partial.mkdir()
    about = {"styo": json.dumps({"base": model.base_id, "step": step, "identifiers": model.record["identifiers"],
                                 "prompts": model.record["prompts"]}, sort_keys=True)}  # self-describing files
    if model.lora:
        save_file(lora_state(idl.unet), str(partial / WEIGHTS_FILES[True]), metadata=about)
    else:
        idl.unet.save_pretrained(str(partial / "unet"), safe_serialization=True)
    tensors, meta = idl.optimizer_state()
    save_file(tensors, str(partial / OPTIMIZER_FILE), metadata={**meta, **about})
    partial.rename(step_dir)
    digest = sha256_file(step_dir / WEIGHTS_FILES[model.lora])
    return store.commit_checkpoint(model, step_dir, step, digest, {"losses": [round(x, 6) for x in losses]})


def _remove(path: Path) -> None:
    shutil.rmtree(path) if path.is_dir() else path.unlink()


def resume(model: FineTuned, idl: IDL) -> None:
    """Put the model's current checkpoint into `idl`: the LoRA adapter (a full UNet was already loaded from its
    folder by `load_base(unet_folder=...)`) and Adam's state."""
    from safetensors import safe_open

    ckpt = model.checkpoint
    if ckpt is None:
        return
    _require(model)
    if model.lora:
        load_lora(idl.unet, model.weights_file)
    path = ckpt / OPTIMIZER_FILE
    if not path.is_file():
        raise WeightsMissingError(f"StyO checkpoint {str(ckpt)!r}", [(str(ckpt), OPTIMIZER_FILE)], where=str(ckpt),
                                  hub=False, notes=["the checkpoint cannot resume (start a new --name)"])
    with safe_open(str(path), framework="pt") as fh:
        meta = fh.metadata() or {}
        tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    idl.load_optimizer_state(tensors, meta)


def unet_folder(model: FineTuned) -> Path | None:
    """Where a full fine-tune's UNet is (None for LoRA models and models without a checkpoint yet)."""
    return None if model.lora or model.checkpoint is None else model.checkpoint / "unet"


def _require(model: FineTuned) -> None:
    if not model.weights_present():
        file = model.weights_file
        missing = [(str(file.parent), file.name)] if file else [(str(model.folder), "a checkpoint (none yet)")]
        raise WeightsMissingError(f"fine-tuned StyO model {model.model_id!r}", missing, where=missing[0][0], hub=False,
                                  notes=[f"re-run `stylelens train styo --name {model.name}` to train or finish it"])


def load_finetuned(model: FineTuned, device: str, dtype: torch.dtype, variant: str | None = None,
                   allow_download: bool = False) -> Parts:
    """The base model with the fine-tuned UNet (or adapter), frozen and in eval mode, for stylizing."""
    _require(model)
    parts = load_base(resolve_base(model.base_id), device, dtype, variant, allow_download, unet_folder(model))
    if model.lora:
        add_lora(parts.unet, int(model.record["training"]["lora_rank"]))
        load_lora(parts.unet, model.weights_file)
        if dtype != torch.float32:  # the adapter was added in float32
            with quiet_diffusers():
                parts.unet.to(dtype=dtype)
    parts.unet.eval().requires_grad_(False)
    return parts

