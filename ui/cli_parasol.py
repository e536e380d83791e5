"""CLI commands for PARASOL: `train parasol` (wires a workspace's mining run and its encoders to the trainer;
`train-parasol` is its deprecated spelling) and `parasol-grid` (two contents x two styles). Parsing and
printing only; the work is in `generation.parasol`. Sampling a trained checkpoint is the generic `stylelens stylize --method parasol --model RUN_FOLDER`."""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ui.cli_common import emit, open_workspace


def add_parasol_commands(sub, common: argparse.ArgumentParser) -> None:  # noqa: ANN001 - argparse's private type
    """Register `parasol-grid` and the deprecated `train-parasol` on the main parser's subcommands."""
    from ui.cli_train import deprecated

    p = sub.add_parser("train-parasol", parents=[common], help="deprecated: use `stylelens train parasol`")
    add_train_arguments(p)
    p.set_defaults(func=deprecated("train-parasol", "stylelens train parasol", cmd_train))

    p = sub.add_parser("parasol-grid", parents=[common],
                       help="PARASOL: a grid interpolating two contents (rows) and two styles (columns)")
    p.add_argument("--model", required=True, metavar="DIR", help="a `train parasol` run folder (or parasol/tiny)")
    p.add_argument("--content", action="append", default=[], metavar="PATH|ID", help="a content image (twice)")
    p.add_argument("--style", action="append", default=[], metavar="PATH|ID", help="a style image (twice)")
    p.add_argument("--steps", type=int, default=3, metavar="N", help="grid points per side, corners included")
    p.add_argument("--seed", type=int, default=0, metavar="N")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", help="a parasol parameter")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=cmd_grid)


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    """The arguments of `train parasol` (and of its deprecated spelling `train-parasol`)."""
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--run", metavar="NAME", help="a `mine-triplets` run of this workspace")
    src.add_argument("--manifest", metavar="FILE", help="a triplets.parquet / triplets.jsonl file")
    p.add_argument("--out", metavar="DIR", help="run folder (default WORKSPACE/parasol/<run>); resumed when it "
                   "holds a checkpoint")
    p.add_argument("--base", default="sd15", help="pretrained LDM: sd15, an SD1.x hub id or folder, or tiny (tests)")
    p.add_argument("--style-encoder", metavar="ID", help="style encoder A (default: the mining run's style space's)")
    p.add_argument("--content-encoder", metavar="ID", help="semantic encoder C (default: the run's content space's)")
    p.add_argument("--steps", type=int, default=1000, metavar="N", help="total optimisation steps")
    p.add_argument("--batch-size", type=int, default=4, metavar="N")
    p.add_argument("--lr", type=float, default=1e-5, help="U-Net learning rate")
    p.add_argument("--conditioner-lr", type=float, default=1e-4, help="learning rate of M, token map, null tokens")
    p.add_argument("--w-s", type=float, default=1.0, help="weight of MSE(a_s, A(x')) (0 = off)")
    p.add_argument("--w-y", type=float, default=1.0, help="weight of MSE(c_y, C(x')) (0 = off)")
    p.add_argument("--p-drop-style", type=float, default=0.1, help="rate of dropping only the style condition")
    p.add_argument("--p-drop-content", type=float, default=0.1, help="rate of dropping only the content condition")
    p.add_argument("--p-drop-both", type=float, default=0.1, help="rate of dropping both conditions")
    p.add_argument("--resolution", type=int, metavar="PX", help="training image size (default: the base's)")
    p.add_argument("--trainable", choices=["all", "attention"], default="all",
                   help="fine-tune the whole U-Net (the paper) or its cross-attention layers only")
    p.add_argument("--mixed-precision", choices=["no", "fp16", "bf16"], default="no")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--checkpoint-every", type=int, default=250, metavar="N")
    p.add_argument("--gradient-checkpointing", action="store_true", help="trade U-Net compute for memory")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-resume", action="store_true", help="refuse to continue a checkpoint in --out")
    p.add_argument("--allow-download", action="store_true", help="let diffusers fetch the base model")


def _mining_run(ws, name: str) -> tuple[Path, dict[str, Any]]:  # noqa: ANN001 - Workspace
    """The manifest folder and parameters of a mining run of `ws`."""
    from sqlalchemy import select

    from indexer.catalog.schema import MiningRun

    folder = ws.mining_run_dir(name)  # a plain name: it also names the training folder WORKSPACE/parasol/<run>
    with ws.session() as s:
        row = s.scalars(select(MiningRun).where(MiningRun.name == name)).first()
        params = json.loads(row.params) if row is not None else None
    if params is None:
        raise ValueError(f"no mining run named {name!r} in this workspace (see `stylelens mine-triplets --run`)")
    return folder, params


def _space_encoder(ws, space: str) -> str:  # noqa: ANN001 - Workspace
    from indexer.spaces import get_space

    return get_space(ws, space).encoder_id


def cmd_train(args: argparse.Namespace) -> int:
    from generation.parasol.data import read_manifest
    from generation.parasol.train import TrainConfig, train

    needs_ws = args.run is not None or args.out is None or not (args.style_encoder and args.content_encoder)
    writes = None if args.out else "train parasol (its default run folder)"
    ws = open_workspace(args, writes=writes) if needs_ws else None
    spaces = {"style_space": "style", "content_space": "content"}
    if args.run is not None:
        manifest_path, params = _mining_run(ws, args.run)
        spaces.update({k: params.get(k, v) for k, v in spaces.items()})
    else:
        manifest_path = Path(args.manifest)
    manifest = read_manifest(manifest_path)
    out = Path(args.out) if args.out else ws.parasol_run_dir(args.run or manifest_path.resolve().parent.name)
    cfg = TrainConfig(
        style_encoder=args.style_encoder or _space_encoder(ws, spaces["style_space"]),
        content_encoder=args.content_encoder or _space_encoder(ws, spaces["content_space"]),
        base=args.base, resolution=args.resolution, steps=args.steps, batch_size=args.batch_size,
        learning_rate=args.lr, conditioner_lr=args.conditioner_lr, w_s=args.w_s, w_y=args.w_y,
        p_drop_style=args.p_drop_style, p_drop_content=args.p_drop_content, p_drop_both=args.p_drop_both,
        trainable=args.trainable, mixed_precision=args.mixed_precision, device=args.device,
        max_grad_norm=1.0, gradient_checkpointing=args.gradient_checkpointing,
        checkpoint_every=args.checkpoint_every, seed=args.seed, allow_download=args.allow_download)
    summary = train(cfg, manifest.triplets, out, resume=not args.no_resume, progress=None if not args.json else False)
    data = {**summary.to_dict(), "skipped_incomplete": manifest.skipped, "manifest": str(manifest_path),
            "style_encoder": cfg.style_encoder, "content_encoder": cfg.content_encoder}

    def human() -> None:
        print(f"PARASOL: step {summary.step} ({summary.steps_run} now) on {summary.triplets} triplets "
              f"({manifest.skipped} incomplete skipped); last loss {summary.last.get('loss', float('nan')):.4f}")
        print(f"  checkpoint {summary.checkpoint}\n  loss curve {summary.loss_curve}")
        print(f"  sample: stylelens stylize --method parasol --model {summary.out_dir} --content Y --style S --out DIR")

    emit(args, data, human)
    return 0


def cmd_grid(args: argparse.Namespace) -> int:
    from generation.inputs import describe_inputs, resolve_content, resolve_style
    from generation.jobs import build_stylizer
    from generation.outputs import check_names, prepare_out_dir, save_images, strip_grid, write_png
    from generation.parasol.grid import descriptor_grid
    from ui.cli_generate import parse_params

    if len(args.content) != 2 or len(args.style) != 2:
        raise ValueError("parasol-grid needs --content twice and --style twice")
    ws = open_workspace(args)
    contents = [resolve_content(ws, c) for c in args.content]
    styles = [resolve_style(ws, s) for s in args.style]
    stylizer = build_stylizer("parasol", {"model": args.model}, workspace=ws)
    out = prepare_out_dir(args.out)
    names = [f"parasol-grid-{i // args.steps}-{i % args.steps}.png" for i in range(args.steps ** 2)]
    check_names(out, [*names, "parasol-grid.png", "parasol-grid.json"], overwrite=args.overwrite)
    grid = descriptor_grid(stylizer, contents, styles, args.steps, parse_params(args.param), args.seed)
    files = save_images(grid.images, out, names, overwrite=args.overwrite)
    sha = write_png(strip_grid(grid.images, grid.labels, columns=grid.columns), out / "parasol-grid.png",
                    overwrite=args.overwrite)
    record = {"method": "parasol", "kind": "grid", "params": grid.params, "seed": args.seed,
              "model_ids": dict(stylizer.model_ids), "steps": args.steps,
              "inputs": {"contents": [describe_inputs(c, [])["content"] for c in contents],
                         "styles": describe_inputs(contents[0], styles)["styles"]},
              "outputs": [f.to_dict() for f in files], "grid": {"path": "parasol-grid.png", "sha256": sha}}
    (out / "parasol-grid.json").write_text(json.dumps(record, indent=1), encoding="utf-8")
    data = {**record, "out_dir": str(out)}
    emit(args, data, lambda: print(f"{len(files)} images and the grid parasol-grid.png in {out}"))
    return 0
