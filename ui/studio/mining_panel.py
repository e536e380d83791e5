"""PARASOL triplet mining on the Collections page: the parameters of `stylelens mine-triplets`, a run
through `retrieval.mining.run.mine_triplets`, and its triplets shown as (x, y, s) rows from the manifest."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from indexer.corpora import list_corpora
from indexer.spaces import list_spaces
from indexer.triplet_manifest import read_rows
from indexer.workspace import Workspace
from retrieval.mining.run import MiningParams, MiningSummary, mine_triplets

from . import thumbs
from .errors import shown_errors
from .grid import pager

_LAST = "last_mining"
ROWS_PER_PAGE = 8


def manifest_rows(path: str | Path) -> list[dict]:
    """The rows of a run's triplets.jsonl (x, y, s ids and paths plus the four similarities)."""
    return read_rows(path)[1]


def _form(ws: Workspace) -> tuple[MiningParams, str | None] | None:
    corpora = [c.name for c in list_corpora(ws)]
    spaces = [s.name for s in list_spaces(ws)]
    if not corpora:
        st.info("Index a corpus first (Index page).")
        return None
    with st.form("mine"):
        train_col, style_col, content_col = st.columns(3)
        train = train_col.selectbox("Training images x (corpus)", corpora, key="mine_train")
        style_db = style_col.selectbox("Style database s (corpus)", corpora, key="mine_style_db")
        content_db = content_col.selectbox("Content database y (corpus)", corpora, key="mine_content_db")
        k_col, cc_col, sc_col = st.columns(3)
        k = k_col.number_input("Candidates per search (k)", min_value=1, max_value=5000, value=50, key="mine_k")
        content_ceiling = cc_col.slider("Content ceiling: max content similarity of x and s", -1.0, 1.0, 0.8, 0.01,
                                        key="mine_content_ceiling")
        style_ceiling = sc_col.slider("Style ceiling: max style similarity of x and y", -1.0, 1.0, 0.95, 0.01,
                                      key="mine_style_ceiling")
        ss_col, cs_col, self_col = st.columns(3)
        style_space = ss_col.selectbox("Style space", spaces, key="mine_style_space",
                                       index=spaces.index("style") if "style" in spaces else 0)
        content_space = cs_col.selectbox("Content space", spaces, key="mine_content_space",
                                         index=spaces.index("content") if "content" in spaces else 0)
        allow_self = self_col.checkbox("x may be picked as its own s or y", key="mine_allow_self")
        run = st.text_input("Run name", key="mine_run", placeholder="automatic (give an earlier name to resume it)")
        if not st.form_submit_button("Mine triplets", key="mine_go"):
            return None
    params = MiningParams(train, style_db, content_db, k=int(k), content_ceiling=float(content_ceiling),
                          style_ceiling=float(style_ceiling), allow_self=allow_self, style_space=style_space,
                          content_space=content_space)
    return params, run.strip() or None


def _name(row: dict, which: str) -> str:
    return "-" if row[f"{which}_id"] is None else f"{Path(row[f'{which}_path']).name} (id {row[f'{which}_id']})"


def _show(summary: MiningSummary) -> None:
    st.success(f"Run {summary.run}: {summary.complete} of {summary.train_images} training images got a complete "
               f"triplet ({summary.mined_now} mined now, {summary.seconds:.1f}s). Manifest: "
               f"{summary.manifest_parquet}, {summary.manifest_jsonl}")
    rows = manifest_rows(summary.manifest_jsonl)
    st.dataframe([{"x": _name(r, "x"), "y (content)": _name(r, "y"), "s (style)": _name(r, "s"),
                   "s style sim": r["s_style_sim"], "s content sim": r["s_content_sim"],
                   "y content sim": r["y_content_sim"], "y style sim": r["y_style_sim"]} for r in rows],
                 hide_index=True)
    for i in pager(len(rows), "mining_rows", ROWS_PER_PAGE):
        for column, which, role in zip(st.columns(3), "xys", ("x", "y: same content", "s: same style")):
            with column:
                row = rows[i]
                if row[f"{which}_id"] is None:
                    st.caption(f"{role}: none under the ceiling")
                else:
                    thumbs.show(row[f"{which}_path"], f"{role} · {_name(row, which)}")
    st.image(summary.histograms, caption="similarities of the picks, ceilings drawn")


def render(ws: Workspace) -> None:
    """The mining section."""
    st.subheader("Triplet mining (PARASOL)")
    asked = _form(ws)
    if asked is not None:
        st.session_state.pop(_LAST, None)
        params, run = asked
        with shown_errors("Mining failed"), st.spinner("Mining triplets..."):
            st.session_state[_LAST] = mine_triplets(ws, params, run=run, progress=False)
    if _LAST in st.session_state:
        _show(st.session_state[_LAST])
