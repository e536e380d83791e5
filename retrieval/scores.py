"""Both scores of one image: its cosine to the query in the content space and in the style space, for a
viewer that shows a single result in full (a one-space search only scores the space it searched)."""
from __future__ import annotations

from indexer.spaces import get_space
from indexer.workspace import Workspace

from .catalog_lookup import stored_vectors
from .embed import query_vector
from .query import QueryTerm

SPACES = ("content", "style")


def image_scores(ws: Workspace, image_id: int, content: list[QueryTerm], style: list[QueryTerm] | None = None, *,
                 corpora: list[str] | None = None) -> dict[str, float]:
    """{"content": cos, "style": cos} of catalog image `image_id` to the query: `content` in the content
    space, `style` (default: the same terms) in the style space."""
    scores = {}
    for name, terms in zip(SPACES, (content, style or content)):
        space = get_space(ws, name)
        vector = stored_vectors(ws, space, [image_id])[image_id]
        scores[name] = float(vector @ query_vector(ws, space, terms, corpora=corpora))
    return scores
