"""The PARASOL stylizer (METHODS.md 1d): a trained checkpoint, a content image (or text) and styles (images,
style vectors or text) -> a new image.

One call:
1. descriptors: a_s = the styles' descriptors interpolated by weight (`descriptors.nlerp`; a style vector is
   used as given, `style_prompt` replaces the images with text), m_s = M(a_s); the content image's own
   a_y = A(y), c_y = C(y); the target content descriptor is c_y, or the prompt's descriptor C(text).
2. inversion of y (cached per image, size, steps, seed, guidance and noise mode, so a strip inverts once):
   the forward process over the n sampling levels with the noises stored under y's own conditions
   (`ddpm.invert`).
3. lambda switching: the first `lam` reverse steps are conditioned on y's own descriptors. Those conditions
   are the inversion's, so those steps reproduce the stored states exactly (that is what the stored noises
   are); we therefore start from the stored state at level n - lam instead of recomputing them (the tests
   check that this equals running them). The remaining n - lam steps are conditioned on (m_s, target content),
   each adding its stored noise.
4. decode with the frozen VAE; the base class applies the colour post-processing (`colour_match`).
Without a content image (a prompt only) or with invert=False the reverse process starts from seeded noise
and draws fresh noise at each step (plain ancestral DDPM sampling), with the same lambda switching.
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
from ..method import Method, WorkspaceOptions, output_size
from . import params as params_mod
from .ddpm import Inversion, chain_levels, denoise, invert
from .descriptors import nlerp
from .network import ParasolModel
from .models import ModelSpec, default_model, load_checkpoint_model, resolve_spec
from .params import Params

_CACHE_SIZE = 4


@dataclass(frozen=True)
class Options(WorkspaceOptions):
    """model: a checkpoint folder written by `stylelens train parasol`, or parasol/tiny (default: the first one
    in STYLELENS_PARASOL_CHECKPOINTS, else in the given `workspace`'s parasol/ folder); allow_download: let
    diffusers fetch the base model."""

    allow_download: bool = False


class Parasol(Method):
    """PARASOL sampling on a trained checkpoint (or the tiny untrained model for tests)."""

    name: ClassVar[str] = "parasol"
    Params: ClassVar[type] = Params
    Options: ClassVar[type] = Options
    supports_prompt: ClassVar[bool] = True  # text content through the semantic encoder's text side

    def __init__(self, spec: ModelSpec, options: Options | None = None, **overrides: Any) -> None:
        super().__init__(spec, options, **overrides)
        self._config = {} if spec.folder is None else _read_config(spec)

    @classmethod
    def resolve_spec(cls, options: Options) -> ModelSpec:
        return resolve_spec(options.model or default_model(options.workspace))

    @classmethod
    def from_model(cls, model: ParasolModel, model_id: str) -> Parasol:
        """A stylizer around a model already in memory (a benchmark's random real-size model, say); its
        record names `model_id` only, so regenerating it needs the same in-memory model."""
        spec = ModelSpec(model_id, None, "in-memory PARASOL model", "see the model's parts", tiny=True)
        stylizer = cls(spec, device=str(model.device), dtype=model.dtype)
        stylizer._loaded = model
        return stylizer

    @property
    def model_ids(self) -> dict[str, str]:
        ids = {"model": self.spec.model_id}
        for key in ("checkpoint_id", "base", "style_encoder", "content_encoder"):
            if key in self._config:
                ids[key] = str(self._config[key])
        return ids

    def load(self) -> ParasolModel:
        if self.spec.tiny:
            from .tiny import tiny_model

            return tiny_model(self.device)
        return load_checkpoint_model(self.spec.folder, self.device, self.dtype, bool(self.options.allow_download))[0]

    @property
    def model(self) -> ParasolModel:
        """The loaded model (on first use, so creating a stylizer stays cheap)."""
        return self.loaded

    def resolve_params(self, params: Params, content: ContentRef) -> Params:
        """Validated, with height/width from the checkpoint's resolution; text for a modality whose encoder
        has no text side is refused here, before any work."""
        model = self.model
        params_mod.validate(params, len(model.alphas_cumprod))
        height, width = output_size(params, model.config.resolution, model.size_multiple)
        if (content.prompt or "").strip() and not model.content.supports_text:
            raise StylizeError(f"a content prompt needs a semantic encoder with a text side; "
                               f"{model.content.encoder_id} has none")
        if params.style_prompt and not model.style.supports_text:
            raise StylizeError(f"style_prompt: the style encoder {model.style.encoder_id} has no text side, so text "
                               "cannot stand in for the style; give style images")
        return dataclasses.replace(params, height=int(height), width=int(width))

    # -- descriptors ----------------------------------------------------------------------------------

    def style_descriptor(self, styles: list[StyleRef], params: Params) -> torch.Tensor:
        """a_s (1, style dim): the styles' descriptors interpolated by weight, or the style prompt's."""
        model = self.model
        if params.style_prompt:
            return model.style.texts([params.style_prompt], "style_prompt")
        weights = normalized_weights(styles)
        used = [(s, float(w)) for s, w in zip(styles, weights, strict=True) if w > 0]
        rows = []
        for s, _ in used:
            if s.vector is not None:
                vec = torch.as_tensor(s.vector, dtype=torch.float32).reshape(-1)
                if vec.numel() != model.style.dim:
                    raise StylizeError(f"a style vector must have the style encoder's {model.style.dim} dimensions "
                                       f"({model.style.encoder_id}), got {vec.numel()}")
                rows.append(vec / vec.norm().clamp_min(1e-12))
            else:
                rows.append(model.style.images([s.image])[0])
        return nlerp(torch.stack(rows), [w for _, w in used])[None]

    def content_descriptor(self, content: ContentRef) -> torch.Tensor | None:
        """The target content descriptor from the prompt, or None (= the content image's own)."""
        if (content.prompt or "").strip():
            return self.model.content.texts([content.prompt], "prompt")
        return None

    # -- sampling -------------------------------------------------------------------------------------

    def _inversion(self, image: Image.Image, z0: torch.Tensor, m_y: torch.Tensor, c_y: torch.Tensor,
                   params: Params, seed: int, bar: Any) -> Inversion:
        rgb = image.convert("RGB")
        key = (hashlib.sha256(rgb.tobytes()).hexdigest(), rgb.size, params.height, params.width, params.steps,
               seed, float(params.g_s), float(params.g_y), params.inversion_noise)
        cached = self.cache("inversions", _CACHE_SIZE).get(key)
        if cached is not None:
            bar.update(params.steps)
            return cached
        model = self.model
        chain = chain_levels(model.alphas_cumprod, params.steps)
        own = (lambda x, t, k: model.guided_eps(x, t, m_y, c_y, params.g_s, params.g_y))  # noqa: E731
        result = invert(own, z0, chain, torch.Generator().manual_seed(seed), params.inversion_noise,
                        on_step=lambda: bar.update(1))
        return self.cache("inversions", _CACHE_SIZE).put(key, result)

    @torch.no_grad()
    def generate(self, image: Image.Image | None, a_s: torch.Tensor, c_target: torch.Tensor | None,
                 params: Params, seed: int) -> Image.Image:
        """One image from descriptors: content image (structure and own descriptors; may be None), style
        descriptor a_s, target content descriptor (None = the image's own). `params` must be resolved."""
        model = self.model
        device = model.device
        chain = chain_levels(model.alphas_cumprod, params.steps)
        m_s = model.conditioner.project_style(a_s.to(device))
        switch_at = params.steps - params.lam  # levels k <= switch_at are denoised with the switched conditions
        if image is None:
            if c_target is None:
                raise StylizeError("parasol needs a content image or a content prompt")
            own = None
        else:
            y = to_tensor(image, params.height, params.width, device)
            own = (model.encode(y), model.conditioner.project_style(model.style.images([image]).to(device)),
                   model.content.images([image]).to(device))
        c_t = (c_target if c_target is not None else own[2]).to(device)

        def eps(x: torch.Tensor, t: int, k: int) -> torch.Tensor:
            if own is not None and k > switch_at:
                return model.guided_eps(x, t, own[1], own[2], params.g_s, params.g_y)
            return model.guided_eps(x, t, m_s, c_t, params.g_s, params.g_y)

        with self.progress(params.steps * (1 + int(image is not None and params.invert))) as bar:
            if own is not None and params.invert:
                inv = self._inversion(image, own[0], own[1], own[2], params, seed, bar)
                bar.update(params.steps - switch_at)
                x0 = denoise(eps, inv.states[switch_at], chain, start=switch_at, noises=inv.noises,
                             on_step=lambda: bar.update(1))
            else:
                side = (params.height // model.vae_factor, params.width // model.vae_factor)
                g = torch.Generator().manual_seed(seed)
                start = torch.randn((1, int(model.unet.config.in_channels), *side), generator=g).to(device)
                x0 = denoise(eps, start, chain, generator=g, on_step=lambda: bar.update(1))
        return to_image(model.decode(x0))

    def _run(self, content: ContentRef, styles: list[StyleRef], params: Params, seed: int) -> list[Image.Image]:
        with torch.no_grad():
            a_s = self.style_descriptor(styles, params)
            return [self.generate(content.image, a_s, self.content_descriptor(content), params, seed)]


def _read_config(spec: ModelSpec) -> dict[str, Any]:
    from .checkpoint import read_config

    return read_config(spec.folder)


def create(**options: Any) -> Parasol:
    """Build a PARASOL stylizer (weights load on first use). Options: `Options` (model, workspace, device,
    dtype, allow_download)."""
    return Parasol.create(**options)
