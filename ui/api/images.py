"""GET /v1/images/{id} (metadata), /thumbnail and /file (only files inside a corpus root), GET /v1/status."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import FileResponse, Response

from indexer.limits import MAX_ID
from indexer.status import workspace_status
from retrieval.images import ImageInfo, image_info, servable_file, thumbnail_jpeg

router = APIRouter(prefix="/v1", tags=["images"])
ImageIdPath = Path(ge=1, le=MAX_ID, description="catalog image id")
JPEG = {200: {"content": {"image/jpeg": {}}, "description": "the image"}}


@router.get("/images/{image_id}", response_model=ImageInfo)
def get_image(request: Request, image_id: int = ImageIdPath) -> ImageInfo:
    """An image's catalog record, with the collections and tags it has."""
    return image_info(request.app.state.ws, image_id)


@router.get("/images/{image_id}/thumbnail", response_class=Response, responses=JPEG)
def get_thumbnail(request: Request, image_id: int = ImageIdPath) -> Response:
    """A JPEG of at most 256 pixels on its longer side."""
    return Response(thumbnail_jpeg(request.app.state.ws, image_id), media_type="image/jpeg",
                    headers={"Cache-Control": "private, max-age=300"})


@router.get("/images/{image_id}/file", response_class=FileResponse,
            responses={200: {"content": {"image/*": {}}, "description": "the original file"}})
def get_file(request: Request, image_id: int = ImageIdPath) -> FileResponse:
    """The original file, when it lies inside a root of its corpus (the path comes from the catalog)."""
    return FileResponse(servable_file(request.app.state.ws, image_id))


@router.get("/status", response_model=dict[str, Any])
def get_status(request: Request) -> dict[str, Any]:
    """Corpora with image counts, spaces with their encoders and indexes (as `stylelens status --json`)."""
    return workspace_status(request.app.state.ws)
