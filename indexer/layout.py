"""The workspace's folder layout: the one place that names every folder and file a workspace holds.

    catalog.sqlite          the catalog (unless a database URL names another)
    .workspace.lock         held while the catalog is created or its schema upgraded
    .index.lock             held by an indexing run
    indexes/                FAISS index snapshots
    vectors/<space>/        a space's vectors: immutable float32 .npy shards (`indexer.vectors.store`)
    jobs/<job>/             a distributed (Ray) indexing job's result shards, deleted once committed
    mining/<run>/           a triplet mining run's manifest and histograms
    parasol/<run>/          a PARASOL training run (checkpoints, loss curve)
    models/<method>/        models a method keeps in the workspace (e.g. StyO's fine-tuned ones)
    generated/<time>/       the Studio's generated images
    uploads/                the Studio's uploaded images
    exports/                the Studio's default collection export folder

`WorkspaceLayout` only names paths: it opens nothing, so generation code can be given one without the catalog.
`indexer.workspace.Workspace` is a `WorkspaceLayout` too. `resolve_home` is the only reader of $STYLELENS_HOME.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .names import InvalidNameError, check_plain_name

HOME_ENV = "STYLELENS_HOME"
DEFAULT_HOME = Path("~/.stylelens")
CATALOG_FILE = "catalog.sqlite"
MIGRATION_LOCK_FILE = ".workspace.lock"
INDEX_LOCK_FILE = ".index.lock"
INDEX_DIR = "indexes"
VECTORS_DIR = "vectors"
JOBS_DIR = "jobs"
MINING_DIR = "mining"
PARASOL_DIR = "parasol"
MODELS_DIR = "models"
GENERATED_DIR = "generated"
UPLOADS_DIR = "uploads"
EXPORTS_DIR = "exports"


def resolve_home(home: str | os.PathLike[str] | None = None) -> Path:
    """The workspace folder: `home`, else $STYLELENS_HOME, else ~/.stylelens; absolute, links resolved."""
    return Path(home or os.environ.get(HOME_ENV) or DEFAULT_HOME).expanduser().resolve()


@dataclass
class WorkspaceLayout:
    """Where each part of the workspace at `home` lives. Nothing is created or checked on disk."""

    home: Path

    def __post_init__(self) -> None:
        self.home = Path(self.home).expanduser().resolve()

    @classmethod
    def at(cls, home: str | os.PathLike[str] | None = None) -> WorkspaceLayout:
        """The layout of `home` (else $STYLELENS_HOME, else ~/.stylelens), without opening the workspace."""
        return cls(resolve_home(home))

    @property
    def catalog_file(self) -> Path:
        return self.home / CATALOG_FILE

    @property
    def migration_lock_file(self) -> Path:
        return self.home / MIGRATION_LOCK_FILE

    @property
    def index_lock_file(self) -> Path:
        return self.home / INDEX_LOCK_FILE

    @property
    def index_dir(self) -> Path:
        return self.home / INDEX_DIR

    @property
    def vectors_dir(self) -> Path:
        return self.home / VECTORS_DIR

    def space_vectors_dir(self, space: str) -> Path:
        """vectors/<space>: the vector shards of one embedding space (`space` must be a plain name)."""
        return self.vectors_dir / check_plain_name(space, "a space name")

    @property
    def jobs_dir(self) -> Path:
        return self.home / JOBS_DIR

    def job_dir(self, job: str) -> Path:
        """jobs/<job>: one distributed indexing job's result shards (`job` must be a plain name)."""
        return self.jobs_dir / check_plain_name(job, "a job name")

    @property
    def mining_dir(self) -> Path:
        return self.home / MINING_DIR

    def mining_run_dir(self, run: str) -> Path:
        """mining/<run>: a mining run's manifest folder (`run` must be a plain name)."""
        return self.mining_dir / check_plain_name(run, "a mining run name")

    @property
    def parasol_dir(self) -> Path:
        return self.home / PARASOL_DIR

    def parasol_run_dir(self, run: str) -> Path:
        """parasol/<run>: a PARASOL training run's folder (`run`: one folder name, e.g. its mining run's)."""
        return self.parasol_dir / _one_component(run, "a PARASOL run name")

    def models_dir(self, method: str) -> Path:
        """models/<method>: the models `method` keeps in the workspace (e.g. "styo", "dualstylegan")."""
        return self.home / MODELS_DIR / check_plain_name(method, "a method name")

    @property
    def generated_dir(self) -> Path:
        return self.home / GENERATED_DIR

    @property
    def uploads_dir(self) -> Path:
        return self.home / UPLOADS_DIR

    @property
    def exports_dir(self) -> Path:
        return self.home / EXPORTS_DIR


def _one_component(name: str, what: str) -> str:
    """`name` when it is one path component (no separator, not empty, "." or ".."); else InvalidNameError."""
    separators = ("/", os.sep, os.altsep or "/")
    if not isinstance(name, str) or name in ("", ".", "..") or any(sep in name for sep in separators):
        raise InvalidNameError(f"{what} must be one folder name, got {name!r}")
    return name
