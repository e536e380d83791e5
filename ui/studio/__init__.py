"""StyleLens Studio: the Streamlit app where people search, refine and curate (`stylelens ui`).

The app is a thin layer, like the CLI: every page calls `indexer`, `retrieval` and `generation` and
shows what they return; nothing here decides anything the library does not. `APP_FILE` is the entry
script handed to `streamlit run`; each page is one module (`*_page.py`, run by Streamlit as a page
file), next to small shared helpers (workspace, session state, thumbnails, uploads, result grid).
"""
from __future__ import annotations

from pathlib import Path

APP_FILE = Path(__file__).with_name("app.py")
UPLOAD_LIMIT_MB = 20  # the largest upload accepted, by the server (`stylelens ui`) and by the app itself

__all__ = ["APP_FILE", "UPLOAD_LIMIT_MB"]
