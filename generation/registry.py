"""Name -> stylizer registry, in the style of open_clip: one `create_stylizer` factory and a listing
that `stylelens models list` shows (with whether each method's weights are present locally).

A method registered with `uses_workspace=True` keeps models in the workspace (WORKSPACE/models/<method>,
WORKSPACE/parasol): its factory and listing are given the caller's workspace as `workspace=` (a
`indexer.layout.WorkspaceLayout`, or None when there is none); the others never see it."""
from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from indexer.layout import WorkspaceLayout

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
    listing: Callable[..., list[GeneratorInfo]]
    uses_workspace: bool = False

    def create(self, workspace: WorkspaceLayout | None, options: dict[str, Any]) -> Stylizer:
        return self.factory(workspace=workspace, **options) if self.uses_workspace else self.factory(**options)

    def list(self, workspace: WorkspaceLayout | None) -> list[GeneratorInfo]:
        return self.listing(workspace) if self.uses_workspace else self.listing()


# method name -> (module, uses_workspace), imported lazily so `import generation` stays light
_BUILTIN: dict[str, tuple[str, bool]] = {}
_REGISTERED: dict[str, _Entry] = {}


def register(name: str, factory: Callable[..., Stylizer], listing: Callable[..., list[GeneratorInfo]], *,
             uses_workspace: bool = False) -> None:
    """Register a stylizer `factory(**options)` under `name` (tests register their own this way); with
    `uses_workspace`, `factory(workspace=..., **options)` and `listing(workspace)`."""
    _REGISTERED[name] = _Entry(factory, listing, uses_workspace)


def register_builtin(name: str, module: str, *, uses_workspace: bool = False) -> None:
    """Register a built-in method whose module defines `create(**options)` and `list_models()` (with
    `uses_workspace`: `create(workspace=..., **options)` and `list_models(workspace)`)."""
    _BUILTIN[name] = (module, uses_workspace)


def _entry(name: str) -> _Entry:
    if name in _REGISTERED:
        return _REGISTERED[name]
    if name in _BUILTIN:
        module, uses_workspace = _BUILTIN[name]
        mod = importlib.import_module(module)
        entry = _Entry(mod.create, mod.list_models, uses_workspace)
        _REGISTERED[name] = entry
        return entry
    raise StylizeError(f"unknown stylization method {name!r}; known: {', '.join(list_methods())}")


def list_methods() -> list[str]:
    """Every method name, built-in and registered, sorted."""
    return sorted(set(_BUILTIN) | set(_REGISTERED))


def create_stylizer(name: str, *, workspace: WorkspaceLayout | None = None, **options: Any) -> Stylizer:
    """Build the stylizer `name`; `options` select the model (e.g. `model=`, `device=`); `workspace` is where
    methods that keep models in a workspace look for them (e.g. `styo/NAME`)."""
    return _entry(name).create(workspace, options)


def list_generators(workspace: WorkspaceLayout | None = None) -> list[GeneratorInfo]:
    """Every generator model of every method (those kept in `workspace` included), for `stylelens models
    list`. A method whose module cannot be imported (an optional dependency missing, say) is one unavailable
    row with the reason, so one broken method never hides the others."""
    rows: list[GeneratorInfo] = []
    for name in list_methods():
        try:
            rows.extend(_entry(name).list(workspace))
        except Exception as exc:  # noqa: BLE001 - any import or listing failure becomes a visible row
            rows.append(GeneratorInfo(name, "", "", False, available=False, reason=f"{type(exc).__name__}: {exc}"))
    return rows
