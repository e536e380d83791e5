"""POST /v1/search (JSON; images as base64) and POST /v1/search/upload (multipart): one `SearchRequest`."""
from __future__ import annotations

import base64
import binascii

import numpy as np
from fastapi import APIRouter, File, Form, Request, UploadFile
from pydantic import ValidationError

from indexer.limits import MAX_K
from indexer.workspace import Workspace
from retrieval.filters import SearchFilter
from retrieval.query import QueryError, QueryTerm, parse_query
from retrieval.request import SearchRequest
from ui.studio.uploads import MAX_UPLOAD_BYTES, UploadError, save_upload

from .schemas import FiltersIn, HitOut, QueryIn, SearchIn, SearchOut

router = APIRouter(prefix="/v1", tags=["search"])


class UploadTooLarge(ValueError):
    """An uploaded image over the Studio's size limit (HTTP 413)."""


@router.post("/search", response_model=SearchOut)
def search_json(body: SearchIn, request: Request) -> SearchOut:
    """Search by text, catalog id, base64 image, raw vector or a weighted +/- expression, with filters."""
    with request.app.state.compute:
        return run_search(request.app.state.ws, body)


@router.post("/search/upload", response_model=SearchOut)
def search_upload(request: Request, image: UploadFile = File(description="the query image"),
                  params: str = Form("{}", max_length=100_000, description="a /v1/search body as JSON; "
                                     "the image joins its query (the content query of a joint search)")) -> SearchOut:
    """Search with an uploaded image file (multipart/form-data)."""
    try:
        body = SearchIn.model_validate_json(params)
    except ValidationError as exc:
        raise QueryError(f"params is not a valid search body: {exc.errors()[0]['msg']}") from None
    data = image.file.read(MAX_UPLOAD_BYTES + 1)
    part = QueryIn(image_base64=base64.b64encode(data).decode()) if data else None
    if part is None:
        raise QueryError("the uploaded image is empty")
    target = "content" if body.space == "joint" else "query"
    merged = _merge(getattr(body, target), part)
    with request.app.state.compute:
        return run_search(request.app.state.ws, body.model_copy(update={target: merged}))


def run_search(ws: Workspace, body: SearchIn) -> SearchOut:
    """Build the `SearchRequest`, run it, and page it."""
    req = SearchRequest(
        query=terms(ws, body.query), space=body.space, content=terms(ws, body.content), style=terms(ws, body.style),
        alpha=body.alpha, k=body.k, offset=body.offset, collapse=body.collapse, filters=to_filter(body.filters))
    hits = req.run(ws)
    items = [HitOut(id=h.id, path=h.path, score=h.score, scores=h.scores, corpus=h.corpus, duplicates=h.duplicates)
             for h in hits]
    full = len(items) == body.k and body.offset + 2 * body.k <= MAX_K
    return SearchOut(items=items, offset=body.offset, k=body.k, next_offset=body.offset + body.k if full else None,
                     explain=[e.to_dict() for e in req.explain(ws)])


def terms(ws: Workspace, q: QueryIn | None) -> tuple[QueryTerm, ...]:
    """The query's parts as terms; no part of a request is ever read as a file path."""
    if q is None:
        return ()
    out = parse_query(q.expression, files=False) if q.expression else []
    if q.text:
        out.append(QueryTerm("text", q.text))
    if q.image_id is not None:
        out.append(QueryTerm("id", q.image_id))
    if q.image_base64:
        out.append(QueryTerm("image", _stored_upload(ws, q.image_base64)))
    if q.vector:
        out.append(QueryTerm("vector", np.asarray(q.vector, dtype=np.float32)))
    if not out:
        raise QueryError("a query needs at least one of expression, text, image_id, image_base64, vector")
    return tuple(out)


def to_filter(f: FiltersIn) -> SearchFilter:
    """The wire filter is `SearchFilter` field for field."""
    return SearchFilter(**f.model_dump())


def _stored_upload(ws: Workspace, encoded: str) -> str:
    """Decode, validate (size and pixel limits of the Studio) and store an uploaded image; its stored path."""
    if ws.read_only:
        raise QueryError("image uploads need a writable workspace (they are kept in WORKSPACE/uploads)")
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise QueryError("image_base64 is not valid base64") from None
    if len(data) > MAX_UPLOAD_BYTES:
        raise UploadTooLarge(f"the image is {len(data) / 2**20:.1f} MiB; uploads are limited to "
                             f"{MAX_UPLOAD_BYTES / 2**20:g} MiB")
    try:
        return str(save_upload(ws, "upload", data).path)
    except UploadError as exc:
        raise QueryError(str(exc)) from None


def _merge(q: QueryIn | None, part: QueryIn) -> QueryIn:
    if q is None:
        return part
    if q.image_base64:
        raise QueryError("send one image: either the upload or image_base64")
    return q.model_copy(update={"image_base64": part.image_base64})
