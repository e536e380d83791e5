"""Glue between the catalog's collections and the export writers."""
from __future__ import annotations

from pathlib import Path

from indexer.spaces import list_spaces
from indexer.workspace import Workspace

from ..catalog_lookup import stored_vectors
from ..collections import collection_items
from . import export_items
from .items import ExportItem, ExportReport, SkippedItem

GONE_REASON = ("its image left the catalog (file deleted or moved since it was added); "
               "the item keeps its path and sha256 — re-index the file and add it again")


def export_collection(ws: Workspace, name: str, out: str | Path, fmt: str, *, overwrite: bool = False,
                      include_vectors: bool = False, shard_size: int = 1000) -> ExportReport:
    """Export a collection's images and metadata (and optionally every space's vectors) to `out`."""
    items = collection_items(ws, name)
    vectors: dict[str, dict[int, tuple[float, ...]]] = {}
    if include_vectors:
        ids = [i.image_id for i in items if i.image_id is not None]
        for space in list_spaces(ws):
            vectors[space.name] = {k: tuple(float(x) for x in v) for k, v in stored_vectors(ws, space, ids).items()}
    export = [
        ExportItem(id=item.image_id, path=item.path, sha256=item.sha256 or "",
                   corpus=item.corpus or "", tags=item.tags, note=item.note, added_by=item.added_by,
                   added_at=item.added_at,
                   vectors={sp: v[item.image_id] for sp, v in vectors.items() if item.image_id in v} or None)
        for item in items if item.image_id is not None
    ]
    gone = [SkippedItem(-1, item.path, GONE_REASON) for item in items if item.image_id is None]
    return export_items(export, out, fmt, collection=name, overwrite=overwrite, include_vectors=include_vectors,
                        shard_size=shard_size, left_out=gone)
