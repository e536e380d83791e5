"""The `stylelens` command line: argument parsing and printing only; the work is in the library."""
from __future__ import annotations

import argparse
import logging
import sys
from typing import Sequence

from indexer.limits import MAX_BATCH_SIZE, MAX_ID, MAX_K, MAX_QUERY_TERMS, MAX_WORKERS
from ui.cli_common import CliParser, add_engine_flags, emit, open_workspace, workspace_layout
from ui.cli_corpus import add_corpus_commands
from ui.cli_datasets import add_dataset_commands
from ui.cli_errors import report
from ui.cli_filters import add_filter_flags, filter_from_args
from ui.cli_generate import add_generate_commands, generator_rows
from ui.cli_parasol import add_parasol_commands
from ui.cli_serve import add_serve_command
from ui.cli_spaces import add_space_commands
from ui.cli_styo import add_styo_commands
from ui.cli_train import add_train_commands
from ui.cli_ui import add_ui_command

EXIT_ERROR, EXIT_INTERRUPTED = 1, 130  # a usage mistake is an error too (CliParser)


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--workspace", metavar="DIR", help="workspace directory (default $STYLELENS_HOME or ~/.stylelens)")
    common.add_argument("--db-url", metavar="URL", help="catalog database URL (default $STYLELENS_DB_URL or SQLite in the workspace)")
    common.add_argument("--read-only", action="store_true", help="only read the workspace (search, status, export "
                        "to another folder); automatic when its folder cannot be written")
    common.add_argument("--json", action="store_true", help="print machine-readable JSON on stdout")
    common.add_argument("-v", "--verbose", action="store_true", help="log progress details")

    parser = CliParser(prog="stylelens", description="Visual search in separate content and style spaces.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("index", parents=[common], help="index folders or files into a corpus")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--corpus", required=True, metavar="NAME")
    p.add_argument("--role", choices=["style", "content", "both"], help="what the corpus is for (default both)")
    p.add_argument("--profile", choices=["starter", "full", "tiny"],
                   help="models of a NEW workspace (default: full when its weights are available, else starter)")
    p.add_argument("--content-encoder", metavar="ID", help="encoder of a NEW workspace's content space, e.g. "
                   "open_clip/ViT-B-32:/path/to/open_clip_model.safetensors (see `stylelens models list`)")
    p.add_argument("--style-encoder", metavar="ID", help="encoder of a NEW workspace's style space")
    p.add_argument("--workers", type=int, metavar="N",
                   help=f"decoding processes (default: cores - 1; 0 = in process; at most {MAX_WORKERS})")
    p.add_argument("--batch-size", type=int, default=32, metavar="N",
                   help=f"images per batch (at most {MAX_BATCH_SIZE})")
    p.add_argument("--index-factory", action="append", default=[], metavar="SPACE=FACTORY",
                   help='force a FAISS index for a space, e.g. content="IVF1024,Flat"; SPACE=auto undoes it')
    p.add_argument("--index-memory", metavar="SIZE", help="memory budget per index for choosing its type, e.g. 2GiB "
                   "(kept for the workspace; default 4GiB)")
    add_engine_flags(p)
    p.add_argument("--ray-num-gpus", type=float, default=0.0, metavar="N",
                   help="--engine ray: GPUs per embedding actor (e.g. 1; fractions share a GPU)")
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("search", parents=[common], help="search by text, image, catalog id, or a combination")
    p.add_argument("query", nargs="?", help='text and/or image terms: "2:golden retriever" + ./pool.jpg - fruit '
                   f"(at most {MAX_QUERY_TERMS} terms in all)")
    p.add_argument("--image", action="append", default=[], metavar="PATH", help="add an image file as a query term")
    p.add_argument("--like", action="append", default=[], type=int, metavar="ID",
                   help=f"add a catalog image as a query term (ids are 1..{MAX_ID:,})")
    p.add_argument("--space", choices=["content", "style", "layout"], default="content",
                   help="what to compare: content (what is shown), style (how), layout (where the masses sit)")
    p.add_argument("--content", metavar="QUERY", help="joint search: what is shown (with --style)")
    p.add_argument("--style", metavar="QUERY", help="joint search: how it is shown (with --content)")
    p.add_argument("--alpha", type=float, default=0.5, help="joint search: weight of content vs style (0..1)")
    add_filter_flags(p)
    p.add_argument("-k", "--k", type=int, default=10, metavar="N",
                   help=f"number of results (default 10; offset + k at most {MAX_K:,})")
    p.add_argument("--offset", type=int, default=0, metavar="N", help="skip the first N results (the next page)")
    p.add_argument("--no-collapse", action="store_true",
                   help="keep near-duplicate results (by default each is folded onto the best hit it copies, "
                   "which lists it: 'duplicates' in --json)")
    p.add_argument("--add-to", metavar="COLLECTION", help="add the results to a collection (provenance: the query)")
    p.add_argument("--collapse-threshold", type=float, metavar="COS",
                   help="content cosine in [-1, 1] a near-duplicate must reach (default: the encoder's); it must "
                   "also be near-identical in every other space, each at its encoder's threshold")
    p.add_argument("--explain", action="store_true", help="show what text terms resolved to (labels, similarities, "
                   "weights) on stderr; with --json, print {\"results\": [...], \"explain\": [...]} instead of the list")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("status", parents=[common], help="corpora, image counts, spaces and indexes")
    p.add_argument("--failed", action="store_true", help="also list failed files with their reasons")
    p.set_defaults(func=cmd_status)

    add_dataset_commands(sub, common)
    add_space_commands(sub, common)
    add_corpus_commands(sub, common)
    add_ui_command(sub, common)
    add_serve_command(sub, common)
    add_generate_commands(sub, common)
    add_styo_commands(sub, common)
    add_parasol_commands(sub, common)
    add_train_commands(sub, common)

    p = sub.add_parser("models", help="model registry")
    msub = p.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    m = msub.add_parser("list", parents=[common], help="registered encoders and generators, and whether their "
                        "weights are present")
    m.set_defaults(func=cmd_models_list)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command. Every failure is exit 1 and one `stylelens: error: ...` line (see ui.cli_errors)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    try:
        return args.func(args) or 0
    except KeyboardInterrupt:
        print("stylelens: interrupted; finished batches are saved, re-run to complete", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - one line for every failure; -v adds the traceback
        return report(exc, verbose=args.verbose)


def cmd_index(args: argparse.Namespace) -> int:
    from indexer.index_settings import IndexSettings
    from indexer.pipeline.run import index_paths

    factories: dict[str, str | None] = {}
    for item in args.index_factory:
        space, sep, factory = item.partition("=")
        if not sep or not factory:
            raise ValueError(f"--index-factory wants SPACE=FACTORY, got {item!r}")
        factories[space] = None if factory == "auto" else factory
    settings = IndexSettings(factories, parse_size(args.index_memory) if args.index_memory else None)
    ws = open_workspace(args, writes="indexing")
    encoders = {"content": args.content_encoder, "style": args.style_encoder}
    summary = index_paths(ws, args.paths, args.corpus, args.role, profile=args.profile, encoders=encoders,
                          workers=args.workers, batch_size=args.batch_size, index_settings=settings,
                          engine=args.engine, ray_address=args.ray_address, ray_concurrency=args.ray_concurrency,
                          ray_num_gpus=args.ray_num_gpus)
    if summary.notice:
        print(f"stylelens: {summary.notice}", file=sys.stderr)

    def human() -> None:
        print(f"corpus {summary.corpus} ({summary.role}), profile {summary.profile}: "
              f"{summary.added} added, {summary.updated} updated, {summary.removed} removed, "
              f"{summary.unchanged} unchanged, {summary.duplicates} duplicates, {summary.failed} failed, "
              f"{summary.relocated} relocated "
              f"in {summary.seconds:.1f}s")
        for f in summary.failures:
            print(f"  failed: {f['path']}: {f['reason']}")
        for move in summary.relocations:
            print(f"  relocated: {move['old_root']} -> {move['new_root']} ({move['images']} files kept, "
                  "nothing re-embedded)")
        for root in summary.kept_missing_roots:
            print(f"  warning: {root} does not exist; its catalog entries were kept")
        for name, sp in summary.spaces.items():
            print(f"  space {name}: {sp['ntotal']} vectors, index {sp['factory']}")

    emit(args, summary.to_dict(), human)
    return 0


def parse_size(text: str) -> int:
    """'4GiB', '512MB', '1e9' -> bytes."""
    units = {"": 1, "b": 1, "k": 1e3, "kb": 1e3, "kib": 2**10, "m": 1e6, "mb": 1e6, "mib": 2**20, "g": 1e9,
             "gb": 1e9, "gib": 2**30, "t": 1e12, "tb": 1e12, "tib": 2**40}
    import re

    match = re.fullmatch(r"\s*([0-9.]+(?:e[0-9]+)?)\s*([a-zA-Z]*)\s*", text)
    if not match or match.group(2).lower() not in units or float(match.group(1)) <= 0:
        raise ValueError(f"cannot read the size {text!r}; write e.g. 2GiB or 512MB")
    return int(float(match.group(1)) * units[match.group(2).lower()])


def cmd_search(args: argparse.Namespace) -> int:
    import os

    from retrieval.query import QueryError, QueryTerm, parse_query
    from retrieval.request import SearchRequest
    from ui.cli_explain import print_explanations, with_explanations

    ws = open_workspace(args, writes="--add-to" if args.add_to else None)
    if args.add_to:
        from retrieval.collections import require_collection

        require_collection(ws, args.add_to)  # before the search: a typo costs nothing
    page = {"k": args.k, "offset": args.offset, "collapse": not args.no_collapse,
            "collapse_threshold": args.collapse_threshold, "filters": filter_from_args(args)}
    if args.content is not None or args.style is not None:
        if args.content is None or args.style is None or args.query or args.image or args.like:
            raise QueryError("a joint search takes exactly --content QUERY and --style QUERY")
        request = SearchRequest(space="joint", content=args.content, style=args.style, alpha=args.alpha, **page)
    else:
        terms = parse_query(args.query) if args.query else []
        terms += [QueryTerm("image", p) for p in args.image] + [QueryTerm("id", i) for i in args.like]
        for t in terms:
            if t.kind == "image" and not os.path.isfile(str(t.value)):
                raise QueryError(f"no such image file: {t.value}")
        request = SearchRequest(tuple(terms), space=args.space, **page)
    hits = request.run(ws)

    if args.add_to:
        from retrieval.collections import add_images

        query = args.query or " + ".join([*map(str, args.image), *(f"id:{i}" for i in args.like)])
        if args.content is not None:
            query = f"content={args.content}; style={args.style}; alpha={args.alpha}"
        added = add_images(ws, args.add_to, [h.id for h in hits], added_by=f"query:{query}")
        print(f"stylelens: {len(added.added)} added to {args.add_to}"
              + (f", {len(added.already)} already in it" if added.already else ""), file=sys.stderr)
    explained = request.explain(ws)
    print_explanations(args, explained)

    def human() -> None:
        if not hits:
            print("no results")
        for rank, h in enumerate(hits, args.offset + 1):
            extra = "  ".join(f"{k}={v:.3f}" for k, v in h.scores.items()) if h.space == "joint" else ""
            if h.duplicates:
                extra += f"  (+{len(h.duplicates)} near-duplicate{'s' if len(h.duplicates) > 1 else ''}: " \
                         f"id {', '.join(map(str, h.duplicates))})"
            print(f"{rank:>3}  {h.score:7.3f}  id={h.id:<6} [{h.corpus}] {h.path}  {extra}".rstrip())

    emit(args, with_explanations(args, [h.to_dict() for h in hits], explained), human)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from indexer.status import failed_files, workspace_status

    ws = open_workspace(args)
    status = workspace_status(ws)
    if args.failed:
        status["failed_files"] = failed_files(ws)

    def human() -> None:
        print(f"workspace {status['workspace']}  profile {status['profile']}  database {status['database']}"
              + ("  (read-only)" if status["read_only"] else ""))
        for c in status["corpora"]:
            counts = ", ".join(f"{n} {k}" for k, n in sorted(c["images"].items())) or "empty"
            print(f"  corpus {c['name']} ({c['role']}): {counts}")
        for sp in status["spaces"]:
            idx = sp["index"]
            where = "no index yet" if idx is None else f"{idx['factory']} ({idx['kind']}), {idx['vectors']} vectors, {idx['bytes']} bytes"
            print(f"  space {sp['name']}: {sp['encoder_id']} {sp['dim']}-d {sp['metric']}; {where}")
        for f in status.get("failed_files", []):
            print(f"  failed [{f['corpus']}] {f['path']}: {f['reason']}")

    emit(args, status, human)
    return 0


def cmd_models_list(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from indexer.encoders.registry import list_models

    models = list_models()
    generators = generator_rows(workspace_layout(args))

    def human() -> None:
        for m in models:
            state = "present" if m.weights_present else "MISSING"
            print(f"{m.encoder_id:<40} {m.profile:>7}/{m.role:<7} {m.dim:>5}-d  text={'yes' if m.supports_text else 'no ':<3}"
                  f"  weights {state}: {m.weights}")
        for g in generators:
            if not g["available"]:
                print(f"{g['method']:<40} generator  UNAVAILABLE: {g['reason']}")
                continue
            state = "present" if g["weights_present"] else "MISSING"
            print(f"{g['model_id']:<40} {g['method']:>12} generator  weights {state}: {g['description']}")

    emit(args, {"encoders": [asdict(m) for m in models], "generators": generators}, human)
    return 0


if __name__ == "__main__":
    sys.exit(main())
