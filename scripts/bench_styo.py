"""Seconds per StyO image (FCC) and per IDL fine-tuning iteration at real SD1.5 sizes (random weights), each
against a baseline run in the same process.

The UNet, VAE and text encoder are built with random weights in SD1.5's shapes (`bench_diffstyle.build`);
real weights are not needed for timing. Figures:

- plain: one ordinary SD image: `--steps` DDIM steps with classifier-free guidance (batch 2, diffusers' own
  attention processors);
- FCC: StyO's sampling (`generation.styo.fcc.sample`): the source and stylised passes together (batch 4)
  with the explicit-probability processor and the content-column swap on every cross-attention layer. Two
  plain images are the floor (2.0 x plain); the first call is reported apart from the median of the others;
- IDL: one fine-tuning iteration (`generation.styo.training.IDL.train_step`: batch 3 = src, tgt, aux;
  forward, backward, Adam) for the full UNet in float32 and/or a LoRA adapter (rank 4), against a bare
  batch-3 float32 forward; x 400 iterations (the paper's) for the whole fine-tune.

Run: python scripts/bench_styo.py [--size 512] [--steps 50] [--rounds 2] [--train full,lora]
     [--train-iters 3] [--device cuda --dtype float16]
(On a CPU the full fine-tune needs ~14 GB for weights, gradients and Adam's state: `--train lora` there.)
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
sys.path.insert(0, str(Path(__file__).resolve().parent))

from indexer.compat import import_torchvision  # noqa: E402

import_torchvision()

from bench_diffstyle import build  # noqa: E402  (the SD1.5-shaped random model)

from generation.diffusion import quiet_diffusers  # noqa: E402
from generation.styo import fcc, identifiers, prompts  # noqa: E402
from generation.styo.encoding import encode_prompts  # noqa: E402
from generation.styo.models import ModelSpec, Parts  # noqa: E402
from generation.styo.training import IDL, TrainSettings  # noqa: E402

SD15_SCHEDULER = dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                      steps_offset=1, clip_sample=False, set_alpha_to_one=False, prediction_type="epsilon")


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _timed(fn, device: str) -> float:  # noqa: ANN001
    _sync(device)
    start = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - start


@torch.no_grad()
def plain_sample(unet, scheduler, z0: torch.Tensor, uncond: torch.Tensor, cond: torch.Tensor, steps: int,  # noqa: ANN001
                 guidance: float, generator: torch.Generator) -> torch.Tensor:
    """An ordinary guided DDIM image from the same start latent (the baseline)."""
    settings = fcc.FCCSettings(steps=steps, guidance_scale=guidance)
    ts = fcc.timesteps(scheduler, settings, z0.device)
    x = fcc.start_latent(scheduler, z0, ts[0], generator)
    both = torch.cat([uncond, cond]).to(unet.dtype)
    for t in ts:
        eps = unet(torch.cat([x, x]).to(unet.dtype), t, encoder_hidden_states=both).sample.float()
        a, b = eps.chunk(2)
        x = scheduler.step(a + guidance * (b - a), t, x).prev_sample
    return x


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--guidance", type=float, default=7.5)
    parser.add_argument("--rounds", type=int, default=2, help="FCC calls (the first reported apart)")
    parser.add_argument("--train", default="full,lora", help="comma list of full, lora; empty for none")
    parser.add_argument("--train-iters", type=int, default=3, help="IDL iterations per kind (the first apart)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", help="of sampling (training runs the UNet in float32)")
    args = parser.parse_args()
    dtype, device = getattr(torch, args.dtype), args.device

    loaded = build("sd15")
    with quiet_diffusers():  # a random-init model cast with `.to()`
        for part in (loaded.unet, loaded.vae, loaded.text_encoder):
            part.to(device=device, dtype=dtype).eval()
    unet, tokenizer, text = loaded.unet, loaded.tokenizer, loaded.text_encoder
    cells = args.size // 8
    ids = identifiers.choose(tokenizer)
    p_src, p_sty = prompts.inference_prompts(ids, 3, 1)
    index = prompts.content_index(tokenizer, p_src, p_sty)
    uncond, e_src, e_sty = encode_prompts(tokenizer, text, ["", prompts.text(p_src), prompts.text(p_sty)]).split(1)
    z0 = torch.randn(1, 4, cells, cells, generator=torch.Generator().manual_seed(0)).to(device)
    scheduler = fcc.make_scheduler(SD15_SCHEDULER)
    n_params = sum(p.numel() for p in unet.parameters()) / 1e6
    print(f"SD1.5 UNet {n_params:.0f} M params, random weights, {args.size} px ({cells}x{cells} latents), {device} "
          f"{args.dtype}, {args.steps} DDIM steps, guidance {args.guidance}, {torch.get_num_threads()} CPU threads")

    gen = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    plain_sample(unet, scheduler, z0, uncond, e_src, 1, args.guidance, gen())  # warm-up
    plain = _timed(lambda: plain_sample(unet, scheduler, z0, uncond, e_src, args.steps, args.guidance, gen()), device)
    settings = fcc.FCCSettings(steps=args.steps, guidance_scale=args.guidance)
    calls = [_timed(lambda: fcc.sample(unet, scheduler, z0, uncond, e_src, e_sty, index, settings, gen()), device)
             for _ in range(max(1, args.rounds))]
    full = statistics.median(calls[1:]) if len(calls) > 1 else calls[0]
    print(f"plain guided DDIM image: {plain:.2f} s")
    if len(calls) > 1:
        print(f"FCC first call: {calls[0]:.2f} s (median of the {len(calls) - 1} later calls below)")
    print(f"FCC (source + stylised passes, content-column swap): {full:.2f} s/image = {full / plain:.2f} x plain "
          f"(floor 2.00: two images)")

    kinds = [k for k in args.train.split(",") if k]
    if not kinds:
        return
    with quiet_diffusers():
        unet.to(dtype=torch.float32)
    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 256, (args.size, args.size, 3), dtype=np.uint8)) for _ in range(3)]
    parts = Parts(ModelSpec("bench/sd15", "random", args.size, "", ""), unet, loaded.vae, text, tokenizer,
                  SD15_SCHEDULER)
    train = {k: prompts.text(p) for k, p in prompts.training_prompts(ids).items()}
    x = torch.randn(3, 4, cells, cells, device=device)
    cond = encode_prompts(tokenizer, text, list(train.values())).to(device, torch.float32)
    with torch.no_grad():
        unet(x, 500, encoder_hidden_states=cond)
        bare = statistics.median(_timed(lambda: unet(x, 500, encoder_hidden_states=cond), device) for _ in range(3))
    print(f"bare batch-3 float32 forward: {bare:.2f} s")
    for kind in ("full", "lora"):  # full first: LoRA then freezes the same UNet and adds its adapter
        if kind in kinds:
            bench_idl(parts, train, images, kind, args.train_iters, bare, device)


def bench_idl(parts: Parts, train: dict[str, str], images: list[Image.Image], kind: str, iters: int, bare: float,
              device: str) -> None:
    """Time IDL iterations of one kind (full or lora) against the bare forward."""
    idl = IDL(parts, train, images[0], images[1], [images[2]], TrainSettings(lora=kind == "lora"), images[0].width)
    times = [_timed(lambda s=s: idl.train_step(s), device) for s in range(max(1, iters))]
    step = statistics.median(times[1:]) if len(times) > 1 else times[0]
    trainable = sum(p.numel() for g in idl.optimizer.param_groups for p in g["params"]) / 1e6
    print(f"IDL iteration, {kind} ({trainable:.1f} M trainable): {step:.2f} s = {step / bare:.2f} x the bare "
          f"forward (first {times[0]:.2f} s); 400 iterations ~ {400 * step / 60:.1f} min")
    if device.startswith("cuda"):
        print(f"  peak GPU memory so far: {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB")

if __name__ == "__main__":
    main()
