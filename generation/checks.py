"""Value checks shared by every method's `Params.validate`: each refuses a bad value with a StylizeError that
names the parameter and the accepted range, so the CLI and the Studio show the same one-line message."""
from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from .base import StylizeError

COLOUR_MATCH = ("none", "style", "content")


def check_int(name: str, value: Any, low: int, high: int) -> None:
    """An int (not a bool) in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise StylizeError(f"{name} must be an integer in [{low}, {high}], got {value!r}")


def check_optional_int(name: str, value: Any, low: int, high: int) -> None:
    """None, or an int in [low, high] (sizes that default to the model's own)."""
    if value is not None:
        check_int(name, value, low, high)


def check_number(name: str, value: Any, low: float, high: float = math.inf, *, low_open: bool = False) -> None:
    """A finite int or float (not a bool) in [low, high], or (low, high] with `low_open`."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = (value > low if low_open else value >= low) and value <= high
    if ok:
        return
    if math.isinf(high):
        raise StylizeError(f"{name} must be a finite number {'>' if low_open else '>='} {low:g}, got {value!r}")
    raise StylizeError(f"{name} must be a number in {'(' if low_open else '['}{low:g}, {high:g}], got {value!r}")


def check_bool(name: str, value: Any) -> None:
    """True or False (a JSON `true`/`false` from the CLI), nothing else."""
    if not isinstance(value, bool):
        raise StylizeError(f"{name} must be true or false, got {value!r}")


def check_choice(name: str, value: Any, options: Iterable[str]) -> None:
    """One of the named options."""
    options = tuple(options)
    if value not in options:
        raise StylizeError(f"{name} must be one of {', '.join(options)}, got {value!r}")


def check_colour_match(value: Any) -> None:
    """The shared post-processing choice every method's Params carries."""
    if value not in COLOUR_MATCH:
        raise StylizeError(f"colour_match must be none, style or content, got {value!r}")
