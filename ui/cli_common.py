"""Helpers every CLI command uses: opening the workspace and printing text or JSON."""
from __future__ import annotations

import argparse
import json
from typing import Callable


def open_workspace(args: argparse.Namespace):  # noqa: ANN201 - Workspace, imported lazily (torch-free --help)
    from indexer.workspace import Workspace

    return Workspace.open(args.workspace, args.db_url)


def emit(args: argparse.Namespace, data: object, human: Callable[[], None]) -> None:
    """JSON on stdout with --json, else the human-readable form."""
    if args.json:
        print(json.dumps(data, ensure_ascii=False))
    else:
        human()
