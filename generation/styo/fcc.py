"""FCC at inference (METHODS.md section 4): the source and stylised reverse processes, run together.

1. z_src^T: the source latent noised by the forward process to the first sampling timestep (seeded);
   both passes start from it.
2. At every DDIM step (eta = 0, the LDM's sampler) the UNet sees one batch: [src, sty] rows, and with
   classifier-free guidance [uncond src, uncond sty, P_src^aug, P_sty^aug]. `attention.controlled` swaps the
   content columns of the conditional stylised row's cross-attention maps for the source row's.
3. Each pass takes its own guided eps and its own DDIM step; the stylised latent is the result (the source
   pass reconstructs x_src and exists to lend its attention maps).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from .attention import AttentionControl, Observer, controlled


@dataclass(frozen=True)
class FCCSettings:
    """Sampling knobs (see `params.Params`)."""

    steps: int = 50
    guidance_scale: float = 7.5
    strength: float = 1.0
    attention_control: bool = True

    @property
    def guided(self) -> bool:
        return self.guidance_scale > 1.0


def make_scheduler(scheduler_config: dict) -> Any:
    """DDIM (eta = 0) over the model's own training schedule."""
    from diffusers import DDIMScheduler

    return DDIMScheduler.from_config(scheduler_config)


def timesteps(scheduler: Any, settings: FCCSettings, device: torch.device | str) -> torch.Tensor:
    """The sampling timesteps: the last `steps x strength` of a `steps`-step DDIM schedule."""
    scheduler.set_timesteps(settings.steps, device=device)
    run = min(int(settings.steps * settings.strength), settings.steps)
    return scheduler.timesteps[settings.steps - run:]


def start_latent(scheduler: Any, z0: torch.Tensor, t_first: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """z_src^T = sqrt(a_T) z0 + sqrt(1 - a_T) eps with seeded eps (drawn on the CPU: any device, same noise)."""
    noise = torch.randn(z0.shape, generator=generator, dtype=torch.float32).to(z0.device)
    return scheduler.add_noise(z0.float(), noise, t_first.reshape(1))


@torch.no_grad()
def sample(unet: Any, scheduler: Any, z0: torch.Tensor, uncond: torch.Tensor, source: torch.Tensor,
           stylised: torch.Tensor, content_index: list[int], settings: FCCSettings, generator: torch.Generator,
           observer: Observer | None = None, on_step: Callable[[int, int], None] | None = None
           ) -> tuple[torch.Tensor, torch.Tensor]:
    """(source pass, stylised pass) final latents from z0 (1, C, h, w) and (1, L, D) prompt embeddings."""
    steps = timesteps(scheduler, settings, z0.device)
    x = start_latent(scheduler, z0, steps[0], generator).repeat(2, 1, 1, 1)  # rows: src, sty
    if settings.guided:
        cond = torch.cat([uncond, uncond, source, stylised])
        pairs = [(2, 3)]
    else:
        cond = torch.cat([source, stylised])
        pairs = [(0, 1)]
    cond = cond.to(unet.device, unet.dtype)
    control = AttentionControl(content_index, pairs, enabled=settings.attention_control, observer=observer)
    with controlled(unet, control):
        for i, t in enumerate(steps):
            batch = torch.cat([x, x]) if settings.guided else x
            eps = unet(batch.to(unet.dtype), t, encoder_hidden_states=cond).sample.float()
            if settings.guided:
                plain, text = eps.chunk(2)
                eps = plain + settings.guidance_scale * (text - plain)
            x = scheduler.step(eps, t, x).prev_sample
            if on_step is not None:
                on_step(i + 1, len(steps))
    return x[:1], x[1:]
