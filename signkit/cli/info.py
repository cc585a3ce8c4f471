"""`signkit info PATH`: a one-screen summary of a pose file or a packed dataset (the summaries are library
functions: `signkit.pose.pose_summary`, `signkit.datasets.dataset_summary`)."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command()
@click.argument("path")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
def info(path: str, as_json: bool) -> None:
    """Summarise a pose file (.npz or .pose) or a packed dataset (a folder, or a URL: s3://, gs://, https://).

    \b
    Example:
      signkit info poses/clip01.npz --json
    """
    from .._words import words
    from ..datasets.location import is_url

    if is_url(path) or Path(path).is_dir():
        from ..datasets import dataset_summary

        summary = dataset_summary(path)
    else:
        from ..pose import pose_summary

        summary = pose_summary(Path(path))
    if as_json:
        click.echo(json.dumps(summary, indent=2, ensure_ascii=False))
        return
    tables = {k: v for k, v in summary.items() if _is_table(v)}
    width = max(len(k) for k in summary)
    for key, value in summary.items():
        if key not in tables:
            click.echo(f"{key:>{width}}: {words(value)}")
    for key, rows in tables.items():  # e.g. splits: one row per split
        _print_table(key, rows)


def _is_table(value) -> bool:
    return isinstance(value, dict) and bool(value) and all(isinstance(v, dict) for v in value.values())


def _print_table(title: str, rows: dict[str, dict]) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    from .._words import words

    columns = list(dict.fromkeys(c for row in rows.values() for c in row))
    table = Table(title.rstrip("s"), *columns, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for name, row in rows.items():
        table.add_row(name, *[words(row.get(c)) for c in columns])
    Console().print(table)
