"""What a workspace holds: corpora with image counts by status, spaces with their encoders and indexes."""
from __future__ import annotations

from sqlalchemy import func, select

from .catalog.paths import RootMap
from .catalog.schema import Corpus, CorpusRoot, ImageRecord
from .corpora import list_corpora
from .index_sync import current_snapshot, pending_changes
from .pipeline.backfill import missing_count
from .spaces import list_spaces
from .workspace import Workspace, safe_url


def workspace_status(ws: Workspace) -> dict:
    """A JSON-ready description of the workspace."""
    with ws.session() as s:
        counts: dict[str, dict[str, int]] = {}
        for name, status, n in s.execute(
            select(Corpus.name, ImageRecord.status, func.count())
            .join(ImageRecord, ImageRecord.corpus_id == Corpus.id).group_by(Corpus.name, ImageRecord.status)
        ):
            counts.setdefault(name, {})[status] = n
    corpora = [
        {"name": c.name, "role": c.role, "roots": list(c.roots), "images": counts.get(c.name, {}),
         "total": sum(counts.get(c.name, {}).values())}
        for c in list_corpora(ws)
    ]
    spaces = []
    for sp in list_spaces(ws):
        snap = current_snapshot(ws, sp)
        spaces.append({
            "name": sp.name, "encoder_id": sp.encoder_id, "dim": sp.dim, "metric": sp.metric,
            "index_factory_override": sp.index_factory,
            "index": None if snap is None else {"kind": snap.kind, "factory": snap.factory, "vectors": snap.ntotal,
                                                "bytes": snap.bytes, "file": snap.file},
            "pending_changes": pending_changes(ws, sp),
            "missing_vectors": missing_count(ws, sp.id),
        })
    return {"workspace": str(ws.home), "database": safe_url(ws.db_url), "profile": ws.get_setting("profile"),
            "read_only": ws.read_only, "corpora": corpora, "spaces": spaces}


def failed_files(ws: Workspace, corpus: str | None = None, limit: int = 1000) -> list[dict[str, str]]:
    """Files recorded as failed, with their reasons."""
    with ws.session() as s:
        roots = RootMap.load(s, ws.home)
        stmt = (select(ImageRecord.root_id, ImageRecord.path, ImageRecord.error, Corpus.name)
                .join(Corpus, Corpus.id == ImageRecord.corpus_id).join(CorpusRoot, CorpusRoot.id == ImageRecord.root_id)
                .where(ImageRecord.status == "failed"))
        if corpus:
            stmt = stmt.where(Corpus.name == corpus)
        rows = s.execute(stmt.order_by(CorpusRoot.path, ImageRecord.path).limit(limit))
        return [{"path": roots.abspath(r, p), "reason": e or "", "corpus": c} for r, p, e, c in rows]
