"""Turn a checkpoint into a publishable release: safetensors + config + model card + a registry entry with sha256.

``export(checkpoint, name)`` writes ``OUT/<name>/``::

    model.safetensors   the weights (tied tensors stored once; reproducible bytes), config and task in its metadata
    config.json         the model config the weights belong to (with its family, `signkit.models.config_to_dict`)
    labels.json         class names / gloss vocabulary / language, when the checkpoint's run recorded them
    README.md           the model card: what it is, how it was made (command, data, seed), files and checksums
    entry.toml          a one-entry registry: `signkit zoo add OUT/<name>/entry.toml` makes `load("<name>")` work

The checkpoint is loaded strictly into a freshly built model before anything is written, so a release that does
not fit its own config can never be exported. Upload the folder anywhere (https, Hugging Face, a share) and pass
``url_base`` so the entry points there; without it the entry points at the files next to it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from .. import __version__
from .. import _run_folder as run_folder
from .._atomic import atomic_path, atomic_write_text
from ..errors import ZooError
from .cache import sha256_file
from .loading import ModelSource, load_state_dict_strict, read_checkpoint, resolve_source
from .registry import _NAME_RE, ZooEntry, dumps_registry, read_registry_file

WEIGHTS = run_folder.WEIGHTS
CONFIG = "config.json"
LABELS = "labels.json"
METADATA_KEY = "signkit"
CARD = "README.md"
ENTRY = "entry.toml"


@dataclass
class ExportResult:
    folder: Path
    entry: ZooEntry
    registry: Path  # the entry.toml

    @property
    def weights(self) -> Path:
        return self.folder / WEIGHTS


def _unisign_source(checkpoint: Path, arch: str) -> ModelSource:
    """A Uni-Sign .pth with the config it implies (its input transform, prompt, sizes; ``arch`` is not used)."""
    from .loading import unisign_source

    state_dict, _ = read_checkpoint(checkpoint)
    return unisign_source(str(checkpoint), state_dict, None)


def default_name(arch: str, checkpoint: Path) -> str:
    """``<arch>.<run folder>`` (lowercased, other characters made '-'), e.g. ``sigma-tiny.pre`` for runs/pre."""
    folder = run_folder.run_of(checkpoint) or (checkpoint if checkpoint.is_dir() else checkpoint.parent)
    tag = re.sub(r"[^a-z0-9_-]+", "-", folder.resolve().name.lower()).strip("-_") or "export"
    return f"{arch}.{tag}"


def export(
    checkpoint: str | Path,
    name: str | None = None,
    out_dir: str | Path = ".",
    *,
    url_base: str | None = None,
    pretrained_on: str = "",
    licence: str = "",
    citation: str = "",
    description: str = "",
    command: str = "",
    source_format: str = "signkit",
    arch: str = "sigma-base",
    metrics: list[dict] | None = None,
    overwrite: bool = False,
) -> ExportResult:
    """Export ``checkpoint`` (a run folder, checkpoint folder, export folder or weights file) as release ``name``
    (default ``<arch>.<run folder name>``).

    ``source_format="unisign"`` reads a Uni-Sign ``.pth`` and converts it (into config ``arch``) first.
    ``command`` is the exact command that produced the weights; it goes into the model card for provenance.
    An existing export of the same name in ``out_dir`` is replaced only with ``overwrite``.
    """
    from ..models import config_to_dict, create_model, parameter_counts

    checkpoint = Path(checkpoint).expanduser()
    if not checkpoint.exists():
        raise ZooError(f"checkpoint {checkpoint} does not exist")
    if name is not None and not _NAME_RE.match(name):
        raise ZooError(f"release name {name!r} must look like 'arch.tag' (lowercase letters, digits, '-', '_', '.')")
    if source_format == "unisign":
        source = _unisign_source(checkpoint, arch)
    elif source_format == "signkit":
        source = resolve_source(checkpoint)
    else:
        raise ZooError(f"unknown source format {source_format!r}; use signkit or unisign")
    config = source.config
    name = name or default_name(config.name, checkpoint)
    model = create_model(config, source.task, source.num_classes if source.task in ("islr", "cslr") else None)
    report = load_state_dict_strict(model, source.state_dict, source.label, source.allow_new, source.discard)
    if report.new_keys and source_format == "signkit":
        raise ZooError(f"{source.label} lacks {len(report.new_keys)} keys of its own model ({report.new_keys[:5]}...)")
    folder = Path(out_dir).expanduser() / name
    if not overwrite and any((folder / f).exists() for f in (WEIGHTS, ENTRY, CONFIG, CARD)):
        raise ZooError(f"{folder} already holds an export; pass --overwrite to replace it, or another -o or --name")
    folder.mkdir(parents=True, exist_ok=True)

    with atomic_path(folder / WEIGHTS) as tmp:
        write_weights(
            model,
            tmp,
            {
                "name": name,
                "config": config_to_dict(config),
                "task": source.task,
                "num_classes": source.num_classes,
                "version": __version__,
            },
        )
        tmp.chmod(0o644)  # a release is meant to be read by others (the temporary file is private)
    atomic_write_text(folder / CONFIG, json.dumps(config_to_dict(config), indent=2, sort_keys=True) + "\n")
    if source.labels:
        atomic_write_text(folder / LABELS, json.dumps(source.labels, indent=2, ensure_ascii=False) + "\n")
    else:
        (folder / LABELS).unlink(missing_ok=True)

    def file_entry(file_name: str) -> dict:
        path = folder / file_name
        url = f"{url_base.rstrip('/')}/{name}/{file_name}" if url_base else file_name
        return {"name": file_name, "url": url, "sha256": sha256_file(path), "size": path.stat().st_size}

    raw = {
        "name": name,
        "arch": config.name,
        "task": source.task or "pretrain",
        "num_classes": source.num_classes if source.task in ("islr", "cslr") else None,
        "layout": config.layout,
        "params": parameter_counts(model)["total"],
        "pretrained_on": pretrained_on,
        "licence": licence,
        "citation": citation,
        "description": description,
        "config_file": CONFIG,
        "labels_file": LABELS if source.labels else None,
        "files": [file_entry(WEIGHTS), file_entry(CONFIG)] + ([file_entry(LABELS)] if source.labels else []),
        "metrics": metrics or [],
    }
    raw = {k: v for k, v in raw.items() if v not in (None, "", [])}
    atomic_write_text(folder / ENTRY, dumps_registry({"schema": 1, "model": [raw]}))
    entry = read_registry_file(folder / ENTRY)[name]  # validates what we wrote
    atomic_write_text(folder / CARD, model_card(entry, command, report.summary()))
    return ExportResult(folder, entry, folder / ENTRY)


def write_weights(model, path: Path, info: dict) -> None:
    """Safetensors with each tied tensor stored once and one metadata key, so equal weights give equal bytes.

    (safetensors orders metadata keys differently in every process, so several keys, as ``save_model`` writes for
    tied tensors, would make the sha256 of identical weights differ between two exports.)
    """
    from safetensors.torch import save_file

    from .loading import _alias_groups

    state = model.state_dict()
    for group in _alias_groups(model):
        for key in sorted(group)[1:]:
            del state[key]
    tensors = {k: v.detach().contiguous() for k, v in state.items()}
    save_file(tensors, str(path), metadata={METADATA_KEY: json.dumps(info, sort_keys=True)})


def model_card(entry: ZooEntry, command: str = "", load_summary: str = "") -> str:
    """A model card in Markdown (Hugging Face style front matter), written from the registry entry."""
    lines = [
        "---",
        "library_name: signkit",
        f"license: {json.dumps(entry.licence or 'unknown')}",
        "tags: [sign-language, skeleton, pose, signkit]",
        "---",
        "",
        f"# {entry.name}",
        "",
        entry.description or f"A signkit `{entry.arch}` model.",
        "",
        "| field | value |",
        "|---|---|",
        f"| architecture | `{entry.arch}` (config in `{entry.config_file}`) |",
        f"| task | {entry.task}" + (f" ({entry.num_classes} classes)" if entry.num_classes else "") + " |",
        f"| keypoint layout | `{entry.layout}` |",
        f"| parameters | {entry.params:,} |" if entry.params else "| parameters | - |",
        f"| pre-trained on | {entry.pretrained_on or 'not stated'} |",
        f"| licence | {entry.licence or 'not stated'} |",
        f"| signkit | {__version__} |",
        "",
        "## How it was made",
        "",
        f"```\n{command}\n```" if command else "The exporter was not told the command that produced these weights.",
        "",
        "## Use",
        "",
        "```",
        "signkit zoo add entry.toml            # or SIGNKIT_ZOO_REGISTRY=entry.toml",
        f"signkit zoo download {entry.name}",
        "```",
        "",
        "```python",
        "import signkit",
        f'model = signkit.zoo.load("{entry.name}", task="islr", num_classes=100)  # new head, strict backbone',
        "```",
        "",
        "## Files",
        "",
        "| file | bytes | sha256 |",
        "|---|---|---|",
        *[f"| {f.name} | {f.size} | `{f.sha256}` |" for f in entry.files],
    ]
    if entry.metrics:
        lines += ["", "## Reported results", "", "| dataset | split | metric | value | source |", "|---" * 5 + "|"]
        lines += [f"| {m.dataset} | {m.split} | {m.metric} | {m.value} | {m.source} |" for m in entry.metrics]
    if entry.citation:
        lines += ["", "## Citation", "", entry.citation]
    if load_summary:
        lines += ["", "## Export check", "", load_summary]
    return "\n".join(lines) + "\n"
