"""An offline CLIP tokenizer built from the BPE vocabulary that open_clip ships inside its wheel.

Diffusion pipelines need a `transformers.CLIPTokenizer`, normally downloaded from the model hub. Tiny test
pipelines (and any run without hub access) can build the very same vocabulary locally: CLIP's vocabulary is
the 256 byte-level unicode symbols, the same symbols with the end-of-word marker `</w>`, one token per BPE
merge, then `<|startoftext|>` and `<|endoftext|>` (49,408 tokens in all). Ids equal open_clip's own
`SimpleTokenizer` ids (checked in the tests).
"""
from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Any

from indexer.atomic import atomic_write_text

VOCAB_SIZE = 49408
_N_MERGES = 49152 - 256 - 2  # as in CLIP: merges that fit a 49,152-entry table minus bytes and specials
_SPECIALS = ("<|startoftext|>", "<|endoftext|>")


def _default_cache_dir() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(root) / "stylelens" / "clip-bpe"


def _bytes_to_unicode() -> dict[int, str]:
    """CLIP/GPT-2's reversible byte -> printable unicode table (printable bytes map to themselves)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    rest = [b for b in range(256) if b not in printable]
    return {**{b: chr(b) for b in printable}, **{b: chr(256 + i) for i, b in enumerate(rest)}}


def _open_clip_bpe_path() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("open_clip")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("open_clip is not installed; it ships the CLIP BPE vocabulary (pip install open_clip_torch)")
    path = Path(next(iter(spec.submodule_search_locations))) / "bpe_simple_vocab_16e6.txt.gz"
    if not path.is_file():
        raise RuntimeError(f"open_clip's BPE vocabulary is missing at {path}")
    return path


def clip_vocabulary() -> tuple[dict[str, int], list[str]]:
    """CLIP's token -> id table and its merges (`"a b"` lines, in rank order)."""
    with gzip.open(_open_clip_bpe_path()) as fh:
        lines = fh.read().decode("utf-8").split("\n")
    merges = lines[1:_N_MERGES + 1]  # the first line is a version header
    symbols = list(_bytes_to_unicode().values())
    tokens = symbols + [s + "</w>" for s in symbols] + ["".join(m.split()) for m in merges] + list(_SPECIALS)
    vocab = {tok: i for i, tok in enumerate(tokens)}
    if len(vocab) != VOCAB_SIZE:
        raise RuntimeError(f"built a CLIP vocabulary of {len(vocab)} tokens, expected {VOCAB_SIZE}")
    return vocab, merges


def clip_bpe_files(cache_dir: str | os.PathLike | None = None) -> tuple[Path, Path]:
    """Write `vocab.json` and `merges.txt` (the hub's file layout) once into `cache_dir`; return their paths."""
    folder = Path(cache_dir) if cache_dir is not None else _default_cache_dir()
    vocab_file, merges_file = folder / "vocab.json", folder / "merges.txt"
    if vocab_file.is_file() and merges_file.is_file():
        return vocab_file, merges_file
    folder.mkdir(parents=True, exist_ok=True)
    vocab, merges = clip_vocabulary()
    # atomically, so a concurrent reader never sees a half-written file
    atomic_write_text(vocab_file, json.dumps(vocab, ensure_ascii=False))
    atomic_write_text(merges_file, "#version: 0.2\n" + "\n".join(merges) + "\n")
    return vocab_file, merges_file


def offline_clip_tokenizer(cache_dir: str | os.PathLike | None = None, model_max_length: int = 77,
                           **kwargs: Any) -> Any:
    """A `transformers.CLIPTokenizer` with CLIP's vocabulary, built without the hub.

    `kwargs` go to the tokenizer (e.g. `pad_token="!"` as SDXL's second tokenizer uses).
    """
    from transformers import CLIPTokenizer

    vocab_file, merges_file = clip_bpe_files(cache_dir)
    return CLIPTokenizer(str(vocab_file), str(merges_file), model_max_length=model_max_length, **kwargs)
