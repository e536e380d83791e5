"""Parquet with image bytes: OUT/<collection>.parquet, written with pyarrow in row groups."""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from .common import Context, LoadedItem, record, vector_key
from .naming import collection_stem, safe_join

#: Same struct as Hugging Face ``datasets.Image`` stores in Arrow.
IMAGE_TYPE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])


def schema(ctx: Context) -> pa.Schema:
    """Column layout; ``vector_<space>`` columns only when vectors are included."""
    fields = [
        pa.field("id", pa.int64(), nullable=False),
        pa.field("file_name", pa.string(), nullable=False),
        pa.field("image", IMAGE_TYPE),
        pa.field("sha256", pa.string()),
        pa.field("corpus", pa.string()),
        pa.field("source_path", pa.string()),
        pa.field("tags", pa.list_(pa.string())),
        pa.field("note", pa.string()),
        pa.field("added_by", pa.string()),
        pa.field("added_at", pa.string()),
        pa.field("collection", pa.string()),
    ]
    if ctx.include_vectors:
        fields += [pa.field(vector_key(s), pa.list_(pa.float32())) for s in ctx.spaces]
    return pa.schema(fields)


def _row(li: LoadedItem, ctx: Context) -> dict:
    """The common metadata record plus the image itself (column order comes from `schema`)."""
    return {**record(li, ctx), "image": {"bytes": li.data, "path": li.file_name}}


def write(loaded: Iterable[LoadedItem], root: Path, ctx: Context) -> list[str]:
    """Stream rows into one parquet file, ``shard_size`` rows per row group."""
    rel = f"{collection_stem(ctx.collection)}.parquet"
    sch = schema(ctx)
    with pq.ParquetWriter(safe_join(root, rel), sch, compression="zstd") as writer:
        batch: list[dict] = []
        wrote = False
        for li in loaded:
            batch.append(_row(li, ctx))
            if len(batch) >= ctx.shard_size:
                writer.write_table(pa.Table.from_pylist(batch, schema=sch))
                batch, wrote = [], True
        if batch or not wrote:
            writer.write_table(pa.Table.from_pylist(batch, schema=sch))
    return [rel]
