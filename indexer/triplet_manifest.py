"""The PARASOL triplet manifest: the files `stylelens mine-triplets` writes and `train-parasol` reads.

A mining run's folder holds the same rows twice, `triplets.parquet` and `triplets.jsonl`, one row per
training image x: its id and path, those of its content image y and style image s (None where mining found
none), and the four similarities mining saw. Paths are absolute as written; a relative path in a manifest
made elsewhere is taken relative to the manifest's folder. This schema lives in `indexer` because
`retrieval` writes it and `generation` (which never imports `retrieval`) reads it.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from .atomic import atomic_file, atomic_path, remove_stale_temporaries

PARQUET_FILE = "triplets.parquet"
JSONL_FILE = "triplets.jsonl"
READ_ORDER = (PARQUET_FILE, JSONL_FILE)  # which file of a run folder is read
ROLES = ("x", "y", "s")
PATH_COLUMNS = tuple(f"{role}_path" for role in ROLES)
SIMILARITY_COLUMNS = ("s_style_sim", "s_content_sim", "y_content_sim", "y_style_sim")
COLUMNS = ("x_id", "x_path", "y_id", "y_path", "s_id", "s_path", *SIMILARITY_COLUMNS)
STALE_TEMPORARY_S = 3600  # a manifest temporary this old is a killed writer's, not one still at work


class ManifestError(ValueError):
    """A triplet manifest is missing or not in this format."""


def arrow_schema() -> Any:
    """The Parquet columns: ids int64, paths string, similarities float32."""
    import pyarrow as pa

    return pa.schema([(c, pa.int64() if c.endswith("_id") else pa.float32() if c.endswith("_sim") else pa.string())
                      for c in COLUMNS])


def write_manifest_files(rows: Sequence[dict[str, Any]], out_dir: Path) -> tuple[Path, Path]:
    """Write `rows` (dicts with COLUMNS) as triplets.parquet and triplets.jsonl in `out_dir`, each atomically;
    a killed earlier write's temporaries are removed. Returns the two paths."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out_dir.mkdir(parents=True, exist_ok=True)
    parquet, jsonl = out_dir / PARQUET_FILE, out_dir / JSONL_FILE
    for target in (parquet, jsonl):
        remove_stale_temporaries(target, older_than_s=STALE_TEMPORARY_S)
    table = pa.Table.from_pylist([{c: row.get(c) for c in COLUMNS} for row in rows], schema=arrow_schema())
    with atomic_path(parquet) as tmp:
        pq.write_table(table, tmp)
    write_jsonl(rows, jsonl)
    return parquet, jsonl


def write_jsonl(rows: Iterable[dict[str, Any]], path: Path) -> None:
    """The JSON-lines form: one object per row, its keys in COLUMNS order (atomically)."""
    with atomic_file(path) as fh:
        for row in rows:
            fh.write((json.dumps({c: row.get(c) for c in COLUMNS}, ensure_ascii=False) + "\n").encode("utf-8"))


def manifest_file(path: str | os.PathLike[str]) -> Path:
    """The manifest file `path` names: itself, or the Parquet (else JSONL) file of a run folder."""
    p = Path(path).expanduser()
    if p.is_dir():
        p = next((p / n for n in READ_ORDER if (p / n).is_file()), p / PARQUET_FILE)
    if not p.is_file():
        raise ManifestError(f"no triplet manifest at {p} (run `stylelens mine-triplets` first)")
    return p


def read_rows(path: str | os.PathLike[str]) -> tuple[Path, list[dict[str, Any]]]:
    """(the file read, its rows) of a manifest file or run folder; ManifestError when it is not one."""
    p = manifest_file(path)
    if p.suffix == ".parquet":
        import pyarrow.parquet as pq

        rows = pq.read_table(p).to_pylist()
    else:
        try:
            rows = [json.loads(line) for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]
        except ValueError as exc:
            raise ManifestError(f"{p} is not a JSON-lines triplet manifest: {exc}") from exc
    if not all(isinstance(row, dict) and set(PATH_COLUMNS) <= set(row) for row in rows):
        raise ManifestError(f"{p}: every row needs {', '.join(PATH_COLUMNS[:-1])} and {PATH_COLUMNS[-1]}")
    return p, rows


def complete_triplets(path: str | os.PathLike[str]) -> tuple[list[tuple[str, str, str]], int]:
    """The (x, y, s) paths of every row that has all three (relative ones resolved against the manifest's
    folder), and how many rows lacked y or s."""
    p, rows = read_rows(path)
    triplets, skipped = [], 0
    for row in rows:
        paths = [row[c] for c in PATH_COLUMNS]
        if not all(paths):
            skipped += 1
            continue
        x, y, s = (q if os.path.isabs(q) else str(p.parent / q) for q in map(str, paths))
        triplets.append((x, y, s))
    return triplets, skipped
