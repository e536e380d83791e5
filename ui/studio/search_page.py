"""Search page: text and/or a dropped image, in the content space, the style space, or both fused with a
weight; results in a paged thumbnail grid with scores and the result actions. Calls
`retrieval.search.search` / `joint_search` exactly as `stylelens search` does."""
from __future__ import annotations

import streamlit as st

from indexer.corpora import list_corpora
from indexer.workspace import Workspace
from retrieval.explain import weak_terms
from ui.cli_explain import format_explanation
from ui.studio import actions, state, thumbs, uploads, url_state, viewer
from ui.studio.context import workspace
from ui.studio.errors import shown_errors
from ui.studio.filters_panel import filter_inputs
from ui.studio.grid import Card, image_grid, reset_pager
from ui.studio.queries import SearchRequest, caption, query_pictures

_MODE_LABELS = {"content": "Content (what is shown)", "style": "Style (how it is shown)", "joint": "Joint (both)"}
RESULTS, LAST_REQUEST, PAGER = "search_results", "search_last_request", url_state.SEARCH_PAGER
EXPLAINED = "search_explained"


def _controls(ws: Workspace) -> SearchRequest:
    st.session_state.setdefault(state.Q_MODE, "content")
    text = st.text_input("Query", key=state.Q_TEXT, placeholder='a cat · id:12 · "2:a harbour + id:7 - boat"',
                         help="Words, catalog ids (id:12), image paths; W: weights a term, ' - ' subtracts it")
    nonce = st.session_state.get(state.Q_UPLOAD_NONCE, 0)
    image = uploads.image_upload("…or drop an image to search by example", key=f"q_upload_{nonce}")
    mode_col, corpus_col, k_col, fold_col = st.columns([3, 3, 1, 1])
    mode = mode_col.radio("Space", list(_MODE_LABELS), key=state.Q_MODE, horizontal=True, format_func=_MODE_LABELS.get)
    corpora = corpus_col.multiselect("Corpora", [c.name for c in list_corpora(ws)], key="q_corpora",
                                     placeholder="all corpora")
    k = k_col.number_input("Results", min_value=1, max_value=500, value=48, key="q_k")
    collapse = fold_col.toggle("Fold copies", value=True, key="q_collapse",
                               help="Fold near-duplicates (resized, re-encoded, slightly cropped copies: near-identical "
                               "in every space) onto the best hit; its caption says how many")
    request = SearchRequest(mode, text, str(image.path) if image else None, corpora=tuple(corpora), k=int(k),
                            collapse=collapse, filters=filter_inputs(ws))
    if mode == "joint":
        style_col, upload_col = st.columns(2)
        style = style_col.text_input("Style query", key=state.Q_STYLE, placeholder="id:12 · words · an image path",
                                     help="How it should look; “Use as style” on a result fills this in")
        with upload_col:
            style_image = uploads.image_upload("…or drop a style image", key=f"q_style_upload_{nonce}")
        st.session_state.setdefault(state.Q_ALPHA, 0.5)
        alpha = st.slider("Fusion weight α: content ← → style", 0.0, 1.0, step=0.05, key=state.Q_ALPHA,
                          help="alpha × content + (1 − alpha) × style, each a 0-1 percentile in its space")
        request = SearchRequest(mode, text, request.image, style, str(style_image.path) if style_image else None,
                                float(alpha), request.corpora, request.k, request.collapse, request.filters)
    return request


def _run(ws: Workspace, request: SearchRequest) -> None:
    st.session_state[LAST_REQUEST] = request
    st.session_state.pop(RESULTS, None)
    reset_pager(PAGER)
    with shown_errors("Search failed"), st.spinner("Searching..."):
        st.session_state[RESULTS] = (request, request.run(ws))
        st.session_state[EXPLAINED] = request.explain(ws)


def _explanation() -> None:
    """What the text terms resolved to (starter profile: ImageNet labels), a warning for a weak match."""
    explained = st.session_state.get(EXPLAINED) or []
    for e in weak_terms(explained):
        st.warning(e.warning)
    if explained:
        with st.expander("What the text query matched"):
            st.code("\n\n".join(format_explanation(e) for e in explained), language=None)


def _query_strip(ws: Workspace, request: SearchRequest) -> None:
    """The query as pictures (its images and catalog ids) and words, above the results."""
    pictures = query_pictures(ws, request)
    if not pictures:
        return
    cols = st.columns(8)
    for col, (label, path) in zip(cols, pictures):
        with col:
            thumbs.show(path, label)


def _results(ws: Workspace) -> None:
    found = st.session_state.get(RESULTS)
    if found is None:
        return
    request, hits = found
    _query_strip(ws, request)
    _explanation()
    if not hits:
        st.info("No results. Try other words, another space, or fewer corpora.")
        return
    actions.collection_target(ws)
    cards = [Card(h.id, h.path, caption(rank, h)) for rank, h in enumerate(hits, 1)]
    scores = {h.id: h.scores for h in hits}
    image_grid(cards, key=PAGER, below=lambda card, key: actions.hit_actions(
        card, key, added_by=f"query:{request.describe()}", scores=scores.get(card.id), query=request))


def _empty(ws: Workspace) -> bool:
    """An empty workspace: say what to do first (index a folder) instead of failing to search."""
    if list_corpora(ws):
        return False
    st.info("This workspace has no images yet. Index a folder of photos or artworks first; then search them here.")
    st.page_link("index_page.py", label="Go to the Index page", icon=":material/folder_open:")
    return True


def render() -> None:
    """The whole page."""
    st.title("Search")
    state.show_flashes()
    ws = workspace()
    if _empty(ws):
        return
    request = _controls(ws)
    clicked = st.button("Search", type="primary")
    forced = st.session_state.pop(state.RUN_SEARCH, False)
    changed = request != st.session_state.get(LAST_REQUEST) and not request.is_empty()
    if clicked or forced or changed:
        _run(ws, request)
        page = url_state.restored_page()
        if page:
            st.session_state[PAGER] = page
    _results(ws)
    viewer.show_if_open(ws)


if __name__ == "__main__":
    render()
