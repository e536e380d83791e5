"""ORM tables of the catalog. Changes here need a new Alembic revision in migrations/versions/."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy import text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    pass


class Setting(Base):
    """Workspace-wide key/value facts, e.g. the profile chosen at creation."""

    __tablename__ = "settings"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Corpus(Base):
    """A named collection of folders with a role: style, content, or both."""

    __tablename__ = "corpora"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    roots: Mapped[list[CorpusRoot]] = relationship(back_populates="corpus", cascade="all, delete-orphan")


class CorpusRoot(Base):
    """A folder (or file) of a corpus. `path` is relative to the workspace home when the folder lies inside
    it (a copied workspace works as it is), else absolute; `stylelens corpus relocate` rewrites it."""

    __tablename__ = "corpus_roots"
    __table_args__ = (UniqueConstraint("corpus_id", "path"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    corpus_id: Mapped[int] = mapped_column(ForeignKey("corpora.id", ondelete="CASCADE"))
    path: Mapped[str] = mapped_column(Text)
    corpus: Mapped[Corpus] = relationship(back_populates="roots")


class ImageRecord(Base):
    """One file seen in a corpus. status: indexed | duplicate | failed.

    The file is `path` relative to its corpus root `root_id` ("" when the root is the file itself), so a
    moved folder needs only its root rewritten. `indexer.catalog.paths.RootMap` gives absolute paths.
    """

    __tablename__ = "images"
    __table_args__ = (
        UniqueConstraint("root_id", "path"),
        Index("ix_images_corpus_sha256", "corpus_id", "sha256"),
        Index("ix_images_status", "status"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    corpus_id: Mapped[int] = mapped_column(ForeignKey("corpora.id", ondelete="CASCADE"))
    root_id: Mapped[int] = mapped_column(ForeignKey("corpus_roots.id", ondelete="CASCADE"))
    path: Mapped[str] = mapped_column(Text)  # relative to the root
    sha256: Mapped[str | None] = mapped_column(String(64))
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    format: Mapped[str | None] = mapped_column(String(16))
    bytes: Mapped[int] = mapped_column(BigInteger)
    mtime_ns: Mapped[int] = mapped_column(BigInteger)
    taken_at: Mapped[datetime | None] = mapped_column(DateTime, index=True)  # EXIF date, else mtime (UTC)
    status: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)
    duplicate_of: Mapped[int | None] = mapped_column(ForeignKey("images.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class Space(Base):
    """An embedding space: one encoder, one dimension, one metric, one FAISS index."""

    __tablename__ = "spaces"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    encoder_id: Mapped[str] = mapped_column(Text)
    dim: Mapped[int] = mapped_column(Integer)
    metric: Mapped[str] = mapped_column(String(8))
    index_factory: Mapped[str | None] = mapped_column(Text)  # user override; None = chosen by size
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class VectorShard(Base):
    """An immutable float32 (rows, dim) `.npy` file of one space's vectors (`indexer.vectors.store`).

    Written atomically before the transaction that adds this row, so the catalog never names a half-written
    file; a file no row names (a rolled-back or killed run, a compaction's old shards) is an orphan."""

    __tablename__ = "vector_shards"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    space_id: Mapped[int] = mapped_column(ForeignKey("spaces.id", ondelete="CASCADE"), index=True)
    file: Mapped[str] = mapped_column(Text)  # relative to the workspace's vectors directory: <space>/shard-*.npy
    rows: Mapped[int] = mapped_column(BigInteger)
    dim: Mapped[int] = mapped_column(Integer)
    bytes: Mapped[int] = mapped_column(BigInteger)
    dead: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))  # rows released since written
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Embedding(Base):
    """That an image has a vector in a space, and where it is: row `row` of shard `shard_id`. The vectors
    themselves live in the shard files (the source of truth the FAISS index is derived from); duplicates
    that inherit an original's vector point at the same row."""

    __tablename__ = "embeddings"
    __table_args__ = (Index("ix_embeddings_shard_row", "shard_id", "row"),
                      Index("ix_embeddings_space_image", "space_id", "image_id"))
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), primary_key=True)
    space_id: Mapped[int] = mapped_column(ForeignKey("spaces.id", ondelete="CASCADE"), primary_key=True)
    shard_id: Mapped[int] = mapped_column(ForeignKey("vector_shards.id"))
    row: Mapped[int] = mapped_column(BigInteger)


class IndexLogEntry(Base):
    """Write-ahead log of index changes not yet folded into a snapshot (op: add | remove)."""

    __tablename__ = "index_log"
    # AUTOINCREMENT: SQLite must never reuse a sequence number after the log is pruned
    __table_args__ = (Index("ix_index_log_space_seq", "space_id", "seq"), {"sqlite_autoincrement": True})
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    space_id: Mapped[int] = mapped_column(ForeignKey("spaces.id", ondelete="CASCADE"))
    image_id: Mapped[int] = mapped_column(Integer)
    op: Mapped[str] = mapped_column(String(8))


class IndexSnapshot(Base):
    """A FAISS index file on disk and the last log entry it contains."""

    __tablename__ = "index_snapshots"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    space_id: Mapped[int] = mapped_column(ForeignKey("spaces.id", ondelete="CASCADE"))
    file: Mapped[str] = mapped_column(Text)  # relative to the workspace's index directory
    factory: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16))
    ntotal: Mapped[int] = mapped_column(BigInteger)
    trained_on: Mapped[int] = mapped_column(BigInteger)  # vectors present when the index was (re)built
    log_seq: Mapped[int] = mapped_column(BigInteger)
    bytes: Mapped[int] = mapped_column(BigInteger)
    is_current: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Collection(Base):
    """A named, curated set of catalog images (a style dataset in the making)."""

    __tablename__ = "collections"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class CollectionItem(Base):
    """One image in a collection, with tags, a note and provenance: who or what added it, and when.

    The path and sha256 are copied at add time, so the item still says what it was if the file leaves
    the catalog (image_id then becomes NULL)."""

    __tablename__ = "collection_items"
    __table_args__ = (UniqueConstraint("collection_id", "image_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    collection_id: Mapped[int] = mapped_column(ForeignKey("collections.id", ondelete="CASCADE"))
    image_id: Mapped[int | None] = mapped_column(ForeignKey("images.id", ondelete="SET NULL"))
    path: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str | None] = mapped_column(String(64))
    tags: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of strings
    note: Mapped[str | None] = mapped_column(Text)
    added_by: Mapped[str] = mapped_column(Text)  # e.g. "query:<expr>", "ids", "neighbourhood:<ids>", "user:<name>"
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class MiningRun(Base):
    """A PARASOL triplet-mining run: its parameters (JSON) and progress; resumable."""

    __tablename__ = "mining_runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    params: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))  # running | done
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Triplet(Base):
    """(x, y, s) for one training image x: y = content image, s = style image (NULL when none survived)."""

    __tablename__ = "triplets"
    __table_args__ = (UniqueConstraint("run_id", "x_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("mining_runs.id", ondelete="CASCADE"))
    x_id: Mapped[int] = mapped_column(Integer)
    y_id: Mapped[int | None] = mapped_column(Integer)
    s_id: Mapped[int | None] = mapped_column(Integer)
    s_style_sim: Mapped[float | None] = mapped_column(Float)    # style similarity of x and s (maximised)
    s_content_sim: Mapped[float | None] = mapped_column(Float)  # content similarity of x and s (under a ceiling)
    y_content_sim: Mapped[float | None] = mapped_column(Float)  # content similarity of x and y (maximised)
    y_style_sim: Mapped[float | None] = mapped_column(Float)    # style similarity of x and y (under a ceiling)


class GenerationRecord(Base):
    """One generation run with everything needed to make it again (`generation.records` reads and writes it).

    kind: stylize | interpolate. An interpolation strip is ONE record: its per-step style weights are in
    `inputs["steps"]` and its per-step files in `outputs["steps"]`; no row per step. `parent_id` points
    at the record a run was derived from (e.g. a later variation of it); NULL for fresh runs.
    JSON columns (Text, like the rest of the catalog, so SQLite and PostgreSQL store them alike):
      params    the stylizer's resolved parameters dataclass, as a dict
      options   how the stylizer was built: `create_stylizer(method, **options)` (e.g. {"model": ID})
      model_ids what that stylizer reported running ({role: model id + weights tag})
      inputs    {"content": {source, sha256, prompt}, "styles": [{source, sha256, weight}, ...],
                 "decode": {"max_side": N}, "steps": [[w, ...], ...] (interpolate only)}
      outputs   {"files": [{"path", "sha256"}], "grid": {"path", "sha256"} | null,
                 "steps": [[file index, ...], ...] (interpolate only)}
    Output paths are relative to `out_dir` (absolute, resolved at write time): names are generated, never
    taken from user input, and a moved folder needs only `out_dir` changed.
    """

    __tablename__ = "generation_records"
    __table_args__ = (Index("ix_generation_records_parent", "parent_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    method: Mapped[str] = mapped_column(String(64))
    params: Mapped[str] = mapped_column(Text)
    seed: Mapped[int] = mapped_column(BigInteger)
    options: Mapped[str] = mapped_column(Text, default="{}")
    model_ids: Mapped[str] = mapped_column(Text)
    inputs: Mapped[str] = mapped_column(Text)
    outputs: Mapped[str] = mapped_column(Text)
    out_dir: Mapped[str] = mapped_column(Text)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("generation_records.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
