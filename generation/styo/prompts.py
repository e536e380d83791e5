"""StyO's contrastive disentangled prompt templates (METHODS.md section 4), built from segments with roles
so the content-token indices FCC needs come from the tokenised prompts, never from guessed positions.

    P_src = "a drawing with [S_src][not S_tgt] style of [C_src][not C_tgt] portrait"
    P_tgt = "a drawing with [S_tgt][not S_src] style of [C_tgt][not C_src] portrait"
    P_aux = "a drawing with [S_src][not S_tgt] style of portrait"
    P_sty = "a drawing with [S_tgt][not S_src] style of [C_src][not C_tgt] portrait"

Identifiers are single words; "[not S]" is written literally as the word "not" followed by the identifier,
as the paper writes it. The augmented prompts repeat the identifier groups: ([S+][not S-]) * n_s and
([C+][not C-]) * n_c (n_s = n_c = 1 gives the plain prompts). The Content Index of FCC is every token of the
content groups ("[C_src]", "[not C_tgt]") and of the descriptor "portrait".
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..base import StylizeError

TEMPLATE_WORDS = frozenset({"a", "drawing", "with", "style", "of", "portrait", "not"})
ROLES = ("template", "style_id", "content", "descriptor")  # descriptor: "portrait", part of the Content Index
CONTENT_ROLES = ("content", "descriptor")


@dataclass(frozen=True)
class Identifiers:
    """The four rare words: style and content identifiers of the source and the target."""

    s_src: str
    s_tgt: str
    c_src: str
    c_tgt: str

    def words(self) -> tuple[str, str, str, str]:
        return (self.s_src, self.s_tgt, self.c_src, self.c_tgt)

    def to_dict(self) -> dict[str, str]:
        return {"S_src": self.s_src, "S_tgt": self.s_tgt, "C_src": self.c_src, "C_tgt": self.c_tgt}

    @classmethod
    def from_dict(cls, data: dict[str, str]) -> Identifiers:
        try:
            return cls(data["S_src"], data["S_tgt"], data["C_src"], data["C_tgt"])
        except (KeyError, TypeError):
            raise StylizeError(f"identifiers must be a mapping with S_src, S_tgt, C_src, C_tgt, got {data!r}") from None


@dataclass(frozen=True)
class Segment:
    """A run of words of one role."""

    text: str
    role: str


Prompt = tuple[Segment, ...]


def _group(positive: str, negative: str, role: str, times: int) -> list[Segment]:
    return [Segment(f"{positive} not {negative}", role)] * times


def template(style: tuple[str, str], content: tuple[str, str] | None, n_s: int = 1, n_c: int = 1) -> Prompt:
    """"a drawing with ([S+][not S-]) * n_s style of ([C+][not C-]) * n_c portrait"; no content group when
    `content` is None (P_aux)."""
    for name, n in (("n_s", n_s), ("n_c", n_c)):
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise StylizeError(f"{name} must be an integer >= 1, got {n!r}")
    parts = [Segment("a drawing with", "template"), *_group(*style, "style_id", n_s), Segment("style of", "template")]
    if content is not None:
        parts += _group(*content, "content", n_c)
    return (*parts, Segment("portrait", "descriptor"))


def text(prompt: Prompt) -> str:
    """The prompt as the string the text encoder reads."""
    return " ".join(s.text for s in prompt)


def training_prompts(ids: Identifiers) -> dict[str, Prompt]:
    """P_src, P_tgt and P_aux (IDL)."""
    return {"src": template((ids.s_src, ids.s_tgt), (ids.c_src, ids.c_tgt)),
            "tgt": template((ids.s_tgt, ids.s_src), (ids.c_tgt, ids.c_src)),
            "aux": template((ids.s_src, ids.s_tgt), None)}


def inference_prompts(ids: Identifiers, n_s: int = 3, n_c: int = 1) -> tuple[Prompt, Prompt]:
    """(P_src^aug, P_sty^aug) of FCC: the source's style identifiers swapped for the target's."""
    content = (ids.c_src, ids.c_tgt)
    return (template((ids.s_src, ids.s_tgt), content, n_s, n_c), template((ids.s_tgt, ids.s_src), content, n_s, n_c))


@dataclass(frozen=True)
class Tokenised:
    """A prompt's token ids (with the start and end tokens, no padding) and each token's role."""

    ids: tuple[int, ...]
    roles: tuple[str, ...]

    def positions(self, roles: tuple[str, ...]) -> list[int]:
        return [i for i, r in enumerate(self.roles) if r in roles]


def tokenise(tokenizer: Any, prompt: Prompt) -> Tokenised:
    """Token ids and roles of `prompt`, segment by segment; checked against tokenising the whole string (CLIP's
    BPE never merges across spaces, so the two agree; a tokenizer where they do not is refused)."""
    ids: list[int] = [int(tokenizer.bos_token_id)]
    roles = ["special"]
    for seg in prompt:
        piece = tokenizer(seg.text, add_special_tokens=False).input_ids
        ids += piece
        roles += [seg.role] * len(piece)
    ids.append(int(tokenizer.eos_token_id))
    roles.append("special")
    whole = tokenizer(text(prompt)).input_ids
    if list(whole) != ids:
        raise StylizeError(f"the tokenizer splits {text(prompt)!r} differently as a whole than word by word; "
                           "StyO cannot locate its content tokens")
    return Tokenised(tuple(ids), tuple(roles))


def content_index(tokenizer: Any, source: Prompt, stylised: Prompt, max_length: int = 77) -> list[int]:
    """FCC's Content Index: positions of the content tokens in the tokenised P_src^aug, after checking that
    P_sty^aug has the same length, the same roles at every position, and the same token wherever the role is
    not a style identifier (so the attention columns of the two passes align). Refuses prompts longer than
    the text encoder's `max_length`."""
    a, b = tokenise(tokenizer, source), tokenise(tokenizer, stylised)
    for tok, which in ((a, "source"), (b, "stylised")):
        if len(tok.ids) > max_length:
            raise StylizeError(f"the {which} prompt is {len(tok.ids)} tokens, over the text encoder's {max_length}; "
                               "lower n_s or n_c")
    if len(a.ids) != len(b.ids) or a.roles != b.roles:
        raise StylizeError(f"the source and stylised prompts do not align token for token ({len(a.ids)} vs "
                           f"{len(b.ids)} tokens); their identifiers must each be one token")
    for i, (x, y, role) in enumerate(zip(a.ids, b.ids, a.roles, strict=True)):
        if x != y and role != "style_id":
            raise StylizeError(f"the source and stylised prompts differ at token {i} outside the style identifiers")
    index = a.positions(CONTENT_ROLES)
    if not index:
        raise StylizeError("the source prompt has no content tokens")
    return index
