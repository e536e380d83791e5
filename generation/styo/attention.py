"""FCC's cross-attention control as a diffusers attention processor (METHODS.md section 4).

The UNet runs the source pass and the stylised pass in one batch. In every cross-attention layer (`attn2`)
the processor computes the attention probabilities M = softmax(Q K^T / sqrt(d)) explicitly and, for each
controlled row pair (source row s, stylised row r), replaces the columns of the Content Index in M_r by
M_s's before multiplying by the stylised row's own values:

    M_ctr^i = M_src^i if i in ContentIndex else M_sty^i,   output = M_ctr V_sty

The rows are not renormalised afterwards (the paper does not). With classifier-free guidance the batch is
[uncond src, uncond sty, cond src, cond sty] and only the conditional pair is controlled, as in
Prompt-to-Prompt (the empty prompt has no content tokens). Self-attention (`attn1`) keeps its processor.

`observer(layer, before, after)` is a hook for tests and diagnostics: it sees each layer's (batch, heads,
queries, keys) probabilities before and after the swap.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch

Observer = Callable[[str, torch.Tensor, torch.Tensor], None]


@dataclass
class AttentionControl:
    """What to swap: the Content Index (key positions) and the (source row, controlled row) pairs of the UNet
    batch. `enabled=False` runs the same processor without swapping (an ablation, and a reference)."""

    content_index: list[int]
    pairs: list[tuple[int, int]]
    enabled: bool = True
    observer: Observer | None = None
    calls: int = field(default=0, init=False)

    def apply(self, layer: str, probs: torch.Tensor) -> torch.Tensor:
        """M_ctr for a (batch, heads, queries, keys) probability tensor."""
        self.calls += 1
        out = probs
        if self.enabled and self.pairs:
            if max(max(p) for p in self.pairs) >= probs.shape[0]:
                raise ValueError(f"attention control rows {self.pairs} do not fit a batch of {probs.shape[0]}")
            idx = torch.tensor(self.content_index, device=probs.device, dtype=torch.long)
            src = torch.tensor([s for s, _ in self.pairs], device=probs.device, dtype=torch.long)
            dst = torch.tensor([d for _, d in self.pairs], device=probs.device, dtype=torch.long)
            rows = probs.index_select(0, dst)  # a copy
            rows[..., idx] = probs.index_select(0, src)[..., idx]
            out = probs.clone()
            out[dst] = rows
        if self.observer is not None:
            self.observer(layer, probs, out)
        return out


class ContentSwapProcessor:
    """Cross-attention with explicit probabilities and FCC's column swap (see the module docstring)."""

    def __init__(self, control: AttentionControl, layer: str) -> None:
        self.control = control
        self.layer = layer

    def __call__(self, attn: Any, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor | None = None,
                 attention_mask: torch.Tensor | None = None, temb: torch.Tensor | None = None,
                 *args: Any, **kwargs: Any) -> torch.Tensor:
        if encoder_hidden_states is None:
            raise ValueError(f"{self.layer}: FCC's processor is for cross-attention layers only")
        if attn.spatial_norm is not None or attn.group_norm is not None or hidden_states.ndim != 3:
            raise ValueError(f"{self.layer}: unsupported attention layout for FCC's processor")
        residual = hidden_states
        batch, queries, _ = hidden_states.shape
        context = attn.norm_encoder_hidden_states(encoder_hidden_states) if attn.norm_cross else encoder_hidden_states
        heads = attn.heads

        def split(x: torch.Tensor) -> torch.Tensor:  # (b, n, heads * d) -> (b, heads, n, d)
            return x.view(x.shape[0], x.shape[1], heads, -1).transpose(1, 2)

        q, k, v = split(attn.to_q(hidden_states)), split(attn.to_k(context)), split(attn.to_v(context))
        scores = (q.float() @ k.float().transpose(-1, -2)) * attn.scale
        if attention_mask is not None:
            mask = attn.prepare_attention_mask(attention_mask, k.shape[2], batch)
            scores = scores + mask.view(batch, heads, -1, k.shape[2]).float()
        probs = self.control.apply(self.layer, scores.softmax(dim=-1)).to(v.dtype)
        out = (probs @ v).transpose(1, 2).reshape(batch, queries, -1)
        out = attn.to_out[1](attn.to_out[0](out))
        if attn.residual_connection:
            out = out + residual
        return out / attn.rescale_output_factor


def cross_attention_layers(unet: Any) -> list[str]:
    """Processor names of the UNet's cross-attention layers (`...attn2.processor`)."""
    return [name for name in unet.attn_processors if name.endswith("attn2.processor")]


@contextmanager
def controlled(unet: Any, control: AttentionControl) -> Iterator[list[str]]:
    """Install FCC's processor on every cross-attention layer for the block; the previous processors come
    back afterwards. Yields the controlled layer names."""
    before = dict(unet.attn_processors)
    layers = cross_attention_layers(unet)
    if not layers:
        raise ValueError("this UNet has no cross-attention layers to control")
    unet.set_attn_processor({name: ContentSwapProcessor(control, name.removesuffix(".processor")) if name in layers
                             else proc for name, proc in before.items()})
    try:
        yield layers
    finally:
        unet.set_attn_processor(before)
