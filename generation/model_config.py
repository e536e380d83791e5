"""The one format every method saves a model's config in (as diffusers' `ConfigMixin` does for every model):
a JSON object with the method's own keys plus `format` (this module's version) and `method`, sorted keys,
written atomically. PARASOL's `parasol.json`, StyO's `styo.json` and DualStyleGAN's converted-file side JSON
all go through here. Files written before the format (without `format` / `method`: PARASOL checkpoints,
converted DualStyleGAN folders) still read, so existing user folders keep working.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from indexer.atomic import atomic_write_bytes

from .base import StylizeError

FORMAT = 1
_KEYS = ("format", "method")


class ConfigError(StylizeError):
    """A model config file is missing, unreadable, or another method's / format's."""


def write_config(path: str | Path, method: str, values: dict[str, Any]) -> Path:
    """Write `values` as `method`'s config at `path` (atomically); returns the path. `values` may carry
    `format` / `method` already (a config read back with `keep_keys`), with this format's values."""
    path = Path(path)
    for key, expected in (("format", FORMAT), ("method", method)):
        if key in values and values[key] != expected:
            raise ValueError(f"a {method} config cannot say {key}={values[key]!r}")
    data = {**values, "format": FORMAT, "method": method}
    atomic_write_bytes(path, json.dumps(data, indent=1, sort_keys=True).encode("utf-8"))
    return path


def read_config(path: str | Path, method: str, *, legacy: bool = True, keep_keys: bool = False) -> dict[str, Any]:
    """The config's own keys (with `keep_keys`, `format` / `method` too). With `legacy`, a file written before
    the format (neither key present) reads as it is. ConfigError when missing, unreadable, or not `method`'s."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path} is missing") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} is not a {method} model config (not a JSON object)")
    if legacy and not any(k in data for k in _KEYS):
        return data
    if data.get("format") != FORMAT or data.get("method") != method:
        raise ConfigError(f"{path} is not a {method} model config of format {FORMAT} (it says format "
                          f"{data.get('format')!r}, method {data.get('method')!r})")
    return data if keep_keys else {k: v for k, v in data.items() if k not in _KEYS}
