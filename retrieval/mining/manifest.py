"""The outputs of a mining run: the triplet manifest (Parquet + JSONL) and similarity histograms (PNG)."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import aliased

from indexer.atomic import atomic_path
from indexer.catalog.paths import RootMap
from indexer.catalog.schema import ImageRecord, Triplet
from indexer.triplet_manifest import COLUMNS, write_manifest_files
from indexer.workspace import Workspace

if TYPE_CHECKING:
    from .run import MiningParams


def manifest_rows(ws: Workspace, run_id: int) -> list[dict]:
    """Every triplet of a run with the three absolute paths, ordered by x id (so reruns write identical files)."""
    x, y, s = aliased(ImageRecord), aliased(ImageRecord), aliased(ImageRecord)
    with ws.session() as session:
        roots = RootMap.load(session, ws.home)
        rows = session.execute(
            select(Triplet.x_id, x.root_id, x.path, Triplet.y_id, y.root_id, y.path, Triplet.s_id, s.root_id, s.path,
                   Triplet.s_style_sim, Triplet.s_content_sim, Triplet.y_content_sim, Triplet.y_style_sim)
            .outerjoin(x, x.id == Triplet.x_id).outerjoin(y, y.id == Triplet.y_id).outerjoin(s, s.id == Triplet.s_id)
            .where(Triplet.run_id == run_id).order_by(Triplet.x_id)
        ).all()

    def where(root_id: int | None, rel: str | None) -> str | None:  # the catalog keeps paths relative to a root
        return None if root_id is None else roots.abspath(root_id, rel)

    return [dict(zip(COLUMNS, (xi, where(xr, xp), yi, where(yr, yp), si, where(sr, sp), *sims)))
            for xi, xr, xp, yi, yr, yp, si, sr, sp, *sims in rows]


def write_manifest(ws: Workspace, run_id: int, out_dir: Path) -> list[dict]:
    """Write triplets.parquet and triplets.jsonl atomically into out_dir (`indexer.triplet_manifest`); return
    the rows."""
    rows = manifest_rows(ws, run_id)
    write_manifest_files(rows, out_dir)
    return rows


def write_histograms(rows: list[dict], params: "MiningParams", path: Path) -> Path:
    """Four histograms (the similarity maximised and the one under a ceiling, for s and for y), ceilings drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("s_style_sim", "style sim(x, s): maximised", None),
              ("s_content_sim", "content sim(x, s)", params.content_ceiling),
              ("y_content_sim", "content sim(x, y): maximised", None),
              ("y_style_sim", "style sim(x, y)", params.style_ceiling)]
    fig, axes = plt.subplots(2, 2, figsize=(9, 6.5))
    for ax, (column, title, ceiling) in zip(axes.ravel(), panels):
        values = [r[column] for r in rows if r[column] is not None]
        ax.hist(values, bins=40, color="#4c72b0")
        if ceiling is not None:
            ax.axvline(ceiling, color="#c44e52", linestyle="--", label=f"ceiling {ceiling:g}")
            ax.legend(loc="upper left")
        ax.set_title(f"{title} (n={len(values)})", fontsize=10)
    complete = sum(1 for r in rows if r["y_id"] is not None and r["s_id"] is not None)
    fig.suptitle(f"PARASOL triplets: {complete} of {len(rows)} training images complete")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=100, format="png")
    finally:
        plt.close(fig)
    return path
