"""`signkit verify DATASET_DIR`: every shard's sha256 and the manifest against the shards."""

from __future__ import annotations

import json
import sys

import click


@click.command()
@click.argument("dataset_dir")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
def verify(dataset_dir: str, as_json: bool) -> None:
    """Check a packed dataset (a folder or a URL: s3://, gs://, https://): shard checksums and sizes, that
    dataset.json and the manifest match the shards, every sample's checksum, and members no manifest row names.

    Exits 1 and names every mismatch if anything is wrong.

    \b
    Example:
      signkit verify packed/wlasl100
    """
    from ..datasets import verify as verify_dataset

    report = verify_dataset(dataset_dir)
    if as_json:
        out = {
            "path": str(report.root),
            "ok": report.ok,
            "shards": report.shards_checked,
            "samples": report.samples_checked,
            "sample_checksums": report.sample_checksums,
            "problems": report.problems,
            "notes": report.notes,
        }
        click.echo(json.dumps(out, indent=2))
    else:
        for problem in report.problems:
            click.echo(f"FAIL {problem}", err=True)
        for note in report.notes:
            click.echo(f"note: {note}", err=True)
        if report.ok:
            click.echo(f"ok: {report.shards_checked} shards, {report.samples_checked} samples in {report.root}")
    if not report.ok:
        sys.exit(1)
