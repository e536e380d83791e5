"""What can be done to a result, wherever it is shown: more like this content / style, use as style, add
to a collection, stylize. Each is a widget callback that calls the library or records a pick in the
session, then leaves a message (and, where needed, a page to go to) for the next run."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from indexer.workspace import Workspace
from retrieval.collections import add_images, create_collection, list_collections
from retrieval.query import QueryError

from . import state
from .context import workspace
from .errors import reported
from .grid import Card
from .queries import SearchRequest


def pick_of(card: Card) -> state.Pick:
    """A catalog result as a pick that the library reads as `id:N`."""
    return state.Pick(ref=f"id:{card.id}", path=card.path, label=f"{Path(card.path).name} (id {card.id})")


@reported
def more_like(image_id: int, space: str, *, at: str | None = None) -> None:
    """Search the `space` for images like catalog image `image_id` (on the search page)."""
    st.session_state[state.Q_TEXT] = f"id:{image_id}"
    st.session_state[state.Q_MODE] = space
    st.session_state[state.Q_UPLOAD_NONCE] = st.session_state.get(state.Q_UPLOAD_NONCE, 0) + 1  # drop the upload
    st.session_state[state.RUN_SEARCH] = True
    st.session_state.pop(state.VIEWING, None)
    state.go_to("search")


@reported
def use_as_style(card: Card, *, at: str | None = None) -> None:
    """Pick the image as a style: for the joint search's style query and for Refine's path."""
    pick = pick_of(card)
    added = state.add_style(pick)
    st.session_state[state.Q_STYLE] = pick.ref
    n = len(state.styles())
    state.tell(at, "success" if added else "info",
               f"{pick.label} {'is now' if added else 'was already'} a picked style ({n} picked; Refine walks "
               "between them, a joint search uses it as its style)")


@reported
def add_to_collection(card: Card, added_by: str, *, at: str | None = None) -> None:
    """Add the image to the collection chosen above the results, with `added_by` as provenance."""
    name = st.session_state.get(state.TARGET_COLLECTION)
    if not name:
        raise QueryError("choose a collection to add to (or create one) above the results first")
    result = add_images(workspace(), name, [int(card.id)], added_by=added_by)
    if result.added:
        state.tell(at, "success", f"Added {Path(card.path).name} (id {card.id}) to {name}")
    else:
        state.tell(at, "info", f"{Path(card.path).name} (id {card.id}) is already in {name}")


@reported
def stylize(card: Card, *, at: str | None = None) -> None:
    """Make the image the content to stylize, and go to Refine where styles are picked and generation runs."""
    pick = pick_of(card)
    state.set_content(pick)
    st.session_state.pop(state.VIEWING, None)
    state.go_to("refine")
    state.flash("info", f"{pick.label} is the content to stylize: pick styles, then Generate")


def action_buttons(card: Card, key: str, *, added_by: str, at: str) -> None:
    """The five things to do with a catalog image, one button each (messages go to `at`)."""
    if card.id is None:
        return
    st.button("More like this content", key=f"{key}-mlc", on_click=more_like, args=(card.id, "content"),
              kwargs={"at": at}, width="stretch")
    st.button("More like this style", key=f"{key}-mls", on_click=more_like, args=(card.id, "style"),
              kwargs={"at": at}, width="stretch")
    st.button("Use as style", key=f"{key}-style", on_click=use_as_style, args=(card,), kwargs={"at": at},
              width="stretch")
    st.button("Add to collection", key=f"{key}-add", on_click=add_to_collection, args=(card, added_by),
              kwargs={"at": at}, width="stretch")
    st.button("Stylize", key=f"{key}-stylize", on_click=stylize, args=(card,), kwargs={"at": at}, width="stretch")


def _open_viewer(viewing: state.Viewing) -> None:
    st.session_state[state.VIEWING] = viewing


def hit_actions(card: Card, key: str, *, added_by: str, scores: dict[str, float] | None = None,
                query: SearchRequest | None = None) -> None:
    """Under a search or refine result: "View" (the full-size viewer) and an actions menu."""
    if card.id is None:
        return
    st.button("View", key=f"{key}-view", icon=":material/open_in_full:", width="stretch", help="full size, "
              "with where it is and both scores", on_click=_open_viewer,
              args=(state.Viewing(card, added_by, dict(scores or {}), query),))
    with st.popover("Actions", width="stretch"):
        action_buttons(card, key, added_by=added_by, at=key)


@reported
def _create(key: str) -> None:
    name = st.session_state.get(f"{key}-name", "").strip()
    create_collection(workspace(), name, st.session_state.get(f"{key}-description") or None)
    st.session_state[state.TARGET_COLLECTION] = name
    st.session_state[f"{key}-name"] = ""
    state.flash("success", f"Collection {name} created")


def create_collection_form(key: str) -> None:
    """Name + description + a Create button (the new collection becomes the target of "add")."""
    name_col, description_col, button_col = st.columns([2, 3, 1], vertical_alignment="bottom")
    name_col.text_input("New collection", key=f"{key}-name", placeholder="name")
    description_col.text_input("Description", key=f"{key}-description", placeholder="optional")
    button_col.button("Create", key=f"{key}-create", on_click=_create, args=(key,))


def collection_target(ws: Workspace) -> str | None:
    """Which collection "Add to collection" adds to (with a way to create one); None when there is none."""
    names = [c["name"] for c in list_collections(ws)]
    if st.session_state.get(state.TARGET_COLLECTION) not in names:
        st.session_state.pop(state.TARGET_COLLECTION, None)
    with st.expander("Collection for “Add to collection”: "
                     + (st.session_state.get(state.TARGET_COLLECTION) or (names[0] if names else "none yet")),
                     expanded=False):
        if names:
            st.selectbox("Add to", names, key=state.TARGET_COLLECTION)
        create_collection_form("target")
    return st.session_state.get(state.TARGET_COLLECTION)
