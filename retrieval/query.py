"""Query expressions in the spirit of rclip: `"2:golden retriever" + ./pool.jpg - fruit`.

Terms are joined by ` + ` or ` - ` (spaces around the sign); a term may carry a weight prefix `W:`.
A term is an image when it names an existing file, a catalog image when written `id:N`, text otherwise.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Literal

import numpy as np

from indexer.limits import check_id, check_query_terms

TermKind = Literal["text", "image", "id", "vector"]
_SPLIT = re.compile(r"\s+([+-])\s+")
_WEIGHT = re.compile(r"^\s*([+-]?\d+(?:\.\d*)?|[+-]?\.\d+)\s*:(?!//)(.*)$", re.S)


class QueryError(ValueError):
    """The query cannot be understood or resolved."""


@dataclass(frozen=True)
class QueryTerm:
    kind: TermKind
    value: str | int | np.ndarray
    weight: float = 1.0

    def __post_init__(self) -> None:
        if self.kind == "id":  # every way a catalog id enters a query (CLI, Studio, `id:N`) passes here
            check_id(self.value)

    def describe(self) -> str:
        value = f"<{len(self.value)}-d vector>" if self.kind == "vector" else self.value
        return f"{self.weight:+g} x {self.kind}:{value}"


def parse_query(expr: str, *, files: bool = True) -> list[QueryTerm]:
    """Split an expression into signed, weighted terms. With `files=False` (requests from the network) a term
    is never looked up on disk: one that looks like a file path is refused, anything else is text."""
    if expr is None or not expr.strip():
        raise QueryError("empty query")
    text = expr.strip()
    if text in ("+", "-") or text.endswith((" +", " -")):
        raise QueryError(f"the query {expr!r} ends with a dangling + or -")
    sign = 1.0
    if text.startswith("- "):
        sign, text = -1.0, text[2:]
    elif text.startswith("+ "):
        text = text[2:]
    parts = _SPLIT.split(text)
    check_query_terms(len(parts) // 2 + 1)
    terms = [_term(parts[0], sign, files)]
    for op, raw in zip(parts[1::2], parts[2::2]):
        terms.append(_term(raw, 1.0 if op == "+" else -1.0, files))
    return terms


def _term(raw: str, sign: float, files: bool = True) -> QueryTerm:
    weight = 1.0
    raw = raw.strip().strip("\"'")
    match = _WEIGHT.match(raw)
    if match:
        weight, raw = float(match.group(1)), match.group(2)
    raw = raw.strip().strip("\"'").strip()
    if not raw:
        raise QueryError("a query term is empty (check the + and - signs)")
    weight *= sign
    if raw.lower().startswith("id:"):
        try:
            image_id = int(raw[3:])
        except ValueError:
            raise QueryError(f"bad catalog id in {raw!r}; write id:123") from None
        return QueryTerm("id", image_id, weight)
    if not files:
        if _looks_like_path(raw):
            raise QueryError(f"file paths are not accepted here ({raw[:80]!r}); send the image itself")
        return QueryTerm("text", raw, weight)
    path = os.path.expanduser(raw)
    if os.path.isfile(path):
        return QueryTerm("image", os.path.abspath(path), weight)
    if _looks_like_path(raw):
        raise QueryError(f"no such image file: {raw}")
    return QueryTerm("text", raw, weight)


def _looks_like_path(raw: str) -> bool:
    ext = os.path.splitext(raw)[1].lower()
    return raw.startswith(("./", "../", "/", "~/")) or ext in {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp",
                                                                ".tif", ".tiff"}
