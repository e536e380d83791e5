"""DiffStyle model ids, where their weights live, whether they are here, and loading them.

Two families (`denoisers`): unconditional pixel DDPMs in diffusers format (`UNet2DModel` + a scheduler
config) and Stable Diffusion (`UNet2DConditionModel` + VAE + CLIP text encoder). Weights load from the local
Hugging Face cache or a local folder; nothing is downloaded unless `allow_download=True`. Stable Diffusion
loads safetensors only; the google DDPM repos ship PyTorch `.bin` files, which diffusers reads with
`torch.load(weights_only=True)` (tensors only, no code), and their safetensors when present.

- `diffstyle/celebahq|church|bedroom|cat`: google/ddpm-ema-*-256 (DDPM, EMA weights, 256 px). The paper's
  own checkpoints (DDPM++ from SDEdit, iDDPM, ADM/P2) are not in diffusers format; converted to it they load
  as a local folder (an ADM UNet's learned-variance channels are handled).
- `diffstyle/sd15`: Stable Diffusion 1.5 (h = the mid-block output), 512 px.
- `diffstyle/tiny-pixel`, `diffstyle/tiny-sd`: tiny random models, for tests and benchmarks only.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from indexer.compat import import_torchvision

from ..aligned import align_module
from ..base import StylizeError
from ..diffusion.hub import file_present
from ..diffusion.sd import load_sd_parts, missing_sd_files
from ..diffusion.tiny import sd15_parts
from . import tiny
from .denoisers import Denoiser, LatentDenoiser, PixelDenoiser
from ..weights import WeightsMissingError
from .schedule import Schedule

_FIXES = (("model", "<local diffusers folder>"), ("allow_download", ""))


@dataclass(frozen=True)
class ModelSpec:
    """One runnable DiffStyle model; `source` is a hub repo id or a local folder ("tiny" for tiny ones)."""

    model_id: str
    family: str  # "pixel" | "sd"
    source: str
    description: str
    licence: str
    tiny: bool = False


_DDPM = "DDPM (Ho et al.), EMA weights, 256 px, unconditional"
MODELS: dict[str, ModelSpec] = {s.model_id: s for s in (
    ModelSpec("diffstyle/celebahq", "pixel", "google/ddpm-ema-celebahq-256", f"faces: {_DDPM}", "Apache-2.0"),
    ModelSpec("diffstyle/church", "pixel", "google/ddpm-ema-church-256", f"LSUN churches: {_DDPM}", "Apache-2.0"),
    ModelSpec("diffstyle/bedroom", "pixel", "google/ddpm-ema-bedroom-256", f"LSUN bedrooms: {_DDPM}", "Apache-2.0"),
    ModelSpec("diffstyle/cat", "pixel", "google/ddpm-ema-cat-256", f"LSUN cats: {_DDPM}", "Apache-2.0"),
    ModelSpec("diffstyle/sd15", "sd", "stable-diffusion-v1-5/stable-diffusion-v1-5",
              "Stable Diffusion 1.5, h = mid-block output, DDIM inversion through the VAE", "CreativeML OpenRAIL-M"),
    ModelSpec("diffstyle/tiny-pixel", "pixel", "tiny", "tiny random pixel UNet, for tests and benchmarks only",
              "random weights (tests only)", tiny=True),
    ModelSpec("diffstyle/tiny-sd", "sd", "tiny", "tiny random SD1.5-layout model, for tests and benchmarks only",
              "random weights (tests only)", tiny=True),
)}
DEFAULT_MODEL = "diffstyle/celebahq"
_PIXEL_LAYOUTS = (("unet", "scheduler"), ("", ""))  # google's repos have used both
_WEIGHTS = ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin")


def _join(sub: str, name: str) -> str:
    return f"{sub}/{name}" if sub else name


def _family_of(folder: Path) -> str:
    for config in (folder / "unet" / "config.json", folder / "config.json"):
        if config.is_file():
            kind = json.loads(config.read_text()).get("_class_name", "")
            if kind == "UNet2DModel":
                return "pixel"
            if kind == "UNet2DConditionModel":
                return "sd"
            raise StylizeError(f"{config} describes a {kind or 'unknown'} model; DiffStyle runs UNet2DModel (pixel "
                               "DDPMs) or UNet2DConditionModel (Stable Diffusion)")
    raise StylizeError(f"{folder} is not a diffusers model folder (no unet/config.json or config.json)")


def resolve_spec(model: str = DEFAULT_MODEL) -> ModelSpec:
    """The spec for a model id, or for a local diffusers folder (family read from its UNet config)."""
    if model in MODELS:
        return MODELS[model]
    folder = Path(model).expanduser()
    if folder.is_dir():
        family = _family_of(folder)
        return ModelSpec(str(folder), family, str(folder), f"local {family} model", "see the model's own licence")
    raise StylizeError(f"unknown DiffStyle model {model!r}; known: {', '.join(MODELS)}, or a local diffusers folder")


def _pixel_layout(source: str) -> tuple[str, str] | None:
    """(unet subfolder, scheduler subfolder) of the first complete pixel layout here, or None."""
    for unet_sub, sched_sub in _PIXEL_LAYOUTS:
        if file_present(source, _join(unet_sub, "config.json")) \
                and any(file_present(source, _join(unet_sub, w)) for w in _WEIGHTS) \
                and file_present(source, _join(sched_sub, "scheduler_config.json")):
            return unet_sub, sched_sub
    return None


def missing_files(spec: ModelSpec, variant: str | None = None) -> list[tuple[str, str]]:
    """The (source, file) pairs a real model still needs here; [] when it can load."""
    if spec.tiny:
        return []
    if spec.family == "pixel":
        if _pixel_layout(spec.source) is not None:
            return []
        return [(spec.source, f) for f in ("unet/config.json", "unet/diffusion_pytorch_model.safetensors",
                                           "scheduler/scheduler_config.json")]
    return missing_sd_files(spec.source, variant)


def weights_missing_error(spec: ModelSpec, missing: list[tuple[str, str]]) -> WeightsMissingError:
    """A WeightsMissingError naming every missing file and how to get it."""
    notes = ["(a pixel model may also have its files at the repo root, and .bin weights instead of .safetensors)"] \
        if spec.family == "pixel" else []
    return WeightsMissingError(f"DiffStyle model {spec.model_id!r}", missing, fixes=_FIXES, notes=notes)


def list_models() -> list[Any]:
    """One `GeneratorInfo` row per model, with weights presence checked locally (no network)."""
    from ..registry import GeneratorInfo

    return [GeneratorInfo("diffstyle", s.model_id, s.description, not missing_files(s), s.licence)
            for s in MODELS.values()]


@dataclass
class Loaded:
    """A loaded model's parts; `denoiser(prompt)` wraps them for a prompt (kept per prompt, so a stylize call
    and the steps of a strip encode the same prompt once)."""

    spec: ModelSpec
    unet: Any
    schedule: Schedule
    vae: Any = None
    tokenizer: Any = None
    text_encoder: Any = None
    _denoisers: dict[str, Denoiser] = field(default_factory=dict, repr=False)

    def denoiser(self, prompt: str | None) -> Denoiser:
        key = prompt or ""
        if key in self._denoisers:
            return self._denoisers[key]
        try:
            if self.spec.family == "pixel":
                den: Denoiser = PixelDenoiser(self.unet, self.schedule, prompt)
            else:
                den = LatentDenoiser(self.unet, self.schedule, self.vae, self.tokenizer, self.text_encoder, prompt)
        except ValueError as exc:
            raise StylizeError(f"{self.spec.model_id}: {exc}") from exc
        self._denoisers[key] = den
        return den


def _tiny(spec: ModelSpec) -> Loaded:
    if spec.family == "pixel":
        return Loaded(spec, tiny.pixel_unet(), Schedule.from_scheduler_config(tiny.DDPM_SCHEDULE))
    parts = sd15_parts()
    return Loaded(spec, parts["unet"], Schedule.from_scheduler_config(parts["scheduler"].config), parts["vae"],
                  parts["tokenizer"], parts["text_encoder"])


def load(spec: ModelSpec, device: str = "cpu", dtype: torch.dtype = torch.float32, variant: str | None = None,
         allow_download: bool = False) -> Loaded:
    """Load `spec` onto `device` (tiny ones are built in memory); refuses missing weights up front."""
    import_torchvision()  # transformers' image processors import torchvision (see indexer/compat.py)
    if spec.tiny:
        loaded = _tiny(spec)
    else:
        missing = missing_files(spec, variant)
        if missing and not allow_download:
            raise weights_missing_error(spec, missing)
        try:
            loaded = _load_pixel(spec, dtype, allow_download) if spec.family == "pixel" else \
                _load_sd(spec, dtype, variant, allow_download)
        except OSError as exc:
            raise WeightsMissingError(f"DiffStyle model {spec.model_id!r}", reason=str(exc), fixes=_FIXES) from exc
    for part in (loaded.unet, loaded.vae, loaded.text_encoder):
        if part is None:
            continue
        if spec.tiny and dtype != torch.float32:  # tiny models are built in float32; loaded ones have `dtype`
            part.to(device=device, dtype=dtype)
        else:
            part.to(device)
    return loaded


def _load_pixel(spec: ModelSpec, dtype: torch.dtype, allow_download: bool) -> Loaded:
    from diffusers import DDIMScheduler, UNet2DModel

    unet_sub, sched_sub = _pixel_layout(spec.source) or _PIXEL_LAYOUTS[0]
    from diffusers.utils import is_accelerate_available

    local = dict(local_files_only=not allow_download, low_cpu_mem_usage=is_accelerate_available())
    unet = UNet2DModel.from_pretrained(spec.source, subfolder=unet_sub or None, dtype=dtype, **local)
    config = DDIMScheduler.load_config(spec.source, subfolder=sched_sub or None,
                                       local_files_only=not allow_download)
    return Loaded(spec, align_module(unet), Schedule.from_scheduler_config(config))


def _load_sd(spec: ModelSpec, dtype: torch.dtype, variant: str | None, allow_download: bool) -> Loaded:
    parts = load_sd_parts(spec.source, dtype, variant, allow_download)
    return Loaded(spec, parts.unet, Schedule.from_scheduler_config(parts.scheduler_config), parts.vae,
                  parts.tokenizer, parts.text_encoder)
