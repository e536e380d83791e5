"""Refine page: pick two or more styles (from results or uploads), walk the style space between them with
a slider whose every position is a search at the slerp-interpolated style vector
(`retrieval.refine.refine_strip`), and generate the same path as images (the generate panel)."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from generation.outputs import step_label
from indexer.corpora import list_corpora
from indexer.workspace import Workspace
from retrieval.catalog_lookup import image_refs
from retrieval.query import QueryError
from retrieval.refine import refine_strip
from ui.studio import actions, generate_panel, state, uploads, viewer
from ui.studio.context import workspace
from ui.studio.errors import reported, shown_errors
from ui.studio.grid import Card, image_grid
from ui.studio.queries import caption

STRIP, GRID = "refine_strip", "refine_grid"
MAX_STEPS = 15


def _letter(i: int) -> str:
    """Style names as `step_label` writes them in the slider and the strip: A, B, C..."""
    return chr(ord("A") + i) if i < 26 else f"S{i + 1}"


@reported
def _add_catalog_style(key: str) -> None:
    image_id = int(st.session_state[key])
    ref = image_refs(workspace(), [image_id]).get(image_id)
    if ref is None:
        raise QueryError(f"no image with id {image_id} in the catalog")
    state.add_style(state.Pick(f"id:{image_id}", ref.path, f"{Path(ref.path).name} (id {image_id})"))


def _styles() -> list[state.Pick]:
    """The picked styles as one compact row (with remove), and ways to add more (folded once two are picked)."""
    picks = state.styles()
    if picks:
        refs = {Card(None, p.path, f"{_letter(i)} · {p.label}"): p.ref for i, p in enumerate(picks)}
        image_grid(list(refs), key="refine_styles", columns=8, page_size=24, noun="styles",
                   below=lambda card, key: st.button("Remove", key=f"{key}-rm", on_click=state.remove_style,
                                                     args=(refs[card],), type="tertiary"))
    with st.expander("Add styles" + (f" ({len(picks)} picked)" if picks else ""), expanded=len(picks) < 2):
        if not picks:
            st.caption("“Use as style” on search results, or add them here.")
        upload_col, id_col = st.columns(2)
        with upload_col:
            dropped = uploads.image_upload("Drop a style image", key="refine_style_upload")
            if dropped is not None and st.button("Add the dropped image as a style", key="refine_add_upload"):
                state.add_style(state.Pick(str(dropped.path), str(dropped.path), dropped.name))
                st.rerun()
        with id_col:
            st.number_input("Catalog id", min_value=1, step=1, key="refine_add_id")
            st.button("Add this catalog image as a style", key="refine_add_id_go", on_click=_add_catalog_style,
                      args=("refine_add_id",))
    return state.styles()


def _path_controls(ws: Workspace) -> tuple[int, int, tuple[str, ...]]:
    """Positions on the path, results per position and corpora, in one row."""
    steps_col, k_col, corpus_col = st.columns([1, 1, 3])
    steps = int(steps_col.number_input("Positions on the path", min_value=2, max_value=MAX_STEPS, value=5,
                                       key="refine_steps", help="endpoints included"))
    k = int(k_col.number_input("Results per position", min_value=1, max_value=200, value=12, key="refine_k"))
    corpora = corpus_col.multiselect("Corpora", [c.name for c in list_corpora(ws)], key="refine_corpora",
                                     placeholder="all corpora")
    return steps, k, tuple(corpora)


def _walk(ws: Workspace, picks: list[state.Pick], steps: int, k: int, corpora: tuple[str, ...]) -> None:
    """Search the style space at each point of the path; the slider picks which point's results to show."""
    wanted = (tuple(p.ref for p in picks), steps, k, corpora)
    if st.session_state.get(STRIP, (None,))[0] != wanted:
        st.session_state.pop(STRIP, None)
        with shown_errors("Refine failed"), st.spinner("Searching along the path..."):
            st.session_state[STRIP] = (wanted, refine_strip(ws, list(wanted[0]), steps, k=k,
                                                            corpora=list(corpora) or None))
    if STRIP not in st.session_state:
        return
    strip = st.session_state[STRIP][1]
    position = st.select_slider("Position on the path", options=list(range(len(strip))), key=f"refine_pos_{steps}",
                                format_func=lambda i: step_label(strip[i].weights))
    step = strip[position]
    path_name = " -> ".join(wanted[0])
    cards = [Card(h.id, h.path, caption(rank, h)) for rank, h in enumerate(step.hits, 1)]
    scores = {h.id: {"style": h.score} for h in step.hits}
    actions.collection_target(ws)
    image_grid(cards, key=f"{GRID}-{position}", below=lambda card, key: actions.hit_actions(
        card, key, added_by=f"refine:{path_name}@{step_label(step.weights)}", scores=scores.get(card.id)))


def render() -> None:
    """The whole page: picked styles and the slider first, then the results at that position; generation in
    its own tab, so the slider stays near the top. Without any corpus there is nothing to walk, but styles
    and content can still be dropped here and generated from."""
    st.title("Refine")
    state.show_flashes()
    ws = workspace()
    indexed = bool(list_corpora(ws))
    if not indexed:
        st.info("This workspace has no images yet: index a folder to walk the style space between picked styles. "
                "Generating from dropped images works without one.")
        st.page_link("index_page.py", label="Go to the Index page", icon=":material/folder_open:")
    picks = _styles()
    steps, k, corpora = _path_controls(ws)
    walk_tab, generate_tab = st.tabs(["Walk the style space", "Generate"])
    with walk_tab:
        if len(picks) >= 2 and indexed:
            _walk(ws, picks, steps, k, corpora)
        elif indexed:
            st.info("Pick two or more styles to walk between them.")
    with generate_tab:
        generate_panel.render(ws, picks, steps)
    viewer.show_if_open(ws)


if __name__ == "__main__":
    render()
