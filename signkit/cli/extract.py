"""`signkit extract INPUT... -o POSES_DIR`: videos, folders or clip lists -> normalised skeletons.

`--estimator` picks MediaPipe Holistic (default) or RTMW whole-body (`signkit.pose_extract.estimators`).

`--engine local` (default) runs worker processes here; `--engine ray` spreads the clips over a Ray cluster.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from .._progress import Progress

console = Console(stderr=True)


class ExtractProgress:
    """Receives the runner's events; shows videos done and frames/s, and one line per failed or flagged clip.

    The bar is signkit's one progress display (`signkit._progress`): a live bar on a terminal, periodic lines in a log.
    """

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self.frames = 0
        self.started = time.monotonic()
        self._bar: Progress | None = None

    def __enter__(self) -> ExtractProgress:
        return self

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.close()

    def _say(self, line: str) -> None:
        """Skipped, failed, flagged, ... lines are printed with or without the bar (``--quiet`` hides only the bar)."""
        if self._bar is not None:
            self._bar.write(line)
        else:
            console.print(line, highlight=False, markup=False)

    def event(self, kind: str, data: dict) -> None:
        if kind == "plan":
            self.started = time.monotonic()
            if data["skipped"]:
                self._say(f"skipping {data['skipped']} finished clips (use --overwrite to redo)")
            self._bar = Progress(total=data["todo"], desc="extract", unit="videos", enabled=self.enabled)
        elif kind == "waiting":
            self._say(f"waiting for another extract run on this output (lock {data['lock']})")
        elif kind == "redo":
            self._say(f"redoing {data['key']}: {data['reason']}")
        elif kind == "frames":
            self.frames += data["frames"]
            if self._bar is not None:
                elapsed = max(time.monotonic() - self.started, 1e-9)
                self._bar.set_postfix(frames=self.frames, fps=f"{self.frames / elapsed:.1f}")
        elif kind == "retry":
            result = data["result"]
            self._say(f"retrying {result.key}: {result.error}")
        elif kind == "done":
            result = data["result"]
            if self._bar is not None:
                self._bar.update(1)
            if result.status == "failed":
                self._say(f"failed {result.key}: {result.error}")
            elif result.flags:
                self._say(f"flagged {result.key}: {', '.join(result.flags)}")


def print_summary(summary) -> None:
    table = Table(title="signkit extract", show_header=True)
    for col in ("ok", "skipped", "failed", "flagged", "frames", "frames/s", "seconds"):
        table.add_column(col, justify="right")
    table.add_row(
        str(summary.count("ok")),
        str(summary.count("skipped")),
        str(summary.count("failed")),
        str(len(summary.flagged)),
        str(summary.frames),
        f"{summary.fps:.1f}",
        f"{summary.seconds:.1f}",
    )
    console.print(table)
    uploaded = f" (uploaded to {summary.log_url})" if summary.log_url else ""
    console.print(f"run log: {summary.log_path}{uploaded}", highlight=False)


@click.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    "out_dir",
    required=True,
    metavar="POSES_DIR|URL",
    help="Pose folder, or an fsspec URL (s3://bucket/poses, gs://..., file://...).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Worker processes (default: the cores; with --engine ray: the cluster's CPUs).",
)
@click.option(
    "--engine",
    type=click.Choice(["local", "ray"]),
    default="local",
    show_default=True,
    help="Run the workers here, or as Ray actors on a cluster (pip install 'signkit[ray]').",
)
@click.option(
    "--address",
    default=None,
    metavar="ADDR",
    help="Ray cluster to join: 'auto' or host:port (default: start Ray here with --workers CPUs).",
)
@click.option(
    "--log",
    "log_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Run log (default: POSES_DIR/extract-log.jsonl; for a URL: ./extract-log-<url>.jsonl, "
    "merged into URL/extract-log.jsonl at the end).",
)
@click.option("--overwrite", is_flag=True, help="Redo clips whose output exists (default: skip them).")
@click.option(
    "--estimator",
    default="mediapipe-holistic",
    show_default=True,
    metavar="NAME",
    help="mediapipe-holistic (pip install 'signkit[mediapipe]') or rtmw (COCO-WholeBody-133 via "
    "onnxruntime, the keypoints public checkpoints were trained on; pip install 'signkit[rtmpose]').",
)
@click.option(
    "--preset",
    default=None,
    metavar="NAME",
    help="rtmw: unisign = Uni-Sign's extraction (mode lightweight, whole image when no person is found).",
)
@click.option(
    "--mode",
    default=None,
    type=click.Choice(["lightweight", "balanced", "performance"]),
    help="rtmw: rtmlib's model pair (default lightweight: YOLOX-tiny + RTMW-l 256x192).",
)
@click.option(
    "--device",
    default=None,
    type=click.Choice(["auto", "cpu", "cuda"]),
    help="rtmw: onnxruntime device (default auto: CUDA where available).",
)
@click.option(
    "--model-complexity",
    type=click.IntRange(0, 2),
    default=None,
    help="mediapipe-holistic: pose model 0 lite, 1 full (bundled, default), 2 heavy.",
)
@click.option(
    "--refine-face",
    is_flag=True,
    default=None,
    help="mediapipe-holistic: 478 face points with irises (layout mediapipe-holistic-refined).",
)
@click.option(
    "--min-detection-confidence", type=click.FloatRange(0, 1), default=None, help="mediapipe-holistic (default 0.5)."
)
@click.option(
    "--min-tracking-confidence", type=click.FloatRange(0, 1), default=None, help="mediapipe-holistic (default 0.5)."
)
@click.option("--no-normalize", is_flag=True, help="Keep image (pixel) coordinates.")
@click.option(
    "--frame-fps",
    type=click.FloatRange(min=0, min_open=True),
    default=25.0,
    show_default=True,
    help="Frame rate of frame folders (PHOENIX, CSL-Daily: 25).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def extract(
    inputs: tuple[Path, ...],
    out_dir: str,
    workers: int | None,
    engine: str,
    address: str | None,
    log_path: Path | None,
    overwrite: bool,
    estimator: str,
    preset: str | None,
    mode: str | None,
    device: str | None,
    model_complexity: int | None,
    refine_face: bool | None,
    min_detection_confidence: float | None,
    min_tracking_confidence: float | None,
    no_normalize: bool,
    frame_fps: float,
    as_json: bool,
    quiet: bool,
) -> None:
    """Extract skeletons (MediaPipe Holistic or RTMW whole-body) from videos, frame folders or a clip list (.csv).

    One POSES_DIR/{key}.npz per clip (written atomically) and a JSONL run log POSES_DIR/extract-log.jsonl.
    Folders are searched recursively; links to folders are followed, each real folder once (loops are skipped).
    A rerun skips finished clips, so an interrupted run is continued by running the same command again.
    Exits with status 1 if any clip failed (after all others finished).

    With --engine ray the clips are spread over a Ray cluster (a failed clip is retried once); inputs and a
    folder output must be on a filesystem every node mounts at the same path.

    \b
    Example:
      signkit extract videos/ -o poses/
      signkit extract clips.csv -o poses/ --workers 8 --refine-face
      signkit extract videos/ -o poses-rtmw/ --estimator rtmw --preset unisign
      signkit extract /shared/videos -o s3://bucket/poses --engine ray --address auto
    """
    from ..pose_extract import ExtractOptions
    from ..pose_extract import extract as run_extract

    config = estimator_from_options(
        estimator,
        preset,
        {
            "mode": mode,
            "device": device,
            "model_complexity": model_complexity,
            "refine_face": refine_face,
            "min_detection_confidence": min_detection_confidence,
            "min_tracking_confidence": min_tracking_confidence,
        },
    )
    options = ExtractOptions(estimator=config, normalize=not no_normalize, frame_fps=frame_fps)
    with ExtractProgress(enabled=not quiet and not as_json) as progress:
        summary = run_extract(
            inputs,
            out_dir,
            options,
            workers=workers,
            overwrite=overwrite,
            on_event=progress.event,
            engine=engine,
            address=address,
            log_path=log_path,
        )
    if as_json:
        click.echo(json.dumps(summary.as_dict(), indent=2, ensure_ascii=False))
    else:
        print_summary(summary)
    if summary.count("failed"):
        raise SystemExit(1)


# which CLI options belong to which estimator (options of another estimator are refused in one line)
ESTIMATOR_OPTIONS = {
    "mediapipe-holistic": ("model_complexity", "refine_face", "min_detection_confidence", "min_tracking_confidence"),
    "rtmw": ("mode", "device", "preset"),
}


def estimator_from_options(name: str, preset: str | None, given: dict):
    """The estimator config for ``--estimator NAME`` and the options given on the command line."""
    from ..errors import ExtractError
    from ..pose_extract.estimators import estimator_config, estimator_entry

    estimator_entry(name)  # unknown names list the known ones
    own = ESTIMATOR_OPTIONS.get(name, ())
    given = {k: v for k, v in given.items() if v is not None}
    if preset is not None:
        given["preset"] = preset
    foreign = [k for k in given if k not in own]
    if foreign:
        flags = ", ".join("--" + k.replace("_", "-") for k in foreign)
        raise ExtractError(
            f"{flags} {'is' if len(foreign) == 1 else 'are'} not an option of --estimator {name} "
            f"(its options: {', '.join('--' + k.replace('_', '-') for k in own) or 'none'})"
        )
    if name == "rtmw" and "preset" in given:
        from ..pose_extract.rtmpose import RTMWConfig

        return RTMWConfig.preset(given.pop("preset"), **given)
    return estimator_config(name, **given)
