"""A paged grid of image thumbnails with captions, and whatever actions a page puts under each image."""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import streamlit as st

from . import thumbs

PAGE_SIZE = 12
COLUMNS = 4


@dataclass(frozen=True)
class Card:
    """One image of a grid: its catalog id (None for a file outside the catalog), file and caption."""

    id: int | None
    path: str
    caption: str


def reset_pager(key: str) -> None:
    """Back to the first page (after a new search)."""
    st.session_state[key] = 0


def _set_page(key: str, page: int) -> None:
    st.session_state[key] = page


def pager(total: int, key: str, page_size: int = PAGE_SIZE) -> range:
    """Previous / next buttons when `total` items need more than one page; the indices of the page shown."""
    pages = max(1, math.ceil(total / page_size))
    page = min(max(0, int(st.session_state.get(key, 0))), pages - 1)
    if pages > 1:
        left, middle, right = st.columns([1, 3, 1])
        left.button("‹ Previous", key=f"{key}-prev", disabled=page == 0, on_click=_set_page, args=(key, page - 1))
        middle.caption(f"page {page + 1} of {pages} · {total} images")
        right.button("Next ›", key=f"{key}-next", disabled=page == pages - 1, on_click=_set_page,
                     args=(key, page + 1))
    return range(page * page_size, min(total, (page + 1) * page_size))


def image_grid(cards: Sequence[Card], *, key: str, below: Callable[[Card, str], None] | None = None,
               columns: int = COLUMNS, page_size: int = PAGE_SIZE) -> None:
    """Draw one page of `cards`; `below(card, widget_key)` draws the actions under each image."""
    shown = pager(len(cards), key, page_size)
    for row in range(shown.start, shown.stop, columns):
        for column, i in zip(st.columns(columns), range(row, min(row + columns, shown.stop))):
            card = cards[i]
            with column.container(border=True):
                thumbs.show(card.path, card.caption)
                if below is not None:
                    below(card, f"{key}-{card.id if card.id is not None else f'at{i}'}")
