"""CLI commands for corpora: `corpus relocate` points a corpus at the folder its files moved to."""
from __future__ import annotations

import argparse

from ui.cli_common import emit, open_workspace


def add_corpus_commands(sub, common: argparse.ArgumentParser) -> None:  # noqa: ANN001 - argparse's private type
    """Register `corpus relocate` on the main parser's subcommands."""
    p = sub.add_parser("corpus", help="corpora: relocate one whose folder moved")
    csub = p.add_subparsers(dest="corpus_command", required=True, metavar="ACTION")
    s = csub.add_parser("relocate", parents=[common], help="point a corpus at the folder its files moved to "
                        "(checked on disk first; nothing is re-embedded)")
    s.add_argument("name", metavar="NAME")
    s.add_argument("new_root", metavar="NEWROOT")
    s.add_argument("--from", dest="old_root", metavar="OLDROOT",
                   help="the root that moved (needed when the corpus has several and more than one is missing)")
    s.set_defaults(func=cmd_relocate)


def cmd_relocate(args: argparse.Namespace) -> int:
    from indexer.relocate import relocate_corpus

    ws = open_workspace(args, writes="corpus relocate")
    move = relocate_corpus(ws, args.name, args.new_root, args.old_root)
    emit(args, move.to_dict(), lambda: print(
        f"corpus {move.corpus}: {move.old_root} -> {move.new_root} ({move.images} files, {move.checked} checked "
        "on disk; nothing re-embedded)"))
    return 0
