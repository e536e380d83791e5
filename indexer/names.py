"""User-given names that become one path component (run folders): plain names only, never a path.

`mine-triplets --run ../../../x` once wrote outside the workspace: a run name is joined to a workspace
folder, so it must not hold a separator, start with a dot or a dash, or be longer than a file name may be.
"""
from __future__ import annotations

import re

PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
PLAIN_NAME_RULE = "1-128 letters, digits, '.', '_' or '-', starting with a letter or digit"


class InvalidNameError(ValueError):
    """A name that cannot safely be a folder name."""


def check_plain_name(name: str, what: str) -> str:
    """Return `name` when it is a plain name (see PLAIN_NAME); raise InvalidNameError saying the rule."""
    if not isinstance(name, str) or not PLAIN_NAME.fullmatch(name):
        shown = repr(name) if not isinstance(name, str) or len(name) <= 60 else f"{name[:40]!r}... ({len(name)} characters)"
        raise InvalidNameError(f"{what} must be {PLAIN_NAME_RULE} (it names a folder), got {shown}")
    return name
