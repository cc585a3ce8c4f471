"""`signkit evaluate`: score a run or a zoo model on one split; write predictions and a metrics JSON."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command()
@click.argument("model")
@click.option("--data", required=True, help="Packed dataset: a folder or a URL (s3://, gs://, https://).")
@click.option("--split", default="test", show_default=True, help="Split to score (train, dev, test).")
@click.option(
    "-o",
    "--output",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for predictions.jsonl and metrics.json (default: RUN_DIR/eval-SPLIT).",
)
@click.option("--batch-size", default=16, show_default=True, type=click.IntRange(min=1))
@click.option("--max-frames", type=click.IntRange(min=1), help="Centre-crop clips to at most this many frames.")
@click.option(
    "--wer-cleanup",
    type=click.Choice(["phoenix-2014", "phoenix-2014t"]),
    help="CSLR: apply a benchmark's gloss clean-up before WER.",
)
@click.option(
    "--beams", type=click.IntRange(min=1), help="Beam size for CSLR/SLT decoding (default: the model config's)."
)
@click.option(
    "--max-new-tokens", type=click.IntRange(min=1), help="SLT: most tokens to generate (default: the model config's)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as one JSON object.")
def evaluate(
    model: str,
    data: str,
    split: str,
    out_dir: Path | None,
    batch_size: int,
    max_frames: int | None,
    wer_cleanup: str | None,
    beams: int | None,
    max_new_tokens: int | None,
    as_json: bool,
) -> None:
    """Evaluate MODEL (a run folder: its best checkpoint; or a zoo name / weights) on a split of a dataset.

    \b
    A model that writes text, evaluated on a dataset with classes and no texts, is scored as generative ISLR (the
    written word against the class name, P-I and P-C), as Uni-Sign-family ISLR checkpoints are.

    \b
    Example:
      signkit evaluate runs/lexicon --data packed/lexicon --split test
      signkit evaluate geosign.csl-daily-slt --data packed/csl-daily --split test -o eval/geosign --beams 4
    """
    from ..train import evaluate as run_evaluate

    options = {}
    if wer_cleanup:
        options["wer_cleanup"] = wer_cleanup
    result = run_evaluate(
        model,
        data,
        split,
        out_dir,
        batch_size=batch_size,
        max_frames=max_frames,
        options=options,
        beams=beams,
        max_new_tokens=max_new_tokens,
    )
    if as_json:
        click.echo(json.dumps(result.metrics, indent=2, default=float))
        return
    click.echo(f"{result.metrics['task']} on {result.metrics['split']} ({result.metrics['samples']} samples):")
    for k, v in result.metrics["metrics"].items():
        click.echo(f"  {k:>24}: {v:.2f}" if isinstance(v, float) else f"  {k:>24}: {v}")
    click.echo(f"predictions: {result.predictions}\nmetrics: {result.metrics_file}")
