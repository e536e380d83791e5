"""The InstantStyle stylizer: IP-Adapter image features in the style block only, with content subtraction.

One call: (1) set the per-block IP-Adapter scales and verify them (`blocks`), (2) build the style embedding
(weighted mix of the styles' CLIP image embeddings minus k x the content description's CLIP text embedding,
`subtraction`), (3) run the diffusers pipeline with `ip_adapter_image_embeds=`: text-to-image for a prompt,
img2img or canny ControlNet for a content image. Pipelines for the image modes share the loaded components.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from PIL import Image

from ..base import ContentRef, StyleRef, StylizeError, normalized_weights
from ..diffusion import quiet_diffusers
from ..method import Method, MethodOptions
from . import params as params_mod
from .blocks import apply_block_scales, attention_scales
from .canny import canny_edges
from .models import (
    DEFAULT_MODEL,
    Loaded,
    ModelSpec,
    controlnet_source,
    load,
    resolve_spec,
)
from .params import Params
from .subtraction import (
    encode_images,
    encode_text,
    ip_adapter_embeds,
    style_embedding,
    uses_cfg,
    vectors_as_embeddings,
)


@dataclass(frozen=True)
class Options(MethodOptions):
    """model: an id from `list_models()` or a local diffusers pipeline folder (default instantstyle/sdxl);
    base / ip_adapter / content_text_encoder: hub ids or local folders overriding the model's; controlnet:
    None, "canny" or a ControlNet id/folder; variant: e.g. "fp16" weight files; allow_download: let diffusers
    fetch missing weights."""

    base: str | None = None
    ip_adapter: str | None = None
    content_text_encoder: str | None = None
    controlnet: str | None = None
    variant: str | None = None
    allow_download: bool = False


class InstantStyle(Method):
    """InstantStyle (METHODS.md section 2) on diffusers' IP-Adapter; SDXL by default, SD1.5 too."""

    name: ClassVar[str] = "instantstyle"
    Params: ClassVar[type] = Params
    Options: ClassVar[type] = Options
    supports_prompt: ClassVar[bool] = True

    def __init__(self, spec: ModelSpec, options: Options | None = None, **overrides: Any) -> None:
        super().__init__(spec, options, **overrides)
        self._controlnet_source = controlnet_source(spec, self.options.controlnet)

    @classmethod
    def resolve_spec(cls, options: Options) -> ModelSpec:
        return resolve_spec(options.model or DEFAULT_MODEL, options.base, options.ip_adapter,
                            options.content_text_encoder)

    def load(self) -> Loaded:
        o = self.options
        return load(self.spec, self.device, self.dtype, o.variant, o.controlnet, bool(o.allow_download))

    @property
    def model_ids(self) -> dict[str, str]:
        s = self.spec
        ids = {"model": s.model_id, "base": s.base,
               "ip_adapter": f"{s.ip_adapter}/{s.ip_subfolder}/{s.ip_weight}",
               "image_encoder": f"{s.ip_adapter}/{s.image_encoder_subfolder}",
               "content_text_encoder": s.content_text_encoder or f"{s.base}/text_encoder_2"}
        if self._controlnet_source:
            ids["controlnet"] = self._controlnet_source
        if self.options.variant:
            ids["variant"] = self.options.variant
        return ids

    def resolve_params(self, params: Params, content: ContentRef) -> Params:
        """The model's default sizes filled in (what the record should hold)."""
        return params_mod.resolve(params, content.image, self.spec.default_size, self.spec.size_multiple)

    # -- the three steps -------------------------------------------------------------------------------

    def apply_scales(self, params: Params) -> dict[str, float]:
        """Set and verify the per-attention IP-Adapter scales for `params`; returns the plan."""
        unet = self.loaded.pipe.unet
        plan = attention_scales(unet, params.style_scale, params.layout_scale, params.style_blocks,
                                params.layout_blocks)
        return apply_block_scales(self.loaded.pipe, plan)

    def style_embedding(self, content: ContentRef, styles: list[StyleRef], params: Params) -> torch.Tensor:
        """The (1, D) embedding handed to the IP-Adapter projection (positive half), float32."""
        pipe = self.loaded.pipe
        dim = int(pipe.image_encoder.config.projection_dim)
        rows = [encode_images(pipe.image_encoder, pipe.feature_extractor, [s.image]) if s.image is not None
                else vectors_as_embeddings([s.vector], dim).to(pipe.device) for s in styles]
        text = None
        k = float(params.content_subtraction)
        if k > 0:
            description = params.content_description if params.content_description is not None else content.prompt
            if not (description or "").strip():
                raise StylizeError("content_subtraction > 0 needs a content_description (what the style image "
                                   "shows) or a prompt to use as one")
            tokenizer, text_model = self.loaded.content_text_encoder()
            text = encode_text(tokenizer, text_model, description)
        return style_embedding(torch.cat(rows), normalized_weights(styles), text, k)

    def _mode(self, content: ContentRef, params: Params) -> str:
        if content.image is None:
            return "text2img"
        mode = params.content_mode
        if mode == "auto":
            mode = "controlnet" if self._controlnet_source else "img2img"
        if mode == "controlnet" and not self._controlnet_source:
            raise StylizeError("content_mode='controlnet' needs a stylizer created with controlnet='canny' "
                               "(or a ControlNet id/folder)")
        if mode == "img2img" and int(params.num_inference_steps * params.img2img_strength) < 1:
            raise StylizeError("num_inference_steps x img2img_strength must be at least 1 denoising step")
        return mode

    def _pipeline(self, mode: str) -> Any:
        """The pipeline for `mode`, sharing the loaded components (and the IP-Adapter'd UNet)."""
        pipe = self.loaded.pipe
        if mode == "text2img":
            return pipe
        variants = self.cache("pipelines", 3)
        if mode not in variants:
            import diffusers

            sdxl = self.spec.family == "sdxl"
            if mode == "img2img":
                cls = diffusers.StableDiffusionXLImg2ImgPipeline if sdxl else diffusers.StableDiffusionImg2ImgPipeline
                extra: dict[str, Any] = {}
            else:
                cls = (diffusers.StableDiffusionXLControlNetPipeline if sdxl
                       else diffusers.StableDiffusionControlNetPipeline)
                extra = {"controlnet": self.loaded.controlnet}
            # no dtype given would cast to fp32; with it, diffusers warns about a same-dtype `.to()` it does itself
            with quiet_diffusers():
                variant = cls.from_pipe(pipe, dtype=pipe.dtype, **extra)
            variant.set_progress_bar_config(disable=True)
            variants.put(mode, variant)
        return variants.get(mode)

    def _run(self, content: ContentRef, styles: list[StyleRef], params: Params, seed: int) -> list[Image.Image]:
        mode = self._mode(content, params)
        pipe = self.loaded.pipe
        self.apply_scales(params)
        style = self.style_embedding(content, styles, params)
        embeds = ip_adapter_embeds(style, uses_cfg(pipe, params.guidance_scale), dtype=pipe.unet.dtype)
        prompt = ", ".join(p for p in ((content.prompt or "").strip(), params.prompt_suffix.strip()) if p)
        kwargs: dict[str, Any] = dict(
            prompt=prompt, negative_prompt=params.negative_prompt or None, guidance_scale=params.guidance_scale,
            num_inference_steps=params.num_inference_steps, ip_adapter_image_embeds=embeds,
            generator=torch.Generator("cpu").manual_seed(seed), output_type="pil")
        if mode == "text2img":
            kwargs.update(height=params.height, width=params.width)
        else:
            image = content.image.convert("RGB").resize((params.width, params.height), Image.Resampling.BICUBIC)
            if mode == "img2img":
                kwargs.update(image=image, strength=params.img2img_strength)
            else:
                kwargs.update(image=canny_edges(image, params.canny_low, params.canny_high),
                              controlnet_conditioning_scale=params.controlnet_scale,
                              height=params.height, width=params.width)
        steps = params.num_inference_steps
        if mode == "img2img":  # diffusers runs the last int(steps x strength) of the schedule
            steps = min(int(steps * params.img2img_strength), steps)
        with self.progress(steps) as bar, torch.inference_mode(), quiet_diffusers():  # e.g. SDXL img2img's VAE
            kwargs["callback_on_step_end"] = _on_step(bar)                             # upcast warns every call
            return list(self._pipeline(mode)(**kwargs).images)


def _on_step(bar: Any) -> Any:
    """A diffusers `callback_on_step_end` that counts a step on `bar` and changes nothing."""

    def step(pipe: Any, i: int, t: Any, tensors: dict[str, Any]) -> dict[str, Any]:
        bar.update(1)
        return tensors

    return step


def create(**options: Any) -> InstantStyle:
    """Build an InstantStyle stylizer (weights load on first use). Options: `Options` (model, base, ip_adapter,
    content_text_encoder, controlnet, device, dtype, variant, allow_download)."""
    return InstantStyle.create(**options)
