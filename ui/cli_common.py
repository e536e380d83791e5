"""Helpers every CLI command uses: opening the workspace and printing text or JSON."""
from __future__ import annotations

import argparse
import json
from typing import Callable


class CliParser(argparse.ArgumentParser):
    """argparse, with a usage mistake reported like every other failure: one `stylelens: error:` line that
    names the command's --help, exit status 1 (argparse prints the whole usage and exits with 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(1, f"stylelens: error: {message}; see '{self.prog} --help'\n")


def open_workspace(args: argparse.Namespace, writes: str | None = None):  # noqa: ANN201 - a lazily imported Workspace
    """The command's workspace (read-only with --read-only or when its folder cannot be written).

    `writes` names what the command writes (e.g. "indexing"): on a read-only workspace it fails here, in one
    line, before anything is made (a stylized PNG, a lock file) rather than at its first database write."""
    from indexer.workspace import Workspace

    ws = Workspace.open(args.workspace, args.db_url, read_only=getattr(args, "read_only", False))
    if writes:
        ws.require_writable(writes)
    return ws


def workspace_layout(args: argparse.Namespace):  # noqa: ANN201 - a lazily imported WorkspaceLayout
    """Where the command's workspace is (--workspace, else $STYLELENS_HOME, else ~/.stylelens), without opening
    it: for commands that only look for models kept in it (`models list`)."""
    from indexer.layout import WorkspaceLayout

    return WorkspaceLayout.at(args.workspace)


def emit(args: argparse.Namespace, data: object, human: Callable[[], None]) -> None:
    """JSON on stdout with --json, else the human-readable form."""
    if args.json:
        print(json.dumps(data, ensure_ascii=False))
    else:
        human()



def add_engine_flags(p: argparse.ArgumentParser) -> None:
    """`--engine local|ray`, `--ray-address`, `--ray-concurrency`: who runs a job's batches (`index`, `mine-triplets`)."""
    p.add_argument("--engine", choices=["local", "ray"], default="local",
                   help="local: processes of this machine (default); ray: a Ray cluster (pip install -e \".[ray]\")")
    p.add_argument("--ray-address", metavar="ADDRESS", help="--engine ray: the cluster to join, auto (one `ray start` "
                   "made here) or ray://HOST:PORT (default: start one on this machine)")
    p.add_argument("--ray-concurrency", type=int, metavar="N", help="--engine ray: actors (default: 1 for indexing, "
                   "the cluster's CPUs for mining)")
