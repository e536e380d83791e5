"""Turn query terms into one vector per space."""
from __future__ import annotations

import numpy as np

from indexer.encoders.base import TextNotSupported, l2_normalize
from indexer.limits import check_query_terms
from indexer.pipeline.prepare import PrepareTask, prepare
from indexer.spaces import SpaceInfo, get_space, list_spaces, space_encoder
from indexer.workspace import Workspace

from .catalog_lookup import allowed_ids, stored_vectors
from .index_cache import get_index
from .query import QueryError, QueryTerm

STYLE_ROLES = ("style", "both")


def query_vector(ws: Workspace, space: SpaceInfo, terms: list[QueryTerm], *, corpora: list[str] | None = None,
                 exemplars: int = 8) -> np.ndarray:
    """The normalised weighted sum of the terms' vectors in `space`."""
    if not terms:
        raise QueryError("empty query")
    check_query_terms(len(terms))
    total = np.zeros(space.dim, dtype=np.float32)
    for term in terms:
        total += term.weight * term_vector(ws, space, term, corpora=corpora, exemplars=exemplars)
    if np.linalg.norm(total) < 1e-6:
        raise QueryError("the query's terms cancel out (their weighted sum is zero)")
    return l2_normalize(total)


def term_vector(ws: Workspace, space: SpaceInfo, term: QueryTerm, *, corpora: list[str] | None = None,
                exemplars: int = 8) -> np.ndarray:
    """One term's unit vector in `space`."""
    if term.kind == "vector":
        vec = np.asarray(term.value, dtype=np.float32).ravel()
        if vec.shape != (space.dim,):
            raise QueryError(f"a raw vector for space {space.name!r} needs {space.dim} values, got {vec.size}")
        if not np.isfinite(vec).all():
            raise QueryError("a raw vector must hold finite numbers only")
        return l2_normalize(vec)
    if term.kind == "id":
        return stored_vectors(ws, space, [int(term.value)])[int(term.value)]
    encoder = space_encoder(space)
    if term.kind == "image":
        # exactly the indexing path (same decode size for the same set of spaces), so an indexed file
        # used as a query finds itself with cosine 1
        recipes = tuple((sp.name, space_encoder(sp).preprocess) for sp in list_spaces(ws))
        prepared = prepare(PrepareTask(str(term.value), recipes))
        if not prepared.ok:
            raise QueryError(f"cannot use {term.value} as a query image: {prepared.error}")
        return encoder.embed_images(encoder.preprocess.finish(prepared.pixels[space.name][None]))[0]
    try:
        return encoder.embed_texts([str(term.value)])[0]
    except TextNotSupported:
        return style_from_text(ws, str(term.value), corpora=corpora, k=exemplars, space=space)[0]


def style_from_text(ws: Workspace, text: str, *, corpora: list[str] | None = None, k: int = 8,
                    space: SpaceInfo | None = None) -> tuple[np.ndarray, list[int]]:
    """A style described in words, through exemplars: text -> content search over the style corpora ->
    the score-weighted mean of the top hits' style vectors. Returns the vector and the exemplar ids."""
    style = space or get_space(ws, "style")
    content = get_space(ws, "content")
    try:
        text_vec = space_encoder(content).embed_texts([text])
    except TextNotSupported:
        raise QueryError(f"neither the {style.name} nor the content encoder can read text") from None
    allow = allowed_ids(ws, corpora) if corpora else allowed_ids(ws, roles=STYLE_ROLES)
    if allow is not None and len(allow) == 0 and not corpora:
        allow = None  # no corpus is marked as style: use every image as an exemplar
    scores, ids = get_index(ws, content).search(text_vec, k, allow=allow)
    keep = ids[0] >= 0
    ids_list = [int(i) for i in ids[0][keep]]
    if not ids_list:
        raise QueryError(f"no exemplar images found for the style {text!r}: index a style corpus first")
    vectors = stored_vectors(ws, style, ids_list)
    weights = np.exp((scores[0][keep] - scores[0][keep].max()) / 0.05)
    mixed = sum(w * vectors[i] for w, i in zip(weights, ids_list))
    return l2_normalize(mixed), ids_list
