"""Compare what a scan found with what the catalog holds: which files are new, changed, gone or unchanged."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..catalog.paths import RootMap, relative_to
from ..catalog.schema import ImageRecord
from ..imaging.decode import sha256_file
from ..imaging.scan import FoundFile, ScanProblem


@dataclass(frozen=True)
class KnownFile:
    id: int
    path: str  # absolute
    bytes: int
    mtime_ns: int
    status: str
    error: str | None
    sha256: str | None = None


@dataclass
class Plan:
    new: list[FoundFile] = field(default_factory=list)
    changed: list[tuple[FoundFile, KnownFile]] = field(default_factory=list)
    unchanged: list[KnownFile] = field(default_factory=list)
    deleted: list[KnownFile] = field(default_factory=list)
    problems: list[ScanProblem] = field(default_factory=list)
    kept_missing_roots: list[str] = field(default_factory=list)  # roots we could not see: nothing removed

    @property
    def to_process(self) -> list[FoundFile]:
        return self.new + [found for found, _known in self.changed]


def known_files(s: Session, roots: RootMap) -> dict[str, KnownFile]:
    """The corpus's catalogued files by absolute path."""
    rows = s.execute(
        select(ImageRecord.id, ImageRecord.root_id, ImageRecord.path, ImageRecord.bytes, ImageRecord.mtime_ns,
               ImageRecord.status, ImageRecord.error, ImageRecord.sha256)
        .where(ImageRecord.corpus_id == roots.corpus_id)
    )
    known = (KnownFile(i, roots.abspath(rid, p), *rest) for i, rid, p, *rest in rows)
    return {k.path: k for k in known}


def make_plan(known: dict[str, KnownFile], scanned: Iterable[FoundFile | ScanProblem], roots: list[str],
              missing_roots: set[str]) -> Plan:
    """Classify every scanned file and every catalog file under the scanned roots.

    Catalog files under a root that could not be seen at all (unmounted drive, typo) are kept, not
    deleted: losing an index because a disk was absent is worse than a stale entry.
    """
    plan = Plan()
    seen: set[str] = set()
    for item in scanned:
        seen.add(item.path)
        if isinstance(item, ScanProblem):
            plan.problems.append(item)
            continue
        old = known.get(item.path)
        if old is None:
            plan.new.append(item)
        elif old.bytes != item.size or old.mtime_ns != item.mtime_ns:
            plan.changed.append((item, old))
        else:
            plan.unchanged.append(old)
    live_roots = [r for r in roots if r not in missing_roots]
    plan.kept_missing_roots = sorted(missing_roots)
    for path, old in known.items():
        if path not in seen and any(relative_to(root, path) is not None for root in live_roots):
            plan.deleted.append(old)
    return plan


def take_retouched(plan: Plan) -> list[tuple[FoundFile, KnownFile]]:
    """Take out of `plan.changed` the files whose bytes are the catalogued ones (same size and sha256): only
    their modification time differs, e.g. a copied folder that did not keep it. Hashing them is far cheaper
    than decoding and embedding them again."""
    retouched: list[tuple[FoundFile, KnownFile]] = []
    still: list[tuple[FoundFile, KnownFile]] = []
    for found, old in plan.changed:
        same = old.status != "failed" and old.sha256 is not None and old.bytes == found.size
        (retouched if same and _sha256(found.path) == old.sha256 else still).append((found, old))
    plan.changed = still
    return retouched


def _sha256(path: str) -> str | None:
    try:
        return sha256_file(path)
    except OSError:
        return None

