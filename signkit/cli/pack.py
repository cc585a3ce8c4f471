"""`signkit pack POSES_DIR -o DATASET_DIR`: pose files + labels -> WebDataset shards, manifest and dataset.json."""

from __future__ import annotations

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
@click.option("--layout", help="Convert every pose to this layout (needed when the inputs mix layouts).")
@click.option("--shard-size", default="256MB", show_default=True, help="Target shard size (e.g. 256MB, 1GB).")
@click.option("--samples-per-shard", type=click.IntRange(min=1), help="Also close a shard after this many samples.")
@click.option("--fps", type=float, help="Frame rate of Uni-Sign pickles, which carry none (25 for CSL-Daily).")
@click.option("--strict", is_flag=True, help="Fail (and write nothing) if any sample is refused.")
@click.option("--overwrite", is_flag=True, help="Replace DATASET_DIR if it exists (only once the new one is complete).")
@click.option(
    "-j", "--workers", default=1, show_default=True, type=click.IntRange(min=1), help="Processes that read poses."
)
def pack(poses_dir: Path | None, poses_opt: Path | None, out_dir: Path, labels, dataset_name, root, subset, split,
         layout, shard_size, samples_per_shard, fps, strict, overwrite, workers) -> None:  # fmt: skip
    """Pack pose files (.npz, .pose, Uni-Sign .pkl) into a dataset of WebDataset shards.

    Samples whose pose is missing, empty or not finite are refused and listed in DATASET_DIR/refused.jsonl.

    \b
    Example:
      signkit pack poses/ -o packed/mydata --labels labels.csv
      signkit pack --poses poses/ -o packed/wlasl100 --dataset wlasl --root raw/WLASL --subset WLASL100
    """
    from ..datasets import pack as pack_dataset

    if (poses_dir is None) == (poses_opt is None):
        raise click.UsageError("give the pose folder once: as POSES_DIR or as --poses")
    poses_dir = poses_dir or poses_opt

    report = pack_dataset(
        poses_dir, out_dir, labels=labels, dataset=dataset_name, root=root, subset=subset, split=split,
        layout=layout, shard_size=shard_size, samples_per_shard=samples_per_shard, fps=fps, strict=strict,
        overwrite=overwrite, workers=workers, progress=True,
    )  # fmt: skip
    per_split = ", ".join(f"{s} {n} ({report.shards[s]} shards)" for s, n in report.samples.items())
    click.echo(f"packed {report.total} samples into {report.out_dir} [{report.layout}]: {per_split}")
    if report.unmatched:
        click.echo(f"{len(report.unmatched)} pose file(s) have no label row and were not packed", err=True)
    if report.refused:
        click.echo(f"{len(report.refused)} sample(s) refused, listed in {report.out_dir / 'refused.jsonl'}:", err=True)
        for key, why in report.refused[:5]:
            click.echo(f"  {key}: {why}", err=True)
