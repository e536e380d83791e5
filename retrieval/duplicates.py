"""Near-duplicate collapse of a result list: a copy is folded onto the best-ranked result it duplicates.

Two images are near-duplicates only when they are near-identical in *every* space the workspace has, each
judged by its own encoder's threshold (`indexer.encoders.registry.near_duplicate_cosine`, calibrated in
`scripts/bench_quality.py`). One space alone cannot tell: in the style space every picture of one style is
close, and the starter content features of two heavily stylised scenes in one style can be as close as a
re-encoded copy's (0.945 vs 0.795 on the issue-17 benchmark). The layout signature
(`indexer.encoders.layout_signature`) is what separates "same picture" from "same style, other scene".
A space in which either image has no vector yet (added, not backfilled) does not vote.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from indexer.encoders.registry import near_duplicate_cosine
from indexer.spaces import SpaceInfo, list_spaces
from indexer.workspace import Workspace

from .catalog_lookup import available_matrix, image_refs

CONTENT_SPACE = "content"


@dataclass(frozen=True)
class Folded:
    """One kept result and the ids folded onto it (worse-ranked near-duplicates of it), best first."""

    id: int
    score: float
    duplicates: tuple[int, ...] = ()


def duplicate_thresholds(ws: Workspace, content_threshold: float | None = None) -> dict[str, float]:
    """{space: cosine at or above which two images count as near-identical there}; `content_threshold`
    overrides the content space's (the CLI's --collapse-threshold)."""
    return _thresholds(list_spaces(ws), content_threshold)


def _thresholds(spaces: list[SpaceInfo], content_threshold: float | None) -> dict[str, float]:
    out = {sp.name: near_duplicate_cosine(sp.encoder_id) for sp in spaces}
    if content_threshold is not None and CONTENT_SPACE in out:
        out[CONTENT_SPACE] = content_threshold
    return out


def collapse(ws: Workspace, found: list[tuple[int, float]], content_threshold: float | None = None) -> list[Folded]:
    """Fold each result onto the best-ranked kept result it is a near-duplicate of; order is kept.

    Reads only stored vectors, so collapsing never loads a model."""
    if not found:
        return []
    ids = [i for i, _ in found]
    spaces = list_spaces(ws)
    thresholds = _thresholds(spaces, content_threshold)
    refs = image_refs(ws, ids)  # once for every space
    mats = [available_matrix(ws, sp, ids, refs) + (thresholds[sp.name],) for sp in spaces]
    kept: list[int] = []
    folded: dict[int, list[int]] = {}
    for j in range(len(ids)):
        owner = _first_duplicate(kept, j, mats) if kept else None
        if owner is None:
            kept.append(j)
        else:
            folded.setdefault(owner, []).append(ids[j])
    return [Folded(ids[j], found[j][1], tuple(folded.get(j, ()))) for j in kept]


def _first_duplicate(kept: list[int], j: int, mats: list[tuple[np.ndarray, np.ndarray, float]]) -> int | None:
    """The best-ranked kept row that `j` is near-identical to in every space where both have a vector."""
    rows = np.asarray(kept)
    same = np.ones(len(rows), bool)
    voted = np.zeros(len(rows), bool)  # a pair no space can judge is not a duplicate
    for mat, have, threshold in mats:
        votes = have[rows] & have[j]
        voted |= votes
        same &= ~votes | (mat[rows] @ mat[j] >= threshold)
    hit = np.flatnonzero(same & voted)
    return int(rows[hit[0]]) if hit.size else None
