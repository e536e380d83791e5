"""One search request type for every interface (CLI, Studio, HTTP API): the query, the space, paging,
near-duplicate folding and the filters. Each interface builds a `SearchRequest` from its own inputs and
calls `run` (and `explain`); none of them calls `search` / `joint_search` with its own conventions."""
from __future__ import annotations

from dataclasses import dataclass, field

from indexer.workspace import Workspace

from .explain import TextExplanation, explain_joint, explain_query
from .filters import SearchFilter
from .query import QueryError, QueryTerm, parse_query
from .search import SearchHit, joint_search, search

SPACES = ("content", "style", "layout", "joint")


@dataclass(frozen=True)
class SearchRequest:
    """A search: `query` in one `space`, or `content` + `style` fused with `alpha` when space == "joint"."""

    query: tuple[QueryTerm, ...] = ()
    space: str = "content"
    content: tuple[QueryTerm, ...] = ()
    style: tuple[QueryTerm, ...] = ()
    alpha: float = 0.5
    k: int = 10
    offset: int = 0
    collapse: bool = True
    collapse_threshold: float | None = None
    filters: SearchFilter = field(default_factory=SearchFilter)

    def __post_init__(self) -> None:
        if self.space not in SPACES:
            raise QueryError(f"space must be one of {', '.join(SPACES)}, not {self.space!r}")
        for name in ("query", "content", "style"):
            value = getattr(self, name)
            object.__setattr__(self, name, tuple(parse_query(value) if isinstance(value, str) else value))
        if self.space == "joint":
            if not self.content or not self.style or self.query:
                raise QueryError("a joint search takes exactly a content query and a style query")
        elif self.content or self.style:
            raise QueryError("content and style queries are for the joint space; use `query` otherwise")
        elif not self.query:
            raise QueryError("nothing to search for: give a query, an image or a catalog id")

    def run(self, ws: Workspace) -> list[SearchHit]:
        """The page of hits (`retrieval.search`)."""
        page = {"k": self.k, "offset": self.offset, "collapse": self.collapse,
                "collapse_threshold": self.collapse_threshold, "filters": self.filters}
        if self.space == "joint":
            return joint_search(ws, list(self.content), list(self.style), alpha=self.alpha, **page)
        return search(ws, list(self.query), space=self.space, **page)

    def explain(self, ws: Workspace) -> list[TextExplanation]:
        """What the text terms resolved to (`retrieval.explain`)."""
        if self.space == "joint":
            return explain_joint(ws, list(self.content), list(self.style))
        return explain_query(ws, list(self.query), space=self.space)
