"""Stylizers that turn search results into new images (InstantStyle, DiffStyle, StyO, DualStyleGAN, PARASOL
and a fast offline one). Works on images and embeddings; imports `indexer`, never `retrieval`.

One interface (`generation.base.Stylizer`), one base every method fills in (`generation.method.Method`:
options, lazy loading, device/dtype, caches, progress; `generation.weights`, `generation.model_config`), one
registry (`generation.registry.create_stylizer`), and the shared steps every method can use: colour matching
(`generation.colour`), interpolation strips (`generation.interpolate`) and catalog records
(`generation.records`). Adding a method: `generation/README.md`.
"""
from .base import ContentRef, StyleRef, StylizeError, Stylizer, StylizeResult
from .registry import (
    create_stylizer,
    list_generators,
    list_methods,
    register,
    register_builtin,
)

register_builtin("fast", "generation.fast")
register_builtin("instantstyle", "generation.instantstyle")
register_builtin("diffstyle", "generation.diffstyle")
register_builtin("dualstylegan", "generation.dualstylegan", uses_workspace=True)
register_builtin("styo", "generation.styo", uses_workspace=True)
register_builtin("parasol", "generation.parasol", uses_workspace=True)

__all__ = [
    "ContentRef", "StyleRef", "StylizeError", "StylizeResult", "Stylizer",
    "create_stylizer", "list_generators", "list_methods", "register", "register_builtin",
]
