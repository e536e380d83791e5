"""CLI commands for embedding spaces: list them, add one with its own encoder, backfill its vectors."""
from __future__ import annotations

import argparse

from ui.cli_common import emit, open_workspace


def add_space_commands(sub, common: argparse.ArgumentParser) -> None:  # noqa: ANN001 - argparse's private type
    """Register `space list|add|backfill` on the main parser's subcommands."""
    p = sub.add_parser("space", help="embedding spaces: list, add one with another encoder, backfill it")
    ssub = p.add_subparsers(dest="space_command", required=True, metavar="ACTION")
    s = ssub.add_parser("list", parents=[common], help="spaces with their encoders and how many vectors they lack")
    s.set_defaults(func=cmd_list)
    s = ssub.add_parser("add", parents=[common], help="add a space, e.g. a second style space for mining")
    s.add_argument("name")
    s.add_argument("--encoder", required=True, metavar="ID", help="encoder id (see `stylelens models list`)")
    s.add_argument("--no-backfill", action="store_true", help="only register it; embed later with `space backfill`")
    s.add_argument("--workers", type=int, metavar="N", help="decoding processes (default: cores - 1)")
    s.set_defaults(func=cmd_add)
    s = ssub.add_parser("backfill", parents=[common], help="embed indexed images that lack a vector in a space")
    s.add_argument("name")
    s.add_argument("--workers", type=int, metavar="N", help="decoding processes (default: cores - 1)")
    s.set_defaults(func=cmd_backfill)


def cmd_list(args: argparse.Namespace) -> int:
    from indexer.pipeline.backfill import missing_count
    from indexer.spaces import list_spaces

    ws = open_workspace(args)
    rows = [{"name": sp.name, "encoder_id": sp.encoder_id, "dim": sp.dim, "metric": sp.metric,
             "missing_vectors": missing_count(ws, sp.id)} for sp in list_spaces(ws)]

    def human() -> None:
        for r in rows:
            lack = f"; {r['missing_vectors']} images lack a vector" if r["missing_vectors"] else ""
            print(f"{r['name']:<16} {r['encoder_id']} {r['dim']}-d {r['metric']}{lack}")

    emit(args, rows, human)
    return 0


def cmd_add(args: argparse.Namespace) -> int:
    from indexer.spaces import add_space

    ws = open_workspace(args, writes="space add")
    space = add_space(ws, args.name, args.encoder)
    result = {"name": space.name, "encoder_id": space.encoder_id, "dim": space.dim, "backfill": None}
    if not args.no_backfill:
        result["backfill"] = _backfill(ws, space.name, args.workers)
    emit(args, result, lambda: _print_added(result))
    return 0


def cmd_backfill(args: argparse.Namespace) -> int:
    ws = open_workspace(args, writes="space backfill")
    summary = _backfill(ws, args.name, args.workers)
    emit(args, summary, lambda: _print_backfill(summary))
    return 0


def _backfill(ws, name: str, workers: int | None) -> dict:  # noqa: ANN001 - Workspace, imported lazily
    from indexer.pipeline.backfill import backfill_space

    return backfill_space(ws, name, workers=workers).to_dict()


def _print_added(result: dict) -> None:
    print(f"space {result['name']}: {result['encoder_id']} {result['dim']}-d")
    if result["backfill"] is not None:
        _print_backfill(result["backfill"])


def _print_backfill(summary: dict) -> None:
    print(f"space {summary['space']}: {summary['embedded']} embedded, {summary['already']} already had a vector, "
          f"{summary['ntotal']} vectors in its index ({summary['seconds']:.1f}s)")
    for item in summary["stale"]:
        print(f"  not embedded: id={item['id']} {item['path']}: {item['reason']} (re-run `stylelens index`)")
