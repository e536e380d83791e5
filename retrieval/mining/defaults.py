"""Which corpora a mining run uses when the person has not chosen: by each corpus's role, so the training
images and the content database come from a content corpus and the style database from a style corpus."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from indexer.corpora import CorpusInfo


@dataclass(frozen=True)
class MiningCorpora:
    """Default corpora of a mining run: training images x, style database s, content database y."""

    train: str
    style_db: str
    content_db: str


def _first(corpora: Sequence[CorpusInfo], roles: tuple[str, ...]) -> str | None:
    """The first corpus whose role is one of `roles`, tried in that order of roles."""
    for role in roles:
        for corpus in corpora:
            if corpus.role == role:
                return corpus.name
    return None


def default_mining_corpora(corpora: Sequence[CorpusInfo]) -> MiningCorpora | None:
    """x and y from a content corpus (else one of role both), s from a style corpus (else both); a role
    nobody has falls back to the first corpus. None when there are no corpora."""
    if not corpora:
        return None
    fallback = corpora[0].name
    content = _first(corpora, ("content", "both")) or fallback
    style = _first(corpora, ("style", "both")) or fallback
    return MiningCorpora(train=content, style_db=style, content_db=content)
