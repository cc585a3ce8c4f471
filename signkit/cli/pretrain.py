"""`signkit pretrain`: Sigma pre-training (HAL + SGT objectives) on a packed dataset with text."""

from __future__ import annotations

import click

from ._train_options import run_training, train_options


@click.command()
@click.option(
    "--config",
    "arch",
    default="sigma-tiny",
    show_default=True,
    help="Model config (sigma-tiny, sigma-base) or a checkpoint to continue pre-training from.",
)
@train_options
def pretrain(arch: str, **opts) -> None:
    """Pre-train a Sigma model with its objectives (hierarchical alignment + sign-grounded text encoder).

    The samples need their spoken-language text. Make the result a zoo entry with `signkit zoo export`.

    \b
    Example:
      signkit pretrain --config sigma-tiny --data packed/how2sign -o runs/pre
      signkit zoo export runs/pre -o export/
    """
    run_training("pretrain", {"model": arch, "task": "pretrain"}, opts)
