"""Stable Diffusion 1.x parts (UNet, VAE, CLIP text encoder and tokenizer, scheduler config) from the local
Hugging Face cache or a local diffusers folder, safetensors only; never the network unless asked.

Shared by the methods that run SD1.x piece by piece rather than through a pipeline (DiffStyle, StyO): which
files a model needs (so "weights missing" errors can name them) and one loader. The UNet may come from
another folder than the rest (a fine-tuned UNet saved with `save_pretrained`) and in another dtype (a
UNet being trained stays in float32 while the frozen parts run in float16 on a GPU).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..aligned import align_module
from .hub import file_present

SD15_REPO = "stable-diffusion-v1-5/stable-diffusion-v1-5"


def sd_files(variant: str | None = None, with_unet: bool = True) -> list[str]:
    """The files of an SD1.x diffusers repo that loading needs (`variant`: e.g. "fp16" weight files)."""
    weight = (lambda f: f.replace(".safetensors", f".{variant}.safetensors")) if variant else (lambda f: f)
    unet = ["unet/config.json", weight("unet/diffusion_pytorch_model.safetensors")] if with_unet else []
    return [*unet, "vae/config.json", weight("vae/diffusion_pytorch_model.safetensors"), "text_encoder/config.json",
            weight("text_encoder/model.safetensors"), "tokenizer/vocab.json", "tokenizer/merges.txt",
            "scheduler/scheduler_config.json"]


def missing_sd_files(source: str, variant: str | None = None, with_unet: bool = True) -> list[tuple[str, str]]:
    """(source, file) pairs still missing here; [] when the model can load. No network."""
    missing = [(source, f) for f in sd_files(variant, with_unet) if not file_present(source, f)]
    if file_present(source, "tokenizer/tokenizer.json"):  # a fast tokenizer's one file stands for the two
        missing = [m for m in missing if m[1] not in ("tokenizer/vocab.json", "tokenizer/merges.txt")]
    return missing


@dataclass
class SDParts:
    """The loaded parts of one SD1.x model; `scheduler_config` is the repo's scheduler config (a dict)."""

    unet: Any
    vae: Any
    text_encoder: Any
    tokenizer: Any
    scheduler_config: dict


def load_sd_parts(source: str, dtype: torch.dtype = torch.float32, variant: str | None = None,
                  allow_download: bool = False, unet_folder: str | Path | None = None,
                  unet_dtype: torch.dtype | None = None) -> SDParts:
    """Load an SD1.x model's parts (on CPU, in `dtype`); the UNet from `unet_folder` when given (a
    `save_pretrained` folder, not a variant) and in `unet_dtype` when given."""
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from diffusers.utils import is_accelerate_available
    from transformers import CLIPTextModel, CLIPTokenizer

    local = dict(local_files_only=not allow_download)
    common = dict(dtype=dtype, use_safetensors=True, variant=variant, **local)
    low_mem = dict(low_cpu_mem_usage=is_accelerate_available())
    if unet_folder is None:
        unet = UNet2DConditionModel.from_pretrained(source, subfolder="unet",
                                                    **{**common, **low_mem, "dtype": unet_dtype or dtype})
    else:
        unet = UNet2DConditionModel.from_pretrained(str(unet_folder), dtype=unet_dtype or dtype, use_safetensors=True,
                                                    local_files_only=True, **low_mem)
    vae = AutoencoderKL.from_pretrained(source, subfolder="vae", **common, **low_mem)
    text = CLIPTextModel.from_pretrained(source, subfolder="text_encoder", **common)
    tokenizer = CLIPTokenizer.from_pretrained(source, subfolder="tokenizer", **local)
    config = dict(DDIMScheduler.load_config(source, subfolder="scheduler", **local))
    return SDParts(align_module(unet), align_module(vae), align_module(text), tokenizer, config)
