"""PARASOL checkpoints: safetensors and JSON only (nothing is unpickled), written atomically.

A training run's folder holds `checkpoint/` (the latest) and `loss_curve.png`. A checkpoint folder has
- `parasol.json`: the `ParasolConfig` plus `checkpoint_id` (run id @ step), the identity a generation records;
- `model.safetensors`: the trained weights: `unet.*` (the whole U-Net, or its cross-attention layers when only
  those were trained) and `conditioner.*` (projector M, token map, slot embeddings, null tokens);
- `training_state.safetensors`: the optimizer's tensors, the data order and the training RNG state, with the
  optimizer's param groups, the step, the grad scaler and the data cursor as JSON metadata;
- `trainer.json`: the training settings and the loss history (for resuming and the loss curve).
A save writes a fresh folder next to the old one, fsyncs it and swaps it in with renames (`indexer.atomic.
atomic_dir`), so an interrupted save leaves the previous checkpoint (`checkpoint/` or, mid-swap,
`checkpoint.old/`) in place.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from indexer.atomic import atomic_dir

from .. import model_config
from ..base import StylizeError

CONFIG, WEIGHTS, STATE, TRAINER = "parasol.json", "model.safetensors", "training_state.safetensors", "trainer.json"
LATEST, PREVIOUS = "checkpoint", "checkpoint.old"


def find_checkpoint(path: str | os.PathLike[str]) -> Path | None:
    """The checkpoint folder `path` names: itself when it holds parasol.json, else its `checkpoint/` (or, after
    an interrupted save, `checkpoint.old/`); None when there is none."""
    root = Path(path).expanduser()
    for candidate in (root, root / LATEST, root / PREVIOUS):
        if (candidate / CONFIG).is_file() and (candidate / WEIGHTS).is_file():
            return candidate
    return None


def read_config(folder: Path) -> dict[str, Any]:
    """The checkpoint's parasol.json (the one model-config format; a checkpoint written before it reads too)."""
    try:
        return model_config.read_config(folder / CONFIG, "parasol")
    except model_config.ConfigError as exc:
        raise StylizeError(f"cannot read the PARASOL checkpoint config {folder / CONFIG}: {exc}") from exc


def trained_unet_names(unet: torch.nn.Module, trainable: str) -> list[str]:
    """Names of the U-Net parameters a run trains: all of them, or those of its cross-attention layers."""
    names = [n for n, _ in unet.named_parameters()]
    return names if trainable == "all" else [n for n in names if ".attn2." in n]


def model_tensors(unet: torch.nn.Module, conditioner: torch.nn.Module, trainable: str) -> dict[str, torch.Tensor]:
    """The weights a checkpoint carries, as a flat {name: tensor} dict on CPU."""
    params = dict(unet.named_parameters())
    out = {f"unet.{n}": params[n].detach() for n in trained_unet_names(unet, trainable)}
    out.update({f"conditioner.{n}": v.detach() for n, v in conditioner.state_dict().items()})
    return {k: v.to("cpu").contiguous() for k, v in out.items()}


def load_model_tensors(folder: Path, unet: torch.nn.Module, conditioner: torch.nn.Module, trainable: str) -> None:
    """Load `model.safetensors` into the U-Net and conditioner, refusing missing or unexpected keys by name."""
    state = _read_safetensors(folder / WEIGHTS)
    want = set(model_tensors(unet, conditioner, trainable))
    missing, unexpected = sorted(want - set(state)), sorted(set(state) - want)
    if missing or unexpected:
        raise StylizeError(f"{folder / WEIGHTS} does not match this model: {len(missing)} missing keys {missing[:3]}, "
                           f"{len(unexpected)} unexpected keys {unexpected[:3]}")
    params = dict(unet.named_parameters())
    with torch.no_grad():
        for key, value in state.items():
            if key.startswith("unet."):
                target = params[key[len("unet."):]]
                if target.shape != value.shape:
                    raise StylizeError(f"{key}: checkpoint shape {tuple(value.shape)} != model {tuple(target.shape)}")
                target.copy_(value.to(target))
    try:
        conditioner.load_state_dict({k[len("conditioner."):]: v for k, v in state.items()
                                     if k.startswith("conditioner.")})
    except RuntimeError as exc:  # shapes that do not fit the dims in parasol.json
        raise StylizeError(f"{folder / WEIGHTS} does not match its {CONFIG}: {exc}") from exc


def optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """An optimizer's state dict split into tensors (`optimizer.<param>.<name>`) and JSON (the param groups
    and any non-tensor state values)."""
    sd = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    extra: dict[str, Any] = {}
    for pid, entries in sd["state"].items():
        for name, value in entries.items():
            if torch.is_tensor(value):
                tensors[f"optimizer.{pid}.{name}"] = value.detach().to("cpu").contiguous()
            else:
                extra[f"{pid}.{name}"] = value
    return tensors, {"param_groups": sd["param_groups"], "extra": extra}


def optimizer_state(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    """The inverse of `optimizer_tensors`: a state dict `optimizer.load_state_dict` takes."""
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("optimizer."):
            pid, name = key[len("optimizer."):].split(".", 1)
            state.setdefault(int(pid), {})[name] = value
    for key, value in meta.get("extra", {}).items():
        pid, name = key.split(".", 1)
        state.setdefault(int(pid), {})[name] = value
    return {"state": state, "param_groups": meta["param_groups"]}


def save_checkpoint(run_dir: Path, config_json: dict[str, Any], weights: dict[str, torch.Tensor],
                    state_tensors: dict[str, torch.Tensor], state_meta: dict[str, Any],
                    trainer: dict[str, Any]) -> Path:
    """Write a complete checkpoint into `run_dir/checkpoint` (atomically, see module docstring)."""
    from safetensors.torch import save_file

    run_dir.mkdir(parents=True, exist_ok=True)
    with atomic_dir(run_dir / LATEST, previous=run_dir / PREVIOUS) as tmp:
        model_config.write_config(tmp / CONFIG, "parasol", config_json)
        save_file(weights, str(tmp / WEIGHTS), metadata={"format": "stylelens-parasol"})
        save_file(state_tensors, str(tmp / STATE), metadata={"meta": json.dumps(state_meta)})
        (tmp / TRAINER).write_text(json.dumps(trainer, indent=1), encoding="utf-8")
    return run_dir / LATEST


def read_training_state(folder: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any], dict[str, Any]]:
    """(state tensors, state metadata, trainer.json) of a checkpoint, for resuming."""
    from safetensors import SafetensorError, safe_open

    path = folder / STATE
    if not path.is_file():
        raise StylizeError(f"{folder} has no {STATE}; it cannot be resumed (it can still be sampled)")
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = json.loads((fh.metadata() or {}).get("meta", "{}"))
    except (SafetensorError, OSError, ValueError) as exc:
        raise StylizeError(f"cannot read {path} (a damaged checkpoint file?): {exc}") from exc
    tensors = _read_safetensors(path)
    lacking = sorted({"step", "cursor", "run_id", "param_groups"} - set(meta)
                     | {"rng.generator", "data.perm"} - set(tensors))
    if lacking:
        raise StylizeError(f"{path} lacks {lacking}; it cannot be resumed (it can still be sampled)")
    trainer = json.loads((folder / TRAINER).read_text(encoding="utf-8")) if (folder / TRAINER).is_file() else {}
    return tensors, meta, trainer


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    """A safetensors file's tensors on CPU; a StylizeError naming the file when it is damaged or unreadable."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError) as exc:
        raise StylizeError(f"cannot read {path} (a damaged checkpoint file?): {exc}") from exc
