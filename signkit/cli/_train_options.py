"""Options shared by `signkit finetune` and `signkit pretrain` (one decorator, one place)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import click


class ConfigOption(click.Option):
    """An option that overrides a `TrainConfig` field; its help shows the field's default, read only when help is
    printed (signkit.train imports torch, which `signkit --help` should not wait for)."""

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        record = super().get_help_record(ctx)
        from ..train.config import TrainConfig

        default = {f.name: f.default for f in dataclasses.fields(TrainConfig)}.get(self.name)
        if record is None or default is None or isinstance(default, bool) or self.is_flag:
            return record
        return record[0], f"{record[1]}  [default: {default}]"


def _config(*decls: str, **attrs):
    return click.option(*decls, cls=ConfigOption, **attrs)


_OPTIONS = [
    click.option(
        "--data",
        required=True,
        help="Packed dataset (written by `signkit pack`): a folder or a URL (s3://, gs://, https://).",
    ),
    click.option(
        "-o",
        "--output",
        "run_dir",
        required=True,
        type=click.Path(file_okay=False, path_type=Path),
        help="Run folder: config, checkpoints, metrics.jsonl.",
    ),
    click.option(
        "--train-config",
        "config_file",
        type=click.Path(exists=True, dir_okay=False),
        help="JSON/TOML file of training options; CLI options override it.",
    ),
    click.option(
        "--set",
        "items",
        multiple=True,
        metavar="KEY=VALUE",
        help="Override any training option, e.g. --set warmup_steps=500 (repeatable).",
    ),
    _config("--max-steps", type=int, help="Optimiser steps to train for."),
    _config("--batch-size", type=int, help="Global batch size per micro-step (split across torchrun ranks)."),
    _config("--grad-accum", type=int, help="Micro-batches per optimiser step."),
    _config("--lr", type=float, help="Backbone learning rate (AdamW, warm-up + cosine)."),
    _config("--head-lr", type=float, help="Task-head learning rate (default 10 x --lr when fine-tuning)."),
    _config("--max-frames", type=int, help="Crop clips to at most this many frames."),
    _config("--seed", type=int, help="Seed of model init, data order and augmentation."),
    _config("--num-workers", type=int, help="DataLoader worker processes."),
    _config("--eval-every", type=int, help="Evaluate on the dev split every N steps."),
    _config("--ckpt-every", type=int, help="Checkpoint every N steps."),
    _config("--precision", type=click.Choice(["auto", "bf16", "fp32"]), help="auto: bf16 on GPU, fp32 on CPU."),
    click.option("--tensorboard", is_flag=True, default=None, help="Also log to RUN_DIR/tensorboard."),
    click.option("--resume", is_flag=True, help="Continue the run in -o from its latest checkpoint (same options)."),
    click.option("--no-progress", is_flag=True, help="No progress bar (logs still go to metrics.jsonl)."),
    click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object."),
]

OVERRIDES = (
    "max_steps",
    "batch_size",
    "grad_accum",
    "lr",
    "head_lr",
    "max_frames",
    "seed",
    "num_workers",
    "eval_every",
    "ckpt_every",
    "precision",
    "tensorboard",
)


def train_options(f):
    for option in reversed(_OPTIONS):
        f = option(f)
    return f


def run_training(kind: str, fixed: dict, opts: dict) -> None:
    """Resolve the config, run `signkit.train.finetune`/`pretrain`, print the outcome (rank 0 only)."""
    from ..train import distributed as D
    from ..train import finetune, pretrain, resolve_config

    overrides = {k: opts[k] for k in OVERRIDES if opts.get(k) is not None}
    overrides.update({k: v for k, v in fixed.items() if v is not None})
    overrides["data"] = str(opts["data"])
    if opts["no_progress"]:
        overrides["progress"] = False
    config = resolve_config(opts["config_file"], overrides, opts["items"])
    result = (finetune if kind == "finetune" else pretrain)(config, opts["run_dir"], resume=opts["resume"])
    D.shutdown()
    if not D.env_info().is_main:
        return
    summary = {
        "run_dir": str(result.run_dir),
        "steps": result.state.step,
        "samples_seen": result.state.samples_seen,
        "best_step": result.state.best_step,
        "best": result.best_eval,
        "last": result.last_eval,
    }
    if opts["as_json"]:
        click.echo(json.dumps(summary, indent=2, default=float))
        return
    click.echo(f"trained {result.state.step} steps -> {result.run_dir}")
    if result.best_eval:
        shown = ", ".join(f"{k} {v:.2f}" for k, v in result.best_eval.items() if isinstance(v, float))
        click.echo(f"best on dev (step {result.state.best_step}): {shown}")
