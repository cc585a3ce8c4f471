"""Load published or local weights into a model of any family (`signkit.models.families`), strictly.

``load(name_or_path, task=..., num_classes=...)`` builds the model from the config that travels with the weights,
loads the backbone strictly and leaves a new task head initialised. The only keys allowed to be missing are the new
head's (``head.*``), plus, for a converted foreign checkpoint, the modules that checkpoint never had (named by its
converter). Any other difference (missing or unexpected backbone keys, a shape mismatch, tied tensors with
different values) is refused with a message listing them. What happened is in ``model.load_report``.
"""

from __future__ import annotations

import json
import logging
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import _run_folder as run_folder
from ..errors import ConfigError, ZooError
from .downloading import DownloadOptions, download
from .registry import ZooEntry, read_registry_file
from .tokenizers import attach_tokenizer

if TYPE_CHECKING:
    import torch

log = logging.getLogger("signkit.zoo")

HEAD_PREFIX = "head."
PRETRAIN = "pretrain"
_LIST = 12  # keys shown per category in an error message


@dataclass
class LoadReport:
    """What a strict load did: every key that was new (initialised fresh) or discarded from the checkpoint."""

    source: str
    task: str | None
    num_classes: int | None
    loaded: list[str] = field(default_factory=list)
    new_keys: list[str] = field(default_factory=list)
    discarded_keys: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        parts = [f"loaded {len(self.loaded)} tensors from {self.source}"]
        if self.new_keys:
            parts.append(f"{len(self.new_keys)} new (initialised fresh): {_short(self.new_keys)}")
        if self.discarded_keys:
            parts.append(f"{len(self.discarded_keys)} discarded from the checkpoint: {_short(self.discarded_keys)}")
        return "; ".join(parts + self.notes)


def _short(keys: list[str]) -> str:
    shown = ", ".join(keys[:_LIST])
    return shown + (f", ... ({len(keys) - _LIST} more)" if len(keys) > _LIST else "")


# ---- reading checkpoints -------------------------------------------------------------------------------------


def read_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """(state dict, metadata) from a ``.safetensors`` file, or a ``.pth``/``.pt``/``.bin`` read with weights_only.

    A ``.pth`` holding ``{"model": state_dict}`` or ``{"state_dict": ...}`` (Uni-Sign, many trainers) is unwrapped.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise ZooError(f"checkpoint {path} does not exist")
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError, safe_open
        from safetensors.torch import load_file

        try:
            with safe_open(str(path), framework="pt") as f:
                meta = dict(f.metadata() or {})
            return load_file(str(path)), meta
        except (SafetensorError, OSError, ValueError) as e:
            raise ZooError(f"{path} is not a readable safetensors file ({e}); download it again") from None
    if path.suffix in (".pth", ".pt", ".bin", ".ckpt"):
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as e:
            raise ZooError(
                f"{path} holds Python objects besides tensors, which signkit refuses to unpickle (weights_only=True); "
                f"re-save its state dict alone, or convert it to safetensors ({str(e).splitlines()[0]})"
            ) from None
        except (RuntimeError, EOFError, OSError) as e:
            raise ZooError(f"{path} is not a readable PyTorch checkpoint ({e}); download it again") from None
        for key in ("model", "state_dict", "module"):
            if isinstance(obj, dict) and isinstance(obj.get(key), dict):
                obj = obj[key]
                break
        if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
            raise ZooError(f"{path} does not hold a state dict (name -> tensor); cannot load it")
        return dict(obj), {}
    raise ZooError(f"{path}: unknown checkpoint format {path.suffix!r}; use .safetensors (or .pth)")


# ---- strict loading ------------------------------------------------------------------------------------------


def _alias_groups(model: torch.nn.Module) -> list[list[str]]:
    """State-dict keys that name the same tensor (tied embeddings, shared hand streams)."""
    groups: dict[tuple, list[str]] = {}
    for key, tensor in model.state_dict(keep_vars=True).items():
        ident = (tensor.data_ptr(), tensor.dtype, tuple(tensor.shape), tensor.device)
        groups.setdefault(ident, []).append(key)
    return [g for g in groups.values() if len(g) > 1]


def load_state_dict_strict(
    model: torch.nn.Module,
    state_dict: dict[str, torch.Tensor],
    source: str = "checkpoint",
    allow_new: tuple[str, ...] = (),
    discard: tuple[str, ...] = (),
    hint: str = "Check that the config (arch, layout, sizes) is the one the weights were trained with",
) -> LoadReport:
    """Load ``state_dict`` into ``model``; only ``head.*`` (and ``allow_new`` prefixes) may be missing.

    The checkpoint's own ``head.*`` is loaded when it fits the model's head exactly (same task, same classes) and
    discarded otherwise; keys under ``discard`` prefixes are discarded too. Keys that name one tied tensor may
    appear once; if they appear with different values the load is refused (the model would silently keep one).
    """
    import torch

    task = getattr(model, "task", None)
    report = LoadReport(source, task, getattr(model, "num_classes", None))
    expected = model.state_dict()
    sd = dict(state_dict)
    for prefix in discard:
        for key in [k for k in sd if k.startswith(prefix)]:
            report.discarded_keys.append(key)
            del sd[key]
    ckpt_head = {k: v for k, v in sd.items() if k.startswith(HEAD_PREFIX)}
    model_head = {k: v for k, v in expected.items() if k.startswith(HEAD_PREFIX)}
    head_fits = (
        bool(ckpt_head)
        and ckpt_head.keys() == model_head.keys()
        and all(ckpt_head[k].shape == model_head[k].shape for k in ckpt_head)
    )
    if ckpt_head and not head_fits:
        report.discarded_keys += sorted(ckpt_head)
        for key in ckpt_head:
            del sd[key]

    conflicts = []
    for group in _alias_groups(model):
        present = [k for k in group if k in sd]
        if not present:
            continue
        first = sd[present[0]]
        for other in present[1:]:
            if sd[other].shape != first.shape or not torch.equal(sd[other], first):
                conflicts.append(f"{present[0]} vs {other}")
        for key in group:
            sd.setdefault(key, first)

    missing = sorted(set(expected) - set(sd))
    unexpected = sorted(set(sd) - set(expected))
    shapes = sorted(
        f"{k} {tuple(sd[k].shape)} -> {tuple(expected[k].shape)}"
        for k in set(sd) & set(expected)
        if sd[k].shape != expected[k].shape
    )
    allowed = (HEAD_PREFIX, *allow_new)
    new = [k for k in missing if k.startswith(allowed)]
    bad_missing = [k for k in missing if not k.startswith(allowed)]
    if bad_missing or unexpected or shapes or conflicts:
        problems = []
        if bad_missing:
            problems.append(f"{len(bad_missing)} missing: {_short(bad_missing)}")
        if unexpected:
            problems.append(f"{len(unexpected)} unexpected: {_short(unexpected)}")
        if shapes:
            problems.append(f"{len(shapes)} with another shape: {_short(shapes)}")
        if conflicts:
            problems.append(
                f"tied in the model but different in the checkpoint: {_short(conflicts)} (the model config ties "
                "tensors that the checkpoint keeps apart)"
            )
        raise ZooError(
            f"{source} does not fit the model ({'; '.join(problems)}); only new task-head keys (head.*) may differ. "
            + hint
        )
    model.load_state_dict({k: v for k, v in sd.items() if k in expected}, strict=False)
    report.loaded = sorted(k for k in sd if k in expected)
    report.new_keys = new
    return report


# ---- where weights come from ---------------------------------------------------------------------------------


@dataclass
class ModelSource:
    """A resolved checkpoint: its state dict, the config to build, and the task it was trained for."""

    label: str
    state_dict: dict[str, torch.Tensor]
    config: Any  # a model family's config (`signkit.models.families`)
    task: str | None
    num_classes: int | None
    allow_new: tuple[str, ...] = ()
    discard: tuple[str, ...] = ()
    notes: list[str] = field(default_factory=list)
    entry: ZooEntry | None = None
    labels: dict = field(default_factory=dict)  # class names / gloss vocabulary / language, when known
    dropped: list[str] = field(default_factory=list)  # checkpoint keys a converter left out (reported as discarded)
    hint: str = "Check that the config (arch, layout, sizes) is the one the weights were trained with"


def entry_config(entry: ZooEntry, paths: dict[str, Path] | None = None):
    """The model config of a registry entry: its config file if it ships one, else ``arch`` with its overrides."""
    from ..models import config_from_dict, config_with_overrides, get_config, list_configs

    where = f"registry entry {entry.name} ({entry.registry or 'no file'})"
    try:
        if entry.config_file:
            if paths is None or entry.config_file not in paths:
                raise ZooError(f"{where}: its config file {entry.config_file} was not downloaded")
            data = json.loads(paths[entry.config_file].read_text(encoding="utf-8"))
            data.update(entry.config_overrides)
            return config_from_dict(data)
        if entry.arch not in list_configs():
            raise ZooError(
                f"{where} names arch {entry.arch!r}, which is not a signkit config (known: {', '.join(list_configs())})"
                "; fix the entry or ship a config_file"
            )
        return config_with_overrides(get_config(entry.arch), entry.config_overrides)
    except (ConfigError, TypeError, ValueError) as e:
        raise ZooError(f"{where} has a wrong config: {e}; fix the entry (or its config file)") from None


def _source_from_entry(entry: ZooEntry, paths: dict[str, Path]) -> ModelSource:
    config = entry_config(entry, paths)
    if config.layout != entry.layout:
        raise ZooError(
            f"registry entry {entry.name} ({entry.registry}) says layout {entry.layout!r} but its config says "
            f"{config.layout!r}; fix the entry"
        )
    weights = paths[entry.weights_file.name]
    state_dict, _ = read_checkpoint(weights)
    task = None if entry.task == PRETRAIN else entry.task
    source = ModelSource(f"{entry.name} ({weights})", state_dict, config, task, entry.num_classes, entry=entry)
    if entry.labels_file:
        source.labels = json.loads(paths[entry.labels_file].read_text(encoding="utf-8"))
    if entry.format == "unisign":
        tokenizer = entry.config_overrides.get("tokenizer")
        unisign = unisign_source(source.label, state_dict, tokenizer, entry.config_overrides)
        unisign.task, unisign.num_classes, unisign.entry, unisign.labels = task, entry.num_classes, entry, source.labels
        return unisign
    return source


def unisign_source(
    label: str, state_dict: dict[str, torch.Tensor], tokenizer: str | None, overrides: dict[str, Any] | None = None
) -> ModelSource:
    """A Uni-Sign-family checkpoint (Uni-Sign, Geo-Sign): converted, with the config it implies (`unisign_config`)."""
    from ..models import config_with_overrides
    from .convert_unisign import convert_unisign, unisign_config

    converted = convert_unisign(state_dict)
    config = unisign_config(converted, tokenizer)
    if overrides:
        try:
            config = config_with_overrides(config, overrides)
        except (ConfigError, TypeError, ValueError) as e:
            raise ZooError(f"{label}: wrong config overrides for a Uni-Sign checkpoint: {e}") from None
        if config.sign_encoder.input_transform != "uni-sign" or config.layout != "coco-wholebody-133":
            raise ZooError(
                f"{label}: a Uni-Sign checkpoint takes the uni-sign input transform and layout "
                "coco-wholebody-133; drop those config overrides"
            )
    source = ModelSource(
        label,
        converted.state_dict,
        config,
        "slt",
        None,
        allow_new=converted.new_prefixes,
        notes=[converted.note],
        dropped=converted.dropped,
    )
    source.hint = (
        f"It has {converted.family} keys but not all of a pose-only {converted.family} model's (sizes read from its "
        "mT5); it is incomplete or of another version: download it again"
    )
    return source


def _source_from_path(path: Path, tokenizer: str | None = None) -> ModelSource:
    """A local export folder (entry.toml or config.json + model.safetensors), a weights file with a config, or a
    checkpoint of a family signkit knows by its keys (Uni-Sign, Geo-Sign: ``.pth`` as their authors save it)."""
    from ..models import config_from_dict

    folder = path if path.is_dir() else path.parent
    entry_file = folder / "entry.toml"
    if path.is_dir() and entry_file.is_file():
        entries = read_registry_file(entry_file)
        if len(entries) == 1:
            entry = next(iter(entries.values()))
            paths = {spec.name: folder / spec.name for spec in entry.files}
            missing = [name for name, p in paths.items() if not p.is_file()]
            if missing:
                raise ZooError(f"{folder} lacks {', '.join(missing)} named in its entry.toml")
            return _source_from_entry(entry, paths)
    if run_folder.is_run(path):  # a training run: its best, else latest, checkpoint
        checkpoint = run_folder.checkpoint_to_read(path)
        if checkpoint is None:
            raise ZooError(f"the run {path} has no complete checkpoint yet (checkpoints/best or checkpoints/latest)")
        path = folder = checkpoint
    elif run_folder.run_of(path) is not None and not run_folder.is_complete(folder):
        raise ZooError(f"{folder} is an incomplete checkpoint (an interrupted save); load its run folder instead")
    weights = path
    if path.is_dir():
        candidates = [folder / "model.safetensors", *sorted(folder.glob("*.safetensors")), *folder.glob("*.pth")]
        weights = next((c for c in candidates if c.is_file()), None)
        if weights is None:
            raise ZooError(f"{folder} holds no weights (model.safetensors or *.pth)")
    state_dict, meta = read_checkpoint(weights)
    from .convert_unisign import looks_like_unisign

    if "signkit" not in meta and looks_like_unisign(state_dict):
        return unisign_source(str(weights), state_dict, tokenizer)
    config_data, task, num_classes, labels = None, None, None, {}
    if "signkit" in meta:  # written by `signkit zoo export`
        info = json.loads(meta["signkit"])
        config_data, task, num_classes = info.get("config"), info.get("task"), info.get("num_classes")
    else:
        for candidate in (folder / "config.json", run_folder.run_file(path, run_folder.MODEL_JSON)):
            if candidate is not None and candidate.is_file():
                data = json.loads(candidate.read_text(encoding="utf-8"))
                run_config = data.get("config") or data.get("model_config") or data.get("model")
                if not isinstance(run_config, dict):  # a model config (config.json)
                    config_data = data
                else:  # a training run's model.json: {"config": ..., "task": ..., "num_classes": ...}
                    config_data = run_config
                    task, num_classes = data.get("task"), data.get("num_classes")
                    labels = {k: data[k] for k in ("classes", "gloss_vocab", "language") if data.get(k)}
                break
    if not isinstance(config_data, dict):
        raise ZooError(
            f"{weights} is of no model family signkit knows: looked for signkit metadata (`signkit zoo export`), a "
            "config.json or a training run's model.json beside it, and Uni-Sign/Geo-Sign keys (gcn_modules.*, "
            "mt5_model.*)"
        )
    try:
        config = config_from_dict(config_data)
    except (ConfigError, TypeError) as e:
        raise ZooError(f"the config next to {weights} is wrong: {e}") from None
    task = None if task in (None, PRETRAIN) else task
    return ModelSource(str(weights), state_dict, config, task, num_classes, labels=labels)


CHECKPOINT_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin", ".ckpt")


def _looks_like_path(name: str) -> bool:
    return "/" in name or "\\" in name or name.startswith(("~", ".")) or name.lower().endswith(CHECKPOINT_SUFFIXES)


def resolve_source(
    name_or_path: str | Path, options: DownloadOptions | None = None, tokenizer: str | None = None
) -> ModelSource:
    """Where the weights come from: a path (explicit, or a bare name that only exists as a file or folder here), or a
    zoo entry. A bare name that is both is refused; ``zoo:NAME`` always means the entry."""
    from ..models import config_with_overrides

    source = _resolve(name_or_path, options, tokenizer)
    if tokenizer is not None and getattr(source.config, "tokenizer", None) != tokenizer:
        if not hasattr(source.config, "tokenizer"):
            raise ZooError(
                f"{source.label} is a {source.config.name} model, which has no text model or tokenizer; "
                "drop the tokenizer option"
            )
        source.config = config_with_overrides(source.config, {"tokenizer": tokenizer})
    return source


def _resolve(name_or_path: str | Path, options: DownloadOptions | None, tokenizer: str | None) -> ModelSource:
    text = str(name_or_path)
    if isinstance(name_or_path, str) and text.startswith("zoo:"):
        result = download(text[len("zoo:") :], options)
        return _source_from_entry(result.entry, result.paths)
    path = Path(name_or_path).expanduser()
    explicit = isinstance(name_or_path, Path) or _looks_like_path(text)
    if path.exists():
        if not explicit and _is_zoo_name(text):
            raise ZooError(
                f"{text!r} is both a zoo entry and a {'folder' if path.is_dir() else 'file'} here; say ./{text} for "
                f"the {'folder' if path.is_dir() else 'file'} or zoo:{text} for the zoo entry"
            )
        return _source_from_path(path, tokenizer)
    if explicit:
        raise ZooError(f"no such file: {text}; check the path (a zoo name has no '/' and no file suffix)")
    result = download(text, options)
    return _source_from_entry(result.entry, result.paths)


def _is_zoo_name(name: str) -> bool:
    """Whether ``name`` means a registry entry (an exact ``arch.tag`` or a bare ``arch``), without downloading."""
    from .registry import load_registry

    try:
        entries = load_registry()
    except ZooError:
        return False
    return name in entries or any(e.name.split(".")[0] == name for e in entries.values())


def load(
    name_or_path: str | Path,
    task: str | None = None,
    num_classes: int | None = None,
    *,
    options: DownloadOptions | None = None,
    tokenizer: str | None = None,
):
    """A model (Sigma, or any family of `signkit.models.FAMILIES`) with published or local weights, ready to
    fine-tune or run.

    ``task=None`` gives the model as published (its own task and head); ``task="pretrain"`` the pre-training
    model; ``task="islr"|"cslr"|"slt"`` with ``num_classes`` builds that task, loading the backbone strictly and
    initialising a new head (unless the checkpoint's head fits exactly). ``model.load_report`` says which keys were
    new and which were discarded. Example: ``signkit.zoo.load("sigma-tiny", task="islr", num_classes=100)``.

    ``name_or_path`` may be a Uni-Sign or Geo-Sign ``.pth`` as their authors save it: it is recognised by its keys
    and converted, with its own input transform, prompt and decoding defaults. ``tokenizer`` (a hub name or a
    folder) replaces the config's, e.g. for a checkpoint whose vocabulary is not mT5's.
    """
    from ..models import create_model

    source = resolve_source(name_or_path, options, tokenizer)
    if task is None:
        task, num_classes = source.task, (source.num_classes if num_classes is None else num_classes)
    elif task == PRETRAIN:
        task = None
    elif task == source.task and num_classes is None:
        num_classes = source.num_classes
    if task in ("islr", "cslr") and num_classes is None:
        raise ZooError(f"task {task} needs num_classes (the checkpoint {source.label} was not trained for it)")
    try:
        model = create_model(source.config, task, num_classes if task in ("islr", "cslr") else None)
    except ConfigError as e:
        raise ZooError(f"cannot build the model for {source.label}: {e}") from None
    attach_tokenizer(model, options)  # fetched through the zoo (cache, mirror, offline mode), not the HF cache
    report = load_state_dict_strict(
        model, source.state_dict, source.label, source.allow_new, source.discard, source.hint
    )
    report.notes += [n for n in source.notes if n]
    report.discarded_keys = sorted(report.discarded_keys + source.dropped)
    model.load_report = report
    model.zoo_entry = source.entry
    model.labels = source.labels if task == source.task else {}  # a new task's labels come from its dataset
    log.info(report.summary())
    return model
