"""The Search page's filters: the same `SearchFilter` (retrieval.filters) the CLI flags and the HTTP API build,
from a folded panel of inputs. Text and dates are read with the CLI's own parsers, so a value means the same
thing in every interface."""
from __future__ import annotations

import streamlit as st

from indexer.workspace import Workspace
from retrieval.collections import list_collections
from retrieval.filters import ORIENTATIONS, SearchFilter, parse_date

ANY = "any"


def filter_inputs(ws: Workspace) -> SearchFilter:
    """Draw the filter inputs (folded) and return what they describe; an invalid value is said in the panel
    and the search runs without that filter, never with a guess."""
    with st.expander("Filters", expanded=bool(st.session_state.get("f_open"))):
        path_col, after_col, before_col = st.columns([3, 1, 1])
        glob = path_col.text_input("Path matches", key="f_path", placeholder="*/holidays/*.jpg",
                                   help="a glob on the full path; '*' also crosses folders")
        after = after_col.text_input("Taken from", key="f_after", placeholder="2024-05-01",
                                     help="EXIF date, else the file's time; a date or date and time")
        before = before_col.text_input("Taken before", key="f_before", placeholder="2024-06-01",
                                       help="a bare date includes that whole day")
        coll_col, tag_col, w_col, h_col, o_col = st.columns([2, 2, 1, 1, 1])
        collections = coll_col.multiselect("In collections", [c["name"] for c in list_collections(ws)],
                                           key="f_collections", placeholder="any")
        tags = tag_col.text_input("With tags", key="f_tags", placeholder="sky, night",
                                  help="tags of collection items, comma-separated (any of them)")
        min_w = w_col.number_input("Min width", min_value=0, value=0, step=64, key="f_min_w", help="pixels; 0: any")
        min_h = h_col.number_input("Min height", min_value=0, value=0, step=64, key="f_min_h", help="pixels; 0: any")
        orientation = o_col.selectbox("Orientation", (ANY, *ORIENTATIONS), key="f_orientation")
        try:
            return SearchFilter(
                collections=tuple(collections), tags=tuple(t.strip() for t in tags.split(",") if t.strip()),
                path_glob=glob.strip() or None,
                after=parse_date(after) if after.strip() else None,
                before=parse_date(before, end=True) if before.strip() else None,
                min_width=int(min_w) or None, min_height=int(min_h) or None,
                orientation=None if orientation == ANY else orientation)
        except ValueError as exc:  # QueryError / LimitError: the message says what to write
            st.warning(f"Filters not applied: {exc}")
            return SearchFilter()
