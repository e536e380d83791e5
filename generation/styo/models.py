"""StyO's base models (what `stylelens train styo` starts from), their weights, and loading them.

- `styo/sd15`: Stable Diffusion 1.5 (the paper fine-tunes an LDM; SD1.5 is the public one of its family),
  512 px, from the local Hugging Face cache (safetensors only). Nothing is downloaded unless
  `allow_download=True`; missing weights raise `WeightsMissingError` naming each file and the fix.
- `styo/tiny-sd15`: the tiny seeded SD1.5-layout model (`tiny`), for tests and benchmarks only.
- a local diffusers SD1.x folder also works as a base.

A fine-tuned model (see `store`) loads as its base's VAE, text encoder and tokenizer plus its own UNet
(a full fine-tune, saved with `save_pretrained`) or the base UNet with its LoRA adapter (peft).
`list_models()` lists the base models and every fine-tuned model of the workspace.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from indexer.compat import import_torchvision
from indexer.layout import WorkspaceLayout

from ..aligned import align_module
from ..base import StylizeError
from ..diffusion.sd import SD15_REPO, load_sd_parts, missing_sd_files
from ..diffusion import tiny
from ..weights import WeightsMissingError

_FIXES = (("base", "<local diffusers Stable Diffusion folder>"), ("allow_download", ""))


@dataclass(frozen=True)
class ModelSpec:
    """A base model; `source` is a hub repo id or a local folder ("tiny" for the tiny one)."""

    model_id: str
    source: str
    resolution: int  # training and generation size in pixels (the model's native size)
    description: str
    licence: str
    tiny: bool = False


MODELS: dict[str, ModelSpec] = {s.model_id: s for s in (
    ModelSpec("styo/sd15", SD15_REPO, 512, "Stable Diffusion 1.5, the base StyO fine-tunes (`stylelens styo "
              "finetune`); not a stylizer by itself", "CreativeML OpenRAIL-M"),
    ModelSpec("styo/tiny-sd15", "tiny", tiny.TINY_SIZE, "tiny random SD1.5-layout base, for tests and benchmarks "
              "only", "random weights (tests only)", tiny=True),
)}
DEFAULT_BASE = "styo/sd15"


def resolve_base(model: str = DEFAULT_BASE) -> ModelSpec:
    """The spec of a base model id, or of a local diffusers SD1.x folder."""
    if model in MODELS:
        return MODELS[model]
    folder = Path(model).expanduser()
    config = folder / "unet" / "config.json"
    if folder.is_dir():
        if not config.is_file():
            raise StylizeError(f"{folder} is not a diffusers Stable Diffusion folder (no unet/config.json)")
        kind = json.loads(config.read_text()).get("_class_name", "")
        if kind != "UNet2DConditionModel":
            raise StylizeError(f"{config} describes a {kind or 'unknown'} model; StyO needs Stable Diffusion "
                               "(UNet2DConditionModel)")
        vae_config = folder / "vae" / "config.json"
        vae = json.loads(vae_config.read_text()) if vae_config.is_file() else {}
        factor = 2 ** (len(vae.get("block_out_channels", (0,) * 4)) - 1)  # SD's VAE: 8
        size = int(json.loads(config.read_text()).get("sample_size", 64)) * factor
        return ModelSpec(str(folder.resolve()), str(folder.resolve()), size, "local Stable Diffusion folder",
                         "see the model's own licence")
    raise StylizeError(f"unknown StyO base model {model!r}; known: {', '.join(MODELS)}, or a local diffusers folder")


def missing_files(spec: ModelSpec, variant: str | None = None, with_unet: bool = True) -> list[tuple[str, str]]:
    """The (source, file) pairs the base still needs here; [] when it can load."""
    return [] if spec.tiny else missing_sd_files(spec.source, variant, with_unet)


def weights_missing_error(what: str, missing: list[tuple[str, str]]) -> WeightsMissingError:
    """A WeightsMissingError naming every missing file and how to get it."""
    return WeightsMissingError(f"StyO {what}", missing, fixes=_FIXES)


@dataclass
class Parts:
    """Loaded parts of a base model (the UNet possibly a fine-tuned one)."""

    spec: ModelSpec
    unet: Any
    vae: Any
    text_encoder: Any
    tokenizer: Any
    scheduler_config: dict


def size_multiple(parts: Parts) -> int:
    """Image sides must be multiples of this: the VAE's down-sampling times the UNet's."""
    vae = 2 ** (len(parts.vae.config.block_out_channels) - 1)
    return vae * 2 ** (len(parts.unet.config.block_out_channels) - 1)


def load_base(spec: ModelSpec, device: str = "cpu", dtype: torch.dtype = torch.float32, variant: str | None = None,
              allow_download: bool = False, unet_folder: str | Path | None = None,
              unet_dtype: torch.dtype | None = None) -> Parts:
    """Load `spec` onto `device`: VAE and text encoder in `dtype`, the UNet (from `unet_folder` when given) in
    `unet_dtype` (default `dtype`). Refuses missing weights up front."""
    import_torchvision()  # transformers' image processors import torchvision (see indexer/compat.py)
    unet_dtype = unet_dtype or dtype
    if spec.tiny:
        built = tiny.sd15_parts()
        unet = built["unet"] if unet_folder is None else _unet_from_folder(unet_folder, unet_dtype)
        parts = Parts(spec, unet, built["vae"], built["text_encoder"], built["tokenizer"],
                      dict(built["scheduler"].config))
    else:
        missing = missing_files(spec, variant, with_unet=unet_folder is None)
        if missing and not allow_download:
            raise weights_missing_error(f"base model {spec.model_id!r}", missing)
        try:
            sd = load_sd_parts(spec.source, dtype, variant, allow_download, unet_folder, unet_dtype)
        except OSError as exc:
            raise WeightsMissingError(f"StyO base model {spec.model_id!r}", reason=str(exc), fixes=_FIXES) from exc
        parts = Parts(spec, sd.unet, sd.vae, sd.text_encoder, sd.tokenizer, sd.scheduler_config)
    for part, wanted in ((parts.unet, unet_dtype), (parts.vae, dtype), (parts.text_encoder, dtype)):
        part.to(device) if part.dtype == wanted else part.to(device=device, dtype=wanted)
    parts.vae.eval().requires_grad_(False)
    parts.text_encoder.eval().requires_grad_(False)
    return parts


def _unet_from_folder(folder: str | Path, dtype: torch.dtype) -> Any:
    from diffusers import UNet2DConditionModel

    unet = UNet2DConditionModel.from_pretrained(str(folder), dtype=dtype, use_safetensors=True, local_files_only=True)
    return align_module(unet)  # a resumed run must compute the bits of the uninterrupted one


def list_models(workspace: WorkspaceLayout | None = None) -> list[Any]:
    """`GeneratorInfo` rows: the fine-tuned models of `workspace` (the stylizers), then the base models."""
    from ..registry import GeneratorInfo
    from .store import list_finetuned

    rows = []
    for model in list_finetuned(workspace):
        try:
            base = resolve_base(model.base_id)
            present = model.weights_present() and not missing_files(base, with_unet=model.lora)
            licence = f"fine-tuned from {base.model_id} ({base.licence})"
        except StylizeError:
            present, licence = False, "base model not found here"
        rows.append(GeneratorInfo("styo", model.model_id, model.describe(), present, licence))
    rows += [GeneratorInfo("styo", s.model_id, s.description, not missing_files(s), s.licence)
             for s in MODELS.values()]
    return rows
