"""The StyO stylizer: FCC on a model fine-tuned by IDL (`stylelens train styo`).

StyO is one-shot per image pair: the identifiers of a fine-tuned model stand for *its* source face and
*its* target portrait. So a request's content must be the model's source image and every style (with a
weight above 0) its target image, checked by sha256 against the model's record (the file bytes, or for an
image given in memory, its decoded pixels); anything else is refused with a message saying which images
the model knows. The model's own copies live in its folder (`source.*`, `target.*`).

One call: (1) the augmented prompts P_src^aug / P_sty^aug for (n_s, n_c) and their Content Index, checked
to align (`prompts`), (2) the source image's latent, (3) FCC sampling (`fcc`), (4) decode the stylised pass.
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
from .checkpoint import load_finetuned
from .encoding import encode_prompts, max_length
from .fcc import FCCSettings, make_scheduler, sample
from .models import MODELS, Parts, size_multiple
from .params import Params
from .prompts import Identifiers, content_index, inference_prompts, text
from .store import FineTuned, open_model


def pixel_digest(image: Image.Image) -> str:
    """sha256 of an image's RGB pixels and size (for images given without their file)."""
    rgb = image.convert("RGB")
    return hashlib.sha256(f"{rgb.size}".encode() + rgb.tobytes()).hexdigest()


@dataclass(frozen=True)
class Options(WorkspaceOptions):
    """model: `styo/NAME` or NAME of a model fine-tuned in the given `workspace` (WORKSPACE/models/styo), or its
    folder (required); allow_download: let diffusers fetch the base's weights."""

    allow_download: bool = False


class StyO(Method):
    """StyO (METHODS.md section 4) on a Stable Diffusion UNet fine-tuned by IDL. Its spec is the fine-tuned
    model (`store.FineTuned`), re-read before each use since training may move it on."""

    name: ClassVar[str] = "styo"
    Params: ClassVar[type] = Params
    Options: ClassVar[type] = Options
    supports_prompt: ClassVar[bool] = False

    def __init__(self, model: FineTuned, options: Options | None = None, **overrides: Any) -> None:
        super().__init__(model, options, **overrides)
        self._loaded_checkpoint: str | None = None

    @classmethod
    def resolve_spec(cls, options: Options) -> FineTuned:
        if options.model in MODELS:
            raise StylizeError(f"{options.model} is a base model: fine-tune it first (stylelens train styo --base "
                               f"{options.model} --name NAME ...), then stylize with --model styo/NAME")
        return open_model(options.model or "", options.workspace)

    @property
    def model(self) -> FineTuned:
        """The fine-tuned model (the spec)."""
        return self.spec

    @model.setter
    def model(self, value: FineTuned) -> None:
        self.spec = value

    def resolve_dtype(self, dtype: str | torch.dtype) -> torch.dtype | None:
        tiny = self.spec.base_id in MODELS and MODELS[self.spec.base_id].tiny  # built in float32
        return torch.float32 if tiny and dtype == "auto" else super().resolve_dtype(dtype)

    @property
    def model_ids(self) -> dict[str, str]:
        m = self.model = self.model.reload()
        return {"model": m.model_id, "base": m.base_id, "step": str(m.step),
                "weights": str(m.record.get("weights_sha256", ""))[:16], "kind": "lora" if m.lora else "full"}

    def load(self) -> Parts:
        return load_finetuned(self.model, self.device, self.dtype, self.model.record["base"].get("variant"),
                              bool(self.options.allow_download))

    @property
    def parts(self) -> Parts:
        """The fine-tuned model, loaded on first use and again when its checkpoint moved on."""
        self.model = self.model.reload()
        if self._loaded is None or self._loaded_checkpoint != self.model.record.get("checkpoint"):
            self._loaded = self.load()
            self._loaded_checkpoint = self.model.record.get("checkpoint")
        return self._loaded

    def resolve_params(self, params: Params, content: ContentRef) -> Params:
        """Validated, with height/width defaulting to the fine-tuning resolution."""
        params_mod.validate(params)
        height, width = output_size(params, int(self.model.record["resolution"]), size_multiple(self.parts))
        return dataclasses.replace(params, height=height, width=width)

    def check_inputs(self, content: ContentRef, styles: list[StyleRef]) -> None:
        """The content must be the model's source image and every weighted style its target image."""
        record = self.model.record

        def same(image: Image.Image | None, sha256: str | None, which: str) -> bool:
            if sha256 is not None and sha256 == record[which]["sha256"]:
                return True
            return image is not None and pixel_digest(image) == self._pixel_digest(which)

        if not same(content.image, content.sha256, "source"):
            raise StylizeError(f"StyO model {self.model.model_id!r} was fine-tuned on the source "
                               f"{record['source']['from']} (a copy: {self.model.image_path('source')}); it "
                               "stylizes that image only. Fine-tune a model on this content: stylelens train styo "
                               "--source ...")
        weights = normalized_weights(styles)
        for s, w in zip(styles, weights, strict=True):
            if w > 0 and (s.vector is not None or not same(s.image, s.sha256, "target")):
                raise StylizeError(f"StyO's style is baked into model {self.model.model_id!r}: pass its target image "
                                   f"{record['target']['from']} (a copy: {self.model.image_path('target')}) as the "
                                   "style; for another style fine-tune a new model (stylelens train styo "
                                   "--target ...)")

    def _pixel_digest(self, which: str) -> str:
        from indexer.imaging.decode import decode_file

        from .auxset import MAX_SIDE

        return pixel_digest(decode_file(self.model.image_path(which), max_side=MAX_SIDE).image)

    def prompts(self, params: Params) -> tuple[str, str, list[int]]:
        """(P_src^aug, P_sty^aug, Content Index) for these n_s / n_c, checked to align."""
        parts = self.parts
        ids = Identifiers.from_dict(self.model.record["identifiers"])
        src, sty = inference_prompts(ids, params.n_s, params.n_c)
        index = content_index(parts.tokenizer, src, sty, max_length(parts.tokenizer, parts.text_encoder))
        return text(src), text(sty), index

    def _run(self, content: ContentRef, styles: list[StyleRef], params: Params, seed: int) -> list[Image.Image]:
        self.check_inputs(content, styles)
        parts = self.parts
        src_text, sty_text, index = self.prompts(params)
        embeds = encode_prompts(parts.tokenizer, parts.text_encoder, ["", src_text, sty_text])
        settings = FCCSettings(params.num_inference_steps, float(params.guidance_scale), float(params.strength),
                               params.attention_control)
        with torch.no_grad(), self.progress(settings.steps) as bar:
            image = to_tensor(content.image, params.height, params.width, parts.vae.device)
            z0 = parts.vae.encode(image.to(parts.vae.dtype)).latent_dist.mean.float()
            z0 = z0 * float(parts.vae.config.scaling_factor)
            generator = torch.Generator("cpu").manual_seed(seed)
            _, z_sty = sample(parts.unet, make_scheduler(parts.scheduler_config), z0, embeds[:1], embeds[1:2],
                              embeds[2:], index, settings, generator,
                              on_step=lambda done, steps: bar.update(1, total=steps))
            decoded = parts.vae.decode((z_sty / float(parts.vae.config.scaling_factor)).to(parts.vae.dtype)).sample
        return [to_image(decoded.float())]


def create(**options: Any) -> StyO:
    """Build a StyO stylizer for a fine-tuned model (weights load on first use). Options: `Options` (model,
    workspace, device, dtype, allow_download)."""
    return StyO.create(**options)
