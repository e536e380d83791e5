"""The search filter flags of `stylelens search` and their `SearchFilter` (retrieval.filters)."""
from __future__ import annotations

import argparse

from retrieval.filters import ORIENTATIONS, SearchFilter, parse_date


def add_filter_flags(p: argparse.ArgumentParser) -> None:
    """--corpus, --collection, --tag, --path, --after/--before, --min-width/--min-height, --orientation."""
    g = p.add_argument_group("filters (all must hold; a repeated flag matches any of its values)")
    g.add_argument("--corpus", action="append", default=[], metavar="NAME", help="restrict to a corpus (repeatable)")
    g.add_argument("--collection", action="append", default=[], metavar="NAME",
                   help="only images in this collection (repeatable)")
    g.add_argument("--tag", action="append", default=[], metavar="TAG",
                   help="only images carrying this tag on a collection item (repeatable)")
    g.add_argument("--path", metavar="GLOB", help="only files whose full path matches GLOB ('*' crosses folders), "
                   "e.g. '*/holidays/*.jpg'")
    g.add_argument("--after", metavar="DATE", help="taken on or after DATE (EXIF date, else file mtime), e.g. 2024-05-01")
    g.add_argument("--before", metavar="DATE", help="taken before DATE (a bare date includes that whole day)")
    g.add_argument("--min-width", type=int, metavar="PX", help="at least PX pixels wide")
    g.add_argument("--min-height", type=int, metavar="PX", help="at least PX pixels high")
    g.add_argument("--orientation", choices=ORIENTATIONS, help="landscape, portrait or square pictures only")


def filter_from_args(args: argparse.Namespace) -> SearchFilter:
    """The `SearchFilter` the flags describe."""
    return SearchFilter(
        corpora=tuple(args.corpus), collections=tuple(args.collection), tags=tuple(args.tag), path_glob=args.path,
        after=parse_date(args.after) if args.after else None,
        before=parse_date(args.before, end=True) if args.before else None,
        min_width=args.min_width, min_height=args.min_height, orientation=args.orientation)
