"""Style embedding for the IP-Adapter: weighted style mix and InstantStyle's content subtraction.

    style_embed = sum_i w_i * CLIP_image(style_i) - k * CLIP_text(content description)

on the *global* (projected) CLIP embedding, before the IP-Adapter's image projection (METHODS.md section
2). Since the weights sum to 1 this is the same as mixing the per-style subtracted embeddings. diffusers has
no content subtraction, so the embedding is computed here and handed to the pipeline as
`ip_adapter_image_embeds` in the layout diffusers expects (`ip_adapter_embeds`).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image

from ..base import StylizeError


@torch.no_grad()
def encode_images(image_encoder: Any, feature_extractor: Any, images: Sequence[Image.Image]) -> torch.Tensor:
    """Projected CLIP image embeddings, (N, D) float32, as diffusers' `encode_image` computes them.

    Images go through the encoder one at a time: batch size changes float rounding, and a style mix with
    weights [1, 0] must equal the single-style run exactly.
    """
    param = next(image_encoder.parameters())
    rows = []
    for image in images:
        pixels = feature_extractor(images=image.convert("RGB"), return_tensors="pt").pixel_values
        rows.append(image_encoder(pixels.to(param.device, param.dtype)).image_embeds.float())
    return torch.cat(rows)


@torch.no_grad()
def encode_text(tokenizer: Any, text_model: Any, text: str) -> torch.Tensor:
    """Projected CLIP text embedding `text_embeds`, (1, D) float32, of a CLIPTextModelWithProjection."""
    ids = tokenizer([text], padding="max_length", max_length=tokenizer.model_max_length, truncation=True,
                    return_tensors="pt").input_ids
    return text_model(ids.to(next(text_model.parameters()).device)).text_embeds.float()


def vectors_as_embeddings(vectors: Sequence[np.ndarray], dim: int) -> torch.Tensor:
    """Precomputed CLIP image embeddings (StyleRef.vector) as (N, D) float32; refuses a wrong size."""
    rows = []
    for v in vectors:
        arr = np.asarray(v, dtype=np.float32).reshape(-1)
        if arr.shape != (dim,) or not np.isfinite(arr).all():
            raise StylizeError(f"a style vector for this IP-Adapter must be a finite CLIP image embedding of "
                               f"size {dim} (the image encoder's projection_dim); got shape {np.shape(v)}")
        rows.append(torch.from_numpy(arr.copy()))
    return torch.stack(rows)


def style_embedding(image_embeds: torch.Tensor, weights: np.ndarray, content_embed: torch.Tensor | None = None,
                    k: float = 0.0) -> torch.Tensor:
    """Weighted sum of the (N, D) style embeddings minus `k` times the content text embedding; (1, D).

    `weights` must already be normalised (`base.normalized_weights`). k = 0 returns the plain mix.
    """
    if image_embeds.ndim != 2 or len(weights) != image_embeds.shape[0]:
        raise StylizeError(f"{len(weights)} weights for {tuple(image_embeds.shape)} style embeddings")
    w = torch.as_tensor(np.asarray(weights), dtype=image_embeds.dtype, device=image_embeds.device)
    mixed = (w[:, None] * image_embeds).sum(0, keepdim=True)
    if k == 0:
        return mixed
    if content_embed is None:
        raise StylizeError("content subtraction needs a content text embedding")
    if content_embed.shape != mixed.shape:
        raise StylizeError(f"content text embedding {tuple(content_embed.shape)} and image embedding "
                           f"{tuple(mixed.shape)} are not in the same CLIP space (projection sizes differ)")
    return mixed - k * content_embed.to(mixed.dtype)


def uses_cfg(pipe: Any, guidance_scale: float) -> bool:
    """Whether the pipeline will run classifier-free guidance (diffusers' own rule)."""
    return guidance_scale > 1 and getattr(pipe.unet.config, "time_cond_proj_dim", None) is None


def ip_adapter_embeds(style: torch.Tensor, do_cfg: bool, dtype: torch.dtype | None = None) -> list[torch.Tensor]:
    """`ip_adapter_image_embeds` for one plain IP-Adapter: a list with one (2 or 1, 1, D) tensor.

    Dim 0 is [negative, positive] under classifier-free guidance (the negative image embedding is zeros,
    as in diffusers' `encode_image` and the original IP-Adapter), dim 1 the number of images (one mixed
    embedding). The pipeline repeats it for batch size and images per prompt.
    """
    pos = style.reshape(1, 1, -1)
    if dtype is not None:
        pos = pos.to(dtype)
    return [torch.cat([torch.zeros_like(pos), pos]) if do_cfg else pos]
