"""Model weights in memory torch allocated itself, not views into a memory-mapped weights file.

safetensors' `load_file`, and diffusers' `from_pretrained` reading through it, hand out tensors that are
views into the mapped file at the file's own offsets, which the format aligns to 8 bytes only. oneMKL
rounds a product differently when a weight is not 16-byte aligned (its guide asks for 64 for reproducible
results), so the same weights computed other bits depending on how they were loaded: DualStyleGAN's
converted checkpoint gave one pixel one level off the original's, and a fine-tune resumed from its files
could drift from the uninterrupted run. Tensors torch allocates on the CPU are 64-byte aligned, so moving
the unaligned ones into fresh memory makes every load path compute the same bits on one machine.
"""
from __future__ import annotations

from typing import TypeVar

import torch

ALIGNMENT = 64  # bytes: torch's CPU allocator alignment, and oneMKL's advice for reproducibility

M = TypeVar("M", bound=torch.nn.Module)


def _unaligned(t: torch.Tensor) -> bool:
    return t.device.type == "cpu" and t.numel() > 0 and t.data_ptr() % ALIGNMENT != 0


def aligned_tensors(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The same tensors, each unaligned one copied into torch-allocated memory."""
    return {k: v.clone() if _unaligned(v) else v for k, v in tensors.items()}


def align_module(module: M) -> M:
    """Give every unaligned CPU parameter and buffer of `module` torch-allocated memory (in place)."""
    with torch.no_grad():
        for sub in module.modules():
            for store in (sub._parameters, sub._buffers):
                for name, t in store.items():
                    if t is not None and _unaligned(t):
                        t.data = t.data.clone()
    return module
