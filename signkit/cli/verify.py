"""`signkit verify DATASET_DIR`: every shard's sha256 and the manifest against the shards."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click


@click.command()
@click.argument("dataset_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
def verify(dataset_dir: Path, as_json: bool) -> None:
    """Check a packed dataset: shard checksums and sizes, and that the manifest matches the shards.

    Exits 1 and names every mismatch if anything is wrong.

    \b
    Example:
      signkit verify packed/wlasl100
    """
    from ..datasets import verify as verify_dataset

    report = verify_dataset(dataset_dir)
    if as_json:
        out = {"path": str(report.root), "ok": report.ok, "shards": report.shards_checked,
               "samples": report.samples_checked, "problems": report.problems}  # fmt: skip
        click.echo(json.dumps(out, indent=2))
    else:
        for problem in report.problems:
            click.echo(f"FAIL {problem}", err=True)
        if report.ok:
            click.echo(f"ok: {report.shards_checked} shards, {report.samples_checked} samples in {report.root}")
    if not report.ok:
        sys.exit(1)
