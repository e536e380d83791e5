"""PARASOL training and sampling throughput, each against a bare U-Net baseline run in the same process, plus the
GPU checks of the method's invariants (exact reconstruction, lambda = T).

A synthetic triplet set is written to a temporary folder (no workspace, no catalog, no FAISS: this runs where
only torch, diffusers, transformers, accelerate and open_clip are installed). The model is the tiny config
(`--config tiny`, 32 px) or random weights in the SD1.5 U-Net + VAE shapes (`--config sd15`, 860 M + 84 M
parameters, default 256 px = 32x32 latents), with the tiny ALADIN and tiny open_clip encoders (`--style-encoder`
/ `--content-encoder` to change; the Magenta ones need `--w-s 0`). Real weights are not needed for timing.

Figures, same process and device:
- train: median seconds per optimisation step (after 2 warm-up steps) of `train()` -- batch loading, VAE
  encode, U-Net forward/backward, the decode + encoder losses, AdamW -- against the bare floor: one U-Net
  forward + backward + AdamW step on the same batch (same mixed precision), measured before and after the
  run (the mean of the two medians; the bare steps nudge the random weights, which does not matter here);
- sample: one `stylize` call (inversion of the content image with 3-row guided U-Net calls per level, then
  steps - lam guided reverse steps, VAE encode/decode, encoders) against the bare floor: the same number of
  batch-3 U-Net forwards;
- checks: lambda = steps gives back the VAE reconstruction of the content image (max abs pixel difference,
  expected <= 1), and the stored noises reconstruct the latent (max abs difference, expected ~1e-6 or less).

Run: python scripts/bench_parasol.py [--config tiny|sd15] [--steps 10] [--batch-size 4] [--resolution PX]
     [--sample-steps 50] [--lam 25] [--trainable all|attention] [--device cuda --mixed-precision fp16 --dtype float16]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from indexer.compat import import_torchvision  # noqa: E402

import_torchvision()

from generation.base import ContentRef, StyleRef  # noqa: E402
from generation.diffusion import quiet_diffusers, resolve_dtype  # noqa: E402
from generation.diffusion.images import to_image, to_tensor  # noqa: E402
from generation.parasol.checkpoint import trained_unet_names  # noqa: E402
from generation.parasol.ddpm import chain_levels, denoise, invert  # noqa: E402
from generation.parasol.models import TINY_BASE, build_model  # noqa: E402
from generation.parasol.stylizer import Parasol  # noqa: E402
from generation.parasol.tiny import synthetic_triplets  # noqa: E402
from generation.parasol.train import TrainConfig, train  # noqa: E402

SD15_SCHEDULE = dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear")


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def sd15_parts() -> tuple:
    """Random weights in the SD1.5 U-Net and VAE shapes, and SD1.5's training schedule."""
    from diffusers import AutoencoderKL, UNet2DConditionModel

    torch.manual_seed(0)
    unet = UNet2DConditionModel(sample_size=64, cross_attention_dim=768, attention_head_dim=8)
    vae = AutoencoderKL(block_out_channels=(128, 256, 512, 512), down_block_types=("DownEncoderBlock2D",) * 4,
                        up_block_types=("UpDecoderBlock2D",) * 4, latent_channels=4, layers_per_block=2,
                        sample_size=512, scaling_factor=0.18215)
    return unet, vae, dict(SD15_SCHEDULE)


def bare_train_step(model, batch: int, resolution: int, mixed_precision: str, rounds: int, trainable: str) -> float:
    """Median seconds of one U-Net forward + backward + AdamW step at the training batch (the floor), training
    the same U-Net weights as the run."""
    device = str(model.device)
    side = resolution // model.vae_factor
    z = torch.randn(batch, 4, side, side, device=device)
    t = torch.randint(0, 1000, (batch,), device=device)
    ctx = torch.randn(batch, 2, model.config.token_dim, device=device)
    trained = set(trained_unet_names(model.unet, trainable))
    for name, p in model.unet.named_parameters():
        p.requires_grad_(name in trained)
    params = [p for p in model.unet.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-6)
    scaler = torch.amp.GradScaler("cuda") if mixed_precision == "fp16" else None
    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(mixed_precision)
    times = []
    for _ in range(rounds + 2):
        _sync(device)
        start = time.perf_counter()
        with torch.autocast(device.split(":")[0], dtype=dtype, enabled=dtype is not None):
            loss = model.unet(z, t, encoder_hidden_states=ctx).sample.float().pow(2).mean()
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
        else:
            loss.backward()
            opt.step()
        opt.zero_grad(set_to_none=True)
        _sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times[2:])


def bare_sampling(model, n_forwards: int, resolution: int) -> float:
    """Seconds for `n_forwards` batch-3 U-Net forwards (no_grad): the floor of one PARASOL image."""
    device = str(model.device)
    side = resolution // model.vae_factor
    z = torch.randn(3, 4, side, side, device=device, dtype=model.dtype)
    ctx = torch.randn(3, 2, model.config.token_dim, device=device, dtype=model.dtype)
    with torch.no_grad():
        model.unet(z, torch.full((3,), 500, device=device), encoder_hidden_states=ctx)
        _sync(device)
        start = time.perf_counter()
        for i in range(n_forwards):
            model.unet(z, torch.full((3,), 999 - i % 1000, device=device), encoder_hidden_states=ctx)
        _sync(device)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", choices=["tiny", "sd15"], default="tiny")
    parser.add_argument("--resolution", type=int)
    parser.add_argument("--steps", type=int, default=10, help="training steps")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--sample-steps", type=int, default=50)
    parser.add_argument("--lam", type=int, default=25)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--mixed-precision", choices=["no", "fp16", "bf16"], default="no")
    parser.add_argument("--dtype", default="float32", help="sampling dtype of the U-Net and VAE")
    parser.add_argument("--style-encoder", default="tiny/aladin")
    parser.add_argument("--content-encoder", default="tiny/open_clip")
    parser.add_argument("--w-s", type=float, default=1.0)
    parser.add_argument("--w-y", type=float, default=1.0)
    parser.add_argument("--trainable", choices=["all", "attention"], default="all")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of the bare training-step baseline")
    args = parser.parse_args()
    device = args.device
    resolution = args.resolution or (32 if args.config == "tiny" else 256)
    with quiet_diffusers():
        parts = sd15_parts() if args.config == "sd15" else None
        model = build_model(TINY_BASE if parts is None else "bench/random-sd15", args.style_encoder,
                            args.content_encoder, device, resolution=resolution, trainable=args.trainable,
                            parts=parts)
    n_params = sum(p.numel() for p in model.unet.parameters()) / 1e6
    print(f"config {args.config}: U-Net {n_params:.1f} M parameters, {resolution} px, device {device} "
          f"({torch.cuda.get_device_name() if device.startswith('cuda') else 'CPU'}), torch {torch.__version__}")

    with tempfile.TemporaryDirectory(prefix="bench-parasol-") as tmp:
        triplets = synthetic_triplets(Path(tmp) / "data", n=max(8, args.batch_size), size=(resolution + 8,) * 2)
        stamps: list[float] = []

        def on_step(step: int, total: int, losses: dict) -> None:
            _sync(device)
            stamps.append(time.perf_counter())

        cfg = TrainConfig(args.style_encoder, args.content_encoder, base=model.config.base, resolution=resolution,
                          steps=args.steps, batch_size=args.batch_size, w_s=args.w_s, w_y=args.w_y,
                          trainable=args.trainable, mixed_precision=args.mixed_precision,
                          device="cpu" if device == "cpu" else "cuda",
                          checkpoint_every=10 ** 6)
        # the floor is measured before and after the run (the same load drifts on a shared machine)
        bare_before = bare_train_step(model, args.batch_size, resolution, args.mixed_precision, args.rounds,
                                      args.trainable)
        _sync(device)
        t0 = time.perf_counter()
        summary = train(cfg, triplets, Path(tmp) / "run", progress=False, on_step=on_step, model=model)
        total = time.perf_counter() - t0
        steps = np.diff([t0, *stamps])
        per_step = float(np.median(steps[2:])) if len(steps) > 2 else float(steps[-1])
        print(f"train: {args.steps} steps of batch {args.batch_size} ({args.mixed_precision}) in {total:.1f} s "
              f"incl. the final checkpoint; last loss {summary.last['loss']:.4f}")
        bare_after = bare_train_step(model, args.batch_size, resolution, args.mixed_precision, args.rounds,
                                      args.trainable)
        bare = (bare_before + bare_after) / 2
        print(f"  per step {per_step * 1000:.1f} ms (median after 2) = {per_step / bare:.2f} x the bare U-Net "
              f"forward+backward+AdamW step ({bare * 1000:.1f} ms; {bare_before * 1000:.1f} before the run, "
              f"{bare_after * 1000:.1f} after)")

        dtype = resolve_dtype(args.dtype, device)
        with quiet_diffusers():
            model.unet.to(dtype)
            model.vae.to(dtype)
        model.unet.eval()
        stylizer = Parasol.from_model(model, f"bench/{args.config}")
        from PIL import Image

        y, s = Image.open(triplets[0].y), Image.open(triplets[0].s)
        params = {"steps": args.sample_steps, "lam": args.lam}
        run = (lambda p: stylizer.stylize(ContentRef(image=y), [StyleRef(image=s)], p, seed=0).images[0])  # noqa: E731
        run({"steps": 2, "lam": 1})  # warm-up (kernel selection for the batch-3 shapes)
        stylizer.cache("inversions").clear()
        _sync(device)
        t0 = time.perf_counter()
        image = run(params)
        sample = time.perf_counter() - t0
        forwards = args.sample_steps + (args.sample_steps - args.lam)
        floor = bare_sampling(model, forwards, resolution)
        print(f"sample: {args.sample_steps} steps, lam {args.lam} ({args.dtype}): {sample:.2f} s/image = "
              f"{sample / floor:.2f} x the bare floor ({forwards} batch-3 U-Net forwards, {floor:.2f} s)")

        same = np.asarray(run({"steps": args.sample_steps, "lam": args.sample_steps}), dtype=np.int16)
        with torch.no_grad():
            z0 = model.encode(to_tensor(y, resolution, resolution, model.device))
            vae_rec = np.asarray(to_image(model.decode(z0)), dtype=np.int16)
            m_y = model.conditioner.project_style(model.style.images([y]).to(model.device))
            c_y = model.content.images([y]).to(model.device)
            chain = chain_levels(model.alphas_cumprod, args.sample_steps)
            own = (lambda x, t, k: model.guided_eps(x, t, m_y, c_y, 3.0, 3.0))  # noqa: E731
            inv = invert(own, z0, chain, torch.Generator().manual_seed(0))
            rec = denoise(own, inv.states[-1], chain, noises=inv.noises)
        print(f"checks: lambda = steps vs the VAE reconstruction: max |pixel diff| {np.abs(same - vae_rec).max()} "
              f"(expect <= 1); stored noises rebuild the latent to {float((rec - z0.double()).abs().max()):.2e}; "
              f"image {image.size}, std {np.asarray(image).std():.1f}")


if __name__ == "__main__":
    main()
