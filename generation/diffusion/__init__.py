"""Pieces shared by the diffusion-based stylizers: the offline CLIP tokenizer (`tokenizer`), where weights are
(`hub`), Stable Diffusion parts (`sd`), images <-> tensors (`images`), the tiny seeded test models (`tiny`),
quieting diffusers' noise and choosing a dtype."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


@contextmanager
def quiet_diffusers() -> Iterator[None]:
    """Silence diffusers' warnings (not errors) for a block: e.g. its own same-dtype `.to()` calls inside
    `load_ip_adapter` / `from_pipe` warn about casting, which says nothing to our users."""
    from diffusers.utils import logging as dlogging

    level = dlogging.get_verbosity()
    dlogging.set_verbosity_error()
    try:
        yield
    finally:
        dlogging.set_verbosity(level)


def resolve_dtype(dtype: str | torch.dtype, device: str) -> torch.dtype:
    """A torch dtype from a name; "auto" is float16 on CUDA and float32 elsewhere."""
    from ..base import StylizeError

    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype == "auto":
        return torch.float16 if device.startswith("cuda") else torch.float32
    if dtype not in _DTYPES:
        raise StylizeError(f"dtype must be auto or one of {sorted(_DTYPES)}, got {dtype!r}")
    return _DTYPES[dtype]
