"""Progressive fine-tuning of DualStyleGAN (paper section 3.3) on a GPU, with the paper's hyperparameters as
defaults (see `training` for the losses and what is simplified): the three stages behind
`stylelens train dualstylegan {codes,stage2,stage3}` (argument parsing is `ui.cli_train`'s).

    # codes for the style images: z_e+ = E(S) and the destylised z_i+ (stage II of destylisation with
    # the fine-tuned StyleGAN g' when given)
    stylelens train dualstylegan codes cartoon --images data/cartoon/images/train --checkpoint-dir ckpt \
        [--finetuned ckpt/cartoon/finetune-000600.pt]
    # stages I + II on real faces (FFHQ): -> ckpt/generator-pretrain.pt
    stylelens train dualstylegan stage2 --images data/ffhq/images --checkpoint-dir ckpt
    # stage III on the style set: -> ckpt/cartoon/generator-ITER.pt (g_ema, as the released generator.pt)
    stylelens train dualstylegan stage3 cartoon --images data/cartoon/images/train --checkpoint-dir ckpt

Files read from --checkpoint-dir as the official repository names them: stylegan2-ffhq-config-f.pt (g_ema and
d, rosinality's FFHQ StyleGAN2), encoder.pt, vgg19.pth (torchvision VGG19), model_ir_se50.pth (ArcFace; the
identity loss is skipped without it), generator-pretrain.pt, STYLE/instyle_code.npy and exstyle_code.npy.
`--tiny` runs any stage on random tiny 64 px models and random images, for a CPU check of the code path.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from . import tiny
from .checkpoints import load_strict, load_style_codes, load_tensors, load_torch
from .exemplar import ExemplarNets, ExemplarSettings, extract, resolve_terms
from .inference import to_tensor
from .models import load_arcface, load_encoder, load_finetuned, load_vgg
from .network import DualStyleGAN, stage1_init
from .stylegan2 import Discriminator
from .training import PairedData, Stage2Config, Stage3Config, Trainer

EXTS = {".png", ".jpg", ".jpeg", ".webp", ".bmp"}
TINY_SIZE = 64


def load_image(path: Path, size: int) -> torch.Tensor:
    img = Image.open(path).convert("RGB").resize((size, size), Image.Resampling.LANCZOS)
    return to_tensor(img)[0]


class Faces(torch.utils.data.Dataset):
    """Images of a folder at size x size in [-1, 1], randomly mirrored (the official transform)."""

    def __init__(self, folder: Path, size: int) -> None:
        self.files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in EXTS)
        if not self.files:
            raise ValueError(f"no images in {folder}")
        self.size = size

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> torch.Tensor:
        x = load_image(self.files[i], self.size)
        return x.flip(-1) if torch.rand(()) < 0.5 else x


def batches(dataset: torch.utils.data.Dataset, batch: int, workers: int):
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch, shuffle=True, drop_last=True,
                                         num_workers=workers)
    while True:
        yield from loader


def _tiny_trainer(seed: int) -> Trainer:
    size_ch = {k: v for k, v in tiny.CHANNELS.items() if k <= TINY_SIZE}
    g = tiny.generator(seed, TINY_SIZE)
    return Trainer(g, Discriminator(TINY_SIZE, channels=size_ch), tiny.encoder(seed + 1, g.n_latent), tiny.vgg(),
                   tiny.arcface(), seed=seed, loss_size=32)


def _real_nets(args: argparse.Namespace) -> tuple:
    """The frozen loss / encoding networks on the device, in eval mode (ArcFace's batch norms and dropout
    must not run in training mode: batch-1 identity losses would fail)."""
    root = Path(args.checkpoint_dir)

    def frozen(module: torch.nn.Module) -> torch.nn.Module:
        return module.to(args.device).eval().requires_grad_(False)

    encoder = frozen(load_encoder(root / "encoder.pt"))
    vgg = frozen(load_vgg(Path(args.vgg) if args.vgg else root / "vgg19.pth"))
    ident = root / "model_ir_se50.pth"
    arcface = frozen(load_arcface(ident)) if ident.is_file() else None
    if arcface is None:
        print(f"no {ident}: the identity loss is skipped")
    return encoder, vgg, arcface


def stage2(args: argparse.Namespace) -> Path:
    """Stage I (initialisation) + stage II (style mixing targets, l = 7, 6, 5) -> generator-pretrain.pt."""
    paper = Stage2Config()
    config = Stage2Config(iters=tuple(args.iters or paper.iters), mix_layers=tuple(args.mix_layers or paper.mix_layers))
    if args.tiny:
        trainer = _tiny_trainer(args.seed)
        data = iter(lambda: torch.rand(args.batch, 3, TINY_SIZE, TINY_SIZE) * 2 - 1, None)
    else:
        root = Path(args.checkpoint_dir)
        ckpt = load_torch(root / "stylegan2-ffhq-config-f.pt")
        g = DualStyleGAN(1024)
        load_strict(g.generator, ckpt["g_ema"], "stylegan2-ffhq-config-f.pt (g_ema)")
        d = Discriminator(1024)
        load_strict(d, ckpt["d"], "stylegan2-ffhq-config-f.pt (d)")
        encoder, vgg, _ = _real_nets(args)
        trainer = Trainer(g.to(args.device), d.to(args.device), encoder.to(args.device).eval(),
                          vgg.to(args.device).eval(), seed=args.seed)
        data = batches(Faces(Path(args.images), 1024), args.batch, args.workers)
    stage1_init(trainer.generator, seed=args.seed)
    trainer.g_ema.load_state_dict(trainer.generator.state_dict())
    for iters, layer in zip(config.iters, config.mix_layers, strict=True):
        for i in range(iters):
            out = trainer.step_stage2(next(data).to(trainer.device), layer, config)
            if i % args.log_every == 0 or i == iters - 1:
                print(f"stage II l={layer} {i + 1}/{iters} " + " ".join(f"{k} {v:.4f}" for k, v in out.items()))
    path = Path(args.out or Path(args.checkpoint_dir or ".") / "generator-pretrain.pt")
    torch.save({"g": trainer.generator.state_dict(), "d": trainer.discriminator.state_dict(),
                "g_ema": trainer.g_ema.state_dict()}, path)
    return path


def _paired(args: argparse.Namespace, trainer: Trainer) -> PairedData:
    g = trainer.g_ema.generator
    if args.tiny:
        n = 3
        ex = torch.randn(n, trainer.generator.n_latent, trainer.generator.style_dim)
        return PairedData(torch.rand(n, 3, TINY_SIZE, TINY_SIZE) * 2 - 1, torch.randn_like(ex), g.map_zplus(ex))
    folder = Path(args.codes_dir or Path(args.checkpoint_dir) / args.style)
    instyles, exstyles = load_style_codes(folder / "instyle_code.npy"), load_style_codes(folder / "exstyle_code.npy")
    names = [n for n in instyles if n in exstyles]
    images = torch.stack([((load_image(Path(args.images) / n, 1024) + 1) * 127.5).round().to(torch.uint8)
                          for n in names])  # kept as bytes: a few hundred 1024 px images
    ins = torch.from_numpy(np.concatenate([instyles[n] for n in names]))
    with torch.no_grad():
        exw = g.map_zplus(torch.from_numpy(np.concatenate([exstyles[n] for n in names])).to(trainer.device)).cpu()
    return PairedData(images, ins, exw)


def stage3(args: argparse.Namespace) -> Path:
    """Stage III on the style set from generator-pretrain.pt; saves g_ema every --save-every iterations."""
    overrides = {k: v for k, v in (("iters", args.iters3), ("lambda_id", args.lambda_id),
                                   ("lambda_reg", args.lambda_reg)) if v is not None}
    config = Stage3Config.for_style(args.style, **overrides)
    if args.tiny:
        trainer = _tiny_trainer(args.seed)
        out_dir = Path(args.out)
    else:
        root = Path(args.checkpoint_dir)
        ckpt = load_torch(Path(args.pretrained) if args.pretrained else root / "generator-pretrain.pt")
        g, d = DualStyleGAN(1024), Discriminator(1024)
        load_strict(g, ckpt["g"], "generator-pretrain.pt (g)")
        load_strict(d, ckpt["d"], "generator-pretrain.pt (d)")
        encoder, vgg, arcface = _real_nets(args)
        arcface = arcface.to(args.device).eval() if arcface else None
        trainer = Trainer(g.to(args.device), d.to(args.device), encoder.to(args.device).eval(),
                          vgg.to(args.device).eval(), arcface, seed=args.seed)
        load_strict(trainer.g_ema, ckpt["g_ema"], "generator-pretrain.pt (g_ema)")
        out_dir = Path(args.out or root / args.style)
    data = _paired(args, trainer)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "generator.pt"
    for i in range(config.iters):
        out = trainer.step_stage3(data, args.batch, config)
        if i % args.log_every == 0 or i == config.iters - 1:
            print(f"stage III {i + 1}/{config.iters} " + " ".join(f"{k} {v:.4f}" for k, v in out.items()))
        if (i + 1 >= args.save_begin and (i + 1) % args.save_every == 0) or i + 1 == config.iters:
            path = out_dir / f"generator-{i + 1:06d}.pt"
            torch.save({"g_ema": trainer.g_ema.state_dict()}, path)
    return path


def codes(args: argparse.Namespace) -> Path:
    """z_e+ = E(S) and the destylised z_i+ of every style image -> STYLE/exstyle_code.npy, instyle_code.npy."""
    root = Path(args.checkpoint_dir or ".")
    if args.tiny:
        parts = tiny.build(args.seed)
        nets = ExemplarNets(parts.generator, parts.encoder, parts.finetuned, None, None)
    else:
        g = DualStyleGAN(1024)
        load_strict(g.generator, load_tensors(root / "stylegan2-ffhq-config-f.pt", "g_ema"), "FFHQ g_ema")
        finetuned = load_finetuned(Path(args.finetuned)) if args.finetuned else None
        encoder, vgg, arcface = _real_nets(args)
        nets = ExemplarNets(g.to(args.device).eval(), encoder.to(args.device).eval(),
                            finetuned.to(args.device).eval() if finetuned else None, vgg.to(args.device), arcface)
    terms = resolve_terms(nets, None)
    settings = ExemplarSettings(refine_steps=0, destylise_steps=args.steps)
    files = sorted(p for p in Path(args.images).iterdir() if p.suffix.lower() in EXTS)
    instyle, exstyle = {}, {}
    for f in files:
        s = load_image(f, 256)[None].to(next(nets.model.parameters()).device)
        out = extract(nets, s, settings, terms, torch.Generator().manual_seed(args.seed))
        instyle[f.name], exstyle[f.name] = out.intrinsic.cpu().numpy(), out.encoded.cpu().numpy()
        print(f"{f.name}: destylised={out.destylised} terms={','.join(terms)}")
    folder = Path(args.out or root / args.style)
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "instyle_code.npy", instyle)
    np.save(folder / "exstyle_code.npy", exstyle)
    return folder


STAGES = {"stage2": stage2, "stage3": stage3, "codes": codes}


def run_stage(args: argparse.Namespace) -> Path:
    """Run `args.stage` (stage2 | stage3 | codes); returns the file or folder written. `--tiny` runs on CPU."""
    if args.tiny:
        if not args.out:
            raise ValueError("--tiny needs --out")
        args.device = "cpu"
    start = time.perf_counter()
    result = STAGES[args.stage](args)
    print(f"wrote {result} in {time.perf_counter() - start:.1f} s")
    return result
