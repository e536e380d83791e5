"""Seconds per DiffStyle image at real UNet sizes (random weights), against baselines run in the same process.

The model is built with random weights in a real checkpoint's shape: the 256 px pixel DDPM
(google/ddpm-*-256, 114 M parameters; `--family pixel`) or the SD1.5 UNet + VAE (`--family sd15`, at
256 px = 32x32 latents by default). Real weights are not needed for timing. Three figures, same process:

- bare: one UNet forward (batch 1) at that size, times the number of UNet evaluations a DiffStyle image
  needs (content inversion + 1, style inversion, 2 per edit step batched + 1 per calibrated step, 1 per
  other step): the floor for this algorithm;
- plain DDIM: inverting one image and reconstructing it (n_inv + n_gen forwards), the usual editing cost;
- DiffStyle: the whole `stylize` call (resize, VAE, both inversions, injection, calibration, boosting,
  decode), with the inversion cache emptied before every call; the first call is reported on its own
  (first-use kernel selection for the batched shapes) and, with `--rounds N > 1`, the median of the others.

Run: python scripts/bench_diffstyle.py [--family pixel|sd15] [--size 256] [--inversion-steps 50]
     [--generation-steps 50] [--rounds 1] [--device cuda --dtype float16]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from indexer.compat import import_torchvision  # noqa: E402

import_torchvision()

from generation import ContentRef, StyleRef  # noqa: E402
from generation.diffstyle import tiny  # noqa: E402
from generation.diffstyle.algorithm import invert  # noqa: E402
from generation.diffstyle.models import Loaded, ModelSpec  # noqa: E402
from generation.diffstyle.schedule import Schedule, ddim_step, predicted_x0  # noqa: E402
from generation.diffstyle.stylizer import DiffStyle  # noqa: E402
from generation.diffusion import quiet_diffusers  # noqa: E402


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def build(family: str) -> Loaded:
    """Random weights in the real shapes (SD1.5's text encoder is cut to one layer: it runs once per call)."""
    torch.manual_seed(0)
    if family == "pixel":
        spec = ModelSpec("bench/pixel-256", "pixel", "random", "random DDPM-256 shape", "", tiny=True)
        return Loaded(spec, tiny.real_size_pixel_unet(), Schedule.from_scheduler_config(tiny.DDPM_SCHEDULE))
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from generation.diffusion.tokenizer import VOCAB_SIZE, offline_clip_tokenizer

    unet = UNet2DConditionModel(cross_attention_dim=768, attention_head_dim=8)
    vae = AutoencoderKL(block_out_channels=(128, 256, 512, 512), down_block_types=("DownEncoderBlock2D",) * 4,
                        up_block_types=("UpDecoderBlock2D",) * 4, latent_channels=4, layers_per_block=2,
                        sample_size=512, scaling_factor=0.18215)
    text = CLIPTextModel(CLIPTextConfig(vocab_size=VOCAB_SIZE, hidden_size=768, num_hidden_layers=1,
                                        num_attention_heads=12, intermediate_size=3072, max_position_embeddings=77))
    schedule = Schedule.from_scheduler_config(dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012,
                                                   beta_schedule="scaled_linear"))
    spec = ModelSpec("bench/sd15", "sd", "random", "random SD1.5 shape", "", tiny=True)
    return Loaded(spec, unet, schedule, vae, offline_clip_tokenizer(), text)


def forwards_per_image(params: dict, schedule: Schedule) -> int:
    """UNet evaluations (batch-1 equivalents) of one DiffStyle image."""
    steps = schedule.timesteps(params["generation_steps"])
    edit = sum(t >= params["t_edit"] for t in steps)
    per_edit = 2 + (1 if params["omega"] > 0 else 0)
    inversions = 2 * (params["inversion_steps"] - 1)  # content and style, one UNet call per grid step
    return inversions + edit * per_edit + (len(steps) - edit)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", choices=["pixel", "sd15"], default="pixel")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--inversion-steps", type=int, default=50)
    parser.add_argument("--generation-steps", type=int, default=50)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--rounds", type=int, default=1, help="DiffStyle calls (the first reported apart)")
    args = parser.parse_args()
    dtype = getattr(torch, args.dtype)

    loaded = build(args.family)
    with quiet_diffusers():  # a random-init model cast with `.to()`
        for part in (loaded.unet, loaded.vae, loaded.text_encoder):
            if part is not None:
                part.to(device=args.device, dtype=dtype).eval()
    stylizer = DiffStyle(loaded.spec, device=args.device, dtype=dtype)
    stylizer._loaded = loaded  # the random real-size model stands in for downloaded weights
    params = dict(inversion_steps=args.inversion_steps, generation_steps=args.generation_steps,
                  height=args.size, width=args.size)
    den = loaded.denoiser(None)
    cells = args.size // den.pixels_per_cell
    x = torch.randn(1, den.unet.config.in_channels, cells, cells, device=args.device)
    n_params = sum(p.numel() for p in loaded.unet.parameters()) / 1e6
    print(f"{args.family} UNet {n_params:.0f} M params, random weights, {args.size} px, {args.device} {args.dtype}, "
          f"{torch.get_num_threads()} CPU threads")

    with torch.no_grad():
        den.eps(x, 500)  # warm-up (cuDNN autotune, allocator)
        _sync(args.device)
        start = time.perf_counter()
        rounds = 3
        for _ in range(rounds):
            den.eps(x, 500)
        _sync(args.device)
        forward = (time.perf_counter() - start) / rounds

    start = time.perf_counter()
    inv = invert(den, x, args.inversion_steps)
    y = inv.x_t
    with torch.no_grad():
        timesteps = loaded.schedule.timesteps(args.generation_steps)
        for i, t in enumerate(timesteps):
            eps = den.eps(y, t)
            a_prev = loaded.schedule.alpha(timesteps[i + 1] if i + 1 < len(timesteps) else None)
            y = ddim_step(predicted_x0(y, eps, loaded.schedule.alpha(t)), eps, a_prev)
    _sync(args.device)
    plain = time.perf_counter() - start

    rng = np.random.default_rng(0)
    content, style = (Image.fromarray(rng.integers(0, 256, (args.size, args.size, 3), dtype=np.uint8))
                      for _ in range(2))
    calls = []
    for _ in range(max(1, args.rounds)):
        stylizer.cache("inversions").clear()  # every call inverts both images, as a new request would
        start = time.perf_counter()
        result = stylizer.stylize(ContentRef(image=content), [StyleRef(image=style)], params, seed=0)
        _sync(args.device)
        calls.append(time.perf_counter() - start)
    first = calls[0]
    full = statistics.median(calls[1:]) if len(calls) > 1 else first

    count = forwards_per_image(result.params, loaded.schedule)
    print(f"bare UNet forward: {forward:.3f} s; x {count} evaluations per DiffStyle image = {forward * count:.1f} s")
    print(f"plain DDIM invert + reconstruct ({args.inversion_steps} + {args.generation_steps} steps): {plain:.1f} s")
    if len(calls) > 1:
        print(f"DiffStyle first call: {first:.1f} s (median of the {len(calls) - 1} later calls below)")
    print(f"DiffStyle stylize, {args.inversion_steps} inversion + {args.generation_steps} generation steps: "
          f"{full:.1f} s/image = {full / plain:.2f} x plain DDIM, {full / (forward * count):.2f} x the bare floor")


if __name__ == "__main__":
    main()
