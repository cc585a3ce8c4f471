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
    from .._urls import is_url
    from .._words import words
    from ._table import is_table, print_table

    if is_url(path) or Path(path).is_dir():
        from ..datasets import dataset_summary

        summary = dataset_summary(path)
    else:
        from ..pose import pose_summary

        summary = pose_summary(Path(path))
    if as_json:
        click.echo(json.dumps(summary, indent=2, ensure_ascii=False))
        return
    tables = {k: v for k, v in summary.items() if is_table(v)}
    width = max(len(k) for k in summary)
    for key, value in summary.items():
        if key not in tables:
            click.echo(f"{key:>{width}}: {words(value)}")
    for key, rows in tables.items():  # e.g. splits: one row per split
        print_table(key, rows)
