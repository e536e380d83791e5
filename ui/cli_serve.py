"""`stylelens serve`: the HTTP API (ui.api) under uvicorn, one process holding models and indexes warm.

Loopback (127.0.0.1) by default; any other address needs --token (or $STYLELENS_API_TOKEN), which every
request must then send as `Authorization: Bearer TOKEN`. Write endpoints are off unless --allow-writes.
"""
from __future__ import annotations

import argparse
import os

from ui.cli_common import open_workspace

DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8000


def add_serve_command(sub, common: argparse.ArgumentParser) -> None:  # noqa: ANN001 - argparse's private type
    p = sub.add_parser("serve", parents=[common], help="serve the JSON search API (FastAPI; OpenAPI at /docs)")
    p.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST}; another "
                   "address requires --token)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, metavar="N", help=f"port (default {DEFAULT_PORT})")
    p.add_argument("--token", metavar="TOKEN", help="bearer token every request must send (default "
                   "$STYLELENS_API_TOKEN; at least 16 characters)")
    p.add_argument("--allow-writes", action="store_true", help="enable write endpoints (create collections, "
                   "add items)")
    p.add_argument("--threads", type=int, default=32, metavar="N", help="requests served at once (default 32)")
    p.set_defaults(func=cmd_serve)


def single_threaded_kernels() -> None:
    """One thread per search inside torch and faiss: the server runs searches side by side instead (a
    search fanning out over every core while others do the same only thrashes)."""
    import faiss
    import torch

    torch.set_num_threads(1)
    faiss.omp_set_num_threads(1)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from ui.api.app import create_app
    from ui.api.security import TOKEN_ENV, ServeSettings, check_bind

    token = args.token or os.environ.get(TOKEN_ENV) or None
    check_bind(args.host, token)
    if not 0 < args.port < 65536 or not 1 <= args.threads <= 256:
        raise ValueError("--port must be 1..65535 and --threads 1..256")
    ws = open_workspace(args, writes="--allow-writes" if args.allow_writes else None)
    single_threaded_kernels()
    app = create_app(ws, ServeSettings(token=token, allow_writes=args.allow_writes, threads=args.threads))
    uvicorn.run(app, host=args.host, port=args.port, log_level="info" if args.verbose else "warning",
                server_header=False)
    return 0
