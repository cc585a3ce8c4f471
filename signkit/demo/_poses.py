"""The demo's pose half: extract skeletons from the real-human clips embedded in the package, check and draw them."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from ..errors import SignkitError
from ._context import DemoContext


def asset_clips() -> list[Path]:
    """The embedded real-human clips (see ``signkit/assets/README.md``)."""
    root = resources.files("signkit") / "assets"
    return sorted(Path(str(p)) for p in root.iterdir() if p.name.endswith(".mp4"))


def _pose_files(ctx: DemoContext) -> list[Path]:
    return sorted(ctx.poses.glob("*.npz"))


def extract_step(ctx: DemoContext) -> dict:
    from ..pose_extract import extract

    summary = extract(asset_clips(), ctx.poses, workers=ctx.workers)
    if summary.count("failed"):
        raise SignkitError(f"demo extraction failed: {summary.as_dict()['failures']}")
    return {"poses": str(ctx.poses), **{k: v for k, v in summary.as_dict().items() if k in ("ok", "skipped", "frames")}}


def check_step(ctx: DemoContext) -> dict:
    from ..pose import PARTS, load_pose

    detected = {}
    for path in _pose_files(ctx):
        pose = load_pose(path)
        detected[path.stem] = {p: round(pose.detected_ratio(p), 2) for p in PARTS}
        if pose.detected_ratio("body") < 0.9 or pose.meta.get("normalization") is None:
            raise SignkitError(f"demo: {path} should show a normalised body in most frames; got {detected[path.stem]}")
    return {"detected": detected}


def show_step(ctx: DemoContext) -> dict:
    from ..draw import render

    shown = ctx.out_dir / "show"
    return {"videos": [str(render(p, shown / f"{p.stem}.mp4")) for p in _pose_files(ctx)]}
