"""A table in the terminal: one row per name, one column per field, values as `signkit._words.words` writes them
(`signkit info`'s splits, `signkit datasets inspect`'s splits and subsets)."""

from __future__ import annotations

from typing import Any


def is_table(value: Any) -> bool:
    """A non-empty dict of dicts: rows by name."""
    return isinstance(value, dict) and bool(value) and all(isinstance(v, dict) for v in value.values())


def print_table(title: str, rows: dict[str, dict[str, Any]]) -> None:
    """``rows`` under a header whose first column is ``title`` in the singular (``splits`` -> ``split``)."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    from .._words import words

    columns = list(dict.fromkeys(c for row in rows.values() for c in row))
    table = Table(title.rstrip("s"), *columns, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for name, row in rows.items():
        table.add_row(name, *[words(row.get(c)) for c in columns])
    Console().print(table)
