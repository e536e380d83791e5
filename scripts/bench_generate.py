"""Seconds per generated image for each method, each against a bare baseline run in the same process.

- fast: the whole `stylize` call (decode, resize, style prediction, transform, encode) against the bare
  ONNX transform graph on an already-prepared input, at several content sizes.
- instantstyle, tiny pipelines (random weights, SDXL and SD1.5 block layouts): the InstantStyle call
  (style embedding, content subtraction, block scales, IP-Adapter attention) against the same pipeline
  with every IP-Adapter scale at 0 and no embedding work, and against the pipeline without IP-Adapter.
- instantstyle, real-size UNet on this device (`--real-size`): random weights in the SD1.5 or SDXL UNet
  shapes; one UNet forward at the default resolution is timed and the per-image figure is extrapolated as
  steps x 2 (classifier-free guidance) x forward. Real weights are not needed for timing, and the
  extrapolation is said in the output. On a GPU machine pass `--device cuda --dtype float16`.

Run: python scripts/bench_generate.py [--rounds 3] [--steps 30] [--real-size sd15|sdxl] [--device cuda]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def timed(fn: Callable[[], object], rounds: int) -> float:
    """Median seconds of `rounds` calls after one warm-up call."""
    fn()
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def photos() -> tuple[Image.Image, Image.Image]:
    from skimage import data

    return Image.fromarray(data.chelsea()), Image.fromarray(data.astronaut())


def bench_fast(rounds: int) -> None:
    from generation import ContentRef, StyleRef, create_stylizer
    from generation.fast.stylizer import fit_content

    content, style = photos()
    st = create_stylizer("fast")
    print("fast (Magenta, int8 ONNX, CPU)")
    for size in (256, 384, 1024):
        params = {"content_size": size}
        whole = timed(lambda: st.stylize(ContentRef(image=content), [StyleRef(image=style)], params), rounds)
        pixels = np.asarray(fit_content(content, size), dtype=np.float32) / 255
        bottleneck = st.style_bottleneck([StyleRef(image=style)], 256).astype(np.float32)
        bare = timed(lambda: st.networks.transform(pixels, bottleneck), rounds)
        h, w = pixels.shape[:2]
        print(f"  content_size {size:>4} ({w}x{h}): {whole:6.3f} s/image; bare transform {bare:6.3f} s; "
              f"ratio end-to-end/bare {whole / bare:5.2f}")


def bench_instantstyle_tiny(rounds: int, steps: int) -> None:
    import torch

    from generation import ContentRef, StyleRef, create_stylizer
    from generation.instantstyle import tiny

    content, style = photos()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models are all overhead: a second thread only adds contention here
    print(f"instantstyle, tiny random pipelines, 32 px, {steps} steps, CFG on, 1 torch thread")
    for family in ("sdxl", "sd15"):
        st = create_stylizer("instantstyle", model=f"instantstyle/tiny-{family}", device="cpu")
        prompt = ContentRef(prompt="a cat")
        params = {"num_inference_steps": steps, "content_subtraction": 0.5, "content_description": "a woman"}
        whole = timed(lambda: st.stylize(prompt, [StyleRef(image=style)], params, seed=1), rounds)
        plain = tiny.pipeline(family, ip_adapter=False)
        plain.set_progress_bar_config(disable=True)
        call = {"prompt": "a cat", "guidance_scale": 5.0, "height": 32, "width": 32, "num_inference_steps": steps}
        bare = timed(lambda: plain(**call, generator=torch.Generator().manual_seed(1)), rounds)
        img2img = timed(lambda: st.stylize(ContentRef(image=content), [StyleRef(image=style)],
                                           {"num_inference_steps": steps}, seed=1), rounds)
        print(f"  tiny-{family}: prompt {whole:6.3f} s/image, img2img {img2img:6.3f} s/image; plain pipeline "
              f"without IP-Adapter {bare:6.3f} s; ratio InstantStyle/plain {whole / bare:5.2f}")
    torch.set_num_threads(threads)


def bench_real_size_unet(family: str, steps: int, device: str, dtype_name: str, rounds: int) -> None:
    import torch

    from indexer.compat import import_torchvision

    import_torchvision()  # diffusers imports transformers, which imports torchvision (see indexer/compat.py)
    from diffusers import UNet2DConditionModel

    dtype = getattr(torch, dtype_name)
    if family == "sd15":
        unet = UNet2DConditionModel(cross_attention_dim=768, attention_head_dim=8)
        latent, context, added = 64, torch.zeros(2, 77, 768), None
    else:
        unet = UNet2DConditionModel(
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
            block_out_channels=(320, 640, 1280), transformer_layers_per_block=(1, 2, 10), cross_attention_dim=2048,
            attention_head_dim=(5, 10, 20), use_linear_projection=True, addition_embed_type="text_time",
            addition_time_embed_dim=256, projection_class_embeddings_input_dim=2816)
        latent, context = 128, torch.zeros(2, 77, 2048)
        added = {"text_embeds": torch.zeros(2, 1280), "time_ids": torch.zeros(2, 6)}
    from generation.diffusion import quiet_diffusers

    with quiet_diffusers():  # a random-init model cast with `.to()`: diffusers' from_pretrained advice is moot
        unet = unet.to(device=device, dtype=dtype).eval()
    n_params = sum(p.numel() for p in unet.parameters()) / 1e9
    sample = torch.zeros(2, 4, latent, latent, device=device, dtype=dtype)
    context = context.to(device=device, dtype=dtype)
    if added is not None:
        added = {k: v.to(device=device, dtype=dtype) for k, v in added.items()}

    def forward() -> None:
        with torch.inference_mode():
            unet(sample, 10, encoder_hidden_states=context, added_cond_kwargs=added)
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    one = timed(forward, rounds)
    print(f"real-size {family} UNet ({n_params:.2f} B params, random weights) on {device} {dtype_name}: "
          f"{one:.3f} s per CFG-batched forward at {latent * 8} px -> about {steps * one:.1f} s/image at "
          f"{steps} steps (extrapolated; VAE decode and IP-Adapter attention not included)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--real-size", choices=["sd15", "sdxl"], action="append", default=[])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--only-real-size", action="store_true", help="skip the fast and tiny benchmarks")
    args = parser.parse_args()
    if not args.only_real_size:
        bench_fast(args.rounds)
        bench_instantstyle_tiny(args.rounds, args.steps)
    for family in args.real_size:
        bench_real_size_unet(family, args.steps, args.device, args.dtype, max(1, args.rounds - 1))


if __name__ == "__main__":
    main()
