"""Widgets for a stylizer's parameters dataclass, read from its fields: what the form shows is exactly
what the method takes (the same names `stylelens stylize --param` uses), with the method's defaults."""
from __future__ import annotations

import dataclasses
import typing
from typing import Any, Literal, get_args, get_origin

import streamlit as st

from generation.base import ColourMatch

_CHOICES: dict[str, tuple[str, ...]] = {"colour_match": get_args(ColourMatch)}  # fields typed plain `str`


def _default(field: dataclasses.Field) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return None


def _widget(name: str, kind: Any, default: Any, key: str) -> tuple[bool, Any]:
    """(shown, value) for one field; types without a widget are left to the method's default."""
    label = name.replace("_", " ")
    if get_origin(kind) is Literal or name in _CHOICES:
        options = list(get_args(kind)) if get_origin(kind) is Literal else list(_CHOICES[name])
        return True, st.selectbox(label, options, index=options.index(default) if default in options else 0, key=key)
    if kind is bool:
        return True, st.checkbox(label, value=bool(default), key=key)
    if kind is int:
        return True, int(st.number_input(label, value=int(default or 0), step=1, key=key))
    if kind is float:
        return True, float(st.number_input(label, value=float(default or 0.0), step=0.05, format="%.3f", key=key))
    if kind is str:
        return True, st.text_input(label, value=default or "", key=key)
    if set(get_args(kind)) == {str, type(None)}:  # optional text: empty means the method's own default
        return True, st.text_input(label, value=default or "", key=key, placeholder="(default)") or None
    if set(get_args(kind)) in ({int, type(None)}, {float, type(None)}):  # optional number: empty = the default
        number = int if int in get_args(kind) else float
        value = st.number_input(label, value=default, step=1 if number is int else 0.05, key=key,
                                placeholder="(default)", **({} if number is int else {"format": "%.3f"}))
        return True, None if value is None else number(value)
    return False, None


def params_form(params_cls: type, key: str, columns: int = 3) -> dict[str, Any]:
    """One widget per field of `params_cls` that has a simple type, `columns` to a row; {field: value}."""
    try:
        hints = typing.get_type_hints(params_cls)
    except Exception:  # noqa: BLE001 - an annotation that does not resolve: no widget for that type
        hints = {f.name: f.type for f in dataclasses.fields(params_cls)}
    values: dict[str, Any] = {}
    row: list = []
    for i, field in enumerate(dataclasses.fields(params_cls)):
        if i % columns == 0:
            row = st.columns(columns)
        with row[i % columns]:
            shown, value = _widget(field.name, hints.get(field.name), _default(field), f"{key}-{field.name}")
        if shown:
            values[field.name] = value
    return values
