"""`stylelens train styo` (StyO's fine-tuning step, IDL; `styo finetune` is its deprecated spelling) and
`stylelens styo list` (the workspace's fine-tuned models).

Stylizing is the generic `stylelens stylize --method styo --model styo/NAME --content SOURCE --style TARGET`
with the images the model was fine-tuned on. Parsing and printing only; the work is in `generation.styo`.
"""
from __future__ import annotations

import argparse
from typing import Any

from ui.cli_common import emit, open_workspace

_SETTINGS = ("steps", "lr", "lora", "lora_rank", "seed", "resolution", "save_every", "gradient_checkpointing")


def add_styo_commands(sub, common: argparse.ArgumentParser) -> None:  # noqa: ANN001 - argparse's private type
    """Register `styo list` and the deprecated `styo finetune` on the main parser's subcommands."""
    from ui.cli_train import deprecated

    p = sub.add_parser("styo", help="StyO one-shot face stylization: `train styo` fine-tunes a model on a source "
                       "face and a target portrait, then `stylize --method styo --model styo/NAME`")
    ssub = p.add_subparsers(dest="styo_command", required=True, metavar="ACTION")
    f = ssub.add_parser("finetune", parents=[common], help="deprecated: use `stylelens train styo`")
    add_finetune_arguments(f)
    f.set_defaults(func=deprecated("styo finetune", "stylelens train styo", cmd_finetune))
    ls = ssub.add_parser("list", parents=[common], help="the workspace's fine-tuned StyO models")
    ls.set_defaults(func=cmd_list)


def add_finetune_arguments(f: argparse.ArgumentParser) -> None:
    """The arguments of `train styo` (and of its deprecated spelling `styo finetune`)."""
    f.add_argument("--name", required=True, metavar="NAME", help="the model's name (re-run with it to resume)")
    f.add_argument("--source", metavar="IMG", help="the face to stylize (a new model only)")
    f.add_argument("--target", metavar="IMG", help="the artistic portrait whose style to learn (a new model only)")
    f.add_argument("--aux", metavar="DIR|corpus:NAME", help="auxiliary real faces: a folder or a workspace corpus")
    f.add_argument("--aux-limit", type=int, default=200, metavar="N", help="at most N auxiliary images (default 200)")
    f.add_argument("--base", metavar="ID|DIR", help="base model (default styo/sd15) or a diffusers SD folder")
    f.add_argument("--steps", type=int, metavar="N", help="iterations (default 400, the paper's)")
    f.add_argument("--lr", type=float, metavar="X", help="Adam's learning rate (default 1e-6; 1e-4 with --lora)")
    f.add_argument("--lora", action="store_true", default=None, help="train a LoRA adapter (peft) instead of the UNet")
    f.add_argument("--lora-rank", type=int, metavar="R", help="LoRA rank (default 4)")
    f.add_argument("--seed", type=int, metavar="N", help="seed of every random draw (default 0)")
    f.add_argument("--resolution", type=int, metavar="PX", help="training size (default: the base model's)")
    f.add_argument("--save-every", type=int, metavar="N", help="iterations between checkpoints (default 100)")
    f.add_argument("--gradient-checkpointing", action="store_true", default=None, help="less memory, slower")
    f.add_argument("--identifiers", metavar="S_SRC,S_TGT,C_SRC,C_TGT", help="rare words to use instead of the "
                   "automatic choice (each one token)")
    f.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda:N")
    f.add_argument("--dtype", default="auto", help="of the frozen VAE and text encoder (auto: float16 on CUDA)")
    f.add_argument("--variant", metavar="NAME", help="base weight files variant, e.g. fp16")


def _identifiers(text: str | None) -> dict[str, str] | None:
    if text is None:
        return None
    words = [w.strip() for w in text.split(",")]
    if len(words) != 4:
        raise ValueError(f"--identifiers wants four words S_src,S_tgt,C_src,C_tgt, got {text!r}")
    return dict(zip(("S_src", "S_tgt", "C_src", "C_tgt"), words, strict=True))


def summary(model: Any) -> dict[str, Any]:
    """What the CLI prints about a fine-tuned model (also its JSON)."""
    record = model.record
    losses = record.get("losses") or []
    return {"model_id": model.model_id, "name": model.name, "folder": str(model.folder), "base": model.base_id,
            "kind": "lora" if model.lora else "full", "step": model.step, "steps": model.steps,
            "identifiers": record["identifiers"], "prompts": record["prompts"],
            "last_loss": losses[-1] if losses else None, "weights_sha256": record.get("weights_sha256"),
            "source": str(model.image_path("source")), "target": str(model.image_path("target")),
            "stylize": f"stylelens stylize --method styo --model {model.model_id} --content "
                       f"{model.image_path('source')} --style {model.image_path('target')} --out OUT"}


def cmd_finetune(args: argparse.Namespace) -> int:
    from generation.styo import finetune

    ws = open_workspace(args, writes="train styo")
    settings = {k: getattr(args, k) for k in _SETTINGS if getattr(args, k) is not None}
    model = finetune(args.name, args.source, args.target, args.aux, base=args.base, settings=settings,
                     identifier_words=_identifiers(args.identifiers), aux_limit=args.aux_limit, ws=ws,
                     device=args.device, dtype=args.dtype, variant=args.variant,
                     progress=False if args.json else None)
    data = summary(model)

    def human() -> None:
        print(f"StyO model {data['model_id']}: {data['step']} of {data['steps']} iterations ({data['kind']}), "
              f"last loss {data['last_loss']}, in {data['folder']}")
        print(f"  identifiers {data['identifiers']}")
        print(f"  stylize: {data['stylize']}")

    emit(args, data, human)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from generation.styo import list_finetuned

    ws = open_workspace(args)
    rows = [summary(m) for m in list_finetuned(ws)]

    def human() -> None:
        if not rows:
            print("no fine-tuned StyO models yet (stylelens train styo --name NAME ...)")
        for r in rows:
            print(f"{r['model_id']:<32} {r['kind']:<4} {r['step']}/{r['steps']} iterations  base {r['base']}")

    emit(args, rows, human)
    return 0
