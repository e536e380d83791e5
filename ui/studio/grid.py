"""A paged grid of image thumbnails with captions: a pager above and below, whatever a page puts under each
image, and the messages left for a card (`state.note`) shown in that card, where the person clicked."""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import streamlit as st

from . import state, thumbs

PAGE_SIZE = 24
COLUMNS = 6  # six ~170 px cards a row in a 1400 px window with the sidebar open


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


def page_count(total: int, page_size: int = PAGE_SIZE) -> int:
    return max(1, math.ceil(total / page_size))


def current_page(key: str, total: int, page_size: int = PAGE_SIZE) -> int:
    """The page shown (0-based), clamped to the pages there are."""
    return min(max(0, int(st.session_state.get(key, 0))), page_count(total, page_size) - 1)


def pager(total: int, key: str, page_size: int = PAGE_SIZE, noun: str = "images", where: str = "") -> range:
    """Previous / next buttons when `total` items need more than one page; the indices of the page shown.
    `noun` names what is counted ("15 triplets"); `where` tells apart a second pager of the same grid."""
    pages = page_count(total, page_size)
    page = current_page(key, total, page_size)
    if pages > 1:
        left, middle, right = st.columns([1, 3, 1], vertical_alignment="center")
        left.button("‹ Previous", key=f"{key}-prev{where}", disabled=page == 0, on_click=_set_page,
                    args=(key, page - 1))
        middle.caption(f"page {page + 1} of {pages} · {total} {noun}")
        right.button("Next ›", key=f"{key}-next{where}", disabled=page == pages - 1, on_click=_set_page,
                     args=(key, page + 1))
    return range(page * page_size, min(total, (page + 1) * page_size))


def card_key(key: str, card: Card, index: int) -> str:
    """The widget key prefix of one card: `<grid>-<id>` (or `<grid>-at<index>` outside the catalog)."""
    return f"{key}-{card.id if card.id is not None else f'at{index}'}"


def image_grid(cards: Sequence[Card], *, key: str, below: Callable[[Card, str], None] | None = None,
               columns: int = COLUMNS, page_size: int | None = None, noun: str = "images") -> None:
    """Draw one page of `cards` (PAGE_SIZE by default), a pager above and below; `below(card, widget_key)`
    draws under each image."""
    page_size = page_size or PAGE_SIZE
    shown = pager(len(cards), key, page_size, noun)
    for row in range(shown.start, shown.stop, columns):
        for column, i in zip(st.columns(columns), range(row, min(row + columns, shown.stop))):
            card, at = cards[i], card_key(key, cards[i], i)
            with column.container(border=True):
                thumbs.show(card.path, card.caption)
                if below is not None:
                    below(card, at)
                state.show_notes(at)
    if len(shown) > columns:  # a second pager only when the page is taller than one row
        pager(len(cards), key, page_size, noun, where="-bottom")
