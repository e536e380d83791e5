"""How PARASOL turns its two descriptors into the U-Net's cross-attention context (METHODS.md 1b, 1c).

- The MLP projector M maps a style descriptor a_s (style space, e.g. ALADIN's 256-d) into the semantic space
  of C (e.g. CLIP's 512-d): m_s = M(a_s) = Linear -> GELU -> Linear, L2-normalised like the semantic
  descriptors it sits next to (ours: the review says "an MLP", not its depth or normalisation).
- The two condition tokens [m_s, c_y] are stacked. Both live in the semantic space; one shared linear map
  `to_tokens` takes them to the U-Net's cross-attention width (768 for SD1.5; CLIP ViT-B/32 gives 512) and a
  learned slot embedding per position tells the style token from the content token (cross-attention has no
  positions of its own). Descriptors are unit vectors; they are scaled by sqrt(dim) first so each entry has
  about unit size, like a text encoder's hidden states. Ours: the review does not give these details.
- Condition dropout (classifier-free guidance training): each sample's style and/or content token is
  replaced by a null token with fixed probabilities. The null tokens are learnable vectors in the semantic
  space, initialised to zero, and go through the same `to_tokens` map. The draw is one uniform u per sample:
  u < p_both drops both, then p_style drops only the style, then p_content only the content; so the model
  learns eps(z, t, 0, 0), eps(z, t, m_s, 0), eps(z, t, 0, c_y) and eps(z, t, m_s, c_y).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class Conditioner(nn.Module):
    """M, the token map, the slot embeddings and the two null tokens: everything between the descriptors and
    the U-Net's cross-attention that PARASOL trains from scratch."""

    def __init__(self, style_dim: int, content_dim: int, token_dim: int, hidden_dim: int | None = None) -> None:
        super().__init__()
        hidden = hidden_dim or max(style_dim, content_dim)
        self.style_dim, self.content_dim, self.token_dim = style_dim, content_dim, token_dim
        self.projector = nn.Sequential(nn.Linear(style_dim, hidden), nn.GELU(), nn.Linear(hidden, content_dim))
        self.to_tokens = nn.Linear(content_dim, token_dim)
        self.slots = nn.Parameter(torch.zeros(2, token_dim))
        self.null_style = nn.Parameter(torch.zeros(content_dim))
        self.null_content = nn.Parameter(torch.zeros(content_dim))

    def project_style(self, a_s: torch.Tensor) -> torch.Tensor:
        """m_s = M(a_s), (B, style_dim) -> (B, content_dim), unit length."""
        return F.normalize(self.projector(a_s.float()), dim=-1)

    def tokens(self, m_s: torch.Tensor | None, c_y: torch.Tensor | None, batch: int | None = None,
               keep_style: torch.Tensor | None = None, keep_content: torch.Tensor | None = None) -> torch.Tensor:
        """The (B, 2, token_dim) context [m_s, c_y]. None stands for the null token (for the whole batch);
        `keep_*` (B,) booleans replace the rows where they are False by the null token (dropout)."""
        ref = m_s if m_s is not None else c_y
        n = batch if batch is not None else (ref.shape[0] if ref is not None else 1)
        style = self._or_null(m_s, self.null_style, n, keep_style)
        content = self._or_null(c_y, self.null_content, n, keep_content)
        stacked = torch.stack([style, content], dim=1) * math.sqrt(self.content_dim)
        return self.to_tokens(stacked) + self.slots

    @staticmethod
    def _or_null(x: torch.Tensor | None, null: torch.Tensor, n: int, keep: torch.Tensor | None) -> torch.Tensor:
        filled = null.expand(n, -1)
        if x is None:
            return filled
        x = x.to(null.dtype).expand(n, -1)
        if keep is None:
            return x
        return torch.where(keep.to(x.device)[:, None], x, filled)


def dropout_masks(n: int, p_style: float, p_content: float, p_both: float,
                  generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(keep_style, keep_content) booleans for n samples from one uniform draw each (see module docstring):
    P(both dropped) = p_both, P(only style) = p_style, P(only content) = p_content."""
    if min(p_style, p_content, p_both) < 0 or p_style + p_content + p_both > 1:
        raise ValueError("dropout rates must be >= 0 and sum to at most 1")
    u = torch.rand(n, generator=generator, dtype=torch.float64)
    both = u < p_both
    only_style = (u >= p_both) & (u < p_both + p_style)
    only_content = (u >= p_both + p_style) & (u < p_both + p_style + p_content)
    return ~(both | only_style), ~(both | only_content)
