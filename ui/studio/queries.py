"""A search as the Search page's controls describe it, run as the library's `retrieval.request.SearchRequest`
(the request `stylelens search` and the HTTP API build too), and how a hit is captioned. (In an importable module: the page file is
re-executed on every run, and a request kept in the session must compare equal across runs.)"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from indexer.workspace import Workspace
from retrieval.explain import TextExplanation
from retrieval.filters import SearchFilter
from retrieval.query import QueryError, QueryTerm, parse_query
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
    collapse: bool = True  # fold near-duplicates onto the best hit (each hit lists them)
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
            return Request(tuple(content), space=self.mode, k=self.k, collapse=self.collapse, filters=flt)
        style = query_terms(self.style, self.style_image)
        if not content or not style:
            raise QueryError("a joint search needs a content query (text or image) and a style query "
                             "(text, an image, or “Use as style” on a result)")
        return Request(space="joint", content=tuple(content), style=tuple(style), alpha=self.alpha, k=self.k,
                       collapse=self.collapse, filters=flt)

    def run(self, ws: Workspace) -> list[SearchHit]:
        return self.to_request().run(ws)

    def explain(self, ws: Workspace) -> list[TextExplanation]:
        """What each text term resolved to (`stylelens search --explain`); nothing for pictures only."""
        return self.to_request().explain(ws)


def query_terms(text: str, image: str | None) -> list[QueryTerm]:
    """The terms of a query box (rclip-style expression) plus an uploaded image, as the CLI combines them."""
    terms = parse_query(text) if text.strip() else []
    return terms + ([QueryTerm("image", image)] if image else [])


def query_pictures(ws: Workspace, request: SearchRequest) -> list[tuple[str, str]]:
    """(label, file) of each picture in the query: uploads, image paths and catalog ids (`id:12`), the
    content query's first, then (joint) the style query's. Terms that do not parse are left out."""
    from retrieval.catalog_lookup import image_refs

    found: list[tuple[str, str]] = []
    parts = [("query", request.text, request.image)]
    if request.mode == "joint":
        parts.append(("style", request.style, request.style_image))
    for role, text, image in parts:
        try:
            terms = query_terms(text, image)
        except QueryError:
            continue
        ids = [int(t.value) for t in terms if t.kind == "id"]
        refs = image_refs(ws, ids) if ids else {}
        for t in terms:
            sign = "" if t.weight == 1 else f" ({t.weight:+g})"
            if t.kind == "id" and int(t.value) in refs:
                found.append((f"{role}: id {t.value}{sign}", refs[int(t.value)].path))
            elif t.kind == "image":
                found.append((f"{role}: {Path(str(t.value)).name}{sign}", str(t.value)))
    return found


def caption(rank: int, hit: SearchHit) -> str:
    """`#1 chelsea.png · 0.512 · id 3 · photos`, plus each space's score in a joint search and how many
    near-duplicates were folded onto the hit."""
    text = f"#{rank} {Path(hit.path).name} · {hit.score:.3f} · id {hit.id} · {hit.corpus}"
    if hit.space == "joint":
        text += " · " + " / ".join(f"{space} {score:.3f}" for space, score in hit.scores.items())
    if hit.duplicates:
        text += f" · +{len(hit.duplicates)} near-duplicate{'s' if len(hit.duplicates) > 1 else ''}"
    return text
