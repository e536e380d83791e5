"""The PARASOL model (METHODS.md 1b): a pretrained latent diffusion model whose U-Net cross-attends to the
stacked [m_s, c_y] tokens, the conditioner (projector M, token map, null tokens) and the descriptor encoders.

eps_theta(z_t, t, m_s, c_y) is the U-Net with the conditioner's (B, 2, width) context in place of a text
encoder's; the autoencoder (E, D) is frozen. `guided_eps` is the modality-specific classifier-free guidance
of the paper:
    eps = eps(z, t, 0, 0) + g_s [eps(z, t, m_s, 0) - eps(z, t, 0, 0)] + g_y [eps(z, t, 0, c_y) - eps(z, t, 0, 0)]
evaluated as one batched U-Net call; a guidance weight of exactly 0 leaves its row out, so g_s = g_y = 0 is
the unconditional prediction itself.
"""
from __future__ import annotations

import json
from dataclasses import MISSING, asdict, dataclass, fields
from typing import Any

import torch

from ..base import StylizeError
from .conditioning import Conditioner
from .descriptors import DescriptorEncoder

TRAINABLE = ("all", "attention")


@dataclass
class ParasolConfig:
    """What a PARASOL checkpoint is: its base LDM, its two encoders (registry ids) and the shapes that tie
    them to the U-Net. Saved as `parasol.json` in every checkpoint.

    base: "tiny", a hub id (e.g. stable-diffusion-v1-5/stable-diffusion-v1-5) or a local diffusers folder.
    trainable: "all" (the paper: the whole U-Net is fine-tuned) or "attention" (its cross-attention layers
    only); a checkpoint carries exactly the U-Net weights that were trained.
    """

    base: str
    style_encoder: str
    content_encoder: str
    style_dim: int
    content_dim: int
    token_dim: int
    resolution: int
    hidden_dim: int | None = None
    trainable: str = "all"

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ParasolConfig:
        known = {f.name for f in fields(cls)}
        missing = sorted({f.name for f in fields(cls) if f.default is MISSING} - set(data))
        if missing:
            raise StylizeError(f"PARASOL config lacks {missing}")
        return cls(**{k: v for k, v in data.items() if k in known})


def alphas_cumprod_of(scheduler_config: dict) -> torch.Tensor:
    """alpha-bar of the base model's training schedule (float64); PARASOL needs an eps-prediction model."""
    from diffusers import DDPMScheduler

    keys = ("num_train_timesteps", "beta_start", "beta_end", "beta_schedule", "trained_betas", "prediction_type")
    config = {k: v for k, v in dict(scheduler_config).items() if k in keys}
    if config.get("prediction_type", "epsilon") != "epsilon":
        raise StylizeError(f"PARASOL needs an epsilon-prediction base model; this one predicts "
                           f"{config['prediction_type']!r}")
    return DDPMScheduler(**config).alphas_cumprod.to(torch.float64).clone()


class ParasolModel:
    """U-Net + VAE + conditioner + descriptor encoders + the training schedule, on one device."""

    def __init__(self, config: ParasolConfig, unet: Any, vae: Any, scheduler_config: dict,
                 conditioner: Conditioner, style: DescriptorEncoder, content: DescriptorEncoder) -> None:
        self.config = config
        self.unet = unet
        self.vae = vae.eval().requires_grad_(False)
        self.conditioner = conditioner
        self.style = style
        self.content = content
        self.alphas_cumprod = alphas_cumprod_of(scheduler_config)
        self.scheduler_config = dict(scheduler_config)

    @property
    def device(self) -> torch.device:
        return next(self.unet.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.unet.parameters()).dtype

    @property
    def scaling(self) -> float:
        return float(self.vae.config.scaling_factor)

    @property
    def vae_factor(self) -> int:
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    @property
    def size_multiple(self) -> int:
        """Image sides must be multiples of this (U-Net downsampling times the VAE's)."""
        return 2 ** (len(self.unet.config.block_out_channels) - 1) * self.vae_factor

    def encode(self, images: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        """(B, 3, H, W) in [-1, 1] -> scaled latents: the posterior mean, or a sample mean + std * noise."""
        dist = self.vae.encode(images.to(self.device, self.vae.dtype)).latent_dist
        z = dist.mean if noise is None else dist.mean + dist.std * noise.to(dist.mean)
        return z.float() * self.scaling

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Scaled latents -> (B, 3, H, W) images, nominally in [-1, 1] (not clamped: training needs gradients)."""
        return self.vae.decode((latents / self.scaling).to(self.vae.dtype)).sample.float()

    def eps(self, z: torch.Tensor, t: int | torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """eps_theta(z_t, t, context) in float32."""
        if torch.is_tensor(t) and t.dim() > 0:
            steps = t.to(z.device).long()
        else:
            steps = torch.full((z.shape[0],), int(t), device=z.device, dtype=torch.long)
        out = self.unet(z.to(self.dtype), steps, encoder_hidden_states=tokens.to(self.dtype)).sample
        return out.float()

    def guided_eps(self, z: torch.Tensor, t: int, m_s: torch.Tensor | None, c_y: torch.Tensor | None,
                   g_s: float, g_y: float) -> torch.Tensor:
        """The modality-specific classifier-free guidance (module docstring), one batched U-Net call."""
        n = z.shape[0]
        ctx = [self.conditioner.tokens(None, None, batch=n)]
        if g_s != 0:
            if m_s is None:
                raise StylizeError("g_s is not 0 but there is no style condition")
            ctx.append(self.conditioner.tokens(m_s, None, batch=n))
        if g_y != 0:
            if c_y is None:
                raise StylizeError("g_y is not 0 but there is no content condition")
            ctx.append(self.conditioner.tokens(None, c_y, batch=n))
        eps = self.eps(z.repeat(len(ctx), 1, 1, 1), t, torch.cat(ctx)).chunk(len(ctx))
        out, rest = eps[0], list(eps[1:])
        if g_s != 0:
            out = out + g_s * (rest.pop(0) - eps[0])
        if g_y != 0:
            out = out + g_y * (rest.pop(0) - eps[0])
        return out
