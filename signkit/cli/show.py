"""`signkit show PATH -o out.mp4|.gif|.png`: draw a pose file, optionally over its source video."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    "out",
    type=click.Path(path_type=Path),
    default=None,
    help="Output .mp4, .gif or .png (one frame). Default: PATH with .mp4.",
)
@click.option(
    "--video",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="Draw over this video (default: the source video recorded in the pose, if it exists; "
    "a video whose frame size differs from the pose's source is warned about).",
)
@click.option("--no-video", is_flag=True, help="Draw on a plain background even if the source video exists.")
@click.option("--frame", type=click.IntRange(min=0), default=None, help="Frame index for .png (default: middle).")
@click.option("--size", type=click.IntRange(min=64), default=None, help="Canvas size when drawn without a video.")
@click.option(
    "--min-conf",
    type=click.FloatRange(0, 1),
    default=0.5,
    show_default=True,
    help="Hide points less sure than this (conf 0 = not detected is never drawn).",
)
def show(
    path: Path,
    out: Path | None,
    video: Path | None,
    no_video: bool,
    frame: int | None,
    size: int | None,
    min_conf: float,
) -> None:
    """Draw a pose file (.npz or .pose): parts in distinct colours, undetected points not drawn.

    \b
    Example:
      signkit show poses/clip01.npz -o clip01.mp4
      signkit show poses/clip01.npz -o clip01.png --frame 10 --no-video
    """
    import warnings

    from ..draw import render

    out = out or path.with_suffix(".mp4")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        written = render(path, out, video=video, use_source=not no_video, frame=frame, size=size, min_conf=min_conf)
    for w in caught:
        click.echo(f"warning: {w.message}", err=True)
    click.echo(str(written))
