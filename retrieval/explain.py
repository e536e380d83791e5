"""What the text terms of a query resolved to, for `stylelens search --explain` and the Studio.

A closed-vocabulary content encoder (the starter EfficientNet-Lite0) reads text through its class labels:
"astronaut" becomes a mix of "space shuttle" and a few other ImageNet classes. `explain_query` shows that
mix (labels, text similarities, weights in the query vector) and flags a term whose best label is a weak
match (`LabelResolution.weak`), so a user knows the results show the nearest known class, not the word.
Open-vocabulary encoders (open_clip) embed text directly: their terms are listed with nothing to warn about.
Style-space text goes through the content encoder (exemplars, see `embed.style_from_text`), so it is
explained by the content encoder's labels.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from indexer.spaces import get_space, space_encoder
from indexer.workspace import Workspace

from .query import QueryTerm, parse_query

Query = str | list[QueryTerm]


@dataclass(frozen=True)
class LabelWeight:
    """One label a text term resolved to: text similarity (cosine) and its weight in the term's vector."""

    label: str
    similarity: float
    weight: float


@dataclass(frozen=True)
class TextExplanation:
    """How one text term of a query was read."""

    text: str
    term_weight: float  # the term's signed weight in the query expression
    space: str  # the space searched
    reader: str  # encoder id of the model that read the text
    method: str  # "labels" (closed vocabulary, through class labels) or "open-vocabulary"
    via_exemplars: bool = False  # style-space text: the style of the images this text finds in content
    labels: list[LabelWeight] = field(default_factory=list)  # heaviest first
    labels_known: int = 0  # size of the reader's label vocabulary
    best_similarity: float | None = None
    weak_below: float | None = None
    weak: bool = False

    @property
    def warning(self) -> str | None:
        """A sentence for the user when the best label is a weak match, else None."""
        if not self.weak or not self.labels:
            return None
        best = self.labels[0]
        return (f"{self.text!r} matches none of the {self.labels_known} labels {self.reader} knows well (best: "
                f"{best.label!r}, similarity {best.similarity:.2f} < {self.weak_below:.2f}); results show images "
                f"of that label, not of the words. An open-vocabulary (full profile) workspace reads any text.")

    def to_dict(self) -> dict:
        """JSON-ready form (NaN similarities become null), with the warning included."""
        out = asdict(self)
        out["warning"] = self.warning
        if out["best_similarity"] is not None and math.isnan(out["best_similarity"]):
            out["best_similarity"] = None
        return out


def explain_query(ws: Workspace, query: Query, *, space: str = "content") -> list[TextExplanation]:
    """One explanation per text term of `query` as searched in `space` (image and id terms have none)."""
    terms = parse_query(query) if isinstance(query, str) else query
    texts = [t for t in terms if t.kind == "text"]
    if not texts:
        return []
    sp = get_space(ws, space)
    reader, via = space_encoder(sp), False
    if not reader.supports_text:  # style from text: exemplars found by the content encoder
        reader, via = space_encoder(get_space(ws, "content")), True
    return [_explain_term(reader, t, sp.name, via) for t in texts]


def explain_joint(ws: Workspace, content: Query, style: Query) -> list[TextExplanation]:
    """Explanations of a joint search's text terms: the content query's, then the style query's."""
    return [*explain_query(ws, content, space="content"), *explain_query(ws, style, space="style")]


def weak_terms(explanations: list[TextExplanation]) -> list[TextExplanation]:
    """The explanations that carry a warning."""
    return [e for e in explanations if e.warning]


def _explain_term(reader, term: QueryTerm, space: str, via: bool) -> TextExplanation:  # noqa: ANN001 - Encoder
    text = str(term.value)
    resolve = getattr(reader, "resolve_text", None)
    if resolve is None:
        return TextExplanation(text, term.weight, space, reader.encoder_id, "open-vocabulary", via)
    res = resolve(text)
    labels = [LabelWeight(m.label, round(m.similarity, 4), round(m.weight, 4)) for m in res.matches]
    return TextExplanation(text, term.weight, space, reader.encoder_id, "labels", via, labels, res.labels_known,
                           round(res.best_similarity, 4), res.weak_below, res.weak)
