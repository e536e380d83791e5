"""Pieces shared by the diffusion-based stylizers: the offline CLIP tokenizer, quieting diffusers' noise."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


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
