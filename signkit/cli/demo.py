"""`signkit demo -o DIR`: signkit's main job on its embedded default clips (see README)."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command()
@click.option(
    "-o",
    "--output",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("demo-out"),
    show_default=True,
    help="Folder for everything the demo writes.",
)
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Extraction processes (default: the cores).")
@click.option("--json", "as_json", is_flag=True, help="Print the results as one JSON object at the end.")
def demo(out_dir: Path, workers: int | None, as_json: bool) -> None:
    """Run signkit's main job on its embedded default, end to end, in a few minutes on a laptop CPU.

    Extract skeletons from the real-human clips shipped with signkit, check and draw them; then pack the real
    fingerspelling lexicon of spoken-to-signed (600 clips, 19 sign languages), fine-tune the pre-trained
    sigma-tiny to tell the sign language, and evaluate it against the majority-class baseline; then compose
    fingerspelled English words from the same letter clips, fine-tune sigma-tiny for continuous recognition
    (CTC over letters) for about a minute, and print the letter WER on words never seen in training against
    the trivial answers. Rerunning reuses what is finished.

    \b
    Example:
      signkit demo -o demo-out
    """
    from ..demo import run_demo

    results = run_demo(out_dir, workers=workers, echo=(lambda s: None) if as_json else click.echo)
    if as_json:
        click.echo(json.dumps(results, indent=2, default=str))
