"""``signkit demo``: signkit's main job on data shipped with the package, as a list of named steps.

An application beside the CLI (``signkit.cli.demo`` parses options and calls `run_demo`). Each step is a function
``(DemoContext) -> dict``; `run_demo` prints one readable line per step (``signkit demo --json`` gives the results
whole). The pose half (extract, check, show the embedded clips) is in ``_poses``, the model half (ISLR on the
fingerspelling lexicon, CSLR on fingerspelled words) in ``_model``; both import torch and the libraries they use
only when their step runs, so ``import signkit.demo`` stays light.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from .._words import words
from . import _model, _poses
from ._context import DemoContext, Step
from ._poses import asset_clips

STEPS: list[Step] = [
    Step("extract", _poses.extract_step),
    Step("check", _poses.check_step),
    Step("show", _poses.show_step),
    Step("pack", _model.pack_step),
    Step("finetune", _model.finetune_step),
    Step("evaluate", _model.evaluate_step),
    Step("words", _model.words_step),
    Step("cslr", _model.cslr_step),
]

__all__ = ["STEPS", "DemoContext", "Step", "asset_clips", "describe", "run_demo"]


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
