"""Prompts through the frozen CLIP text encoder, images through the frozen VAE: what both IDL and FCC feed
the UNet. Prompts are padded to the encoder's full length (77 for CLIP), as Stable Diffusion was trained,
and refused (not truncated) when longer."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from PIL import Image

from ..base import StylizeError
from ..diffusion.images import to_tensor


def max_length(tokenizer: Any, text_encoder: Any) -> int:
    """Tokens the text encoder takes (a tokenizer folder without its config reports an unbounded length)."""
    return min(int(tokenizer.model_max_length), int(text_encoder.config.max_position_embeddings))


@torch.no_grad()
def encode_prompts(tokenizer: Any, text_encoder: Any, texts: list[str]) -> torch.Tensor:
    """(len(texts), max_length, hidden) text embeddings, in the encoder's dtype."""
    length = max_length(tokenizer, text_encoder)
    for t in texts:
        n = len(tokenizer(t).input_ids)
        if n > length:
            raise StylizeError(f"the prompt {t!r} is {n} tokens, over the text encoder's {length}")
    tokens = tokenizer(texts, padding="max_length", max_length=length, truncation=True, return_tensors="pt")
    return text_encoder(tokens.input_ids.to(text_encoder.device))[0]


@dataclass
class LatentDist:
    """The VAE posteriors of a batch of images: mean and std, (n, 4, h, w), scaled to the UNet's latent space."""

    mean: torch.Tensor
    std: torch.Tensor

    def sample(self, rows: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """One posterior sample per selected row (seeded, drawn on the CPU so any device gives the same)."""
        noise = torch.randn((len(rows), *self.mean.shape[1:]), generator=generator).to(self.mean.device)
        return self.mean[rows] + self.std[rows] * noise


@torch.no_grad()
def encode_images(vae: Any, images: list[Image.Image], size: int, chunk: int = 8) -> LatentDist:
    """Resize (cover and centre-crop) to `size` and encode; float32 results on the VAE's device."""
    scale = float(vae.config.scaling_factor)
    means, stds = [], []
    for i in range(0, len(images), chunk):
        batch = torch.cat([to_tensor(im, size, size, vae.device) for im in images[i:i + chunk]])
        dist = vae.encode(batch.to(vae.dtype)).latent_dist
        means.append(dist.mean.float() * scale)
        stds.append(dist.std.float() * scale)
    return LatentDist(torch.cat(means), torch.cat(stds))
