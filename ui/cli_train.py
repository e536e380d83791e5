"""`stylelens train METHOD`: one command family for every method that trains or fine-tunes its own model.

    stylelens train parasol --run NAME ...               # PARASOL on a mining run (was `train-parasol`)
    stylelens train styo --name NAME --source ... ...    # StyO's IDL fine-tuning (was `styo finetune`)
    stylelens train dualstylegan {codes,stage2,stage3}   # DualStyleGAN's stages (was scripts/train_dualstylegan.py)

The old spellings still work and print a one-line deprecation notice on stderr (`deprecated`). Parsing only;
each method's arguments and command live in its own CLI module, the work in the library.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from ui.cli_parasol import add_train_arguments, cmd_train
from ui.cli_styo import add_finetune_arguments, cmd_finetune

Command = Callable[[argparse.Namespace], int]


def deprecated(old: str, new: str, func: Command) -> Command:
    """`func`, first printing that `old` is deprecated in favour of `new` (one line on stderr)."""

    def run(args: argparse.Namespace) -> int:
        print(f"stylelens: `{old}` is deprecated; use `{new}`", file=sys.stderr)
        return func(args)

    return run


def add_train_commands(sub, common: argparse.ArgumentParser) -> None:  # noqa: ANN001 - argparse's private type
    """Register `train parasol | styo | dualstylegan` on the main parser's subcommands."""
    p = sub.add_parser("train", help="train or fine-tune a method's model: parasol, styo, dualstylegan")
    tsub = p.add_subparsers(dest="train_method", required=True, metavar="METHOD")
    t = tsub.add_parser("parasol", parents=[common], help="train PARASOL on mined (x, y, s) triplets")
    add_train_arguments(t)
    t.set_defaults(func=cmd_train)
    t = tsub.add_parser("styo", parents=[common], help="fine-tune (IDL) a StyO model, or resume one by its name")
    add_finetune_arguments(t)
    t.set_defaults(func=cmd_finetune)
    t = tsub.add_parser("dualstylegan", help="DualStyleGAN's progressive fine-tuning stages (a GPU)")
    add_dualstylegan_arguments(t, common)


def add_dualstylegan_arguments(p: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    """The `codes`, `stage2` and `stage3` actions of DualStyleGAN training, with the paper's defaults (filled in
    when the stage runs: building the parser must not import torch, every command's start-up pays for it)."""
    run = argparse.ArgumentParser(add_help=False)
    run.add_argument("--checkpoint-dir", help="the official checkpoint/ folder")
    run.add_argument("--images", help="training images (faces for stage2, the style set otherwise)")
    run.add_argument("--vgg", help="torchvision VGG19 weights (default CHECKPOINT_DIR/vgg19.pth)")
    run.add_argument("--out", help="output file (stage2) or folder")
    run.add_argument("--batch", type=int, default=4, help="batch size (paper: 4 per GPU on 8 GPUs)")
    run.add_argument("--device", default="cuda")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--workers", type=int, default=4)
    run.add_argument("--log-every", type=int, default=50)
    run.add_argument("--tiny", action="store_true", help="random tiny models and images (a CPU check)")
    sub = p.add_subparsers(dest="stage", required=True, metavar="STAGE")
    p2 = sub.add_parser("stage2", parents=[common, run], help="stages I and II (pretraining on faces)")
    p2.add_argument("--iters", type=int, nargs="+", help="iterations per stage (default: the paper's 300 300 3000)")
    p2.add_argument("--mix-layers", type=int, nargs="+", help="mixing layer per stage (default: the paper's 7 6 5)")
    p3 = sub.add_parser("stage3", parents=[common, run], help="stage III (the target style)")
    p3.add_argument("style")
    p3.add_argument("--pretrained", help="default CHECKPOINT_DIR/generator-pretrain.pt")
    p3.add_argument("--codes-dir", help="folder of instyle_code.npy / exstyle_code.npy (default CHECKPOINT_DIR/STYLE)")
    p3.add_argument("--iters", dest="iters3", type=int, help="default per style: cartoon 1400, caricature 1000, "
                                                              "anime 2100")
    p3.add_argument("--lambda-id", type=float)
    p3.add_argument("--lambda-reg", type=float)
    p3.add_argument("--save-every", type=int, default=100)
    p3.add_argument("--save-begin", type=int, default=1000)
    pc = sub.add_parser("codes", parents=[common, run], help="destylise the style images into code files")
    pc.add_argument("style")
    pc.add_argument("--finetuned", help="g' (STYLE/finetune-000600.pt) for stage II of destylisation")
    pc.add_argument("--steps", type=int, default=300)
    for stage in (p2, p3, pc):
        stage.set_defaults(func=cmd_train_dualstylegan)


def train_dualstylegan(args: argparse.Namespace) -> Path:
    """Run the parsed DualStyleGAN stage; the file or folder it wrote."""
    from generation.dualstylegan.stages import run_stage

    return run_stage(args)


def cmd_train_dualstylegan(args: argparse.Namespace) -> int:
    train_dualstylegan(args)
    return 0
