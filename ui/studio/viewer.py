"""The full-size viewer of a result (st.dialog): the image at full resolution, where it is (path, corpus,
pixel and file size), its score in both spaces, and the result actions."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from indexer.workspace import Workspace
from retrieval.catalog_lookup import image_refs
from retrieval.scores import image_scores

from . import actions, state, thumbs
from .errors import message
from .queries import SearchRequest, query_terms
from .state import escape_markdown

AT = "viewer"  # where the viewer's action messages are shown


def _close() -> None:
    st.session_state.pop(state.VIEWING, None)


def both_scores(ws: Workspace, viewing: state.Viewing) -> dict[str, float]:
    """The scores the search gave, completed with the other space's cosine when the query allows it."""
    scores = dict(viewing.scores)
    query = viewing.query
    if {"content", "style"} <= set(scores) or not isinstance(query, SearchRequest):
        return scores
    content = query_terms(query.text, query.image)
    style = query_terms(query.style, query.style_image) if query.mode == "joint" else None
    computed = image_scores(ws, int(viewing.card.id), content, style, corpora=list(query.corpora) or None)
    return {**computed, **scores}


def _facts(ws: Workspace, viewing: state.Viewing, facts: dict) -> None:
    card = viewing.card
    ref = image_refs(ws, [int(card.id)]).get(int(card.id))
    st.markdown(f"**{escape_markdown(Path(card.path).name)}** · id {card.id} · corpus {ref.corpus if ref else '-'}")
    st.caption(f"`{card.path}`")  # as code: a path is never read as Markdown
    st.caption(f"{facts['width']} × {facts['height']} px · {facts['format']} · {facts['bytes'] / 1024:,.0f} KiB")
    try:
        scores = both_scores(ws, viewing)
    except Exception as exc:  # noqa: BLE001 - a score that cannot be computed is said, not raised
        scores = dict(viewing.scores)
        st.caption(f"score in the other space unavailable: {message(exc)}")
    if scores:
        cols = st.columns(len(scores))
        for col, (space, score) in zip(cols, sorted(scores.items())):
            col.metric(f"{space} similarity", f"{score:.3f}")


@st.dialog("Result", width="large", on_dismiss=_close)
def _dialog(ws: Workspace, viewing: state.Viewing) -> None:
    if st.session_state.get(state.VIEWING) is None:  # an action that leads elsewhere closed it: the whole
        st.rerun(scope="app")                         # app runs (a dialog's buttons rerun only the dialog)
    full = thumbs.full_image(viewing.card.path)
    if isinstance(full, str):
        st.warning(f"no preview: {full}")
        return
    data, facts = full
    picture, about = st.columns([3, 2])
    picture.image(data, caption=viewing.card.caption, width="stretch")
    with about:
        _facts(ws, viewing, facts)
        actions.action_buttons(viewing.card, f"{AT}-{viewing.card.id}", added_by=viewing.added_by, at=AT)
        state.show_notes(AT)


def show_if_open(ws: Workspace) -> None:
    """Open the viewer when a "View" button asked for it (it stays open until closed or navigated away)."""
    viewing = st.session_state.get(state.VIEWING)
    if viewing is not None:
        _dialog(ws, viewing)
