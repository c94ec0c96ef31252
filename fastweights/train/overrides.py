"""Typed ``--section.field=value`` overrides of dataclass configs (for ``fwp train``).

``apply_overrides(sections, ["task.n_pairs=8", "train.lr=1e-3"])`` parses each value with the
type of the field it names (int, float, bool, str, or a tuple of those) and rejects unknown
sections and fields and unparsable values with one clear ``ValueError``. A boolean field given
bare (``train.compile``) is set to true.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from typing import Any

_BOOLS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def _parse(text: str, kind: Any, where: str) -> Any:
    origin = typing.get_origin(kind)
    if origin is typing.Union or str(origin) == "<class 'types.UnionType'>":
        options = [k for k in typing.get_args(kind) if k is not type(None)]
        if text.lower() == "none" and len(options) < len(typing.get_args(kind)):
            return None
        kind = options[0]
        origin = typing.get_origin(kind)
    if origin is tuple:
        item = typing.get_args(kind)[0]
        return tuple(_parse(part, item, where) for part in text.split(",") if part)
    try:
        if kind is bool:
            return _BOOLS[text.lower()]
        if kind in (int, float, str):
            return kind(text)
    except (KeyError, ValueError):
        raise ValueError(f"{where}: expected {kind.__name__}, got {text!r}") from None
    raise ValueError(f"{where}: fields of type {kind} cannot be set from the command line")


def apply_overrides(
    sections: Mapping[str, tuple[type, dict[str, Any]]], overrides: list[str]
) -> dict[str, dict[str, Any]]:
    """``sections``: name -> (dataclass, its field values). Returns the updated field values."""
    values = {name: dict(fields) for name, (_, fields) in sections.items()}
    for override in overrides:
        key, sep, text = override.partition("=")
        section, dot, field = key.removeprefix("--").partition(".")
        if not dot:
            raise ValueError(f"override {override!r} is not of the form section.field=value")
        if section not in sections:
            raise ValueError(f"unknown section {section!r} in {override!r}; known: "
                             f"{', '.join(sections)}")  # fmt: skip
        cls = sections[section][0]
        hints = typing.get_type_hints(cls)
        names = [f.name for f in dataclasses.fields(cls) if f.init]
        if field not in names:
            raise ValueError(f"unknown field {section}.{field}; known: {', '.join(names)}")
        if not sep and hints[field] is not bool:
            raise ValueError(f"override {override!r} is not of the form section.field=value")
        text = text if sep else "true"  # a bare boolean field: --train.compile
        values[section][field] = _parse(text, hints[field], f"{section}.{field}")
    return values
