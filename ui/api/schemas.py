"""The API's wire format: request and response bodies (pydantic), hence its OpenAPI document."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from indexer.limits import MAX_ID, MAX_K
from retrieval.filters import MAX_FILTER_VALUES, MAX_SIDE

Name = Field(min_length=1, max_length=200)
ImageId = Annotated[int, Field(ge=1, le=MAX_ID)]
Tag = Annotated[str, Field(min_length=1, max_length=200)]
MAX_VECTOR = 4096
MAX_BASE64 = 28_000_000  # ~20 MiB of image bytes (the upload limit) in base64


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class QueryIn(Strict):
    """One query; its parts are summed, like the CLI's terms. At least one part is needed."""

    expression: str | None = Field(None, min_length=1, max_length=4000, description=(
        "the CLI's weighted +/- expression of text and catalog ids, e.g. '2:cat + id:5 - dog'; "
        "file paths are refused (send `image_base64`)"))
    text: str | None = Field(None, min_length=1, max_length=1000)
    image_id: int | None = Field(None, ge=1, le=MAX_ID, description="a catalog image")
    image_base64: str | None = Field(None, min_length=1, max_length=MAX_BASE64, description="an image file, base64")
    vector: list[float] | None = Field(None, min_length=1, max_length=MAX_VECTOR,
                                       description="a raw vector of the space's dimension")


class FiltersIn(Strict):
    """Which images may be returned; every field given must hold (`retrieval.filters.SearchFilter`)."""

    corpora: list[Tag] = Field(default_factory=list, max_length=MAX_FILTER_VALUES)
    collections: list[Tag] = Field(default_factory=list, max_length=MAX_FILTER_VALUES)
    tags: list[Tag] = Field(default_factory=list, max_length=MAX_FILTER_VALUES)
    path_glob: str | None = Field(None, min_length=1, max_length=1000, description="fnmatch on the full path")
    after: datetime | None = Field(None, description="taken at or after (EXIF date, else file mtime)")
    before: datetime | None = Field(None, description="taken before")
    min_width: int | None = Field(None, ge=1, le=MAX_SIDE)
    min_height: int | None = Field(None, ge=1, le=MAX_SIDE)
    orientation: Literal["landscape", "portrait", "square"] | None = None


SEARCH_EXAMPLES = [
    {"query": {"text": "a red square"}, "k": 5},
    {"query": {"expression": "2:red + blue - green"}, "space": "style", "k": 3, "offset": 2, "collapse": False},
    {"space": "joint", "content": {"text": "a house"}, "style": {"text": "watercolour"}, "alpha": 0.3,
     "filters": {"orientation": "landscape", "min_width": 10, "after": "2000-01-01T00:00:00"}},
]


class SearchIn(Strict):
    """`query` in one space, or `content` + `style` with space "joint"."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": SEARCH_EXAMPLES})

    query: QueryIn | None = None
    content: QueryIn | None = None
    style: QueryIn | None = None
    space: Literal["content", "style", "layout", "joint"] = "content"
    alpha: float = Field(0.5, ge=0.0, le=1.0, description="joint: weight of content vs style")
    k: int = Field(10, ge=1, le=MAX_K)
    offset: int = Field(0, ge=0, le=MAX_K - 1, description="skip this many results (paging); offset + k <= MAX_K")
    collapse: bool = Field(True, description="fold near-duplicates onto the best hit (listed in `duplicates`)")
    filters: FiltersIn = Field(default_factory=FiltersIn)


class HitOut(BaseModel):
    id: int
    path: str
    score: float
    scores: dict[str, float]
    corpus: str
    duplicates: list[int]


class SearchOut(BaseModel):
    items: list[HitOut]
    offset: int
    k: int
    next_offset: int | None = Field(description="offset of the next page; null when this page was not full")
    explain: list[dict[str, Any]] = Field(description="what the text terms resolved to (labels, similarities)")


class CollectionOut(BaseModel):
    name: str
    description: str | None
    created_at: str
    items: int


class ItemOut(BaseModel):
    image_id: int | None
    path: str
    sha256: str | None
    corpus: str | None
    tags: list[str]
    note: str | None
    added_by: str
    added_at: str


class CollectionIn(Strict):
    name: str = Name
    description: str | None = Field(None, max_length=2000)


class AddItemsIn(Strict):
    image_ids: list[ImageId] = Field(min_length=1, max_length=MAX_K)
    added_by: str = Field("api", min_length=1, max_length=500, description="provenance, e.g. 'query:cat'")
    tags: list[Tag] = Field(default_factory=list, max_length=MAX_FILTER_VALUES)
    note: str | None = Field(None, max_length=2000)


class AddItemsOut(BaseModel):
    added: list[int]
    already: list[int]


class ErrorOut(BaseModel):
    error: str

