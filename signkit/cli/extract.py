"""`signkit extract INPUT... -o POSES_DIR`: videos, folders or clip lists -> normalised MediaPipe skeletons."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(path_type=Path), help="Pose folder.")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Worker processes (default: the cores).")
@click.option("--overwrite", is_flag=True, help="Redo clips whose output exists (default: skip them).")
@click.option("--model-complexity", type=click.IntRange(0, 2), default=1, show_default=True,
              help="MediaPipe pose model: 0 lite, 1 full (bundled), 2 heavy.")
@click.option("--refine-face", is_flag=True, help="478 face points with irises (layout mediapipe-holistic-refined).")
@click.option("--min-detection-confidence", type=click.FloatRange(0, 1), default=0.5, show_default=True)
@click.option("--min-tracking-confidence", type=click.FloatRange(0, 1), default=0.5, show_default=True)
@click.option("--no-normalize", is_flag=True, help="Keep image (pixel) coordinates.")
@click.option("--frame-fps", type=click.FloatRange(min=0, min_open=True), default=25.0, show_default=True,
              help="Frame rate of frame folders (PHOENIX, CSL-Daily: 25).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def extract(
    inputs: tuple[Path, ...],
    out_dir: Path,
    workers: int | None,
    overwrite: bool,
    model_complexity: int,
    refine_face: bool,
    min_detection_confidence: float,
    min_tracking_confidence: float,
    no_normalize: bool,
    frame_fps: float,
    as_json: bool,
    quiet: bool,
) -> None:
    """Extract MediaPipe Holistic skeletons from videos, frame folders or a clip list (.csv).

    One POSES_DIR/{key}.npz per clip (written atomically) and a JSONL run log POSES_DIR/extract-log.jsonl.
    A rerun skips finished clips, so an interrupted run is continued by running the same command again.
    Exits with status 1 if any clip failed (after all others finished).

    \b
    Example:
      signkit extract videos/ -o poses/
      signkit extract clips.csv -o poses/ --workers 8 --refine-face
    """
    from ..pose_extract import ExtractOptions, HolisticConfig
    from ..pose_extract import extract as run_extract
    from ._progress import ExtractProgress, print_summary

    options = ExtractOptions(
        holistic=HolisticConfig(model_complexity, refine_face, min_detection_confidence, min_tracking_confidence),
        normalize=not no_normalize,
        frame_fps=frame_fps,
    )
    with ExtractProgress(enabled=not quiet and not as_json) as progress:
        summary = run_extract(inputs, out_dir, options, workers=workers, overwrite=overwrite, on_event=progress.event)
    if as_json:
        click.echo(json.dumps(summary.as_dict(), indent=2, ensure_ascii=False))
    else:
        print_summary(summary)
    if summary.count("failed"):
        raise SystemExit(1)
