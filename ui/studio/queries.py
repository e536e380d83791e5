"""A search as the Search page's controls describe it, run as the library's `retrieval.request.SearchRequest`
(the request `stylelens search` and the HTTP API build too), and how a hit is captioned. (In an importable module: the page file is
re-executed on every run, and a request kept in the session must compare equal across runs.)"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from indexer.workspace import Workspace
from retrieval.query import QueryError, QueryTerm, parse_query
from retrieval.filters import SearchFilter
from retrieval.request import SearchRequest as Request
from retrieval.search import SearchHit


@dataclass(frozen=True)
class SearchRequest:
    """One search as the controls describe it; `image` / `style_image` are stored uploads."""

    mode: str
    text: str
    image: str | None
    style: str = ""
    style_image: str | None = None
    alpha: float = 0.5
    corpora: tuple[str, ...] = ()
    k: int = 48
    filters: SearchFilter = SearchFilter()  # path, dates, size, orientation, collection, tag (retrieval.filters)

    def is_empty(self) -> bool:
        return not self.text.strip() and self.image is None

    def describe(self) -> str:
        """The query as provenance (`added_by`), in the CLI's words."""
        content = " + ".join(filter(None, [self.text.strip(), self.image]))
        if self.mode != "joint":
            return content
        style = " + ".join(filter(None, [self.style.strip(), self.style_image]))
        return f"content={content}; style={style}; alpha={self.alpha:g}"

    def to_request(self) -> Request:
        """The library's request (retrieval.request), the one the CLI and the HTTP API build too."""
        flt = replace(self.filters, corpora=tuple(dict.fromkeys((*self.filters.corpora, *self.corpora))))
        content = query_terms(self.text, self.image)
        if self.mode != "joint":
            if not content:
                raise QueryError("nothing to search for: type a query or drop an image")
            return Request(tuple(content), space=self.mode, k=self.k, filters=flt)
        style = query_terms(self.style, self.style_image)
        if not content or not style:
            raise QueryError("a joint search needs a content query (text or image) and a style query "
                             "(text, an image, or “Use as style” on a result)")
        return Request(space="joint", content=tuple(content), style=tuple(style), alpha=self.alpha, k=self.k,
                       filters=flt)

    def run(self, ws: Workspace) -> list[SearchHit]:
        return self.to_request().run(ws)


def query_terms(text: str, image: str | None) -> list[QueryTerm]:
    """The terms of a query box (rclip-style expression) plus an uploaded image, as the CLI combines them."""
    terms = parse_query(text) if text.strip() else []
    return terms + ([QueryTerm("image", image)] if image else [])


def caption(rank: int, hit: SearchHit) -> str:
    """`#1 chelsea.png · 0.512 · id 3 · photos`, plus each space's score in a joint search."""
    text = f"#{rank} {Path(hit.path).name} · {hit.score:.3f} · id {hit.id} · {hit.corpus}"
    if hit.space == "joint":
        text += " · " + " / ".join(f"{space} {score:.3f}" for space, score in hit.scores.items())
    return text
