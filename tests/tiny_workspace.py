"""A small indexed workspace for CLI failure tests, and a fingerprint that says whether a command changed it.

`build_workspace` indexes a few seeded pattern images with the tiny profile (seconds, no weights) and makes
collection `c1` holding the first two images. `fingerprint` is every catalog row (any database) plus the
name and sha256 of every other workspace file, so `fingerprint(before) == fingerprint(after)` means "left
as it was". The SQLite catalog's files are compared by their rows, not their bytes: a WAL checkpoint
rewrites the bytes without changing a row, and any reader of a WAL database may create -wal/-shm files.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
from corpus_factory import pattern_image
from sqlalchemy import create_engine, select

from indexer.catalog.schema import Base, ImageRecord

CATALOG_FILE = "catalog.sqlite"


def write_images(root: Path, n: int = 5, seed: int = 1) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        colours = tuple(tuple(int(c) for c in rng.integers(0, 255, 3)) for _ in range(4))
        pattern_image((64, 64), colours).save(root / f"{i}.png")
    return root


def build_workspace(home: Path, images: Path, db_url: str | None = None) -> list[int]:
    """Index `images` into corpus `c` of a new tiny workspace, add the first two images to collection
    `c1`; return the indexed ids in ascending order."""
    from ui.cli import main

    url = ["--db-url", db_url] if db_url else []
    common = ["--workspace", str(home), *url]
    assert main(["index", str(images), "--corpus", "c", "--profile", "tiny", "--workers", "0", *common]) == 0
    ids = indexed_ids(home, db_url)
    assert main(["collection", "create", "c1", *common]) == 0
    assert main(["collection", "add", "c1", "--ids", str(ids[0]), str(ids[1]), *common]) == 0
    return ids


def indexed_ids(home: Path, db_url: str | None = None) -> list[int]:
    engine = create_engine(db_url or f"sqlite:///{home / CATALOG_FILE}")
    try:
        with engine.connect() as conn:
            return list(conn.scalars(select(ImageRecord.id).where(ImageRecord.status == "indexed")
                                     .order_by(ImageRecord.id)))
    finally:
        engine.dispose()


def fingerprint(home: Path, db_url: str | None = None) -> dict[str, object]:
    """Catalog rows table by table, and {relative path: sha256} of the workspace's files."""
    files = {str(p.relative_to(home)): hashlib.sha256(p.read_bytes()).hexdigest()
             for p in sorted(home.rglob("*")) if p.is_file() and not p.name.startswith(CATALOG_FILE)}
    engine = create_engine(db_url or f"sqlite:///{home / CATALOG_FILE}")
    try:
        with engine.connect() as conn:
            rows = {table.name: [json.dumps(list(r), default=str) for r in
                                 conn.execute(select(table).order_by(*table.primary_key.columns))]
                    for table in Base.metadata.sorted_tables}
    finally:
        engine.dispose()
    return {"files": files, "rows": rows}
