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
from ui.studio import actions, generate_panel, state, uploads
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
    """The picked styles as a grid (with remove), and ways to add more."""
    st.subheader("Styles")
    picks = state.styles()
    if picks:
        refs = {Card(None, p.path, f"{_letter(i)} · {p.label}"): p.ref for i, p in enumerate(picks)}
        image_grid(list(refs), key="refine_styles", columns=6, page_size=24,
                   below=lambda card, key: st.button("Remove", key=f"{key}-rm", on_click=state.remove_style,
                                                     args=(refs[card],)))
    else:
        st.info("No styles picked yet: “Use as style” on search results, or add them here.")
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


def _walk(ws: Workspace, picks: list[state.Pick], steps: int) -> None:
    """Search the style space at each point of the path; the slider picks which point's results to show."""
    st.subheader("Walk the style space")
    corpus_col, k_col = st.columns([3, 1])
    corpora = corpus_col.multiselect("Corpora", [c.name for c in list_corpora(ws)], key="refine_corpora",
                                     placeholder="all corpora")
    k = int(k_col.number_input("Results per position", min_value=1, max_value=200, value=12, key="refine_k"))
    wanted = (tuple(p.ref for p in picks), steps, k, tuple(corpora))
    if st.session_state.get(STRIP, (None,))[0] != wanted:
        st.session_state.pop(STRIP, None)
        with shown_errors("Refine failed"), st.spinner("Searching along the path..."):
            st.session_state[STRIP] = (wanted, refine_strip(ws, list(wanted[0]), steps, k=k, corpora=corpora or None))
    if STRIP not in st.session_state:
        return
    strip = st.session_state[STRIP][1]
    position = st.select_slider("Position on the path", options=list(range(len(strip))), key=f"refine_pos_{steps}",
                                format_func=lambda i: step_label(strip[i].weights))
    step = strip[position]
    path_name = " -> ".join(wanted[0])
    cards = [Card(h.id, h.path, caption(rank, h)) for rank, h in enumerate(step.hits, 1)]
    actions.collection_target(ws)
    image_grid(cards, key=f"{GRID}-{position}", below=lambda card, key: actions.hit_actions(
        card, key, added_by=f"refine:{path_name}@{step_label(step.weights)}"))


def render() -> None:
    """The whole page."""
    st.title("Refine")
    state.show_flashes()
    ws = workspace()
    picks = _styles()
    steps = int(st.number_input("Positions on the path (endpoints included)", min_value=2, max_value=MAX_STEPS,
                                value=5, key="refine_steps"))
    if len(picks) >= 2:
        _walk(ws, picks, steps)
    else:
        st.info("Pick two or more styles to walk between them.")
    st.divider()
    generate_panel.render(ws, picks, steps)


if __name__ == "__main__":
    render()
