"""CLI commands for curated datasets: collections, exports and PARASOL triplet mining."""
from __future__ import annotations

import argparse

from indexer.limits import MAX_ID, MAX_K
from ui.cli_common import add_engine_flags, emit, open_workspace


def add_dataset_commands(sub, common: argparse.ArgumentParser) -> None:  # noqa: ANN001 - argparse's private type
    """Register `collection`, `export` and `mine-triplets` on the main parser's subcommands."""
    p = sub.add_parser("collection", help="curated collections of catalog images")
    csub = p.add_subparsers(dest="collection_command", required=True, metavar="ACTION")
    c = csub.add_parser("create", parents=[common], help="create an empty collection")
    c.add_argument("name")
    c.add_argument("--description")
    c.set_defaults(func=cmd_create)
    c = csub.add_parser("add", parents=[common], help="add images by id, or a style neighbourhood of exemplars")
    c.add_argument("name")
    c.add_argument("id", nargs="*", type=_image_id, metavar="ID", help=f"catalog ids to add (1..{MAX_ID:,})")
    c.add_argument("--ids", nargs="+", type=_image_id, default=[], metavar="ID", help="catalog ids, as a flag")
    c.add_argument("--near", nargs="+", type=int, default=[], metavar="ID",
                   help="add every image within --max-distance (style space) of these exemplars")
    c.add_argument("--max-distance", type=float, default=0.05, help="style cosine distance (1 - cosine)")
    c.add_argument("--cap", type=int, default=100, help=f"most images a neighbourhood adds (at most {MAX_K:,})")
    c.add_argument("--corpus", action="append", default=[], metavar="NAME")
    c.add_argument("--tag", action="append", default=[], metavar="TAG")
    c.add_argument("--note")
    c.add_argument("--by", default=None, help="provenance: who adds them (default: how they were chosen)")
    c.set_defaults(func=cmd_add)
    c = csub.add_parser("remove", parents=[common], help="remove images from a collection")
    c.add_argument("name")
    c.add_argument("--ids", nargs="+", type=int, required=True, metavar="ID")
    c.set_defaults(func=cmd_remove)
    c = csub.add_parser("tag", parents=[common], help="tag or annotate one item")
    c.add_argument("name")
    c.add_argument("id", type=int)
    c.add_argument("--add", action="append", default=[], metavar="TAG")
    c.add_argument("--remove", action="append", default=[], metavar="TAG")
    c.add_argument("--note")
    c.set_defaults(func=cmd_tag)
    c = csub.add_parser("list", parents=[common], help="all collections")
    c.set_defaults(func=cmd_list)
    c = csub.add_parser("show", parents=[common], help="the items of a collection")
    c.add_argument("name")
    c.set_defaults(func=cmd_show)

    p = sub.add_parser("export", parents=[common], help="export a collection as a dataset")
    p.add_argument("collection")
    p.add_argument("out", metavar="OUT")
    p.add_argument("--format", required=True, choices=["imagefolder", "webdataset", "parquet", "folder"])
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    p.add_argument("--vectors", action="store_true", help="include every space's vector of each image")
    p.add_argument("--shard-size", type=int, default=1000)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("mine-triplets", parents=[common], help="mine PARASOL (x, y, s) training triplets")
    p.add_argument("--train", metavar="CORPUS", help="training images x (default: a content corpus)")
    p.add_argument("--style-db", metavar="CORPUS", help="style database s (default: a style corpus)")
    p.add_argument("--content-db", metavar="CORPUS", help="content database y (default: a content corpus)")
    p.add_argument("-k", "--k", type=int, default=50, help=f"candidates per search (at most {MAX_K:,})")
    p.add_argument("--content-ceiling", type=float, default=0.8, help="max content similarity of x and s")
    p.add_argument("--style-ceiling", type=float, default=0.95, help="max style similarity of x and y")
    p.add_argument("--allow-self", action="store_true", help="x may be picked as its own s or y")
    p.add_argument("--style-space", default="style")
    p.add_argument("--content-space", default="content")
    p.add_argument("--run", help="run name: resumes that run if it exists")
    p.add_argument("--out", help="manifest folder (default WORKSPACE/mining/RUN)")
    p.add_argument("--batch-size", type=int, default=256)
    add_engine_flags(p)
    p.set_defaults(func=cmd_mine)


def _image_id(text: str) -> int:
    """A catalog id as typed: `12` or `id:12`; anything else is refused with what was expected."""
    value = text.removeprefix("id:")
    if not value.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a catalog id (a whole number like 12, or id:12; "
                                         "`stylelens search` shows ids)")
    return int(value)


def cmd_create(args: argparse.Namespace) -> int:
    from retrieval.collections import create_collection

    create_collection(open_workspace(args, writes="collection create"), args.name, args.description)
    emit(args, {"created": args.name}, lambda: print(f"collection {args.name} created"))
    return 0


def cmd_add(args: argparse.Namespace) -> int:
    from retrieval.collections import add_images, style_neighbourhood
    from retrieval.query import QueryError

    ws = open_workspace(args, writes="collection add")
    if not args.id and not args.ids and not args.near:
        raise QueryError(f"give the ids to add (collection add {args.name} 5 12) or --near ID... "
                         "(a style neighbourhood)")
    ids, by = [*args.id, *args.ids], args.by or "ids"
    if args.near:
        near = style_neighbourhood(ws, args.near, max_distance=args.max_distance, cap=args.cap,
                                   corpora=args.corpus or None)
        ids += [i for i, _d in near]
        by = args.by or f"neighbourhood:{','.join(map(str, args.near))}@{args.max_distance:g}"
    result = add_images(ws, args.name, ids, added_by=by, tags=tuple(args.tag), note=args.note)
    data = {"added": result.added, "already": result.already}
    emit(args, data, lambda: print(f"{len(result.added)} added to {args.name}, {len(result.already)} already in it"))
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    from retrieval.collections import remove_images

    n = remove_images(open_workspace(args, writes="collection remove"), args.name, args.ids)
    emit(args, {"removed": n}, lambda: print(f"{n} removed from {args.name}"))
    return 0


def cmd_tag(args: argparse.Namespace) -> int:
    from retrieval.collections import annotate

    item = annotate(open_workspace(args, writes="collection tag"), args.name, args.id, add_tags=tuple(args.add),
                    remove_tags=tuple(args.remove), note=args.note)
    emit(args, item.to_dict(), lambda: print(f"{item.image_id}: tags {', '.join(item.tags) or '-'}; note {item.note or '-'}"))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from retrieval.collections import list_collections

    rows = list_collections(open_workspace(args))
    emit(args, rows, lambda: [print(f"{r['name']}: {r['items']} items  {r['description'] or ''}".rstrip()) for r in rows])
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from retrieval.collections import collection_items

    items = collection_items(open_workspace(args), args.name)

    def human() -> None:
        for i in items:
            print(f"{i.image_id}  [{i.corpus}] {i.path}  tags={','.join(i.tags) or '-'}  by {i.added_by} at {i.added_at}"
                  + (f"  note: {i.note}" if i.note else ""))

    emit(args, [i.to_dict() for i in items], human)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from retrieval.export.from_collection import export_collection

    report = export_collection(open_workspace(args), args.collection, args.out, args.format, overwrite=args.overwrite,
                               include_vectors=args.vectors, shard_size=args.shard_size)

    def human() -> None:
        print(f"exported {report.n_items} items of {args.collection} as {report.format} to {report.out}")
        for skipped in report.skipped:
            print(f"  skipped {skipped.id} {skipped.path}: {skipped.reason}")

    emit(args, report.to_dict(), human)
    return 0


def cmd_mine(args: argparse.Namespace) -> int:
    from indexer.corpora import list_corpora
    from retrieval.mining.defaults import default_mining_corpora
    from retrieval.mining.run import MiningParams, mine_triplets
    from retrieval.query import QueryError

    ws = open_workspace(args, writes="mine-triplets")
    defaults = default_mining_corpora(list_corpora(ws))
    if defaults is None:
        raise QueryError("no corpora to mine: index a content corpus and a style corpus first (stylelens index)")
    train, style_db, content_db = (args.train or defaults.train, args.style_db or defaults.style_db,
                                   args.content_db or defaults.content_db)
    params = MiningParams(train, style_db, content_db, k=args.k, content_ceiling=args.content_ceiling,
                          style_ceiling=args.style_ceiling, allow_self=args.allow_self, style_space=args.style_space,
                          content_space=args.content_space)
    summary = mine_triplets(ws, params, run=args.run, out=args.out, batch_size=args.batch_size, engine=args.engine,
                            ray_address=args.ray_address, ray_concurrency=args.ray_concurrency)

    def human() -> None:
        print(f"run {summary.run} (x from {train}, s from {style_db}, y from {content_db}): {summary.complete} of "
              f"{summary.train_images} training images got a complete "
              f"triplet ({summary.with_style} with a style image, {summary.with_content} with a content image); "
              f"{summary.mined_now} mined now in {summary.seconds:.1f}s")
        print(f"  manifest {summary.manifest_parquet} and {summary.manifest_jsonl}; histograms {summary.histograms}")

    emit(args, summary.to_dict(), human)
    return 0

