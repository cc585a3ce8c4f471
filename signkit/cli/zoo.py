"""`signkit zoo ...`: list, inspect, download, verify and publish pre-trained weights (thin layer over signkit.zoo)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import click

from .. import zoo
from ..errors import ZooError
from ..zoo.downloading import cached_path as cached_file


def _echo_warnings(caught: list[warnings.WarningMessage]) -> None:
    for w in caught:
        click.echo(f"warning: {w.message}", err=True)


@click.group("zoo")
def zoo_group() -> None:
    """Pre-trained models: a registry of published weights, verified cached downloads, export for publishing.

    \b
    Example:
      signkit zoo list
      signkit zoo download sigma-tiny
      SIGNKIT_ZOO_REGISTRY=lab.toml signkit zoo download sigma-base.lab
    """


@zoo_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_cmd(as_json: bool) -> None:
    """List every model of the layered registries and whether it is cached.

    \b
    Example:
      signkit zoo list --json
    """
    entries = zoo.list_models()
    rows = [
        {
            "name": e.name,
            "task": e.task,
            "num_classes": e.num_classes,
            "params": e.params,
            "layout": e.layout,
            "pretrained_on": e.pretrained_on or None,
            "licence": e.licence or None,
            "released": e.released,
            "cached": zoo.is_cached(e),
            "caveat": e.caveat,
        }
        for e in entries
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    from rich import box
    from rich.console import Console
    from rich.table import Table

    console = Console()
    # 80 columns hold name, task, classes, size, licence and state; wider terminals also get layout and data
    columns = ["name", "task", "classes", "params", "licence", "cached?"]
    if console.width >= 110:
        columns.insert(4, "layout")
    if console.width >= 150:
        columns.insert(5, "pre-trained on")
    table = Table(*columns, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True)
    table.columns[0].no_wrap = True
    licence = table.columns[columns.index("licence")]
    licence.no_wrap, licence.overflow, licence.max_width = True, "ellipsis", 14  # in full: zoo info NAME
    caveats = list(dict.fromkeys(row["caveat"] for row in rows if row["caveat"]))  # one footnote mark each
    marks = {c: "*" * (i + 1) for i, c in enumerate(caveats)}
    for row in rows:
        cells = {
            "name": row["name"] + (f" {marks[row['caveat']]}" if row["caveat"] else ""),
            "task": row["task"],
            "classes": str(row["num_classes"] or "-"),
            "params": f"{row['params'] / 1e6:.1f}M" if row["params"] else "-",
            "layout": row["layout"],
            "pre-trained on": row["pretrained_on"] or "-",
            "licence": row["licence"] or "-",
            "cached?": "yes" if row["cached"] else ("no" if row["released"] else "unreleased"),
        }
        table.add_row(*[cells[c] for c in columns])
    console.print(table)
    if console.width < 150:
        console.print("layout, data, files and citation of one model: signkit zoo info NAME")
    for caveat in caveats:
        console.print(f"{marks[caveat]} {caveat}", markup=False, highlight=False)


@zoo_group.command()
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the registry entry as JSON.")
def info(name: str, as_json: bool) -> None:
    """Show a model's registry entry: files, checksums, licence, citation, reported metrics.

    \b
    Example:
      signkit zoo info sigma-base
    """
    entry = zoo.resolve_name(name)
    data = entry.to_dict()
    data["registry"] = entry.registry
    data["cached"] = zoo.is_cached(entry)
    data["cache_dir"] = str(zoo.model_dir(entry.name))
    if as_json:
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    for key, value in data.items():
        if key in ("files", "metrics"):
            for item in value:
                click.echo(f"{key[:-1]:>14}: " + ", ".join(f"{k}={v}" for k, v in item.items()))
        else:
            click.echo(f"{key:>14}: {value}")


@zoo_group.command()
@click.argument("name")
@click.option(
    "--retries",
    default=5,
    show_default=True,
    help="Attempts after a transient failure (with backoff), for https:// and hf:// alike.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the model's name and its files' paths as JSON.")
def download(name: str, retries: int, as_json: bool) -> None:
    """Download a model's files into $SIGNKIT_HOME (verified by sha256, resumable, safe to run concurrently).

    \b
    Example:
      signkit zoo download unisign.wlasl2000-islr
      SIGNKIT_ZOO_MIRROR=/shared/zoo SIGNKIT_OFFLINE=1 signkit zoo download sigma-base.lab
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", zoo.ZooPinWarning)
        result = zoo.download(name, zoo.DownloadOptions(retries=retries))
    if as_json:
        paths = {file_name: str(path) for file_name, path in result.paths.items()}
        warned = [str(w.message) for w in caught]
        click.echo(json.dumps({"name": result.entry.name, "paths": paths, "warnings": warned}, indent=2))
        return
    _echo_warnings(caught)
    for path in result.paths.values():
        click.echo(str(path))
    if result.tokenizer is not None:  # on stderr: stdout lists the model's own files only
        click.echo(f"tokenizer: {result.tokenizer}", err=True)


@zoo_group.command()
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print each file's state and whether all are ok as JSON.")
def verify(name: str, as_json: bool) -> None:
    """Re-hash a model's cached files; a corrupted file is deleted (exit status 1 unless all are ok).

    \b
    Example:
      signkit zoo verify sigma-tiny
    """
    status = zoo.verify(name)
    ok = all(state.startswith("ok") for state in status.values())
    if as_json:
        click.echo(json.dumps({"name": name, "ok": ok, "files": status}, indent=2))
        if not ok:
            raise SystemExit(1)
        return
    for file_name, state in status.items():
        click.echo(f"{file_name}: {state}")
    if not ok:
        raise ZooError(f"{name}: not every file is cached and intact; run `signkit zoo download {name}`")


@zoo_group.command()
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the name and the weights path as JSON.")
def path(name: str, as_json: bool) -> None:
    """Print the path of a model's cached weights file (error if it is not downloaded).

    \b
    Example:
      signkit zoo path sigma-tiny
    """
    entry = zoo.resolve_name(name)
    if not zoo.is_cached(entry):
        missing = [spec.name for spec in entry.files if not cached_file(entry, spec).is_file()]
        what = "is not in the cache" if len(missing) == len(entry.files) else f"lacks {', '.join(missing)} in the cache"
        raise ZooError(f"{entry.name} {what} ({zoo.model_dir(entry.name)}); run `signkit zoo download {name}`")
    from ..zoo.downloading import cached_path

    weights = cached_path(entry, entry.weights_file)
    click.echo(json.dumps({"name": entry.name, "path": str(weights)}) if as_json else str(weights))


@zoo_group.command()
@click.argument("name")
@click.option("--unpin", is_flag=True, help="Also forget sha256 values pinned on first download (to re-pin).")
def remove(name: str, unpin: bool) -> None:
    """Delete a model's cached files (and interrupted downloads).

    \b
    Example:
      signkit zoo remove unisign.csl-daily-slt --unpin
    """
    removed = zoo.remove(name)
    if unpin:
        from ..zoo.cache import forget_pin

        for spec in zoo.resolve_name(name).files:
            if forget_pin(spec.pin_key):
                click.echo(f"unpinned {spec.pin_key}")
    click.echo(f"removed {len(removed)} file(s)")


@zoo_group.command()
@click.argument("registry_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the names added and where the copy lives as JSON.")
def add(registry_file: Path, as_json: bool) -> None:
    """Layer a registry file (e.g. an export's entry.toml) on top of the built-in one, for good.

    Every file added is kept (adding the same file again updates it); an entry name that another added file
    holds is refused, and one that replaces a built-in entry is said so.

    \b
    Example:
      signkit zoo add exports/sigma-base.lab/entry.toml
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dest = zoo.add_registry(registry_file)
    names = sorted(zoo.registry.read_registry_file(dest))
    if as_json:
        click.echo(
            json.dumps({"added": names, "registry": str(dest), "warnings": [str(w.message) for w in caught]}, indent=2)
        )
        return
    _echo_warnings(caught)
    click.echo(f"added {', '.join(names)} (registry copied to {dest})")


@zoo_group.command()
@click.argument("checkpoint", type=click.Path(exists=True, path_type=Path))
@click.option("--name", help="Release name, 'arch.tag' (e.g. sigma-base.mylab); default: <arch>.<run folder>.")
@click.option(
    "-o",
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    default=Path("."),
    show_default=True,
    help="Folder that receives <name>/.",
)
@click.option("--url-base", help="Where the folder will be uploaded (https://... or hf://owner/repo); else local.")
@click.option("--licence", default="", help="Licence of the weights (SPDX id).")
@click.option("--pretrained-on", default="", help="Data the weights were trained on.")
@click.option("--citation", default="", help="How to cite the weights.")
@click.option("--description", default="", help="One line for the model card and `zoo list`.")
@click.option("--command", "made_with", default="", help="The exact command that produced the checkpoint.")
@click.option(
    "--from",
    "source_format",
    type=click.Choice(["signkit", "unisign"]),
    default="signkit",
    show_default=True,
    help="Checkpoint format; unisign converts a Uni-Sign .pth.",
)
@click.option("--arch", default="sigma-base", show_default=True, help="Config for --from unisign.")
@click.option("--overwrite", is_flag=True, help="Replace an existing export of the same name in -o.")
@click.option("--json", "as_json", is_flag=True, help="Print the export's folder, files and entry as JSON.")
def export(
    checkpoint: Path,
    name: str | None,
    out_dir: Path,
    url_base: str | None,
    licence: str,
    pretrained_on: str,
    citation: str,
    description: str,
    made_with: str,
    source_format: str,
    arch: str,
    overwrite: bool,
    as_json: bool,
) -> None:
    """Export a checkpoint as a release: safetensors + config + model card + registry entry with sha256.

    CHECKPOINT is a training run folder (its best, else latest, checkpoint), a checkpoint folder, or a weights file.

    \b
    Example:
      signkit zoo export runs/pretrain --name sigma-base.mylab -o exports --licence CC-BY-4.0 \\
          --command "signkit pretrain --config sigma-base --data data/ -o runs/pretrain"
      signkit zoo add exports/sigma-base.mylab/entry.toml
    """
    result = zoo.export(
        checkpoint,
        name,
        out_dir,
        url_base=url_base,
        licence=licence,
        pretrained_on=pretrained_on,
        citation=citation,
        description=description,
        command=made_with,
        source_format=source_format,
        arch=arch,
        overwrite=overwrite,
    )
    if as_json:
        files = [{"name": f.name, "size": f.size, "sha256": f.sha256} for f in result.entry.files]
        out = {"name": result.entry.name, "folder": str(result.folder), "registry": str(result.registry)}
        click.echo(json.dumps({**out, "files": files}, indent=2))
        return
    click.echo(f"exported {result.entry.name} to {result.folder}")
    for spec in result.entry.files:
        click.echo(f"  {spec.name}  {spec.size} bytes  sha256 {spec.sha256}")
    click.echo(f"registry entry: {result.registry}")
