"""The sidebar every page shares: which workspace this is, and what the session has picked."""
from __future__ import annotations

import streamlit as st

from indexer.workspace import Workspace

from . import state


def render(ws: Workspace) -> None:
    with st.sidebar:
        st.caption(f"Workspace: {ws.home}")
        picked = state.styles()
        content = state.content()
        st.caption(f"Styles picked: {len(picked)}" + (f" ({', '.join(p.label for p in picked)})" if picked else ""))
        st.caption(f"Content to stylize: {content.label if content else 'none'}")
