"""`stylelens ui`: start StyleLens Studio (the Streamlit app) on localhost for a workspace.

The command only builds the `streamlit run` command line and its environment, then becomes that process
(exec), so Ctrl-C and signals reach Streamlit directly. The workspace reaches the app through the same
variables the CLI reads ($STYLELENS_HOME, $STYLELENS_DB_URL). Usage statistics are off and the server
listens on 127.0.0.1 only.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from collections.abc import Mapping

from ui.cli_common import open_workspace

HOST = "127.0.0.1"
DEFAULT_PORT = 8501


def add_ui_command(sub, common: argparse.ArgumentParser) -> None:  # noqa: ANN001 - argparse's private type
    """Register `ui` on the main parser's subcommands."""
    p = sub.add_parser("ui", parents=[common], help="start the Studio web app (search, refine, curate) on localhost")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, metavar="N", help=f"port (default {DEFAULT_PORT})")
    p.set_defaults(func=cmd_ui)


def streamlit_command(port: int, python: str = sys.executable) -> list[str]:
    """The `streamlit run` command line of the app: localhost, headless, no usage statistics."""
    from ui.studio import APP_FILE, UPLOAD_LIMIT_MB

    if not 0 < port < 65536:
        raise ValueError(f"--port must be between 1 and 65535, got {port}")
    return [python, "-m", "streamlit", "run", str(APP_FILE),
            "--server.address", HOST, "--server.port", str(port), "--server.headless", "true",
            "--browser.gatherUsageStats", "false", "--server.maxUploadSize", str(UPLOAD_LIMIT_MB),
            "--server.fileWatcherType", "none", "--client.toolbarMode", "minimal"]


def streamlit_env(home: str, db_url: str | None, base: Mapping[str, str] = os.environ) -> dict[str, str]:
    """`base` plus the workspace variables the app reads, and Streamlit's usage statistics switched off."""
    from indexer.workspace import DB_URL_ENV, HOME_ENV

    env = dict(base)
    env[HOME_ENV] = home
    if db_url:
        env[DB_URL_ENV] = db_url
    env["STREAMLIT_BROWSER_GATHER_USAGE_STATS"] = "false"
    return env


def cmd_ui(args: argparse.Namespace) -> int:
    if importlib.util.find_spec("streamlit") is None:
        raise ValueError("the Studio needs Streamlit: pip install streamlit (or re-run scripts/setup.sh)")
    ws = open_workspace(args)  # fail here, with the CLI's message, when the workspace cannot be opened
    home, db_url = str(ws.home), ws.db_url if args.db_url else None
    ws.close()
    command = streamlit_command(args.port)
    print(f"StyleLens Studio: http://{HOST}:{args.port}  (workspace {home}; Ctrl-C stops it)", file=sys.stderr)
    sys.stderr.flush()
    _exec(command, streamlit_env(home, db_url))
    return 0  # not reached: _exec replaces this process


def _exec(command: list[str], env: dict[str, str]) -> None:
    os.execve(command[0], command, env)
