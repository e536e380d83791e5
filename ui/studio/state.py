"""What one person's session remembers across pages (all in st.session_state): picked styles, the content
to stylize, messages for the next run, and where to go next. Keys live here so pages never disagree."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import streamlit as st

# search widgets, set by the result actions ("more like this ...", "use as style")
Q_TEXT, Q_MODE, Q_STYLE, Q_ALPHA = "q_text", "q_mode", "q_style", "q_alpha"
Q_UPLOAD_NONCE = "q_upload_nonce"  # bumping it gives the search page a fresh, empty uploader
RUN_SEARCH = "run_search"
TARGET_COLLECTION = "target_collection"

VIEWING = "viewing"  # the card open in the full-size viewer: (grid key, card index)

_FLASH, _NOTES, _STYLES, _CONTENT, _GOTO = "flash", "card_notes", "styles", "content", "goto"
Level = Literal["success", "info", "warning", "error"]
PageName = Literal["search", "refine", "collections", "index", "history"]


@dataclass(frozen=True)
class Pick:
    """An image the person picked: `ref` is what the library reads (`id:12` or a file path), `path` the
    file shown as its thumbnail, `label` a short name."""

    ref: str
    path: str
    label: str


@dataclass(frozen=True)
class Viewing:
    """What the full-size viewer shows: a result card, its provenance for "add", the scores the search
    gave it, and the query (a `queries.SearchRequest`, to score the space the search did not)."""

    card: Any
    added_by: str
    scores: dict[str, float]
    query: Any = None


def flash(level: Level, text: str) -> None:
    """Queue a message for the top of the next page run (callbacks run before the page is drawn)."""
    st.session_state.setdefault(_FLASH, []).append((level, text))


def show_flashes() -> None:
    """Show and forget the queued messages."""
    for level, text in st.session_state.pop(_FLASH, []):
        show_message(level, text)


def note(at: str, level: Level, text: str) -> None:
    """Queue a message for the card (or other place) `at`: feedback shown where the person clicked."""
    st.session_state.setdefault(_NOTES, {}).setdefault(at, []).append((level, text))


def show_notes(at: str) -> None:
    """Show and forget the messages queued for `at`."""
    for level, text in st.session_state.get(_NOTES, {}).pop(at, []):
        show_message(level, text)


def tell(at: str | None, level: Level, text: str) -> None:
    """A message where the person clicked (`at`), or at the top of the next page run when `at` is None."""
    if at is None:
        flash(level, text)
    else:
        note(at, level, text)


def markdown_lines(text: str) -> str:
    """`text` with its line breaks kept by Markdown (a lone newline would join the lines)."""
    return "  \n".join(text.splitlines())


def escape_markdown(text: str) -> str:
    """`text` shown literally in Markdown (file names with `*`, `_` or `[`)."""
    return "".join(f"\\{c}" if c in "\\`*_[]<>|~#$" else c for c in text)


def show_message(level: Level, text: str) -> None:
    """st.success / info / warning / error with the message's line breaks kept."""
    getattr(st, level)(markdown_lines(text))


def styles() -> list[Pick]:
    """The styles picked so far, in order (the interpolation path visits them in this order)."""
    return list(st.session_state.get(_STYLES, []))


def add_style(pick: Pick) -> bool:
    """Append a style unless it is already picked; True when added."""
    current = styles()
    if any(p.ref == pick.ref for p in current):
        return False
    st.session_state[_STYLES] = [*current, pick]
    return True


def remove_style(ref: str) -> None:
    st.session_state[_STYLES] = [p for p in styles() if p.ref != ref]


def content() -> Pick | None:
    """The content image chosen for generation ("stylize" on a result, or an upload)."""
    return st.session_state.get(_CONTENT)


def set_content(pick: Pick | None) -> None:
    st.session_state[_CONTENT] = pick


def go_to(page: PageName) -> None:
    """Ask the app to switch to `page` on the next run (a callback cannot switch pages itself)."""
    st.session_state[_GOTO] = page


def pop_goto() -> PageName | None:
    return st.session_state.pop(_GOTO, None)
