"""``signkit demo``: signkit's main job on the clips embedded in the package, as a list of named steps.

Each step is a function ``(ctx) -> dict`` that reads what earlier steps put in ``ctx`` and returns its result,
which `run_demo` prints as one readable line per step (``signkit demo --json`` gives the results whole). The model
half of the steps (pack, finetune, evaluate) lives in `signkit.train._demo`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from ._words import words
from .errors import SignkitError
from .train import _demo as _train_demo  # the model half of the demo (pack, finetune, evaluate)


@dataclass
class DemoContext:
    """What the steps share: the output folder and whatever earlier steps produced."""

    out_dir: Path
    workers: int | None = None
    state: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Step:
    name: str
    run: Callable[[DemoContext], dict]


def asset_clips() -> list[Path]:
    """The embedded real-human clips (see ``signkit/assets/README.md``)."""
    root = resources.files("signkit") / "assets"
    return sorted(Path(str(p)) for p in root.iterdir() if p.name.endswith(".mp4"))


def _extract(ctx: DemoContext) -> dict:
    from .pose_extract import extract

    poses = ctx.out_dir / "poses"
    summary = extract(asset_clips(), poses, workers=ctx.workers)
    if summary.count("failed"):
        raise SignkitError(f"demo extraction failed: {summary.as_dict()['failures']}")
    ctx.state["poses"] = poses
    ctx.state["pose_files"] = sorted(poses.glob("*.npz"))
    return {"poses": str(poses), **{k: v for k, v in summary.as_dict().items() if k in ("ok", "skipped", "frames")}}


def _check(ctx: DemoContext) -> dict:
    from .pose import PARTS, load_pose

    detected = {}
    for path in ctx.state["pose_files"]:
        pose = load_pose(path)
        detected[path.stem] = {p: round(pose.detected_ratio(p), 2) for p in PARTS}
        if pose.detected_ratio("body") < 0.9 or pose.meta.get("normalization") is None:
            raise SignkitError(f"demo: {path} should show a normalised body in most frames; got {detected[path.stem]}")
    return {"detected": detected}


def _show(ctx: DemoContext) -> dict:
    from .draw import render

    shown = ctx.out_dir / "show"
    written = [str(render(p, shown / f"{p.stem}.mp4")) for p in ctx.state["pose_files"]]
    return {"videos": written}


STEPS: list[Step] = [
    Step("extract", _extract),
    Step("check", _check),
    Step("show", _show),
    # the model half: pack the real fingerspelling lexicon, fine-tune sigma-tiny, evaluate vs the majority class
    Step("pack", _train_demo.pack_step),
    Step("finetune", _train_demo.finetune_step),
    Step("evaluate", _train_demo.evaluate_step),
]


def describe(name: str, result: dict) -> str:
    """One line for step ``name``: its own summary where it has one, else its fields; then its time."""
    fields = {k: v for k, v in result.items() if k != "seconds"}
    body = fields["summary"] if "summary" in fields else words(fields)
    return f"{name:<9} {body} ({result.get('seconds', 0):.1f} s)"


def run_demo(out_dir: str | os.PathLike, workers: int | None = None, echo: Callable[[str], None] = print) -> dict:
    """Run every step of `STEPS` into ``out_dir``; returns ``{step: result}`` (each with its seconds)."""
    ctx = DemoContext(Path(out_dir), workers)
    ctx.out_dir.mkdir(parents=True, exist_ok=True)
    results = {}
    for step in STEPS:
        t0 = time.monotonic()
        result = step.run(ctx)
        result["seconds"] = round(time.monotonic() - t0, 2)
        results[step.name] = result
        echo(describe(step.name, result))
    return results
