"""One documented place for the torchvision import workaround.

On these machines torch is the CPU build (2.13.0) while PyPI's torchvision 0.28.0 is a CUDA build whose
compiled operators cannot load next to it. torchvision's pure-Python parts (transforms, model
definitions, which open_clip needs) still work, but importing the package fails because its fake-tensor
registrations refer to operator schemas that the missing library would have defined. We define just those
schemas and import again. Where the compiled ops do load, the first import succeeds and nothing here runs.
"""
from __future__ import annotations

import sys
from types import ModuleType

_FRAGMENT = None  # keeps the torch.library fragment alive for the life of the process

# The schemas torchvision's _meta_registrations.py registers fake kernels for unconditionally.
_SCHEMAS = (
    "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
)


def import_torchvision() -> ModuleType:
    """Import torchvision, defining the missing operator schemas first if its compiled ops do not load."""
    global _FRAGMENT
    try:
        import torchvision

        return torchvision
    except RuntimeError as exc:
        if "torchvision::" not in str(exc):
            raise
    for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        del sys.modules[name]
    import torch

    _FRAGMENT = torch.library.Library("torchvision", "FRAGMENT")
    for schema in _SCHEMAS:
        _FRAGMENT.define(schema)
    import torchvision

    return torchvision
