"""`signkit info PATH`: a one-screen summary of a pose file (packed datasets are summarised by the datasets layer)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..pose import PARTS, load_pose


def pose_summary(path: Path) -> dict:
    pose = load_pose(path)
    return {
        "path": str(path),
        "layout": pose.layout,
        "frames": pose.num_frames,
        "fps": pose.fps,
        "seconds": round(pose.duration, 3),
        "frame_size": pose.meta.get("frame_size"),
        "normalized": pose.meta.get("normalization") is not None,
        "detected": {p: round(pose.detected_ratio(p), 4) for p in PARTS},
        "extractor": pose.meta.get("extractor"),
        "flags": pose.meta.get("flags", []),
    }


@click.command()
@click.argument("path")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
def info(path: str, as_json: bool) -> None:
    """Summarise a pose file (.npz or .pose) or a packed dataset (a folder, or a URL: s3://, gs://, https://).

    \b
    Example:
      signkit info poses/clip01.npz --json
    """
    from ..datasets.location import is_url

    if is_url(path) or Path(path).is_dir():
        from ..datasets import dataset_summary  # the packed-dataset summary lives with the reader

        summary = dataset_summary(path)
    else:
        summary = pose_summary(Path(path))
    if as_json:
        click.echo(json.dumps(summary, indent=2, ensure_ascii=False))
        return
    for key, value in summary.items():
        click.echo(f"{key:>12}: {value}")
