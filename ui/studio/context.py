"""The workspace the app works on: one per server process, opened once and shared by every session.

`stylelens ui` passes the workspace to the Streamlit process through the same variables the CLI reads
($STYLELENS_HOME, $STYLELENS_DB_URL), so the app and the CLI always agree on where the catalog is.
"""
from __future__ import annotations

import os

import streamlit as st

from indexer.workspace import DB_URL_ENV, Workspace, resolve_home


@st.cache_resource(show_spinner="Opening the workspace...")
def _open(home: str, db_url: str) -> Workspace:
    return Workspace.open(home, db_url or None)


def workspace() -> Workspace:
    """The workspace named by the environment; shows the error and stops the page when it cannot open."""
    try:
        return _open(str(resolve_home()), os.environ.get(DB_URL_ENV, ""))
    except Exception as exc:  # noqa: BLE001 - any failure to open is shown to the person, not as a traceback
        st.error(f"Cannot open the workspace: {exc}")
        st.stop()
