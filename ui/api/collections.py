"""Collections: list, show, create and add items with provenance (writes need --allow-writes)."""
from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Request

from retrieval.collections import add_images, collection_items, create_collection, list_collections

from .schemas import AddItemsIn, AddItemsOut, CollectionIn, CollectionOut, ItemOut
from .security import require_writes

router = APIRouter(prefix="/v1/collections", tags=["collections"])
NamePath = Path(min_length=1, max_length=200, description="collection name")


@router.get("", response_model=list[CollectionOut])
def list_all(request: Request) -> list[CollectionOut]:
    return [CollectionOut(**c) for c in list_collections(request.app.state.ws)]


@router.get("/{name}", response_model=list[ItemOut])
def show(request: Request, name: str = NamePath) -> list[ItemOut]:
    """The items, in the order they were added, with tags, note and provenance."""
    return [ItemOut(**{**i.to_dict(), "tags": list(i.tags)}) for i in collection_items(request.app.state.ws, name)]


@router.post("", response_model=CollectionOut, status_code=201, dependencies=[Depends(require_writes)])
def create(body: CollectionIn, request: Request) -> CollectionOut:
    ws = request.app.state.ws
    create_collection(ws, body.name, body.description)
    return next(CollectionOut(**c) for c in list_collections(ws) if c["name"] == body.name)


@router.post("/{name}/items", response_model=AddItemsOut, dependencies=[Depends(require_writes)])
def add_items(body: AddItemsIn, request: Request, name: str = NamePath) -> AddItemsOut:
    """Add catalog images; `added_by` is kept as their provenance (prefixed 'api:')."""
    result = add_images(request.app.state.ws, name, body.image_ids, added_by=f"api:{body.added_by}",
                        tags=tuple(body.tags), note=body.note)
    return AddItemsOut(added=result.added, already=result.already)
