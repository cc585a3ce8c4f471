"""`signkit pack POSES_DIR -o DATASET_DIR`: pose files + labels -> WebDataset shards, manifest and dataset.json."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click


@click.command()
@click.argument("poses_dir", required=False, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--poses",
    "poses_opt",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="The pose folder, as an option (same as POSES_DIR).",
)
@click.option(
    "-o", "--out", "out_dir", required=True, type=click.Path(path_type=Path), help="Dataset folder to create."
)
@click.option(
    "--labels",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CSV or JSONL with key, split and any of label, gloss, text, signer, language.",
)
@click.option(
    "--dataset", "dataset_name", help="Benchmark whose annotations label the poses (see `signkit datasets list`)."
)
@click.option(
    "--root", type=click.Path(exists=True, file_okay=False, path_type=Path), help="Raw release folder of --dataset."
)
@click.option("--subset", help="Subset of --dataset (e.g. WLASL100).")
@click.option("--split", default="train", show_default=True, help="Split of every pose when no labels are given.")
@click.option(
    "--gloss-sequences",
    is_flag=True,
    default=None,
    help="The labels' glosses are space-separated sign sequences (continuous recognition): build a vocabulary, not "
    "classes. Without it each gloss is one class, even of several words.",
)
@click.option("--layout", help="Convert every pose to this layout (needed when the inputs mix layouts).")
@click.option("--shard-size", default="256MB", show_default=True, help="Target shard size (e.g. 256MB, 1GB).")
@click.option("--samples-per-shard", type=click.IntRange(min=1), help="Also close a shard after this many samples.")
@click.option("--fps", type=float, help="Frame rate of Uni-Sign pickles, which carry none (25 for CSL-Daily).")
@click.option(
    "--strict",
    is_flag=True,
    help="Fail and write nothing if any pose is refused or unlabelled, any label has no pose, or a release row is "
    "skipped.",
)
@click.option("--overwrite", is_flag=True, help="Replace DATASET_DIR if it exists (only once the new one is complete).")
@click.option(
    "-j", "--workers", default=1, show_default=True, type=click.IntRange(min=1), help="Processes that read poses."
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object of counts instead of text.")
def pack(
    poses_dir: Path | None,
    poses_opt: Path | None,
    out_dir: Path,
    labels,
    dataset_name,
    root,
    subset,
    split,
    gloss_sequences,
    layout,
    shard_size,
    samples_per_shard,
    fps,
    strict,
    overwrite,
    workers,
    as_json,
) -> None:
    """Pack pose files (.npz, .pose, Uni-Sign .pkl) into a dataset of WebDataset shards.

    What is not packed is listed in DATASET_DIR/refused.jsonl by kind: refused (the pose is empty, not finite or
    unreadable), unlabelled (no label row names the pose file), missing (a label row has no pose file). The exit
    status is 1 when a pose was refused or unlabelled (the rest is still packed), 0 otherwise.

    \b
    Example:
      signkit pack poses/ -o packed/mydata --labels labels.csv
      signkit pack --poses poses/ -o packed/wlasl100 --dataset wlasl --root raw/WLASL --subset WLASL100
    """
    from ..datasets import Benchmark, PackOptions
    from ..datasets import pack as pack_dataset

    if (poses_dir is None) == (poses_opt is None):
        raise click.UsageError("give the pose folder once: as POSES_DIR or as --poses")
    if labels is not None and dataset_name is not None:
        raise click.UsageError("give one source of labels: --labels FILE or --dataset NAME --root FOLDER")
    if dataset_name is None and (root is not None or subset is not None):
        raise click.UsageError("--root and --subset name the release of --dataset; add --dataset NAME")
    options = PackOptions(
        labels=Benchmark(dataset_name, root, subset) if dataset_name is not None else labels,
        split=split,
        gloss_sequences=gloss_sequences,
        layout=layout,
        shard_size=shard_size,
        samples_per_shard=samples_per_shard,
        fps=fps,
        strict=strict,
        overwrite=overwrite,
        workers=workers,
        progress=not as_json,
    )
    report = pack_dataset(poses_dir or poses_opt, out_dir, options)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        _summary(report)
    if not report.ok:
        sys.exit(1)


def _summary(report) -> None:
    per_split = ", ".join(f"{s} {n} ({report.shards[s]} shards)" for s, n in report.samples.items())
    labels = "no classes" if report.classes is None else f"{report.classes} classes"
    click.echo(f"packed {report.total} samples into {report.out_dir} [{report.layout}, {labels}]: {per_split}")
    listed = report.out_dir / "refused.jsonl"
    if report.flagged:
        click.echo(f"{report.flagged} sample(s) carry extraction flags (manifest column 'flags')")
    if report.outside_subset:
        click.echo(f"{report.outside_subset} pose file(s) of samples outside the subset were not packed")
    if report.missing:
        click.echo(f"{len(report.missing)} labelled sample(s) have no pose file (listed in {listed})", err=True)
    if report.skipped_rows:
        click.echo(f"{len(report.skipped_rows)} row(s) of the release name no usable sample, skipped:", err=True)
        for row in report.skipped_rows[:5]:
            click.echo(f"  {row}", err=True)
    for what, items in (
        ("have no label row and were not packed", report.unlabelled),
        ("refused", [f"{k}: {why}" for k, why in report.refused]),
    ):
        if items:
            click.echo(f"error: {len(items)} pose file(s) {what}, listed in {listed}:", err=True)
            for item in items[:5]:
                click.echo(f"  {item}", err=True)
