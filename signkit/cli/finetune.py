"""`signkit finetune`: fine-tune a zoo model or config on a packed dataset (thin layer over signkit.train)."""

from __future__ import annotations

import click

from ._train_options import run_training, train_options


@click.command()
@click.option(
    "--model",
    default="sigma-tiny",
    show_default=True,
    help="Zoo name (pre-trained weights), run folder or weights file to start from.",
)
@click.option(
    "--from-scratch",
    is_flag=True,
    default=None,
    help="Random weights: --model names a config (sigma-tiny, sigma-base; stgcn-tiny: ISLR only).",
)
@click.option(
    "--task", type=click.Choice(["islr", "cslr", "slt"]), help="Task (default: from --train-config, else islr)."
)
@train_options
def finetune(model: str, task: str | None, from_scratch: bool | None, **opts) -> None:
    """Fine-tune a model for isolated (islr) or continuous (cslr) recognition, or translation (slt).

    Checkpoints every --ckpt-every steps and keeps the best on the dev split; after an interruption (even
    kill -9) the same command with --resume continues exactly. Runs under torchrun for several GPUs.

    \b
    Example:
      signkit finetune --model sigma-tiny --data packed/lexicon --task islr -o runs/lexicon
      signkit finetune --model sigma-tiny --data packed/lexicon --task islr -o runs/lexicon --resume
      torchrun --nproc-per-node 4 -m signkit finetune --model sigma-base --data packed/wlasl --task islr -o runs/w
    """
    run_training("finetune", {"model": model, "task": task, "from_scratch": from_scratch}, opts)
