"""`signkit predict`: a model on videos, pose files or a packed split; one answer per input (thin layer)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import click


@click.command()
@click.argument("inputs", nargs=-1, type=click.Path(path_type=Path))
@click.option("--model", required=True, help="A zoo name, a weights file or folder, or a training run folder.")
@click.option("--data", help="Predict a split of this packed dataset instead of INPUT files.")
@click.option("--split", default="test", show_default=True, help="With --data: the split to predict.")
@click.option("--top-k", default=5, show_default=True, type=click.IntRange(min=1), help="ISLR: classes per input.")
@click.option("--beams", type=click.IntRange(min=1), help="Beam size (SLT; CSLR beam search). Default: the model's.")
@click.option("--max-new-tokens", type=click.IntRange(min=1), help="SLT: most tokens to write. Default: the model's.")
@click.option("--language", help="Sign language code of the inputs (e.g. csl, ase), for prompts that name it.")
@click.option("--batch-size", default=8, show_default=True, type=click.IntRange(min=1), help="With --data.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per input, one per line.")
def predict(
    inputs: tuple[Path, ...],
    model: str,
    data: str | None,
    split: str,
    top_k: int,
    beams: int | None,
    max_new_tokens: int | None,
    language: str | None,
    batch_size: int,
    as_json: bool,
) -> None:
    """Predict INPUT... (videos, pose files incl. Uni-Sign .pkl, folders) or --data DATASET --split S.

    Prints per input the top-k classes with probabilities (ISLR), the gloss sequence (CSLR) or the translation
    (SLT). Videos are extracted on the fly with the estimator the model's keypoint layout calls for. An input in
    which no person was found is answered and flagged.

    \b
    Example:
      signkit predict clip.mp4 poses/clip02.npz --model runs/wlasl100 --top-k 3
      signkit predict --model geosign.csl-daily-slt --data packed/csl-daily --split test --json
    """
    from ..inference import iter_predictions

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        seen = 0
        for p in iter_predictions(
            inputs,
            model,
            data=data,
            split=split,
            top_k=top_k,
            beams=beams,
            max_new_tokens=max_new_tokens,
            language=language,
            batch_size=batch_size,
        ):
            seen = _echo_warnings(caught, seen)
            click.echo(json.dumps(p.to_dict(), ensure_ascii=False) if as_json else p.summary())
        _echo_warnings(caught, seen)


def _echo_warnings(caught: list[warnings.WarningMessage], seen: int) -> int:
    """Print the warnings about inputs and downloads not printed yet, one line each, to stderr."""
    from ..inference import PredictWarning
    from ..zoo import ZooPinWarning

    for w in caught[seen:]:
        if issubclass(w.category, (PredictWarning, ZooPinWarning)):
            click.echo(f"warning: {w.message}", err=True)
    return len(caught)
