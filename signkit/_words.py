"""Values as a person reads them in a terminal line (``a 1, b (c 0.5)``), not Python reprs: the one rule that
`signkit demo` and `signkit info` print with (``--json`` gives machines the values themselves)."""

from __future__ import annotations

from typing import Any


def words(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} ({words(v)})" if isinstance(v, dict) else f"{k} {words(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(words(v) for v in value)
    if isinstance(value, float):
        return str(round(value, 2))  # 29.97 fps stays 29.97; 24.6377 reads 24.64
    if value is None:
        return "-"
    return str(value)
