"""The DiffStyle stylizer: content injection in h-space, starting from the style image's inverted noise.

One call: (1) resize content and style(s) to the run's size and DDIM-invert them (the content keeping its
bottleneck features; inversions are cached per image, size, steps and prompt, so an interpolation strip
inverts each image once), (2) blend the styles' x_T by weight (successive slerps) when there are several,
(3) run the reverse process with injection, calibration and boosting (`algorithm.transfer`), (4) decode.
"""
from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from PIL import Image

from ..base import ContentRef, StyleRef, StylizeError, normalized_weights
from ..diffusion.images import to_image, to_tensor
from ..method import Method, MethodOptions, output_size
from . import params as params_mod
from .algorithm import Inversion, TransferSettings, blend_latents, invert, transfer
from .denoisers import Denoiser
from .hspace import box_mask
from .models import DEFAULT_MODEL, Loaded, ModelSpec, load, resolve_spec
from .params import Params

_CACHE_SIZE = 8


@dataclass(frozen=True)
class Options(MethodOptions):
    """model: an id from `list_models()` or a local diffusers folder (default diffstyle/celebahq); variant: e.g.
    "fp16" weight files of Stable Diffusion; allow_download: let diffusers fetch missing weights."""

    variant: str | None = None
    allow_download: bool = False


class DiffStyle(Method):
    """DiffStyle (METHODS.md section 3) on a pixel DDPM or Stable Diffusion UNet from diffusers."""

    name: ClassVar[str] = "diffstyle"
    Params: ClassVar[type] = Params
    Options: ClassVar[type] = Options
    supports_prompt: ClassVar[bool] = False  # a content image is required; SD models also take its prompt

    @classmethod
    def resolve_spec(cls, options: Options) -> ModelSpec:
        return resolve_spec(options.model or DEFAULT_MODEL)

    def load(self) -> Loaded:
        o = self.options
        return load(self.spec, self.device, self.dtype, o.variant, bool(o.allow_download))

    @property
    def model_ids(self) -> dict[str, str]:
        ids = {"model": self.spec.model_id, "source": self.spec.source}
        if self.options.variant:
            ids["variant"] = self.options.variant
        return ids

    def resolve_params(self, params: Params, content: ContentRef) -> Params:
        """Validated, with height/width filled in from the model (its native size); a prompt given to an
        unconditional model is refused here, before any work."""
        params_mod.validate(params, self.loaded.schedule.num_train_timesteps)
        den = self.loaded.denoiser(content.prompt)
        height, width = output_size(params, den.default_size, den.size_multiple)
        return dataclasses.replace(params, height=height, width=width,
                                   mask_box=list(params.mask_box) if params.mask_box is not None else None)

    # -- the steps ------------------------------------------------------------------------------------

    def inversion(self, den: Denoiser, image: Image.Image, params: Params, record_h: bool,
                  bar: Any = None) -> Inversion:
        """DDIM inversion of `image` at the run's size (cached: a strip inverts each image once)."""
        rgb = image.convert("RGB")
        digest = hashlib.sha256(rgb.tobytes()).hexdigest()
        key = (digest, rgb.size, params.height, params.width, params.inversion_steps,
               getattr(den, "prompt", None), record_h)
        cached = self.cache("inversions", _CACHE_SIZE).get(key)
        if cached is not None:
            if bar is not None:
                bar.update(params.inversion_steps - 1)
            return cached
        with torch.no_grad():
            x0 = den.encode(to_tensor(rgb, params.height, params.width, den.device))
        result = invert(den, x0, params.inversion_steps, record_h=record_h,
                        on_step=(lambda *_: bar.update(1)) if bar is not None else None)
        return self.cache("inversions", _CACHE_SIZE).put(key, result)

    def _run(self, content: ContentRef, styles: list[StyleRef], params: Params, seed: int) -> list[Image.Image]:
        if any(s.image is None for s in styles):
            raise StylizeError("diffstyle needs style images (it inverts them to noise); style vectors cannot be used")
        den = self.loaded.denoiser(content.prompt)
        weights = normalized_weights(styles)
        used = [(s, float(w)) for s, w in zip(styles, weights, strict=True) if w > 0]
        total = (params.inversion_steps - 1) * (1 + len(used)) + params.generation_steps
        with self.progress(total) as bar:
            content_inv = self.inversion(den, content.image, params, record_h=True, bar=bar)
            x_t = blend_latents([self.inversion(den, s.image, params, record_h=False, bar=bar).x_t for s, _ in used],
                                [w for _, w in used])
            h = next(iter(content_inv.hs.values()))
            mask = box_mask(params.mask_box, h.shape[-2], h.shape[-1]) if params.mask_box is not None else None
            settings = TransferSettings(gamma=params.gamma, omega=params.omega, t_edit=params.t_edit,
                                        t_boost=params.t_boost, steps=params.generation_steps,
                                        renormalise=params.calibration_renorm, mask=mask,
                                        dt_lambda=params.dt_lambda, dt_end=params.dt_end)
            generator = torch.Generator("cpu").manual_seed(seed)
            x0 = transfer(den, x_t, content_inv, settings, generator, on_step=lambda *_: bar.update(1))
        with torch.no_grad():
            return [to_image(den.decode(x0))]


def create(**options: Any) -> DiffStyle:
    """Build a DiffStyle stylizer (weights load on first use). Options: `Options` (model, device, dtype, variant,
    allow_download)."""
    return DiffStyle.create(**options)
