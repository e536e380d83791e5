"""Name -> stylizer registry, in the style of open_clip: one `create_stylizer` factory and a listing
that `stylelens models list` shows (with whether each method's weights are present locally)."""
from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .base import StylizeError, Stylizer


@dataclass(frozen=True)
class GeneratorInfo:
    """One row of `models list` for a generator: a method + model id and whether it can run here."""

    method: str
    model_id: str
    description: str
    weights_present: bool
    licence: str = ""
    available: bool = True  # False when the method's module cannot be imported here
    reason: str = ""        # why it is unavailable


@dataclass(frozen=True)
class _Entry:
    factory: Callable[..., Stylizer]
    listing: Callable[[], list[GeneratorInfo]]


# method name -> "module:factory,listing", imported lazily so `import generation` stays light
_BUILTIN: dict[str, str] = {}
_REGISTERED: dict[str, _Entry] = {}


def register(name: str, factory: Callable[..., Stylizer], listing: Callable[[], list[GeneratorInfo]]) -> None:
    """Register a stylizer `factory(**options)` under `name` (tests register their own this way)."""
    _REGISTERED[name] = _Entry(factory, listing)


def register_builtin(name: str, module: str) -> None:
    """Register a built-in method whose module defines `create(**options)` and `list_models()`."""
    _BUILTIN[name] = module


def _entry(name: str) -> _Entry:
    if name in _REGISTERED:
        return _REGISTERED[name]
    if name in _BUILTIN:
        mod = importlib.import_module(_BUILTIN[name])
        entry = _Entry(mod.create, mod.list_models)
        _REGISTERED[name] = entry
        return entry
    raise StylizeError(f"unknown stylization method {name!r}; known: {', '.join(list_methods())}")


def list_methods() -> list[str]:
    """Every method name, built-in and registered, sorted."""
    return sorted(set(_BUILTIN) | set(_REGISTERED))


def create_stylizer(name: str, **options: Any) -> Stylizer:
    """Build the stylizer `name`; `options` select the model (e.g. `model=`, `device=`)."""
    return _entry(name).factory(**options)


def list_generators() -> list[GeneratorInfo]:
    """Every generator model of every method, for `stylelens models list`. A method whose module cannot
    be imported (an optional dependency missing, say) is one unavailable row with the reason, so one
    broken method never hides the others."""
    rows: list[GeneratorInfo] = []
    for name in list_methods():
        try:
            rows.extend(_entry(name).listing())
        except Exception as exc:  # noqa: BLE001 - any import or listing failure becomes a visible row
            rows.append(GeneratorInfo(name, "", "", False, available=False, reason=f"{type(exc).__name__}: {exc}"))
    return rows
