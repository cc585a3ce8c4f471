"""`signkit datasets list | inspect | clips`: what signkit can read, what it reads from your copy, and the clip
list to extract it. Thin wrappers over `signkit.datasets.sources`."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.group()
def datasets() -> None:
    """The benchmark datasets signkit reads as distributed.

    \b
    Example:
      signkit datasets list
      signkit datasets inspect wlasl --root raw/WLASL
      signkit datasets clips wlasl --root raw/WLASL --subset WLASL100 -o clips.csv
      signkit extract clips.csv -o poses/
      signkit pack --dataset wlasl --root raw/WLASL --subset WLASL100 --poses poses/ -o packed/wlasl100
    """


@datasets.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON list instead of text.")
def list_cmd(as_json: bool) -> None:
    """List every dataset: task, sign/spoken language, classes, splits, subsets, licence and where to get it.

    \b
    Example:
      signkit datasets list --json
    """
    from ..datasets.sources import get_source, list_sources

    infos = [get_source(n).info for n in list_sources()]
    if as_json:
        click.echo(json.dumps([i.to_dict() for i in infos], indent=2, ensure_ascii=False))
        return
    for i in infos:
        classes = f"{i.classes} classes" if i.classes else "no classes"
        kind = "keypoints" if i.keypoints else "videos"
        click.echo(
            f"{i.name:<24}{i.task:<5} {i.sign_language}/{i.spoken_language:<4} {classes:<13} "
            f"splits {','.join(i.splits)}  ({kind})"
        )
        click.echo(f"{'':<24}{i.title}")
        if i.subsets:
            click.echo(f"{'':<24}subsets: {', '.join(i.subsets)}")
        click.echo(f"{'':<24}files: {', '.join(i.files) or i.media}")
        click.echo(f"{'':<24}licence: {i.licence}")
        click.echo(f"{'':<24}get it: {i.url}")
        if i.notes:
            click.echo(f"{'':<24}note: {i.notes}")


_root_option = click.option(
    "--root",
    type=click.Path(path_type=Path),
    default=None,
    help="Folder holding the release as distributed (annotation files found by name).",
)
_subset_option = click.option("--subset", default=None, help="An official subset, e.g. WLASL100 or MSASL200.")


@datasets.command("inspect")
@click.argument("name")
@_root_option
@_subset_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
@click.option("--strict", is_flag=True, help="Fail if any sample's video, frames or keypoint file is missing.")
def inspect_cmd(name: str, root: Path | None, subset: str | None, as_json: bool, strict: bool) -> None:
    """Parse a release as it lies on disk and report what was found; nothing is extracted.

    \b
    Example:
      signkit datasets inspect phoenix2014t --root raw/PHOENIX-2014-T-release-v3 --json
    """
    from ..datasets.sources import inspect_source

    summary = inspect_source(name, root, subset=subset, strict=strict)
    if as_json:
        click.echo(json.dumps(summary, indent=2, ensure_ascii=False))
    else:
        _print_inspection(summary)


def _print_inspection(summary: dict) -> None:
    """The counts one a line, splits and subsets as tables, then the samples without media and the rows skipped."""
    from .._words import words
    from ._table import print_table

    lists = {"splits", "subsets", "missing", "skipped"}
    width = max(len(k) for k in summary if k not in lists)
    for key, value in summary.items():
        if key not in lists:
            click.echo(f"{key:>{width}}: {words(value)}")
    for key in ("splits", "subsets"):
        if summary.get(key):
            click.echo()
            print_table(key, {name: {"samples": n} for name, n in summary[key].items()})
    missing = [f"{item['key']}  {item['media']}" for item in summary.get("missing") or []]
    _listed(f"no media for {summary['media_missing']} sample(s)", missing, summary["media_missing"])
    _listed(f"{summary['rows_skipped']} release row(s) skipped", summary.get("skipped") or [], summary["rows_skipped"])


def _listed(title: str, items: list[str], total: int) -> None:
    if items:
        click.echo(f"\n{title}{f', the first {len(items)}' if total > len(items) else ''}:")
        for item in items:
            click.echo(f"  {item}")


@datasets.command("clips")
@click.argument("name")
@_root_option
@_subset_option
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="The clip list CSV to write.")
@click.option("--absolute", is_flag=True, help="Write absolute media paths (default: relative to the CSV).")
@click.option("--strict", is_flag=True, help="Fail if any sample's video or frames are missing.")
@click.option("--json", "as_json", is_flag=True, help="Print the rows written and the missing samples as JSON.")
def clips_cmd(
    name: str, root: Path | None, subset: str | None, output: Path, absolute: bool, strict: bool, as_json: bool
) -> None:
    """Write the clip list `signkit extract` reads: one row per sample whose video or frames are present,
    with its key and clip bounds (WLASL frames, MS-ASL/How2Sign/OpenASL times); missing ones are listed.

    \b
    Example:
      signkit datasets clips how2sign --root raw/how2sign -o how2sign_clips.csv
      signkit extract how2sign_clips.csv -o poses/how2sign
    """
    from ..datasets.sources import get_source, missing_error, split_by_media, write_clip_list
    from ..datasets.sources._base import skipped_error

    source = get_source(name)
    resolved = source.resolve_root(root)
    parsed = source.parse(resolved, subset=subset)
    if strict and parsed.skipped:
        raise skipped_error(source.name, parsed.skipped)
    present, missing = split_by_media(resolved, parsed.records)
    if strict and missing:
        raise missing_error(source.name, resolved, missing)
    rows = write_clip_list(present, output, root=resolved, absolute=absolute)
    if as_json:
        gone = [{"key": r.key, "media": r.media} for r in missing]
        skipped = [{"where": r.where, "key": r.key, "reason": r.reason} for r in parsed.skipped]
        click.echo(
            json.dumps(
                {"clip_list": str(output), "rows": rows, "missing": gone, "skipped": skipped},
                indent=2,
                ensure_ascii=False,
            )
        )
        return
    for r in parsed.skipped[:20]:
        click.echo(f"skipped: {r.where}: {r.reason}", err=True)
    for r in missing[:20]:
        click.echo(f"missing: {r.key} ({r.media})", err=True)
    if len(missing) > 20:
        click.echo(f"... and {len(missing) - 20} more missing", err=True)
    skipped = f"; {len(parsed.skipped)} release row(s) skipped" if parsed.skipped else ""
    click.echo(f"wrote {rows} clip(s) to {output}; {len(missing)} sample(s) without media left out{skipped}")


@datasets.command("poses")
@click.argument("name")
@_root_option
@click.option(
    "-o",
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="POSES_DIR to write {key}.npz into.",
)
@click.option("--overwrite", is_flag=True, help="Rewrite pose files that exist (default: keep them and resume).")
@click.option("--json", "as_json", is_flag=True, help="Print the counts written and kept as JSON.")
def poses_cmd(name: str, root: Path | None, output: Path, overwrite: bool, as_json: bool) -> None:
    """Write the keypoints of a keypoint release (asl-signs, asl-fingerspelling, fingerspelling-lexicon) as pose
    files, so `signkit pack` takes them without extraction. Rerunning resumes where it stopped.

    \b
    Example:
      signkit datasets poses asl-signs --root raw/asl-signs -o poses/asl-signs
      signkit pack poses/asl-signs -o packed/asl-signs --dataset asl-signs --root raw/asl-signs
    """
    from ..datasets.sources import write_poses

    written, kept = write_poses(name, root, output, overwrite=overwrite)
    if as_json:
        click.echo(json.dumps({"poses_dir": str(output), "written": written, "kept": kept}, indent=2))
        return
    click.echo(f"wrote {written} pose file(s) to {output}; kept {kept} already there")
