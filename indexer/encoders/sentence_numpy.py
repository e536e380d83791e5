"""A BERT sentence encoder (all-MiniLM-L6-v2) run in numpy, so text queries need neither torch nor transformers.

Why: on this 2-core machine `import torch` costs ~2.3 s and torch + transformers' BertModel ~6.7 s, while
MiniLM itself embeds a short query in milliseconds. This module reads the files sentence-transformers reads
(`config.json`, `model.safetensors`, `tokenizer.json`, `1_Pooling/config.json`) with `safetensors.numpy` and
`tokenizers` (~0.15 s to import) and computes the same function: BERT encoder (post-LayerNorm, exact-erf GELU),
mean pooling over the real tokens, L2 normalisation. tests/test_label_cache.py compares it with
sentence-transformers on the same folder (cosine > 0.9999).

BLAS runs on one thread here (threadpoolctl, when installed): on this shared 2-core machine OpenBLAS's second
thread made a query-sized matmul (8 x 384 @ 384 x 1152) take 16 ms instead of 0.25 ms, and even the
1,000-prompt batch ran at 28 GFLOPS on two threads vs 60 on one.
"""
from __future__ import annotations

import contextlib
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from .array_cache import file_digest

MAX_TOKENS = 256  # sentence-transformers' max_seq_length for all-MiniLM-L6-v2
BATCH = 64  # texts per forward pass, sorted by length so little padding is computed


@dataclass(frozen=True)
class BertConfig:
    """The few `config.json` fields the forward pass needs."""

    layers: int
    heads: int
    hidden: int
    eps: float

    @classmethod
    def read(cls, path: Path) -> "BertConfig":
        cfg = json.loads(path.read_text())
        if cfg.get("hidden_act", "gelu") != "gelu" or cfg.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError(f"{path}: only absolute positions and exact GELU are implemented")
        return cls(int(cfg["num_hidden_layers"]), int(cfg["num_attention_heads"]), int(cfg["hidden_size"]),
                   float(cfg.get("layer_norm_eps", 1e-12)))


class NumpySentenceEncoder:
    """texts -> (N, hidden) float32, rows L2-normalised; `identity` names the model and its exact files."""

    def __init__(self, folder: str | os.PathLike[str], name: str):
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        folder = Path(folder)
        self.config = BertConfig.read(folder / "config.json")
        _check_mean_pooling(folder)
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(MAX_TOKENS)
        weights = folder / "model.safetensors"
        w = {k.removeprefix("bert."): v.astype(np.float32, copy=False) for k, v in load_file(str(weights)).items()}
        self._emb = (w["embeddings.word_embeddings.weight"], w["embeddings.position_embeddings.weight"],
                     w["embeddings.token_type_embeddings.weight"][0])
        self._emb_norm = (w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        self._layers = [_Layer.take(w, f"encoder.layer.{i}.") for i in range(self.config.layers)]
        self._one_thread = _one_blas_thread()
        self._lock = threading.Lock()  # one forward at a time: the BLAS limit is process-wide, set and restored
        self.identity = (f"{name} weights-sha256={file_digest(weights)} "
                         f"tokenizer-sha256={file_digest(folder / 'tokenizer.json')} numpy-bert/1")

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        out = np.zeros((len(texts), self.config.hidden), np.float32)
        if not texts:
            return out
        # one text at a time: encode_batch would start the tokenizers thread pool, which warns (and turns
        # itself off) in every process forked after it, e.g. indexing workers; 1000 prompts take ~20 ms
        ids = [self.tokenizer.encode(t).ids for t in texts]
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        with self._lock, self._one_thread():
            for start in range(0, len(order), BATCH):
                chunk = order[start : start + BATCH]
                out[chunk] = self._embed_ids([ids[i] for i in chunk])
        return out

    def _embed_ids(self, ids: list[list[int]]) -> np.ndarray:
        """One padded batch of token ids -> mean-pooled, normalised sentence vectors."""
        width = max(len(t) for t in ids)
        tokens = np.zeros((len(ids), width), np.int64)
        mask = np.zeros((len(ids), width), np.float32)
        for r, t in enumerate(ids):
            tokens[r, : len(t)] = t
            mask[r, : len(t)] = 1.0
        word, pos, typ = self._emb
        x = _layer_norm(word[tokens] + pos[:width] + typ, *self._emb_norm, self.config.eps)
        bias = ((1.0 - mask) * np.finfo(np.float32).min)[:, None, None, :]
        for layer in self._layers:
            x = layer(x, bias, self.config)
        pooled = (x * mask[..., None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1e-9)
        return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)


@dataclass(frozen=True)
class _Layer:
    """One BERT encoder layer's weights, transposed once for `x @ W` (float32)."""

    qkv: np.ndarray
    qkv_b: np.ndarray
    out: np.ndarray
    out_b: np.ndarray
    norm1: tuple[np.ndarray, np.ndarray]
    up: np.ndarray
    up_b: np.ndarray
    down: np.ndarray
    down_b: np.ndarray
    norm2: tuple[np.ndarray, np.ndarray]

    @classmethod
    def take(cls, w: dict[str, np.ndarray], p: str) -> "_Layer":
        att = p + "attention."
        qkv = [w[f"{att}self.{n}.weight"] for n in ("query", "key", "value")]
        return cls(
            np.ascontiguousarray(np.concatenate(qkv).T),
            np.concatenate([w[f"{att}self.{n}.bias"] for n in ("query", "key", "value")]),
            np.ascontiguousarray(w[f"{att}output.dense.weight"].T), w[f"{att}output.dense.bias"],
            (w[f"{att}output.LayerNorm.weight"], w[f"{att}output.LayerNorm.bias"]),
            np.ascontiguousarray(w[f"{p}intermediate.dense.weight"].T), w[f"{p}intermediate.dense.bias"],
            np.ascontiguousarray(w[f"{p}output.dense.weight"].T), w[f"{p}output.dense.bias"],
            (w[f"{p}output.LayerNorm.weight"], w[f"{p}output.LayerNorm.bias"]),
        )

    def __call__(self, x: np.ndarray, bias: np.ndarray, cfg: BertConfig) -> np.ndarray:
        b, t, h = x.shape
        d = h // cfg.heads
        q, k, v = (x @ self.qkv + self.qkv_b).reshape(b, t, 3, cfg.heads, d).transpose(2, 0, 3, 1, 4)
        scores = (q @ k.transpose(0, 1, 3, 2)) / np.float32(np.sqrt(d)) + bias
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        probs = scores / scores.sum(-1, keepdims=True)
        context = (probs @ v).transpose(0, 2, 1, 3).reshape(b, t, h)
        x = _layer_norm(context @ self.out + self.out_b + x, *self.norm1, cfg.eps)
        return _layer_norm(_gelu(x @ self.up + self.up_b) @ self.down + self.down_b + x, *self.norm2, cfg.eps)


def _layer_norm(x: np.ndarray, gain: np.ndarray, shift: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + np.float32(eps)) * gain + shift


def _gelu(x: np.ndarray) -> np.ndarray:
    """Exact GELU, x * Phi(x), as BERT's "gelu" (not the tanh approximation)."""
    return 0.5 * x * (1.0 + _erf(x / np.float32(np.sqrt(2.0))))


def _erf(x: np.ndarray) -> np.ndarray:
    """erf to ~1.5e-7 absolute (Abramowitz & Stegun 7.1.26): float32 precision, no scipy import (~0.5 s)."""
    a = np.abs(x)
    t = 1.0 / (1.0 + np.float32(0.3275911) * a)
    poly = t * (np.float32(0.254829592) + t * (np.float32(-0.284496736) + t * (
        np.float32(1.421413741) + t * (np.float32(-1.453152027) + t * np.float32(1.061405429)))))
    return np.sign(x) * (1.0 - poly * np.exp(-a * a))


def _one_blas_thread():
    """A context manager factory limiting BLAS to one thread (a no-op without threadpoolctl)."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return contextlib.nullcontext
    controller = ThreadpoolController()
    return lambda: controller.limit(limits=1, user_api="blas")


def _check_mean_pooling(folder: Path) -> None:
    """Refuse a model whose sentence-transformers pooling is not the mean this module computes."""
    pooling = folder / "1_Pooling" / "config.json"
    if pooling.is_file():
        cfg = json.loads(pooling.read_text())
        others = [k for k, v in cfg.items() if k.startswith("pooling_mode_") and v and k != "pooling_mode_mean_tokens"]
        if not cfg.get("pooling_mode_mean_tokens") or others:
            raise ValueError(f"{pooling}: only mean pooling is implemented")
