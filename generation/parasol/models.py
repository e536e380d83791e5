"""PARASOL model ids, base latent diffusion models, and building a `ParasolModel` fresh or from a checkpoint.

- A *stylizer model* is a checkpoint folder written by `stylelens train parasol` (the run folder or its
  `checkpoint/`), or `parasol/tiny`: an untrained tiny model for tests and benchmarks only.
- A *base* is the pretrained LDM training starts from: `sd15` (= stable-diffusion-v1-5/stable-diffusion-v1-5),
  any SD1.x hub id or local diffusers folder, or `tiny` (seeded random, SD1.5 block layout). The paper starts
  from the retrieval-augmented diffusion model (RDM) of Blattmann et al.; that is not in diffusers format, so
  we use Stable Diffusion 1.5, whose cross-attention takes our tokens in place of text (its text encoder is
  not used). Real weights load from the local Hugging Face cache or a folder, safetensors only; nothing is
  downloaded unless `allow_download=True`; missing files raise `WeightsMissingError` naming each one.

`list_models(workspace)` shows the checkpoints named in STYLELENS_PARASOL_CHECKPOINTS (folders separated by
the OS path separator; a folder may be a checkpoint, a training run, or hold several runs) and the runs
`stylelens train parasol` wrote into the given workspace (WORKSPACE/parasol/*), or a placeholder row saying how
to get one; then `parasol/tiny`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from indexer.layout import WorkspaceLayout

from ..base import StylizeError
from ..weights import WeightsMissingError
from . import checkpoint as ckpt
from .conditioning import Conditioner
from .descriptors import DescriptorEncoder
from .network import TRAINABLE, ParasolConfig, ParasolModel

TINY_ID = "parasol/tiny"
TINY_BASE = "tiny"
BASE_ALIASES = {"sd15": "stable-diffusion-v1-5/stable-diffusion-v1-5"}
CHECKPOINTS_ENV = "STYLELENS_PARASOL_CHECKPOINTS"
TINY_ENCODERS = ("tiny/aladin", "tiny/open_clip")
_LICENCE_SD = "base: CreativeML OpenRAIL-M (SD1.5); fine-tuned weights: yours; encoders: their own licences"


_FIXES = (("base", "<local SD1.x diffusers folder>"), ("allow_download", ""))


@dataclass(frozen=True)
class ModelSpec:
    """A runnable PARASOL model: a checkpoint folder, or the tiny one (`folder` None)."""

    model_id: str
    folder: Path | None
    description: str
    licence: str
    tiny: bool = False


def base_source(base: str) -> str:
    """The hub id or folder a base name stands for (aliases resolved)."""
    return BASE_ALIASES.get(base, base)


def _missing_base_files(source: str) -> list[tuple[str, str]]:
    from ..diffusion.sd import missing_sd_files

    return missing_sd_files(source)


def load_base(base: str, allow_download: bool = False) -> tuple[Any, Any, dict]:
    """(unet, vae, scheduler config) of a base LDM on CPU in float32; WeightsMissingError when not here.
    The tiny base is always built from seed 0, so a checkpoint that carries only some U-Net weights finds
    the same others again."""
    from indexer.compat import import_torchvision

    import_torchvision()  # transformers' image processors import torchvision (see indexer/compat.py)
    if base == TINY_BASE:
        from ..diffusion.tiny import components

        parts = components("sd15", 0)
        return parts["unet"], parts["vae"], dict(parts["scheduler"].config)
    source = base_source(base)
    missing = _missing_base_files(source)
    if missing and not allow_download:
        raise WeightsMissingError(f"PARASOL base model {base!r}", missing, fixes=_FIXES)
    from ..diffusion import quiet_diffusers
    from ..diffusion.sd import load_sd_parts

    try:
        with quiet_diffusers():
            parts = load_sd_parts(source, torch.float32, allow_download=allow_download)
    except OSError as exc:
        raise WeightsMissingError(f"PARASOL base model {base!r}", reason=str(exc), fixes=_FIXES) from exc
    return parts.unet, parts.vae, dict(parts.scheduler_config)


def native_resolution(unet: Any, vae: Any) -> int:
    """The base model's image size: the U-Net's sample size times the VAE's downsampling."""
    return int(unet.config.sample_size) * 2 ** (len(vae.config.block_out_channels) - 1)


def build_model(base: str, style_encoder: str, content_encoder: str, device: str, *, resolution: int | None = None,
                trainable: str = "all", seed: int = 0, allow_download: bool = False,
                parts: tuple[Any, Any, dict] | None = None) -> ParasolModel:
    """A fresh (untrained) PARASOL model: the base LDM plus a new conditioner (seeded by `seed`) sized for the
    encoders. `parts` = (unet, vae, scheduler config) replaces loading `base` (benchmarks build random
    real-size parts; `base` then only names them)."""
    if trainable not in TRAINABLE:
        raise StylizeError(f"trainable must be one of {TRAINABLE}, got {trainable!r}")
    unet, vae, scheduler_config = parts if parts is not None else load_base(base, allow_download)
    style, content = DescriptorEncoder(style_encoder, device), DescriptorEncoder(content_encoder, device)
    config = ParasolConfig(base=base, style_encoder=style_encoder, content_encoder=content_encoder,
                           style_dim=style.dim, content_dim=content.dim,
                           token_dim=int(unet.config.cross_attention_dim),
                           resolution=int(resolution or native_resolution(unet, vae)), trainable=trainable)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        conditioner = Conditioner(config.style_dim, config.content_dim, config.token_dim, config.hidden_dim)
    return _assemble(config, unet, vae, scheduler_config, conditioner, style, content, device)


def _assemble(config: ParasolConfig, unet: Any, vae: Any, scheduler_config: dict, conditioner: Conditioner,
              style: DescriptorEncoder, content: DescriptorEncoder, device: str,
              dtype: torch.dtype = torch.float32) -> ParasolModel:
    from ..diffusion import quiet_diffusers

    with quiet_diffusers():  # diffusers warns about casting with .to(); the parts have no fp32-only modules
        for part in (unet, vae):
            part.to(device=device, dtype=dtype)
    # the conditioner stays float32 at any dtype: it is small, it takes the encoders' float32 descriptors, and
    # `ParasolModel.eps` casts its tokens to the U-Net's dtype
    conditioner.to(device=device, dtype=torch.float32)
    return ParasolModel(config, unet, vae, scheduler_config, conditioner, style, content)


def load_checkpoint_model(folder: Path, device: str, dtype: torch.dtype = torch.float32,
                          allow_download: bool = False) -> tuple[ParasolModel, dict[str, Any]]:
    """A trained model from a checkpoint folder, and its parasol.json (with `checkpoint_id`)."""
    raw = ckpt.read_config(folder)
    config = ParasolConfig.from_dict(raw)
    unet, vae, scheduler_config = load_base(config.base, allow_download)
    if int(unet.config.cross_attention_dim) != config.token_dim:
        raise StylizeError(f"{folder}: trained for a {config.token_dim}-wide cross-attention, but the base "
                           f"{config.base!r} has {unet.config.cross_attention_dim}")
    style = DescriptorEncoder(config.style_encoder, device)
    content = DescriptorEncoder(config.content_encoder, device)
    for what, enc, dim in (("style", style, config.style_dim), ("content", content, config.content_dim)):
        if enc.dim != dim:
            raise StylizeError(f"{folder}: trained with {dim}-d {what} descriptors, but {enc.encoder_id} gives {enc.dim}")
    conditioner = Conditioner(config.style_dim, config.content_dim, config.token_dim, config.hidden_dim)
    ckpt.load_model_tensors(folder, unet, conditioner, config.trainable)
    return _assemble(config, unet.eval(), vae, scheduler_config, conditioner.eval(), style, content, device,
                     dtype), raw


def resolve_spec(model: str) -> ModelSpec:
    """The spec for `parasol/tiny` or a checkpoint folder (a run folder or its checkpoint)."""
    if model == TINY_ID:
        return ModelSpec(TINY_ID, None, "tiny untrained PARASOL (tiny SD1.5 layout, tiny ALADIN + open_clip), "
                         "for tests and benchmarks only", "random weights (tests only)", tiny=True)
    folder = ckpt.find_checkpoint(model)
    if folder is None:
        raise StylizeError(f"no PARASOL checkpoint at {model!r}: give the folder `stylelens train parasol` wrote "
                           f"(it holds checkpoint/{ckpt.CONFIG}), or {TINY_ID} for tests")
    config = ckpt.read_config(folder)
    return ModelSpec(str(Path(model).expanduser()), folder,
                     f"PARASOL checkpoint (step {config.get('step', '?')}, base {config.get('base')}, style "
                     f"{config.get('style_encoder')}, content {config.get('content_encoder')})", _LICENCE_SD)


def configured_checkpoints(workspace: WorkspaceLayout | None = None) -> list[str]:
    """Checkpoint folders named by STYLELENS_PARASOL_CHECKPOINTS (each entry, or its sub-folders that are
    checkpoints), in the order given, then the training runs of `workspace` (sorted by name)."""
    found: list[str] = []
    entries = [*filter(None, os.environ.get(CHECKPOINTS_ENV, "").split(os.pathsep)),
               *([str(workspace.parasol_dir)] if workspace is not None else [])]
    for entry in entries:
        root = Path(entry).expanduser()
        if ckpt.find_checkpoint(root) is not None:
            found.append(str(root))
        elif root.is_dir():
            found += [str(p) for p in sorted(root.iterdir()) if p.is_dir() and ckpt.find_checkpoint(p) is not None]
    return list(dict.fromkeys(found))


def default_model(workspace: WorkspaceLayout | None = None) -> str:
    """The first configured checkpoint; a StylizeError saying how to get one when there is none."""
    found = configured_checkpoints(workspace)
    if not found:
        raise StylizeError("parasol needs a trained checkpoint: pass --model FOLDER (written by `stylelens "
                           f"train parasol`), set {CHECKPOINTS_ENV}, or use {TINY_ID} for tests")
    return found[0]


def list_models(workspace: WorkspaceLayout | None = None) -> list[Any]:
    """`GeneratorInfo` rows: configured checkpoints and those of `workspace` (or a placeholder saying how to get
    one), then the tiny model."""
    from ..registry import GeneratorInfo

    rows = []
    for folder in configured_checkpoints(workspace):
        try:
            spec = resolve_spec(folder)
            base = str(ckpt.read_config(spec.folder).get("base", TINY_BASE))
            missing = [] if base == TINY_BASE else _missing_base_files(base_source(base))
            note = f"; its base {base} is not here ({len(missing)} files missing)" if missing else ""
            rows.append(GeneratorInfo("parasol", spec.model_id, spec.description + note, not missing, spec.licence))
        except StylizeError as exc:
            rows.append(GeneratorInfo("parasol", folder, str(exc), False))
    if not rows:
        rows.append(GeneratorInfo("parasol", "<checkpoint folder from stylelens train parasol>",
                                  f"train one with `stylelens train parasol`, then pass it as --model or list it in "
                                  f"{CHECKPOINTS_ENV}", False, _LICENCE_SD))
    tiny = resolve_spec(TINY_ID)
    rows.append(GeneratorInfo("parasol", tiny.model_id, tiny.description, True, tiny.licence))
    return rows
