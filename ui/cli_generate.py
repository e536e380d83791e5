"""CLI commands for generation: stylize, interpolate (generated or retrieval-only), regenerate, and the
generator rows of `models list`. Parsing and printing only; the work is in `generation` and `retrieval`."""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from indexer.limits import MAX_K, MAX_PATH_STEPS
from ui.cli_common import emit, open_workspace


def add_generate_commands(sub, common: argparse.ArgumentParser) -> None:  # noqa: ANN001 - argparse's private type
    """Register `stylize`, `interpolate` and `regenerate` on the main parser's subcommands."""
    run = argparse.ArgumentParser(add_help=False)  # what every generating command shares
    run.add_argument("--method", metavar="NAME", help="stylization method (see `stylelens models list`)")
    run.add_argument("--out", metavar="DIR", help="folder for the images (created if needed)")
    run.add_argument("--seed", type=int, default=0, metavar="N", help="0 .. 2**63 - 1 (default 0)")
    run.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                     help="a method parameter; VALUE is read as JSON when it parses (2, 0.5, true), else text")
    run.add_argument("--model", metavar="ID", help="the method's model (default: the method's default)")
    run.add_argument("--overwrite", action="store_true", help="replace existing files of the same request")

    p = sub.add_parser("stylize", parents=[common, run], help="render a content image (or prompt) in given styles")
    p.add_argument("--content", metavar="PATH|ID", help="content image: a file, or a catalog id (12 or id:12)")
    p.add_argument("--prompt", metavar="TEXT", help="text content, for methods that generate from text")
    p.add_argument("--style", action="append", default=[], metavar="PATH|ID[:WEIGHT]", help="a style (repeatable)")
    p.set_defaults(func=cmd_stylize)

    p = sub.add_parser("interpolate", parents=[common, run],
                       help="a strip between styles: generated images, or with --retrieve search results")
    p.add_argument("--content", metavar="PATH|ID", help="content image (generation only)")
    p.add_argument("--style", action="append", default=[], metavar="PATH|ID",
                   help="a style on the path, in order (at least 2); the path sets the weights")
    p.add_argument("--steps", type=int, default=5, metavar="N",
                   help=f"points on the path, endpoints included (2..{MAX_PATH_STEPS})")
    p.add_argument("--retrieve", action="store_true", help="no generation: search the style space at each step")
    p.add_argument("-k", "--k", type=int, default=10, metavar="N",
                   help=f"--retrieve: results per step (at most {MAX_K:,})")
    p.add_argument("--corpus", action="append", default=[], metavar="NAME", help="--retrieve: restrict to a corpus")
    p.add_argument("--space", default="style", help="--retrieve: the space to walk (default style)")
    p.add_argument("--no-collapse", action="store_true", help="--retrieve: keep near-duplicate results")
    p.set_defaults(func=cmd_interpolate)

    p = sub.add_parser("regenerate", parents=[common], help="make a recorded generation again, exactly")
    p.add_argument("record_id", type=int, metavar="RECORD_ID")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=cmd_regenerate)


def cmd_stylize(args: argparse.Namespace) -> int:
    from generation.base import ContentRef, StylizeError
    from generation.inputs import resolve_content, resolve_style

    _require(args, "--method", "--out")
    if not args.style:
        raise StylizeError("give at least one --style PATH|ID[:WEIGHT]")
    if args.content is None and not args.prompt:
        raise StylizeError("give --content PATH|ID or --prompt TEXT")
    ws = open_workspace(args, writes="stylize (its generation record)")
    content = resolve_content(ws, args.content, prompt=args.prompt) if args.content else ContentRef(prompt=args.prompt)
    styles = [resolve_style(ws, s) for s in args.style]
    return _generate(args, ws, content, styles, steps=None)


def cmd_interpolate(args: argparse.Namespace) -> int:
    from generation.base import StylizeError

    if len(args.style) < 2:
        raise StylizeError("an interpolation needs at least two --style")
    if args.retrieve:
        return _retrieve_strip(args)
    from generation.inputs import resolve_content, resolve_style
    from generation.interpolate import interpolation_weights

    _require(args, "--method", "--content", "--out")
    weights = interpolation_weights(len(args.style), args.steps)
    ws = open_workspace(args, writes="interpolate (its generation record)")
    content = resolve_content(ws, args.content)
    styles = [resolve_style(ws, s) for s in args.style]
    return _generate(args, ws, content, styles, steps=weights)


def _generate(args: argparse.Namespace, ws, content, styles, steps) -> int:  # noqa: ANN001
    """Build the stylizer, run the request into --out, record it, print the record."""
    from generation.jobs import GenerationRequest, build_stylizer, generate
    from generation.records import record_generation

    options = {"model": args.model} if args.model else {}
    stylizer = build_stylizer(args.method, options, workspace=ws)
    request = GenerationRequest(content, styles, parse_params(args.param), args.seed, steps)
    generated = generate(stylizer, request, args.out, overwrite=args.overwrite)
    record_id = record_generation(ws, request, generated, options)
    saved, result = generated.saved, generated.result
    data: dict[str, Any] = {"record_id": record_id, "kind": request.kind, "method": result.method,
                            "params": result.params, "seed": result.seed, "model_ids": result.model_ids,
                            "out_dir": str(saved.out_dir), "outputs": [str(p) for p in saved.paths()]}
    if steps is not None:
        data["grid"] = str(saved.out_dir / saved.grid.path)
        data["steps"] = [{"weights": list(w), "outputs": [data["outputs"][i] for i in files]}
                         for w, files in zip(steps, saved.steps)]

    def human() -> None:
        print(f"record {record_id}: {len(data['outputs'])} image(s) by {result.method} (seed {result.seed}) "
              f"in {saved.out_dir}")
        for path in ([data["grid"]] if steps is not None else []) + data["outputs"]:
            print(f"  {path}")

    emit(args, data, human)
    return 0


def _retrieve_strip(args: argparse.Namespace) -> int:
    from retrieval.refine import refine_strip

    given = [flag for flag, value in (("--method", args.method), ("--content", args.content), ("--out", args.out))
             if value is not None]
    if given:
        raise ValueError(f"--retrieve only searches; drop {', '.join(given)}")
    steps = refine_strip(open_workspace(args), args.style, args.steps, k=args.k, space=args.space,
                         corpora=args.corpus or None, collapse=not args.no_collapse)
    data = {"exemplars": list(args.style), "space": args.space, "steps": [s.to_dict() for s in steps]}

    def human() -> None:
        for s in steps:
            print(f"step {s.step}  weights {' '.join(f'{w:.2f}' for w in s.weights)}")
            for rank, h in enumerate(s.hits, 1):
                print(f"  {rank:>3}  {h.score:7.3f}  id={h.id:<6} [{h.corpus}] {h.path}")

    emit(args, data, human)
    return 0


def cmd_regenerate(args: argparse.Namespace) -> int:
    from generation.outputs import prepare_out_dir
    from generation.records import differing_outputs, load_record, regenerate

    ws = open_workspace(args)
    record = load_record(ws, args.record_id)
    out_dir = prepare_out_dir(args.out)
    result = regenerate(ws, record.id, out_dir, overwrite=args.overwrite)
    differing = differing_outputs(record, out_dir)
    data = {"record_id": record.id, "method": result.method, "params": result.params, "seed": result.seed,
            "model_ids": result.model_ids, "outputs": [str(out_dir / f["path"]) for f in record.outputs["files"]],
            "identical": not differing, "differing": differing}

    def human() -> None:
        state = "byte-identical to the record" if not differing else f"DIFFERENT from the record: {', '.join(differing)}"
        print(f"record {record.id} regenerated in {out_dir}: {state}")
        for path in data["outputs"]:
            print(f"  {path}")

    emit(args, data, human)
    if differing:
        print(f"stylelens: warning: {len(differing)} file(s) differ from record {record.id} "
              "(another library version or device?)", file=sys.stderr)
    return 0


def generator_rows(workspace: Any = None) -> list[dict[str, Any]]:
    """Every generator of every method for `models list` (unavailable methods included, with the reason), with
    the models kept in `workspace` (an `indexer.layout.WorkspaceLayout`)."""
    from dataclasses import asdict

    from generation import list_generators

    return [asdict(info) for info in list_generators(workspace)]


def parse_params(items: list[str]) -> dict[str, Any]:
    """`key=value` pairs -> a dict; values are JSON when they parse (numbers, true/false, lists), else text."""
    params: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--param wants KEY=VALUE, got {item!r}")
        try:
            params[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            params[key.strip()] = value
    return params


def _require(args: argparse.Namespace, *flags: str) -> None:
    missing = [f for f in flags if getattr(args, f.lstrip("-").replace("-", "_")) is None]
    if missing:
        raise ValueError(f"{args.command} needs {', '.join(missing)}")

