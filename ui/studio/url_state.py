"""The page state in the URL (st.query_params): the search (query, space, style query, weight), the picked
styles, the content to stylize and the result page, so a reload or a shared link restores them.

`to_params` / `from_params` are plain functions of a `UrlState`; `restore` (once per session, before the
page draws) and `publish` (after it) connect them to Streamlit. Only catalog ids (`id:12`) and files in
the workspace's uploads folder travel as picks: a link never makes the app read an arbitrary file.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from indexer.workspace import Workspace
from retrieval.catalog_lookup import image_refs

from . import state

MODES = ("content", "style", "joint")
SEARCH_PAGER = "search_grid"  # the search page's pager key (its page number is in the URL as `page`)
_RESTORED = "_url_restored"


@dataclass(frozen=True)
class UrlState:
    """What the URL carries; defaults are left out of it."""

    text: str = ""
    mode: str = "content"
    style: str = ""
    alpha: float = 0.5
    picks: tuple[str, ...] = ()
    content: str | None = None
    page: int = 0  # 0-based here, 1-based in the URL


def to_params(s: UrlState) -> dict[str, str | list[str]]:
    """The query parameters of `s` (`q`, `mode`, `style`, `alpha`, `pick` repeated, `content`, `page`)."""
    params: dict[str, str | list[str]] = {}
    if s.text:
        params["q"] = s.text
    if s.mode != "content":
        params["mode"] = s.mode
    if s.mode == "joint" and s.style:
        params["style"] = s.style
    if s.mode == "joint" and s.alpha != 0.5:
        params["alpha"] = f"{s.alpha:g}"
    if s.picks:
        params["pick"] = list(s.picks)
    if s.content:
        params["content"] = s.content
    if s.page > 0:
        params["page"] = str(s.page + 1)
    return params


def _number(text: str | None, low: float, high: float) -> float | None:
    try:
        value = float(text) if text is not None else None
    except ValueError:
        return None
    return value if value is not None and low <= value <= high else None


def from_params(params: Mapping[str, Sequence[str]]) -> UrlState:
    """The state in query parameters (each name -> its values); anything malformed is left at its default."""
    def one(name: str) -> str | None:
        values = params.get(name) or []
        return values[-1] if values else None

    mode = one("mode") if one("mode") in MODES else "content"
    alpha = _number(one("alpha"), 0.0, 1.0)
    page = _number(one("page"), 1, 10_000)
    picks = tuple(dict.fromkeys(p for p in params.get("pick", []) if p))  # order kept, repeats dropped
    return UrlState(text=one("q") or "", mode=mode, style=one("style") or "", alpha=0.5 if alpha is None else alpha,
                    picks=picks, content=one("content") or None, page=int(page) - 1 if page is not None else 0)


def pick_for(ws: Workspace, ref: str) -> state.Pick | None:
    """A pick from its URL form: `id:N` of a catalog image, or a file in WORKSPACE/uploads; else None."""
    if ref.startswith("id:") and ref[3:].isdigit():
        found = image_refs(ws, [int(ref[3:])]).get(int(ref[3:]))
        return state.Pick(ref, found.path, f"{Path(found.path).name} (id {ref[3:]})") if found else None
    uploads = ws.uploads_dir.resolve()
    path = Path(ref).resolve()
    if path.parent == uploads and path.is_file():
        return state.Pick(str(path), str(path), path.name)
    return None


def current() -> UrlState:
    """The session's state as the URL should show it."""
    ss = st.session_state
    content = state.content()
    return UrlState(text=ss.get(state.Q_TEXT, "") or "", mode=ss.get(state.Q_MODE, "content"),
                    style=ss.get(state.Q_STYLE, "") or "", alpha=float(ss.get(state.Q_ALPHA, 0.5)),
                    picks=tuple(p.ref for p in state.styles()), content=content.ref if content else None,
                    page=int(ss.get(SEARCH_PAGER, 0)))


def restore(ws: Workspace) -> None:
    """Once per session: the URL's state into the session (and the search run again when it has a query)."""
    if st.session_state.get(_RESTORED):
        return
    st.session_state[_RESTORED] = True
    s = from_params({name: st.query_params.get_all(name) for name in st.query_params})
    ss = st.session_state
    if s.text:
        ss[state.Q_TEXT] = s.text
        ss[state.RUN_SEARCH] = True
        ss["_restore_page"] = s.page
    ss[state.Q_MODE] = s.mode
    if s.style:
        ss[state.Q_STYLE] = s.style
    ss[state.Q_ALPHA] = s.alpha
    for ref in s.picks:
        pick = pick_for(ws, ref)
        if pick is not None:
            state.add_style(pick)
    if s.content and (pick := pick_for(ws, s.content)) is not None:
        state.set_content(pick)


def restored_page() -> int | None:
    """The result page the URL asked for, once (the search page applies it after its restored search)."""
    return st.session_state.pop("_restore_page", None)


def publish() -> None:
    """Write the session's state into the URL (only when it changed: each write is a browser history step)."""
    wanted = to_params(current())
    present = {name: st.query_params.get_all(name) for name in st.query_params}
    if {k: v if isinstance(v, list) else [v] for k, v in wanted.items()} != present:
        st.query_params.from_dict(wanted)
