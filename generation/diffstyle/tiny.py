"""Seeded tiny models of both DiffStyle families, and the real-size pixel UNet shape, for tests and benchmarks.

- `pixel_unet`: a 16 px `UNet2DModel` (2 levels, attention in the lower one; h-space is 8x8x32).
- the SD family uses the shared `generation.diffusion.tiny.sd15_parts` (32 px images, 16x16 latents, h-space
  2x2x32).
- `DDPM_256_UNET`: the UNet2DModel config of google/ddpm-{celebahq,church,bedroom,cat}-256 (114 M
  parameters), for timing the real shapes with random weights.
Their outputs are noise-like: they check the algorithm's invariants, never image quality.
"""
from __future__ import annotations

from typing import Any

import torch

from indexer.compat import import_torchvision

from ..diffusion.tiny import seeded

PIXEL_SIZE = 16
DDPM_SCHEDULE = dict(num_train_timesteps=1000, beta_start=0.0001, beta_end=0.02, beta_schedule="linear")
DDPM_256_UNET: dict[str, Any] = dict(
    sample_size=256, in_channels=3, out_channels=3, layers_per_block=2,
    block_out_channels=(128, 128, 256, 256, 512, 512),
    down_block_types=("DownBlock2D",) * 4 + ("AttnDownBlock2D", "DownBlock2D"),
    up_block_types=("UpBlock2D", "AttnUpBlock2D") + ("UpBlock2D",) * 4,
    downsample_padding=0, flip_sin_to_cos=False, freq_shift=1, norm_eps=1e-6, norm_num_groups=32,
    mid_block_scale_factor=1, act_fn="silu", center_input_sample=False, time_embedding_type="positional")


def pixel_unet(seed: int = 0, learned_variance: bool = False, **overrides: Any) -> Any:
    """A tiny unconditional UNet2DModel; `learned_variance` doubles the output channels like ADM's."""
    import_torchvision()
    from diffusers import UNet2DModel

    config = dict(sample_size=PIXEL_SIZE, in_channels=3, out_channels=6 if learned_variance else 3,
                  layers_per_block=1, block_out_channels=(16, 32), norm_num_groups=8,
                  down_block_types=("DownBlock2D", "AttnDownBlock2D"), up_block_types=("AttnUpBlock2D", "UpBlock2D"),
                  attention_head_dim=8)
    config.update(overrides)
    with seeded(seed):
        return UNet2DModel(**config).eval()


def real_size_pixel_unet(seed: int = 0) -> Any:
    """Random weights in the 256 px DDPM UNet shape (timing only)."""
    import_torchvision()
    from diffusers import UNet2DModel

    with seeded(seed):
        return UNet2DModel(**DDPM_256_UNET).eval()


def smooth_images(n: int, generator: torch.Generator, size: int = PIXEL_SIZE) -> torch.Tensor:
    """(n, 3, size, size) images in [-1, 1]: 4x4 random colour grids, bilinearly upsampled."""
    low = torch.rand(n, 3, 4, 4, generator=generator) * 2 - 1
    return torch.nn.functional.interpolate(low, size=size, mode="bilinear", align_corners=False)


def trained_pixel_unet(steps: int = 400, seed: int = 0) -> Any:
    """A tiny UNet2DModel trained for `steps` Adam steps (eps-prediction, the DDPM schedule) on
    `smooth_images`: about 20 s on one CPU thread. A random UNet is no denoiser, so DDIM inversion through it
    does not converge; this one behaves like a trained model where the tests need that (reconstruction)."""
    unet = pixel_unet(seed, block_out_channels=(8, 16), norm_num_groups=4)
    from diffusers import DDIMScheduler

    alphas = DDIMScheduler(**DDPM_SCHEDULE).alphas_cumprod.float()
    g = torch.Generator().manual_seed(seed)
    with seeded(seed):
        opt = torch.optim.Adam(unet.parameters(), lr=2e-3)
        unet.train()
        for _ in range(steps):
            x0 = smooth_images(16, g)
            t = torch.randint(0, len(alphas), (16,), generator=g)
            noise = torch.randn(x0.shape, generator=g)
            a = alphas[t].view(-1, 1, 1, 1)
            loss = ((unet(a.sqrt() * x0 + (1 - a).sqrt() * noise, t).sample - noise) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    return unet.eval()
