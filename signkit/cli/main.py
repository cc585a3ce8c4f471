"""The `signkit` command group.

Commands live in their own modules and are imported only when run (`LazyGroup`), so `signkit --help` stays
fast and a command that needs torch or mediapipe does not slow down the others. A `SignkitError` raised by the
library is printed as one line and exits with status 1, and so is an `OSError` (an output that cannot be written:
a read-only filesystem, ``-o`` naming a file, a full disk; `os_error_message` is the one rule for every command).
Ctrl-C exits with 130.
"""

from __future__ import annotations

import errno
import importlib
import os
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


# commands whose interrupted work is continued with --resume, not by rerunning the same command
RESUME_FLAG = {"finetune", "pretrain"}

_OS_HINTS = {
    errno.EROFS: "read-only; choose a writable output path, or SIGNKIT_HOME for the zoo cache",
    errno.EACCES: "choose an output path you can write, or SIGNKIT_HOME for the zoo cache",
    errno.EPERM: "choose an output path you can write, or SIGNKIT_HOME for the zoo cache",
    errno.ENOTDIR: "a file stands where a folder is needed; choose another output path",
    errno.EEXIST: "something stands where the output goes; choose another output path",
    errno.EISDIR: "a folder stands where a file is needed; choose another output path",
    errno.ENOSPC: "no space left on the device; free some or choose another location",
    errno.EDQUOT: "disk quota exceeded; free some space or choose another location",
    errno.ENOENT: "no such file or folder",
    errno.ENAMETOOLONG: "the path is too long",
}


def os_error_message(e: OSError) -> str:
    """One line for an OSError that reached the CLI: the path(s), what the system said, what to do."""
    where = " -> ".join(str(f) for f in (e.filename, e.filename2) if f is not None)
    said = e.strerror or str(e) or type(e).__name__
    hint = _OS_HINTS.get(e.errno or -1)
    text = f"{where}: {said}" if where else said
    if hint and hint != said.lower():
        text += f" ({hint})"
    return text.replace("\n", " ")


def _silence_stdout() -> None:
    """Point stdout at devnull, so that flushing it at exit does not raise the broken pipe again (Python docs)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


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
        except BrokenPipeError:  # `signkit ... | head`: the reader left, which is no error of ours
            _silence_stdout()
            sys.exit(141)  # as a shell reports a process ended by SIGPIPE
        except OSError as e:
            raise click.ClickException(os_error_message(e)) from None
        except KeyboardInterrupt:
            if ctx.invoked_subcommand in RESUME_FLAG:
                click.echo(
                    "interrupted; rerun the same command with --resume to continue from the last checkpoint", err=True
                )
            else:
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
