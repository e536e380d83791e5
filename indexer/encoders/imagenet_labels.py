"""The 1000 ImageNet-1k class names (open_clip's cleaned names), read without importing open_clip.

Why: `from open_clip.zero_shot_metadata import IMAGENET_CLASSNAMES` runs open_clip's package __init__, which
imports torch, torchvision and transformers (~5 s of a cold text query here) for a tuple of strings. The
names are a literal in that one file, so it is parsed with `ast.literal_eval` (no code runs); if open_clip
ever stops writing them as a literal, the ordinary import is the fallback.
"""
from __future__ import annotations

import ast
import importlib.util
from functools import lru_cache
from pathlib import Path

_MODULE = "open_clip"
_FILE = "zero_shot_metadata.py"
_NAME = "IMAGENET_CLASSNAMES"
N_CLASSES = 1000


@lru_cache(maxsize=1)
def imagenet_labels() -> tuple[str, ...]:
    """The 1000 ImageNet-1k class names in class-index order (no download)."""
    names = _literal_from_file()
    if names is None:
        names = _imported()
    if len(names) != N_CLASSES or not all(isinstance(n, str) for n in names):
        raise RuntimeError(f"{_MODULE}.{_NAME} holds {len(names)} entries, expected {N_CLASSES} class names")
    return tuple(names)


def _literal_from_file() -> tuple[str, ...] | None:
    """The tuple assigned to IMAGENET_CLASSNAMES in open_clip's metadata file, or None if not found so."""
    spec = importlib.util.find_spec(_MODULE)  # a top-level package's spec: nothing is imported
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / _FILE
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return None
    for node in tree.body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
                and node.targets[0].id == _NAME):
            try:
                return tuple(ast.literal_eval(node.value))
            except (ValueError, TypeError, SyntaxError):
                return None
    return None


def _imported() -> tuple[str, ...]:
    """The slow, ordinary way: import open_clip (and torchvision, with this project's workaround)."""
    from ..compat import import_torchvision

    import_torchvision()
    from open_clip.zero_shot_metadata import IMAGENET_CLASSNAMES

    return tuple(IMAGENET_CLASSNAMES)
