"""StyleLens Studio, the entry script of `stylelens ui`: page set-up and navigation only."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from ui.studio import sidebar, state, url_state
from ui.studio.context import workspace

HERE = Path(__file__).parent
# widget values that must survive a visit to another page (Streamlit forgets widgets not drawn in a run)
_KEEP = (state.Q_TEXT, state.Q_MODE, state.Q_STYLE, state.Q_ALPHA, state.TARGET_COLLECTION)

st.set_page_config(page_title="StyleLens Studio", page_icon=":material/palette:", layout="wide")
for _key in _KEEP:
    if _key in st.session_state:
        st.session_state[_key] = st.session_state[_key]

PAGES = {
    "search": st.Page(HERE / "search_page.py", title="Search", icon=":material/search:", default=True),
    "refine": st.Page(HERE / "refine_page.py", title="Refine", icon=":material/tune:"),
    "collections": st.Page(HERE / "collections_page.py", title="Collections", icon=":material/collections:"),
    "index": st.Page(HERE / "index_page.py", title="Index", icon=":material/folder_open:"),
    "history": st.Page(HERE / "history_page.py", title="History", icon=":material/history:"),
    "styo": st.Page(HERE / "styo_page.py", title="StyO", icon=":material/face_retouching_natural:"),
}
page = st.navigation(list(PAGES.values()))
target = state.pop_goto()
if target is not None and PAGES[target].url_path != page.url_path:
    st.switch_page(PAGES[target])
ws = workspace()
url_state.restore(ws)
sidebar.render(ws)
page.run()
url_state.publish()
