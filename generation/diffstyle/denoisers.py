"""The two model families DiffStyle runs on, behind one small interface.

- `PixelDenoiser`: an unconditional pixel-space DDPM (`UNet2DModel`: the 256x256 CelebA-HQ / LSUN /
  ImageNet-ADM class of checkpoints). A UNet that also predicts its variance (ADM, out_channels = 2 x in)
  has the variance half dropped: DDIM needs eps only.
- `LatentDenoiser`: Stable Diffusion (`UNet2DConditionModel`): images go through the VAE (the posterior
  mean, so encoding is deterministic) and every UNet call is conditioned on one prompt (empty by default;
  no classifier-free guidance, so DDIM inversion stays exact up to its first-order error).

Both expose h-space through a `MidBlockTap` on `unet.mid_block`.
"""
from __future__ import annotations

from typing import Any

import torch

from .hspace import MidBlockTap
from .schedule import Schedule


class Denoiser:
    """eps_theta(x_t, t) with access to the bottleneck; subclasses map images to x0 and back."""

    family: str = ""

    def __init__(self, unet: Any, schedule: Schedule) -> None:
        self.unet = unet.eval()
        self.schedule = schedule
        self.tap = MidBlockTap(unet)

    @property
    def device(self) -> torch.device:
        return next(self.unet.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.unet.parameters()).dtype

    @property
    def size_multiple(self) -> int:
        """Image sides must be multiples of this (the UNet's total downsampling, times the VAE's)."""
        return 2 ** (len(self.unet.config.block_out_channels) - 1) * self.pixels_per_cell

    pixels_per_cell: int = 1

    @property
    def default_size(self) -> int:
        return int(self.unet.config.sample_size) * self.pixels_per_cell

    def _unet(self, x: torch.Tensor, t: int) -> torch.Tensor:
        raise NotImplementedError

    def eps(self, x: torch.Tensor, t: int) -> torch.Tensor:
        """eps_theta(x, t) in float32 (the DDIM arithmetic stays in float32 whatever the UNet's dtype)."""
        out = self._unet(x.to(self.dtype), t).float()
        channels = x.shape[1]
        if out.shape[1] == 2 * channels:  # learned variance (ADM): keep the eps half
            out = out[:, :channels]
        return out

    def encode(self, image: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [-1, 1] -> x0 in the model's space."""
        return image

    def decode(self, x0: torch.Tensor) -> torch.Tensor:
        """x0 in the model's space -> (B, 3, H, W) in [-1, 1]."""
        return x0.clamp(-1, 1)


class PixelDenoiser(Denoiser):
    """An unconditional `UNet2DModel` on pixels in [-1, 1]."""

    family = "pixel"

    def __init__(self, unet: Any, schedule: Schedule, prompt: str | None = None) -> None:
        if prompt:
            raise ValueError("this is an unconditional pixel-space model; it takes no prompt")
        super().__init__(unet, schedule)

    def _unet(self, x: torch.Tensor, t: int) -> torch.Tensor:
        steps = torch.full((x.shape[0],), t, device=x.device, dtype=torch.long)
        return self.unet(x, steps).sample


class LatentDenoiser(Denoiser):
    """Stable Diffusion: `UNet2DConditionModel` + VAE + CLIP text encoder, conditioned on one prompt."""

    family = "sd"

    def __init__(self, unet: Any, schedule: Schedule, vae: Any, tokenizer: Any, text_encoder: Any,
                 prompt: str | None = None) -> None:
        super().__init__(unet, schedule)
        self.vae = vae.eval()
        self.pixels_per_cell = 2 ** (len(vae.config.block_out_channels) - 1)
        self.prompt = prompt or ""
        # a tokenizer folder without tokenizer_config.json reports an unbounded model_max_length
        length = min(int(tokenizer.model_max_length), int(text_encoder.config.max_position_embeddings))
        tokens = tokenizer(self.prompt, padding="max_length", max_length=length, truncation=True, return_tensors="pt")
        with torch.no_grad():
            self.condition = text_encoder(tokens.input_ids.to(text_encoder.device))[0].to(self.dtype)

    def _unet(self, x: torch.Tensor, t: int) -> torch.Tensor:
        steps = torch.full((x.shape[0],), t, device=x.device, dtype=torch.long)
        cond = self.condition.expand(x.shape[0], -1, -1)
        return self.unet(x, steps, encoder_hidden_states=cond).sample

    def encode(self, image: torch.Tensor) -> torch.Tensor:
        latents = self.vae.encode(image.to(self.vae.dtype)).latent_dist.mean
        return latents.float() * float(self.vae.config.scaling_factor)

    def decode(self, x0: torch.Tensor) -> torch.Tensor:
        image = self.vae.decode((x0 / float(self.vae.config.scaling_factor)).to(self.vae.dtype)).sample
        return image.float().clamp(-1, 1)
