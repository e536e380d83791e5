"""Dataset export of a curated collection: imagefolder, WebDataset, Parquet, plain folder.

    report = export_items(items, "out/", "parquet", collection="ukiyo-e")

Exports are reproducible (sorted by id, fixed timestamps, deterministic JSON), refuse to
overwrite a non-empty OUT unless asked, are staged in a temp sibling and swapped in only
when complete, and write only ``<id>-<sanitised stem>.<ext>`` names inside OUT, plus the
marker ``.stylelens-export.json`` (collection, format, files) by which ``overwrite`` knows
a folder it may replace: an earlier export, holding nothing else.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from . import folder, imagefolder, parquet, webdataset
from .common import Context, LoadedItem, iter_loaded, vector_spaces
from .items import ExportError, ExportItem, ExportReport, SkippedItem
from .marker import MARKER, write_marker
from .output import staged_output

Writer = Callable[[Iterable[LoadedItem], Path, Context], list[str]]
WRITERS: dict[str, Writer] = {
    "imagefolder": imagefolder.write,
    "webdataset": webdataset.write,
    "parquet": parquet.write,
    "folder": folder.write,
}
FORMATS: tuple[str, ...] = tuple(WRITERS)

__all__ = [
    "FORMATS", "MARKER", "ExportError", "ExportItem", "ExportReport", "SkippedItem", "export_items",
]


def export_items(
    items: Sequence[ExportItem],
    out: str | Path,
    fmt: str,
    *,
    collection: str,
    overwrite: bool = False,
    include_vectors: bool = False,
    shard_size: int = 1000,
    strict: bool = False,
    left_out: Sequence[SkippedItem] = (),
) -> ExportReport:
    """Export ``items`` to ``out`` in format ``fmt`` (one of FORMATS).

    Items whose source is missing, unreadable or changed (sha256 mismatch) are skipped
    and listed in the report, or raise ExportError when ``strict``. ``shard_size`` is
    samples per tar shard (webdataset) or rows per row group (parquet). ``left_out`` lists items
    the caller already knows cannot be exported (e.g. their image left the catalog); they go into
    the report's skipped list, or raise ExportError when ``strict``.
    """
    writer = WRITERS.get(fmt)
    if writer is None:
        raise ExportError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if shard_size < 1:
        raise ExportError(f"shard_size must be >= 1, got {shard_size}")
    ctx = Context(
        collection=collection,
        include_vectors=include_vectors,
        spaces=vector_spaces(items) if include_vectors else (),
        shard_size=shard_size,
    )
    if strict and left_out:
        raise ExportError(f"item {left_out[0].path!r}: {left_out[0].reason}")
    skipped: list[SkippedItem] = list(left_out)
    n = 0

    def counted() -> Iterable[LoadedItem]:
        nonlocal n
        for li in iter_loaded(items, skipped, strict):
            n += 1
            yield li

    with staged_output(out, overwrite, [it.path for it in items]) as tmp:
        files = writer(counted(), tmp, ctx)
        write_marker(tmp, collection, fmt, files)
    out_path = Path(out).absolute()
    return ExportReport(fmt, out_path, n, tuple(sorted(files)), tuple(skipped))
