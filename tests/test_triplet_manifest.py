"""The triplet manifest schema (indexer.triplet_manifest): what mining writes is what PARASOL reads."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from indexer.triplet_manifest import (
    COLUMNS,
    ManifestError,
    complete_triplets,
    read_rows,
    write_manifest_files,
)

ROWS = [
    {"x_id": 1, "x_path": "/data/x1.png", "y_id": 2, "y_path": "/data/y1.png", "s_id": 3, "s_path": "/data/s1.png",
     "s_style_sim": 0.5, "s_content_sim": 0.25, "y_content_sim": 0.75, "y_style_sim": 0.125},
    {"x_id": 4, "x_path": "x2.png", "y_id": 5, "y_path": "y2.png", "s_id": 6, "s_path": "s2.png",
     "s_style_sim": None, "s_content_sim": None, "y_content_sim": None, "y_style_sim": None},
    {"x_id": 7, "x_path": "/data/x3.png", "y_id": None, "y_path": None, "s_id": 8, "s_path": "/data/s3.png",
     "s_style_sim": 0.5, "s_content_sim": 0.5, "y_content_sim": None, "y_style_sim": None},
]


def test_both_files_hold_the_rows_in_the_schemas_columns_and_types(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    parquet, jsonl = write_manifest_files([dict(reversed(list(r.items()))) for r in ROWS], tmp_path / "run")
    assert sorted(os.listdir(tmp_path / "run")) == ["triplets.jsonl", "triplets.parquet"]  # no temporaries
    lines = [json.loads(line) for line in jsonl.read_text(encoding="utf-8").splitlines()]
    assert lines == ROWS and all(list(line) == list(COLUMNS) for line in lines)  # keys in COLUMNS order
    table = pq.read_table(parquet)
    assert table.column_names == list(COLUMNS) and table.schema.field("x_id").type == pa.int64()
    assert table.schema.field("s_style_sim").type == pa.float32() and table.to_pylist() == ROWS
    assert read_rows(tmp_path / "run") == (parquet, ROWS)  # a run folder: its Parquet file first
    parquet.unlink()
    assert read_rows(tmp_path / "run") == (jsonl, ROWS)


def test_complete_triplets_skip_rows_without_y_or_s_and_resolve_relative_paths(tmp_path: Path) -> None:
    write_manifest_files(ROWS, tmp_path)
    triplets, skipped = complete_triplets(tmp_path / "triplets.jsonl")
    assert skipped == 1
    assert triplets == [("/data/x1.png", "/data/y1.png", "/data/s1.png"),
                        (str(tmp_path / "x2.png"), str(tmp_path / "y2.png"), str(tmp_path / "s2.png"))]


def test_what_mining_writes_is_what_parasol_reads(tmp_path: Path) -> None:
    from generation.parasol.data import read_manifest

    write_manifest_files(ROWS, tmp_path)
    manifest = read_manifest(tmp_path)
    assert [(t.x, t.y, t.s) for t in manifest.triplets] == complete_triplets(tmp_path)[0] and manifest.skipped == 1


def test_missing_and_malformed_manifests_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="no triplet manifest"):
        read_rows(tmp_path)
    (tmp_path / "bad.jsonl").write_text('{"x_path": "a", "y_path": "b"}\n')
    with pytest.raises(ManifestError, match="every row needs x_path, y_path and s_path"):
        read_rows(tmp_path / "bad.jsonl")
    (tmp_path / "junk.jsonl").write_text("not json\n")
    with pytest.raises(ManifestError, match="not a JSON-lines triplet manifest"):
        read_rows(tmp_path / "junk.jsonl")
