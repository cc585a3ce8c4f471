"""The `signkit` command group.

Commands live in their own modules and are imported only when run (`LazyGroup`), so `signkit --help` stays
fast and a command that needs torch or mediapipe does not slow down the others. A `SignkitError` raised by the
library is printed as one line and exits with status 1; Ctrl-C exits with 130.
"""

from __future__ import annotations

import importlib
import sys

import click

from .. import __version__
from ..errors import SignkitError

# command name -> "module:attribute". Keep sorted; each module holds one click command or group.
COMMANDS = {
    "datasets": "signkit.cli.datasets:datasets",
    "demo": "signkit.cli.demo:demo",
    "evaluate": "signkit.cli.evaluate:evaluate",
    "extract": "signkit.cli.extract:extract",
    "finetune": "signkit.cli.finetune:finetune",
    "info": "signkit.cli.info:info",
    "pack": "signkit.cli.pack:pack",
    "predict": "signkit.cli.predict:predict",
    "pretrain": "signkit.cli.pretrain:pretrain",
    "show": "signkit.cli.show:show",
    "verify": "signkit.cli.verify:verify",
    "zoo": "signkit.cli.zoo:zoo_group",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attr = COMMANDS[name].split(":")
        return getattr(importlib.import_module(module), attr)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except SignkitError as e:
            raise click.ClickException(str(e).replace("\n", " ")) from None
        except KeyboardInterrupt:
            click.echo("interrupted; finished work is kept, rerun the same command to continue", err=True)
            sys.exit(130)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="signkit")
def cli() -> None:
    """signkit: sign videos -> normalised skeletons -> WebDataset shards -> fine-tuned models.

    \b
    Example:
      signkit extract videos/ -o poses/
      signkit show poses/clip01.npz -o clip01.mp4
    """


def main() -> None:
    cli(prog_name="signkit")
