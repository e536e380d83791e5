"""IDL's auxiliary set x_aux: real faces in the source's style (the paper samples ~200 from FFHQ).

Given as a folder of images (scanned recursively) or as `corpus:NAME`, a corpus of the workspace catalog
(its indexed images). When there are more than `limit` images, a seeded random sample of `limit` is used.
Every image is decoded like indexing does (EXIF orientation, any mode, decompression-bomb guard) and pinned
by the sha256 of its bytes; the fine-tuned model records the list, and a resumed run refuses images that
changed since. Unreadable files are skipped and reported.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from indexer.imaging.decode import ImageRejected, decode_file

from ..base import StylizeError

CORPUS_PREFIX = "corpus:"
DEFAULT_LIMIT = 200
MAX_SIDE = 1024  # decoded size cap; training resizes to the model's resolution anyway


@dataclass
class AuxSet:
    """The chosen images with their paths and sha256, and the files that could not be used."""

    spec: str
    paths: list[str]
    sha256: list[str]
    images: list[Image.Image]
    skipped: list[dict[str, str]] = field(default_factory=list)

    def record(self) -> dict[str, Any]:
        return {"spec": self.spec, "count": len(self.paths),
                "files": [{"path": p, "sha256": s} for p, s in zip(self.paths, self.sha256, strict=True)],
                "skipped": self.skipped}


def _candidates(spec: str, ws: Any) -> list[tuple[str, str | None]]:
    """(path, known sha256) of every candidate image, in a stable order."""
    if spec.startswith(CORPUS_PREFIX):
        name = spec[len(CORPUS_PREFIX):]
        from sqlalchemy import select

        from indexer.catalog.paths import RootMap
        from indexer.catalog.schema import ImageRecord
        from indexer.corpora import get_corpus
        from indexer.workspace import Workspace

        if not isinstance(ws, Workspace):  # None, or only a layout: no catalog to read
            raise StylizeError(f"the auxiliary set {spec!r} is a catalog corpus; it needs a workspace")

        corpus = get_corpus(ws, name)
        with ws.session() as s:
            roots = RootMap.load(s, ws.home, corpus.id)
            rows = s.execute(select(ImageRecord.root_id, ImageRecord.path, ImageRecord.sha256).where(
                ImageRecord.corpus_id == corpus.id, ImageRecord.status == "indexed").order_by(ImageRecord.id)).all()
        return [(roots.abspath(r, p), h) for r, p, h in rows]
    from indexer.imaging.scan import FoundFile, scan

    folder = Path(spec).expanduser()
    if not folder.is_dir():
        raise StylizeError(f"the auxiliary set must be a folder of face images or corpus:NAME; {spec!r} is neither")
    return [(item.path, None) for item in scan([folder]) if isinstance(item, FoundFile)]


def resolve(spec: str, ws: Any = None, limit: int = DEFAULT_LIMIT, seed: int = 0) -> AuxSet:
    """Choose and decode the auxiliary images named by `spec` (a folder or `corpus:NAME`)."""
    if not isinstance(spec, str) or not spec.strip():
        raise StylizeError("aux must name a folder of face images or corpus:NAME")
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise StylizeError(f"aux_limit must be an integer >= 1, got {limit!r}")
    candidates = _candidates(spec, ws)
    if len(candidates) > limit:
        candidates = sorted(random.Random(seed).sample(candidates, limit))
    chosen = AuxSet(spec, [], [], [])
    for path, known in candidates:
        try:
            decoded = decode_file(path, max_side=MAX_SIDE)
        except ImageRejected as exc:
            chosen.skipped.append({"path": path, "reason": exc.reason})
            continue
        if known and decoded.sha256 != known:
            chosen.skipped.append({"path": path, "reason": "changed on disk since it was indexed"})
            continue
        chosen.paths.append(path)
        chosen.sha256.append(decoded.sha256)
        chosen.images.append(decoded.image)
    if not chosen.images:
        raise StylizeError(f"the auxiliary set {spec!r} has no usable images")
    return chosen


def reload(recorded: dict[str, Any]) -> AuxSet:
    """The recorded auxiliary images again, each checked against its sha256 (for resuming)."""
    chosen = AuxSet(recorded["spec"], [], [], [], list(recorded.get("skipped", [])))
    for row in recorded["files"]:
        try:
            decoded = decode_file(row["path"], max_side=MAX_SIDE)
        except ImageRejected as exc:
            raise StylizeError(f"auxiliary image {row['path']} cannot be read any more ({exc.reason}); the "
                               "fine-tuning cannot resume with the same data") from None
        if decoded.sha256 != row["sha256"]:
            raise StylizeError(f"auxiliary image {row['path']} changed since fine-tuning began; restore it to resume")
        chosen.paths.append(row["path"])
        chosen.sha256.append(row["sha256"])
        chosen.images.append(decoded.image)
    return chosen
