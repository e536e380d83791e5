"""The outputs of a mining run: the triplet manifest (Parquet + JSONL) and similarity histograms (PNG)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import aliased

from indexer.atomic import atomic_file, atomic_path, remove_stale_temporaries
from indexer.catalog.schema import ImageRecord, Triplet
from indexer.workspace import Workspace

if TYPE_CHECKING:
    from .run import MiningParams

STALE_TEMPORARY_S = 3600  # a manifest temporary this old is a killed writer's, not one still at work
COLUMNS = ("x_id", "x_path", "y_id", "y_path", "s_id", "s_path",
           "s_style_sim", "s_content_sim", "y_content_sim", "y_style_sim")


def manifest_rows(ws: Workspace, run_id: int) -> list[dict]:
    """Every triplet of a run with the three paths, ordered by x id (so reruns write identical files)."""
    x, y, s = aliased(ImageRecord), aliased(ImageRecord), aliased(ImageRecord)
    with ws.session() as session:
        rows = session.execute(
            select(Triplet.x_id, x.path, Triplet.y_id, y.path, Triplet.s_id, s.path, Triplet.s_style_sim,
                   Triplet.s_content_sim, Triplet.y_content_sim, Triplet.y_style_sim)
            .outerjoin(x, x.id == Triplet.x_id).outerjoin(y, y.id == Triplet.y_id).outerjoin(s, s.id == Triplet.s_id)
            .where(Triplet.run_id == run_id).order_by(Triplet.x_id)
        ).all()
    return [dict(zip(COLUMNS, row)) for row in rows]


def write_manifest(ws: Workspace, run_id: int, out_dir: Path) -> list[dict]:
    """Write triplets.parquet and triplets.jsonl atomically into out_dir; return the rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = manifest_rows(ws, run_id)
    out_dir.mkdir(parents=True, exist_ok=True)
    schema = pa.schema([(c, pa.int64() if c.endswith("_id") else pa.float32() if c.endswith("_sim") else pa.string())
                        for c in COLUMNS])
    table = pa.Table.from_pylist(rows, schema=schema)
    parquet, jsonl = out_dir / "triplets.parquet", out_dir / "triplets.jsonl"
    for target in (parquet, jsonl):  # what a killed earlier write left (named .triplets.*.tmp)
        remove_stale_temporaries(target, older_than_s=STALE_TEMPORARY_S)
    with atomic_path(parquet) as tmp:
        pq.write_table(table, tmp)
    with atomic_file(jsonl) as fh:
        for row in rows:
            fh.write((json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8"))
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
