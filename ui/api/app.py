"""The FastAPI app of `stylelens serve` for one workspace: routers, token guard, JSON errors, metrics.

Requests run in FastAPI's thread pool, concurrently; models and indexes stay loaded in this process
(`retrieval.index_cache` reloads an index when the catalog says a new snapshot or log entries appeared, so an
indexing run in another process is picked up without a restart, and a search in flight keeps the index
object it started with).
"""
from __future__ import annotations

import logging
import threading
import time
from contextlib import asynccontextmanager
from typing import AsyncIterator

import anyio.to_thread
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.exceptions import HTTPException

from indexer.index_sync import current_snapshot
from indexer.spaces import list_spaces, space_encoder
from indexer.workspace import Workspace, WorkspaceError
from retrieval.images import ImageNotFound
from retrieval.index_cache import get_index

from . import collections, images, search
from .metrics import Metrics
from .schemas import MAX_BASE64, ErrorOut
from .security import ServeSettings, require_token

log = logging.getLogger(__name__)
API_VERSION = "1.0.0"
ERRORS = {code: {"model": ErrorOut} for code in (400, 401, 403, 404, 409, 413, 422, 500)}
MAX_REQUEST_BYTES = MAX_BASE64 + 2**20  # a base64 image at the upload limit, plus the rest of the body


def create_app(ws: Workspace, settings: ServeSettings | None = None, *, warm: bool = True) -> FastAPI:
    """The API over `ws`; `warm` loads every space's encoder and index before the first request."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = app.state.settings.threads
        if warm:
            warm_up(ws)
        yield

    app = FastAPI(title="StyleLens API", version=API_VERSION, lifespan=lifespan, responses=ERRORS,
                  dependencies=[Depends(require_token)],
                  description="Visual search in separate content and style spaces. Errors are "
                  "`{\"error\": message}`; with a server token, send `Authorization: Bearer TOKEN`.")
    app.state.ws, app.state.settings, app.state.metrics = ws, settings or ServeSettings(), Metrics()
    # more searches computing than cores only thrash (each uses BLAS / faiss / onnxruntime threads): the rest queue
    app.state.compute = threading.BoundedSemaphore(app.state.settings.compute_slots)
    for router in (search.router, images.router, collections.router):
        app.include_router(router)
    _add_service_routes(app)
    _add_error_handlers(app)
    app.middleware("http")(_observe)
    return app


def warm_up(ws: Workspace) -> None:
    """Load each space's encoder and index now, so the first request does not pay for it."""
    for sp in list_spaces(ws):
        space_encoder(sp)
        if current_snapshot(ws, sp) is not None:
            get_index(ws, sp)


def _add_service_routes(app: FastAPI) -> None:
    @app.get("/healthz", tags=["service"], response_model=dict[str, str])
    def healthz() -> dict[str, str]:
        """Liveness: the process answers and its catalog can be read."""
        list_spaces(app.state.ws)
        return {"status": "ok"}

    @app.get("/metrics", tags=["service"], response_class=PlainTextResponse,
             responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}})
    def metrics() -> PlainTextResponse:
        """Request counts and latencies, index sizes (Prometheus text format 0.0.4)."""
        ws = app.state.ws
        sizes = {f'space="{sp.name}"': (snap.ntotal if (snap := current_snapshot(ws, sp)) else 0)
                 for sp in list_spaces(ws)}
        return PlainTextResponse(app.state.metrics.render({"stylelens_index_vectors": sizes}),
                                 media_type="text/plain; version=0.0.4")


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, exc: HTTPException) -> JSONResponse:
        return _error(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        return _error(422, f"{where}: {first.get('msg', 'invalid request')}" if where else first.get("msg", "invalid"))

    @app.exception_handler(ImageNotFound)
    async def not_found(_request: Request, exc: ImageNotFound) -> JSONResponse:
        return _error(404, str(exc))

    @app.exception_handler(search.UploadTooLarge)
    async def too_large(_request: Request, exc: search.UploadTooLarge) -> JSONResponse:
        return _error(413, str(exc))

    @app.exception_handler(ValueError)  # QueryError, LimitError: the library's "bad input"
    async def bad_input(_request: Request, exc: ValueError) -> JSONResponse:
        return _error(400, str(exc))

    @app.exception_handler(WorkspaceError)
    async def conflict(_request: Request, exc: WorkspaceError) -> JSONResponse:
        return _error(409, str(exc))


async def _observe(request: Request, call_next):  # noqa: ANN001, ANN202 - Starlette middleware
    """Count and time every request; an unexpected failure becomes a JSON 500 (logged, never sent)."""
    metrics: Metrics = request.app.state.metrics
    metrics.started()
    start = time.perf_counter()
    try:
        if int(request.headers.get("content-length") or 0) > MAX_REQUEST_BYTES:  # refused before it is read
            response = _error(413, f"the request body is over {MAX_REQUEST_BYTES // 2**20} MiB")
        else:
            response = await call_next(request)
    except ValueError:  # a malformed Content-Length
        response = _error(400, "bad Content-Length header")
    except Exception:  # noqa: BLE001 - the traceback goes to the log, the client gets one sentence
        log.exception("request %s %s failed", request.method, request.url.path)
        response = _error(500, "internal error; the server log has the details")
    route = getattr(request.scope.get("route"), "path", "unmatched")
    metrics.observe(request.method, route, response.status_code, time.perf_counter() - start)
    return response
