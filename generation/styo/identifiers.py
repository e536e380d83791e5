"""Rare-token identifiers, chosen automatically from the tokenizer's own vocabulary (DreamBooth's recipe).

A good identifier is one token with a weak prior: a whole word (CLIP marks word ends with `</w>`) of three
or four lowercase letters that the BPE learned late. CLIP's vocabulary lists merges in the order they were
learned, most frequent first, so the highest ids are the rarest; we take the highest-id candidates, in
order, which makes the choice deterministic for a given vocabulary (the real CLIP tokenizer and the offline
one in `generation.diffusion.tokenizer` give the same four). Words of the prompt template are never used.
User-given identifiers are checked the same way (one token each, distinct, not template words).
"""
from __future__ import annotations

import re
from typing import Any

from ..base import StylizeError
from .prompts import TEMPLATE_WORDS, Identifiers

_WORD = re.compile(r"[a-z]{3,4}")
_END = "</w>"


def is_single_token(tokenizer: Any, word: str) -> bool:
    """Whether `word` is one token on its own and after "not" (as it stands in "[not S]")."""
    alone = tokenizer(word, add_special_tokens=False).input_ids
    after = tokenizer(f"not {word}", add_special_tokens=False).input_ids
    return len(alone) == 1 and len(after) == 2 and after[1] == alone[0]


def rare_words(tokenizer: Any, count: int, exclude: frozenset[str] = TEMPLATE_WORDS) -> list[str]:
    """`count` rare single-token words, rarest (highest id) first."""
    vocab: dict[str, int] = tokenizer.get_vocab()
    candidates = sorted(((i, tok[: -len(_END)]) for tok, i in vocab.items()
                         if tok.endswith(_END) and _WORD.fullmatch(tok[: -len(_END)])), reverse=True)
    chosen: list[str] = []
    for _, word in candidates:
        if word not in exclude and is_single_token(tokenizer, word):
            chosen.append(word)
            if len(chosen) == count:
                return chosen
    raise StylizeError(f"the tokenizer's vocabulary has fewer than {count} rare single-token words")


def choose(tokenizer: Any) -> Identifiers:
    """S_src, S_tgt, C_src, C_tgt: the four rarest candidates, in that order."""
    return Identifiers(*rare_words(tokenizer, 4))


def check(tokenizer: Any, ids: Identifiers) -> Identifiers:
    """Refuse identifiers that are not four distinct single-token, non-template words."""
    words = ids.words()
    if len(set(words)) != 4:
        raise StylizeError(f"identifiers must be four different words, got {list(words)}")
    for name, word in zip(("S_src", "S_tgt", "C_src", "C_tgt"), words, strict=True):
        if not isinstance(word, str) or not word or word != word.strip() or " " in word:
            raise StylizeError(f"identifier {name} must be one word, got {word!r}")
        if word.lower() in TEMPLATE_WORDS:
            raise StylizeError(f"identifier {name} {word!r} is a word of the prompt template")
        if not is_single_token(tokenizer, word):
            raise StylizeError(f"identifier {name} {word!r} is not a single token of this tokenizer; "
                               "pick a rare word that is one token (or let StyO choose)")
    return ids
