"""InstantStyle model ids, where their weights live, whether they are here, and loading them.

Real weights load through diffusers `from_pretrained` and `pipe.load_ip_adapter`, safetensors only (never
pickled `.bin` files), from the local Hugging Face cache or local folders. Nothing is downloaded unless
`allow_download=True`; missing weights raise `WeightsMissingError` naming each repo/file and the fix.

- `instantstyle/sdxl` (default): SDXL base 1.0 + h94/IP-Adapter `sdxl_models/ip-adapter_sdxl.safetensors`
  with its OpenCLIP ViT-bigG-14 image encoder. Content subtraction uses SDXL's own second text encoder,
  which *is* OpenCLIP ViT-bigG-14's projected text tower (the image encoder's CLIP space), as the
  InstantStyle code does with the pooled prompt embedding.
- `instantstyle/sd15`: SD1.5 + `models/ip-adapter_sd15.safetensors` with the OpenCLIP ViT-H-14 image
  encoder; h94's folder holds only its vision tower, so content subtraction loads the text tower of the same
  CLIP model from laion/CLIP-ViT-H-14-laion2B-s32B-b79K (what the InstantStyle SD1.5 script uses).
- `instantstyle/tiny-sdxl`, `instantstyle/tiny-sd15`: random tiny models for tests and benchmarks only.
"""
from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from indexer.compat import import_torchvision

from ..aligned import align_module
from ..base import StylizeError
from ..diffusion import quiet_diffusers
from ..diffusion.hub import file_present
from ..weights import WeightsMissingError
from . import tiny
from .blocks import detect_family

IP_ADAPTER_REPO = "h94/IP-Adapter"
SD15_CONTENT_TEXT = "laion/CLIP-ViT-H-14-laion2B-s32B-b79K"
CANNY_CONTROLNETS = {"sdxl": "diffusers/controlnet-canny-sdxl-1.0", "sd15": "lllyasviel/sd-controlnet-canny"}
_LICENCES = {
    "sdxl": "SDXL: CreativeML Open RAIL++-M; IP-Adapter: Apache-2.0",
    "sd15": "SD1.5: CreativeML OpenRAIL-M; IP-Adapter: Apache-2.0",
}


@dataclass(frozen=True)
class ModelSpec:
    """Everything that names one runnable InstantStyle model; `base`/`ip_adapter` are hub ids or folders."""

    model_id: str
    family: str  # "sdxl" | "sd15": the UNet block layout (checked against the loaded UNet's config)
    base: str
    ip_subfolder: str
    ip_weight: str
    default_size: int
    description: str
    ip_adapter: str = IP_ADAPTER_REPO
    size_multiple: int = 64  # default sizes for content images are rounded to this (VAE x UNet downsampling)
    content_text_encoder: str | None = None  # None: the pipeline's own text_encoder_2 (SDXL)
    tiny: bool = False

    @property
    def image_encoder_subfolder(self) -> str:
        return f"{self.ip_subfolder}/image_encoder"

    @property
    def licence(self) -> str:
        return "random weights (tests only)" if self.tiny else _LICENCES[self.family]


MODELS: dict[str, ModelSpec] = {s.model_id: s for s in (
    ModelSpec("instantstyle/sdxl", "sdxl", "stabilityai/stable-diffusion-xl-base-1.0", "sdxl_models",
              "ip-adapter_sdxl.safetensors", 1024,
              "InstantStyle on SDXL base 1.0 + IP-Adapter (ViT-bigG-14 image encoder), style block only"),
    ModelSpec("instantstyle/sd15", "sd15", "stable-diffusion-v1-5/stable-diffusion-v1-5", "models",
              "ip-adapter_sd15.safetensors", 512,
              "InstantStyle on SD1.5 + IP-Adapter (ViT-H-14 image encoder); SD1.5 style blocks are experimental",
              content_text_encoder=SD15_CONTENT_TEXT),
    ModelSpec("instantstyle/tiny-sdxl", "sdxl", "tiny", "models", tiny.WEIGHT_NAME, tiny.TINY_SIZE,
              "tiny random SDXL-layout pipeline, for tests and benchmarks only", ip_adapter="tiny",
              size_multiple=16, tiny=True),
    ModelSpec("instantstyle/tiny-sd15", "sd15", "tiny", "models", tiny.WEIGHT_NAME, tiny.TINY_SIZE,
              "tiny random SD1.5-layout pipeline, for tests and benchmarks only", ip_adapter="tiny",
              size_multiple=16, content_text_encoder="tiny/content_text_encoder", tiny=True),
)}
DEFAULT_MODEL = "instantstyle/sdxl"


def resolve_spec(model: str = DEFAULT_MODEL, base: str | None = None, ip_adapter: str | None = None,
                 content_text_encoder: str | None = None) -> ModelSpec:
    """The spec for a model id, or for a local diffusers pipeline folder (family read from its UNet config).

    `base`, `ip_adapter` (a folder laid out like h94/IP-Adapter) and `content_text_encoder` override the
    hub ids with other ids or local folders.
    """
    if model in MODELS:
        spec = MODELS[model]
    elif Path(model).expanduser().is_dir():
        folder = Path(model).expanduser()
        config_file = folder / "unet" / "config.json"
        if not config_file.is_file():
            raise StylizeError(f"{folder} is not a diffusers pipeline folder (no unet/config.json)")
        family = detect_family(json.loads(config_file.read_text()))
        spec = dataclasses.replace(MODELS[f"instantstyle/{family}"], model_id=str(folder), base=str(folder))
    else:
        raise StylizeError(f"unknown InstantStyle model {model!r}; known: {', '.join(MODELS)}, "
                           "or a local diffusers pipeline folder")
    overrides = {k: v for k, v in (("base", base), ("ip_adapter", ip_adapter),
                                   ("content_text_encoder", content_text_encoder)) if v is not None}
    if overrides and spec.tiny:
        raise StylizeError(f"{spec.model_id} is built in memory; it takes no {sorted(overrides)}")
    return dataclasses.replace(spec, **overrides)


def _variant_name(filename: str, variant: str | None) -> str:
    return filename.replace(".safetensors", f".{variant}.safetensors") if variant else filename


def required_files(spec: ModelSpec, variant: str | None = None,
                   content_subtraction: bool = False) -> list[tuple[str, str]]:
    """(repo id or folder, file) pairs a real model needs; safetensors only."""
    if spec.tiny:
        return []
    weights = ["unet/diffusion_pytorch_model.safetensors", "vae/diffusion_pytorch_model.safetensors",
               "text_encoder/model.safetensors"]
    extra = ["feature_extractor/preprocessor_config.json"] if spec.family == "sd15" else []
    if spec.family == "sdxl":
        weights.append("text_encoder_2/model.safetensors")
    files = [(spec.base, f) for f in ["model_index.json", *extra, *(_variant_name(w, variant) for w in weights)]]
    files += [(spec.ip_adapter, f"{spec.ip_subfolder}/{spec.ip_weight}"),
              (spec.ip_adapter, f"{spec.image_encoder_subfolder}/config.json"),
              (spec.ip_adapter, f"{spec.image_encoder_subfolder}/model.safetensors")]
    return files + (_content_text_files(spec) if content_subtraction else [])


def _content_text_files(spec: ModelSpec) -> list[tuple[str, str]]:
    """Files of a separate content text encoder (SD1.5); SDXL uses its own text_encoder_2."""
    if spec.tiny or spec.content_text_encoder is None:
        return []
    return [(spec.content_text_encoder, "config.json"), (spec.content_text_encoder, "model.safetensors")]


def missing_files(spec: ModelSpec, variant: str | None = None,
                  content_subtraction: bool = False) -> list[tuple[str, str]]:
    """The required files that are not here."""
    return [(src, f) for src, f in required_files(spec, variant, content_subtraction) if not file_present(src, f)]


_FIXES = (("model", "<diffusers pipeline folder>"), ("ip_adapter", "<folder laid out like h94/IP-Adapter>"),
          ("content_text_encoder", "<folder>"), ("controlnet", "<folder>"), ("allow_download", ""))


def weights_missing_error(spec: ModelSpec, missing: list[tuple[str, str]]) -> WeightsMissingError:
    """A WeightsMissingError that names every missing file and how to get it."""
    return WeightsMissingError(f"InstantStyle model {spec.model_id!r}", missing, where="the local Hugging Face cache "
                               "or the given folders", fixes=_FIXES)


@contextmanager
def _hub_errors(spec: ModelSpec) -> Iterator[None]:
    """Turn a loader's missing-file OSError (a file outside `required_files`) into a WeightsMissingError."""
    try:
        yield
    except OSError as exc:
        raise WeightsMissingError(f"InstantStyle model {spec.model_id!r}", required_files(spec), reason=str(exc),
                                  fixes=_FIXES) from exc


def list_models() -> list[Any]:
    """One `GeneratorInfo` row per model, with weights presence checked in the local cache (no network)."""
    from ..registry import GeneratorInfo

    return [GeneratorInfo("instantstyle", s.model_id, s.description, not missing_files(s), s.licence)
            for s in MODELS.values()]


@dataclass
class Loaded:
    """A loaded model: the text-to-image pipeline with the IP-Adapter in, plus lazily loaded extras."""

    spec: ModelSpec
    pipe: Any
    content_text_encoder: Callable[[], tuple[Any, Any]]  # () -> (tokenizer, CLIPTextModelWithProjection)
    controlnet: Any | None = None



def controlnet_source(spec: ModelSpec, controlnet: str | None) -> str | None:
    """The ControlNet repo/folder for a `controlnet=` option: None, "canny" (the family's canny model) or an id."""
    if controlnet is None:
        return None
    if spec.tiny:
        if controlnet not in ("canny", "tiny"):
            raise StylizeError(f"{spec.model_id} builds its own tiny ControlNet; pass controlnet='canny'")
        return "tiny"
    return CANNY_CONTROLNETS[spec.family] if controlnet == "canny" else controlnet


def load(spec: ModelSpec, device: str = "cpu", dtype: torch.dtype = torch.float32, variant: str | None = None,
         controlnet: str | None = None, allow_download: bool = False) -> Loaded:
    """Load `spec` (tiny ones are built in memory) onto `device`; refuses missing weights up front."""
    source = controlnet_source(spec, controlnet)
    import_torchvision()  # transformers' image processors import torchvision (see indexer/compat.py)
    if spec.tiny:
        pipe = _moved(tiny.pipeline(spec.family), device, dtype)
        text = ((lambda: (pipe.tokenizer_2, pipe.text_encoder_2)) if spec.family == "sdxl"
                else (lambda: tiny.content_text_encoder()))
        net = _moved(tiny.controlnet(spec.family), device, dtype) if source else None
        return Loaded(spec, pipe, _on(text, device), net)
    missing = missing_files(spec, variant)
    if source:
        missing += [(source, f) for f in ("config.json", "diffusion_pytorch_model.safetensors")
                    if not file_present(source, f)]
    if missing and not allow_download:
        raise weights_missing_error(spec, missing)
    from diffusers import (
        ControlNetModel,
        StableDiffusionPipeline,
        StableDiffusionXLPipeline,
    )
    from diffusers.utils import is_accelerate_available
    from transformers import CLIPVisionModelWithProjection

    low_mem = is_accelerate_available()
    local = dict(local_files_only=not allow_download)
    with _hub_errors(spec):
        if spec.family == "sdxl":
            pipe = StableDiffusionXLPipeline.from_pretrained(spec.base, dtype=dtype, use_safetensors=True,
                                                             variant=variant, add_watermarker=False,
                                                             low_cpu_mem_usage=low_mem, **local)
        else:  # no safety checker: outputs feed the user's own collection tools (documented in the report)
            pipe = StableDiffusionPipeline.from_pretrained(spec.base, dtype=dtype, use_safetensors=True,
                                                           variant=variant, safety_checker=None,
                                                           requires_safety_checker=False, low_cpu_mem_usage=low_mem,
                                                           **local)
        if detect_family(pipe.unet.config) != spec.family:
            raise StylizeError(f"{spec.base} has a {detect_family(pipe.unet.config)} UNet, not {spec.family}")
        # the image encoder is loaded here (safetensors enforced), so load_ip_adapter loads none itself
        encoder = CLIPVisionModelWithProjection.from_pretrained(
            spec.ip_adapter, subfolder=spec.image_encoder_subfolder, use_safetensors=True, dtype=dtype, **local)
        pipe.register_modules(image_encoder=encoder)
        with quiet_diffusers():
            pipe.load_ip_adapter(spec.ip_adapter, subfolder=spec.ip_subfolder, weight_name=spec.ip_weight,
                                 image_encoder_folder=None, low_cpu_mem_usage=low_mem, **local)
        net = (ControlNetModel.from_pretrained(source, dtype=dtype, use_safetensors=True, **local).to(device)
               if source else None)
    pipe.set_progress_bar_config(disable=True)
    for part in pipe.components.values():
        if isinstance(part, torch.nn.Module):
            align_module(part)  # mapped-file views compute other bits than the same weights in fresh memory
    pipe = pipe.to(device)
    return Loaded(spec, pipe, _on(lambda: _content_text_encoder(spec, pipe, dtype, allow_download), device), net)


def _on(loader: Callable[[], tuple[Any, Any]], device: str) -> Callable[[], tuple[Any, Any]]:
    """Memoise a (tokenizer, text model) loader and move the model to `device`."""
    cache: list[tuple[Any, Any]] = []

    def get() -> tuple[Any, Any]:
        if not cache:
            tokenizer, model = loader()
            cache.append((tokenizer, model.to(device).eval()))  # dtype is the loader's
        return cache[0]

    return get


def _content_text_encoder(spec: ModelSpec, pipe: Any, dtype: torch.dtype, allow_download: bool) -> tuple[Any, Any]:
    """The projected CLIP text tower in the image encoder's space, for content subtraction."""
    if spec.content_text_encoder is None:
        return pipe.tokenizer_2, pipe.text_encoder_2
    missing = [(s, f) for s, f in _content_text_files(spec) if not file_present(s, f)]
    if missing and not allow_download:
        raise weights_missing_error(spec, missing)
    from transformers import CLIPTextModelWithProjection

    from ..diffusion.tokenizer import offline_clip_tokenizer

    with _hub_errors(spec):
        model = CLIPTextModelWithProjection.from_pretrained(spec.content_text_encoder, use_safetensors=True,
                                                            dtype=dtype, local_files_only=not allow_download)
    return offline_clip_tokenizer(), model  # OpenCLIP ViT-H-14 uses CLIP's own BPE vocabulary


def _moved(model: Any, device: str, dtype: Any) -> Any:
    """Tiny models are built in float32: only cast when another dtype is asked for (a same-dtype `.to(dtype=)`
    makes diffusers warn about casting)."""
    import torch

    return model.to(device) if dtype in (None, torch.float32) else model.to(device=device, dtype=dtype)
