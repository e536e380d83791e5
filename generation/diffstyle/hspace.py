"""h-space (the UNet bottleneck, the output of `mid_block`) and how DiffStyle edits it.

`normalized_slerp` is the paper's f(h, h_content, gamma): the content feature is scaled to the norm of the
style trajectory's h, then the two are slerped, so |h~| = |h| and the correlation between |h| and the
skip connections' norms is kept (METHODS.md section 3, step 2). `masked_slerp` confines the mix to a
region of h (local style mixing, step 5) the way the official InjectFusion code does: a plain slerp of
the two masked features, without the norm matching. `MidBlockTap` is the forward hook that reads h and,
when asked, replaces it for some rows of the batch.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

_PARALLEL = 1e-6  # below this angle (radians) slerp and lerp agree to float precision


def slerp(a: torch.Tensor, b: torch.Tensor, gamma: float) -> torch.Tensor:
    """Spherical interpolation per sample (dim 0), over all other dims: gamma = 0 gives `a`, 1 gives `b`.

    The angle is measured between the directions; the result is s0 * a + s1 * b with the usual slerp
    weights, so for |a| = |b| the result has that norm too. Nearly parallel inputs fall back to lerp.
    """
    if a.shape != b.shape:
        raise ValueError(f"slerp needs equal shapes, got {tuple(a.shape)} and {tuple(b.shape)}")
    flat_a, flat_b = a.reshape(a.shape[0], -1).double(), b.reshape(b.shape[0], -1).double()
    norm_a, norm_b = flat_a.norm(dim=1), flat_b.norm(dim=1)
    if bool((norm_a == 0).any()) or bool((norm_b == 0).any()):
        raise ValueError("slerp of a zero vector is undefined")
    cos = ((flat_a * flat_b).sum(dim=1) / (norm_a * norm_b)).clamp(-1.0, 1.0)
    theta = torch.arccos(cos)
    sin = torch.sin(theta)
    parallel = theta < _PARALLEL
    safe_sin = torch.where(parallel, torch.ones_like(sin), sin)
    s0 = torch.where(parallel, torch.full_like(theta, 1.0 - gamma), torch.sin((1.0 - gamma) * theta) / safe_sin)
    s1 = torch.where(parallel, torch.full_like(theta, gamma), torch.sin(gamma * theta) / safe_sin)
    shape = (-1,) + (1,) * (a.dim() - 1)
    out = s0.reshape(shape) * a.double() + s1.reshape(shape) * b.double()
    return out.to(a.dtype)


def norm_matched(content: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """`content` scaled per sample to the norm of `like` (h_content / |h_content| * |h|)."""
    dims = tuple(range(1, content.dim()))
    c_norm = content.double().pow(2).sum(dim=dims, keepdim=True).sqrt()
    l_norm = like.double().pow(2).sum(dim=dims, keepdim=True).sqrt()
    if bool((c_norm == 0).any()):
        raise ValueError("the content's h-space feature is zero; it has no direction to inject")
    return (content.double() / c_norm * l_norm).to(content.dtype)


def normalized_slerp(h: torch.Tensor, content: torch.Tensor, gamma: float) -> torch.Tensor:
    """f(h, h_content, gamma) = Slerp(h, h_content / |h_content| * |h|, gamma): keeps |h| exactly."""
    return slerp(h, norm_matched(content, h), gamma)


def masked_slerp(h: torch.Tensor, content: torch.Tensor, gamma: float, mask: torch.Tensor) -> torch.Tensor:
    """Local mixing as in the official code: h~ = Slerp(m h, m c, gamma) + (1 - m) h. The masked content is
    not rescaled to |m h| (the paper only says "mask before the slerp"; the official code slerps the two
    masked features as they are). `mask` is (H, W) or broadcastable to h, values in [0, 1]; where it is 0,
    h~ equals h exactly."""
    m = mask.to(device=h.device, dtype=h.dtype)
    while m.dim() < h.dim():
        m = m.unsqueeze(0)
    if not bool((m > 0).any()):
        return h
    return slerp(h * m, content * m, gamma) + (1 - m) * h


def inject(h: torch.Tensor, content: torch.Tensor, gamma: float, mask: torch.Tensor | None = None) -> torch.Tensor:
    """h~ for one step: the normalised slerp, masked when a mask is given."""
    if content.shape[1:] != h.shape[1:]:
        raise ValueError(f"content h {tuple(content.shape[1:])} and style h {tuple(h.shape[1:])} differ in shape; "
                         "content and style must be run at the same size")
    content = content.expand_as(h)
    return normalized_slerp(h, content, gamma) if mask is None else masked_slerp(h, content, gamma, mask)


def box_mask(box: tuple[float, float, float, float] | list[float], height: int, width: int) -> torch.Tensor:
    """A (height, width) 0/1 mask of the cells of an h-space grid whose centres lie in `box`, given as
    (left, top, right, bottom) fractions of the image. Refuses a box that covers no cell."""
    left, top, right, bottom = (float(v) for v in box)
    ys = (torch.arange(height, dtype=torch.float64) + 0.5) / height
    xs = (torch.arange(width, dtype=torch.float64) + 0.5) / width
    inside = ((ys >= top) & (ys <= bottom))[:, None] & ((xs >= left) & (xs <= right))[None, :]
    if not bool(inside.any()):
        raise ValueError(f"mask_box {list(box)} covers no cell of the {height}x{width} h-space grid; make it larger")
    return inside.float()


class MidBlockTap:
    """A forward hook on a UNet's `mid_block`: keeps its last output in `.h` and, while `edit` is set,
    replaces the output rows `rows` (a slice of the batch) with `edit(h[rows])`.

    Use as a context manager so the hook never outlives the call that set it.
    """

    def __init__(self, unet: Any) -> None:
        if getattr(unet, "mid_block", None) is None:
            raise ValueError("this UNet has no mid_block, so it has no h-space to inject into")
        self.unet = unet
        self.h: torch.Tensor | None = None
        self.edit: Callable[[torch.Tensor], torch.Tensor] | None = None
        self.rows: slice = slice(None)
        self._handle: Any = None

    def _hook(self, module: Any, args: Any, output: Any) -> Any:
        h = output[0] if isinstance(output, tuple) else output
        self.h = h.detach()
        if self.edit is None:
            return None
        edited = h.clone()
        edited[self.rows] = self.edit(h[self.rows])
        return (edited, *output[1:]) if isinstance(output, tuple) else edited

    def __enter__(self) -> MidBlockTap:
        self._handle = self.unet.mid_block.register_forward_hook(self._hook)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None
        self.edit = None
