"""Images per second of DualStyleGAN exemplar transfer at the released model's real shapes (random weights),
against baselines run in the same process.

Models: `DualStyleGAN(1024, 512, 8, 2, res_index=6)` and the IR-SE-50 pSp encoder into Z+ (256 px in, 18 x 512
out), the shapes of generator.pt and encoder.pt; real weights are not needed for timing. Figures per image
(batch 1 by default), same process, same device:

- g: the plain StyleGAN2 synthesis at 1024 px (mapping + synthesis), the floor;
- G, w = 0: DualStyleGAN with every extrinsic weight 0 (it reduces to g: the cost of the extra plumbing);
- transfer: the whole exemplar-based transfer as the stylizer runs it: E(I) at 256 px, f on the extrinsic
  code, G with w = [7 * 0.75, 11 * 1] (ModRes blocks and colour transforms active), truncation 0.75;
- transfer, reference upfirdn2d: the same with the step-by-step upfirdn2d instead of the conv fast path.
The paper reports about 0.13 s per image for testing (on a V100).

Run: python scripts/bench_dualstylegan.py [--rounds 1] [--warmup 1] [--batch 1] [--device cuda --dtype float16]
     [--no-reference] [--compile]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from generation.dualstylegan.inference import transfer  # noqa: E402
from generation.dualstylegan.network import DualStyleGAN  # noqa: E402
from generation.dualstylegan.ops import set_fast_path  # noqa: E402
from generation.dualstylegan.psp import PSPEncoder  # noqa: E402

W = [0.75] * 7 + [1.0] * 11
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timed(fn: Callable[[], object], rounds: int, warmup: int, device: str) -> list[float]:
    """Seconds per call: `warmup` untimed calls, then `rounds` timed ones."""
    with torch.inference_mode():
        for _ in range(warmup):
            fn()
        _sync(device)
        out = []
        for _ in range(rounds):
            start = time.perf_counter()
            fn()
            _sync(device)
            out.append(time.perf_counter() - start)
    return out


def build(device: str, dtype: torch.dtype) -> tuple[DualStyleGAN, PSPEncoder]:
    torch.manual_seed(0)
    model = DualStyleGAN(1024, 512, 8, 2, res_index=6).eval()
    encoder = PSPEncoder().eval()
    return model.to(device, dtype), encoder.to(device, dtype)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=sorted(DTYPES))
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=1, help="timed calls per figure (median reported)")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--no-reference", action="store_true", help="skip the reference-upfirdn2d figure")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile(model) (where available)")
    args = parser.parse_args()
    dtype = DTYPES[args.dtype]
    model, encoder = build(args.device, dtype)
    params = sum(p.numel() for p in model.parameters()) / 1e6
    enc_params = sum(p.numel() for p in encoder.parameters()) / 1e6
    name = torch.cuda.get_device_name() if args.device.startswith("cuda") else f"CPU, {torch.get_num_threads()} threads"
    print(f"DualStyleGAN {params:.1f} M parameters + pSp encoder {enc_params:.1f} M; {name}, {args.dtype}, "
          f"batch {args.batch}, torch {torch.__version__}")
    b, dev = args.batch, args.device
    gen = torch.Generator().manual_seed(0)
    content = (torch.rand(b, 3, 256, 256, generator=gen) * 2 - 1).to(dev, dtype)
    z = torch.randn(b, 18, 512, generator=gen).to(dev, dtype)
    extrinsic = torch.randn(b, 18, 512, generator=gen).to(dev, dtype)
    noise = [n.expand(b, -1, -1, -1).contiguous() for n in model.generator.make_noise(1, gen)]

    def plain() -> object:
        return model.generator([z], z_plus_latent=True, noise=noise)

    def w_zero() -> object:
        return model([z], model.map_extrinsic(extrinsic), z_plus_latent=True, noise=noise, interp_weights=[0.0] * 18)

    def full(m: DualStyleGAN = model) -> object:
        return transfer(m, encoder.encode(content), extrinsic, W, truncation=0.75, noise=noise)

    rows = [("g (plain StyleGAN2 1024)", timed(plain, args.rounds, args.warmup, dev))]
    rows.append(("G, w = 0", timed(w_zero, args.rounds, args.warmup, dev)))
    rows.append(("transfer: E(I) + G(w = [7*0.75, 11*1])", timed(full, args.rounds, args.warmup, dev)))
    if not args.no_reference:
        set_fast_path(False)
        rows.append(("transfer, reference upfirdn2d", timed(full, args.rounds, args.warmup, dev)))
        set_fast_path(True)
    if args.compile:
        compiled = torch.compile(model)
        rows.append(("transfer, torch.compile", timed(lambda: full(compiled), args.rounds, args.warmup + 1, dev)))
    base = statistics.median(rows[0][1])
    for label, secs in rows:
        med = statistics.median(secs)
        print(f"{label:42s} {med / b:8.3f} s/image  {b / med:8.2f} images/s  {med / base:5.2f} x g   "
              f"(median of {len(secs)})")


if __name__ == "__main__":
    main()
