"""The registry of published weights: data files (TOML or JSON), not code.

One entry per weight release, keyed ``arch.tag`` (``sigma-tiny.fs-lexicon``), as timm's ``default_cfgs`` and
open_clip's pretrained table do. The architecture is a signkit config name (``arch``) optionally refined by a
config file shipped with the weights, kept apart from the weight tag. Registries are layered, later ones
overriding earlier entries of the same name:

1. the built-in ``registry.toml`` next to this module;
2. entries a mirror served for a release installed from it (``$SIGNKIT_HOME/zoo/mirror-entries/``), so it stays
   known when the mirror is down or offline;
3. files added with ``signkit zoo add`` (copied into ``$SIGNKIT_HOME/zoo/registries/``);
4. files named in ``SIGNKIT_ZOO_REGISTRY`` (``os.pathsep``-separated).

A registry file looks like::

    schema = 1
    [[model]]
    name = "sigma-tiny.fs-lexicon"
    arch = "sigma-tiny"
    ...
    [[model.files]]
    name = "model.safetensors"
    url = "weights/sigma-tiny.fs-lexicon/model.safetensors"   # https://, hf://, file://, or relative to this file
    sha256 = "..."
    size = 123

A file whose name the publisher never confirmed is not given a guessed URL: ``url = "hf://owner/repo@revision"``
(the repository, no path) with ``pattern`` (a regular expression a path of the repository must match in full) is
resolved when it is first downloaded by listing the repository; exactly one file must match, and its name and
sha256 are pinned from then on.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .._toml import toml_reader
from ..errors import ZooError
from .cache import mirror_entries_dir, registries_dir

tomllib = toml_reader()  # Python 3.10: tomli

BUILTIN_REGISTRY = Path(__file__).with_name("registry.toml")
REGISTRY_ENV = "SIGNKIT_ZOO_REGISTRY"
SCHEMA_VERSION = 1

TASKS = ("pretrain", "islr", "cslr", "slt")
FORMATS = ("signkit", "unisign")
STATUSES = ("released", "unreleased")
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*(\.[a-z0-9][a-z0-9_.-]*)?$")
_SHA_RE = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class FileSpec:
    """One file of a release. ``sha256`` may be empty only when ``pin`` says it is recorded on first download."""

    name: str
    url: str
    sha256: str = ""
    size: int | None = None
    pin: str = ""  # "first-download": the publisher gives no checksum; the first download's is pinned
    pattern: str = ""  # with url = "hf://owner/repo@rev": the file is the one repository path that fully matches

    @property
    def pin_key(self) -> str:
        """Key of this file's pin (pins.json): its URL, plus the pattern when one repository holds several."""
        return f"{self.url}#{self.pattern}" if self.pattern else self.url


@dataclass(frozen=True)
class Metric:
    """A reported result, with where it was reported (paper table, model card, our own evaluation log)."""

    dataset: str
    metric: str
    value: float
    split: str = "test"
    source: str = ""


@dataclass(frozen=True)
class ZooEntry:
    """A published set of weights and everything needed to use them."""

    name: str
    arch: str
    task: str = "pretrain"
    num_classes: int | None = None
    layout: str = "coco-wholebody-133"
    pretrained_on: str = ""
    licence: str = ""
    citation: str = ""
    description: str = ""
    format: str = "signkit"
    status: str = "released"
    how_to_get: str = ""
    caveat: str = ""  # one line `zoo list`/`info` show with the entry (e.g. "RGB branch dropped: ...")
    default: bool = False
    params: int | None = None
    config_file: str = ""
    labels_file: str = ""  # a file among `files` with {"classes": [...], "gloss_vocab": [...], "language": ...}
    config_overrides: dict = field(default_factory=dict)
    files: tuple[FileSpec, ...] = ()
    metrics: tuple[Metric, ...] = ()
    registry: str = ""  # the file this entry came from (set by the loader)

    @property
    def released(self) -> bool:
        return self.status == "released" and bool(self.files)

    @property
    def base_dir(self) -> Path | None:
        """Folder that relative file URLs are resolved against: the registry file's folder."""
        return Path(self.registry).parent if self.registry else None

    def file(self, name: str) -> FileSpec:
        for spec in self.files:
            if spec.name == name:
                return spec
        raise ZooError(f"{self.name} has no file {name!r} (it has: {', '.join(f.name for f in self.files) or 'none'})")

    @property
    def weights_file(self) -> FileSpec:
        """The weights file: the one ending in .safetensors, else .pth/.pt/.bin."""
        for suffixes in ((".safetensors",), (".pth", ".pt", ".bin")):
            for spec in self.files:
                if spec.name.endswith(suffixes):
                    return spec
        raise ZooError(f"registry entry {self.name} ({self.registry}) lists no weights file (.safetensors or .pth)")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "registry":
                continue
            if f.name in ("files", "metrics"):
                value = [{k: v for k, v in vars(x).items() if v not in (None, "")} for x in value]
            if value in (None, "", (), [], {}) and f.name not in ("name", "arch"):
                continue
            out[f.name] = value
        return out


def _check_keys(kind: str, data: dict, cls: type, where: str) -> None:
    allowed = {f.name for f in fields(cls)} - {"registry"}
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ZooError(f"{where}: unknown {kind} field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")


def _parse_file(data: Any, where: str) -> FileSpec:
    if not isinstance(data, dict):
        raise ZooError(f"{where}: each [[model.files]] must be a table with name, url, sha256, size")
    _check_keys("file", data, FileSpec, where)
    for key in ("name", "url"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise ZooError(f"{where}: a file needs a non-empty {key!r}")
    if "/" in data["name"] or data["name"].startswith("."):
        raise ZooError(f"{where}: file name {data['name']!r} must be a plain file name (no folders, no leading dot)")
    sha = str(data.get("sha256", "")).lower()
    pin = data.get("pin", "")
    if pin not in ("", "first-download"):
        raise ZooError(f"{where}: file {data['name']}: pin must be 'first-download' or absent, not {pin!r}")
    if sha and not _SHA_RE.match(sha):
        raise ZooError(f"{where}: file {data['name']}: sha256 must be 64 hex digits, got {sha!r}")
    if not sha and not pin:
        raise ZooError(
            f'{where}: file {data["name"]} has no sha256; add it (sha256sum FILE), or set pin = "first-download" '
            "if the publisher gives none"
        )
    size = data.get("size")
    if size is not None and (not isinstance(size, int) or size < 0):
        raise ZooError(f"{where}: file {data['name']}: size must be a byte count, got {size!r}")
    pattern = data.get("pattern", "")
    if pattern:
        _check_pattern(data["name"], data["url"], pattern, sha, pin, where)
    return FileSpec(name=data["name"], url=data["url"], sha256=sha, size=size, pin=pin, pattern=pattern)


def _check_pattern(name: str, url: str, pattern: Any, sha: str, pin: str, where: str) -> None:
    """A pattern file: an ``hf://owner/repo[@rev]`` URL without a path, a valid regex, and a pin, not a sha256."""
    if not isinstance(pattern, str):
        raise ZooError(f"{where}: file {name}: pattern must be a regular expression (a string)")
    try:
        re.compile(pattern)
    except re.error as e:
        raise ZooError(f"{where}: file {name}: pattern {pattern!r} is not a valid regular expression ({e})") from None
    repo = url.removeprefix("hf://").split("@", 1)[0]
    if not url.startswith("hf://") or repo.count("/") != 1 or not all(repo.split("/")):
        raise ZooError(
            f"{where}: file {name}: a pattern file's url must name a Hugging Face repository without a path "
            f"(hf://owner/repo@revision), not {url!r}"
        )
    if sha or pin != "first-download":
        raise ZooError(
            f"{where}: file {name}: a pattern file has no sha256 (it is unknown until the file is resolved); "
            'set pin = "first-download"'
        )


def _parse_metric(data: Any, where: str) -> Metric:
    if not isinstance(data, dict):
        raise ZooError(f"{where}: each [[model.metrics]] must be a table")
    _check_keys("metric", data, Metric, where)
    try:
        return Metric(**{**data, "value": float(data["value"])})
    except (KeyError, TypeError, ValueError) as e:
        raise ZooError(f"{where}: a metric needs dataset, metric and a numeric value ({e})") from None


def parse_entry(data: Any, registry: str) -> ZooEntry:
    """Validate one ``[[model]]`` table; every problem names the registry file and the entry."""
    if not isinstance(data, dict):
        raise ZooError(f"{registry}: each [[model]] must be a table")
    name = data.get("name")
    where = f"{registry}: entry {name!r}"
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ZooError(f"{where}: name must look like 'arch.tag' (lowercase letters, digits, '-', '_', '.')")
    _check_keys("model", data, ZooEntry, where)
    if not isinstance(data.get("arch"), str) or not data["arch"]:
        raise ZooError(f"{where}: 'arch' (a signkit config name such as sigma-tiny) is required")
    checks = {"task": TASKS, "format": FORMATS, "status": STATUSES}
    for key, allowed in checks.items():
        if key in data and data[key] not in allowed:
            raise ZooError(f"{where}: {key} must be one of {', '.join(allowed)}, not {data[key]!r}")
    num_classes = data.get("num_classes")
    task = data.get("task", "pretrain")
    if task in ("islr", "cslr") and not isinstance(num_classes, int):
        raise ZooError(f"{where}: a {task} entry needs num_classes (the size of the head it was trained with)")
    if num_classes is not None and (not isinstance(num_classes, int) or num_classes < 1):
        raise ZooError(f"{where}: num_classes must be a positive integer, not {num_classes!r}")
    overrides = data.get("config_overrides", {})
    if not isinstance(overrides, dict):
        raise ZooError(f"{where}: config_overrides must be a table of SigmaConfig fields")
    files = tuple(_parse_file(f, where) for f in data.get("files", []))
    names = [f.name for f in files]
    if len(set(names)) != len(names):
        raise ZooError(f"{where}: file names must be unique, got {names}")
    status = data.get("status", "released")
    if status == "released" and not files:
        raise ZooError(f'{where}: a released entry needs [[model.files]]; mark it status = "unreleased" otherwise')
    if status == "unreleased" and not data.get("how_to_get"):
        raise ZooError(f"{where}: an unreleased entry needs how_to_get (how a user can produce the weights)")
    config_file = data.get("config_file", "")
    if config_file and config_file not in names:
        raise ZooError(f"{where}: config_file {config_file!r} is not one of its files ({', '.join(names)})")
    labels_file = data.get("labels_file", "")
    if labels_file and labels_file not in names:
        raise ZooError(f"{where}: labels_file {labels_file!r} is not one of its files ({', '.join(names)})")
    metrics = tuple(_parse_metric(m, where) for m in data.get("metrics", []))
    simple = {k: v for k, v in data.items() if k not in ("files", "metrics")}
    return ZooEntry(**simple, files=files, metrics=metrics, registry=registry)


@dataclass(frozen=True)
class TokenizerEntry:
    """The files of a tokenizer a model config names (``SigmaConfig.tokenizer``, e.g. ``google/mt5-base``), fetched
    like weights (cache, mirror, offline mode) instead of assumed to be in the Hugging Face cache."""

    name: str
    files: tuple[FileSpec, ...]
    registry: str = ""

    @property
    def cache_name(self) -> str:
        """The folder under the zoo cache (and a mirror) that holds the files: ``tokenizer.google--mt5-base``."""
        return "tokenizer." + self.name.replace("/", "--")

    def as_entry(self) -> ZooEntry:
        """A zoo entry of the files, so they go through the one download path (cache, lock, mirror, pins)."""
        return ZooEntry(name=self.cache_name, arch="tokenizer", files=self.files, registry=self.registry)


def _parse_tokenizer(data: Any, registry: str) -> TokenizerEntry:
    where = f"{registry}: tokenizer {data.get('name') if isinstance(data, dict) else data!r}"
    if not isinstance(data, dict) or not isinstance(data.get("name"), str) or not data["name"]:
        raise ZooError(f"{where}: each [[tokenizer]] needs a name (the model config's tokenizer) and files")
    unknown = sorted(set(data) - {"name", "files"})
    if unknown:
        raise ZooError(f"{where}: unknown tokenizer field(s) {', '.join(unknown)}; allowed: files, name")
    files = tuple(_parse_file(f, where) for f in data.get("files", []))
    if not files:
        raise ZooError(f"{where}: a tokenizer needs [[tokenizer.files]]")
    return TokenizerEntry(data["name"], files, registry)


def _read_data(path: Path) -> dict:
    """The parsed contents of one registry file, with its top level checked."""
    if not path.is_file():
        raise ZooError(f"registry file {path} does not exist; check {REGISTRY_ENV} or the path given to `zoo add`")
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ZooError(f"registry file {path} is not valid {path.suffix.lstrip('.').upper() or 'TOML'}: {e}") from None
    if not isinstance(data, dict):
        raise ZooError(f"registry file {path} must hold a table with a 'model' array")
    schema = data.get("schema", SCHEMA_VERSION)
    if schema != SCHEMA_VERSION:
        raise ZooError(f"registry file {path} has schema {schema}; this signkit reads schema {SCHEMA_VERSION}")
    unknown = sorted(set(data) - {"schema", "model", "tokenizer"})
    if unknown:
        raise ZooError(
            f"registry file {path}: unknown top-level key(s) {', '.join(unknown)}; entries go in [[model]] "
            "(and tokenizers in [[tokenizer]])"
        )
    return data


def read_tokenizer_entries(path: str | os.PathLike) -> dict[str, TokenizerEntry]:
    """The ``[[tokenizer]]`` tables of one registry file."""
    path = Path(path).expanduser()
    return {t.name: t for t in (_parse_tokenizer(raw, str(path)) for raw in _read_data(path).get("tokenizer", []))}


def load_tokenizer_entries() -> dict[str, TokenizerEntry]:
    """Tokenizer entries of all layered registries (later ones win, as for models)."""
    entries: dict[str, TokenizerEntry] = {}
    for path in registry_files():
        entries.update(read_tokenizer_entries(path))
    return entries


def read_registry_file(path: str | os.PathLike) -> dict[str, ZooEntry]:
    """Read and validate one registry file (.toml or .json)."""
    path = Path(path).expanduser()
    data = _read_data(path)
    entries: dict[str, ZooEntry] = {}
    for raw in data.get("model", []):
        entry = parse_entry(raw, str(path))
        if entry.name in entries:
            raise ZooError(f"registry file {path} lists {entry.name} twice")
        entries[entry.name] = entry
    return entries


def registry_files() -> list[Path]:
    """The registry files in the order they are layered (later ones win)."""
    files = [BUILTIN_REGISTRY]
    served = mirror_entries_dir()
    if served.is_dir():
        files += sorted(p / "entry.toml" for p in served.iterdir() if (p / "entry.toml").is_file())
    added = registries_dir()
    if added.is_dir():
        files += sorted(p for p in added.iterdir() if p.suffix in (".toml", ".json") and not p.name.startswith("."))
    env = os.environ.get(REGISTRY_ENV, "")
    files += [Path(p).expanduser() for p in env.split(os.pathsep) if p.strip()]
    return files


def load_registry() -> dict[str, ZooEntry]:
    """All entries of all layered registries, read fresh (registries are small; no stale cache between calls)."""
    entries: dict[str, ZooEntry] = {}
    for path in registry_files():
        entries.update(read_registry_file(path))
    return entries


def list_models(arch: str | None = None) -> list[ZooEntry]:
    """Entries sorted by name, optionally only those of one architecture."""
    entries = load_registry().values()
    return sorted((e for e in entries if arch is None or e.arch == arch), key=lambda e: e.name)


def resolve_name(name: str, entries: dict[str, ZooEntry] | None = None) -> ZooEntry:
    """Parse a user's model name once: an exact ``arch.tag``, or a bare ``arch`` that picks its default release.

    For a bare arch, released entries are preferred; among them the one marked ``default``, else the only one.
    """
    entries = load_registry() if entries is None else entries
    if name in entries:
        return entries[name]
    candidates = [e for e in entries.values() if e.name.split(".")[0] == name]
    if not candidates:
        known = ", ".join(sorted(entries)) or "none"
        raise ZooError(f"unknown model {name!r}; known: {known} (see `signkit zoo list`; add a registry: `zoo add`)")
    released = [e for e in candidates if e.released]
    pool = released or candidates
    defaults = [e for e in pool if e.default]
    if len(pool) == 1:
        return pool[0]
    if len(defaults) == 1:
        return defaults[0]
    names = ", ".join(sorted(e.name for e in pool))
    raise ZooError(f"{name!r} is ambiguous: it matches {names}; name one of them exactly")


def add_registry(path: str | os.PathLike) -> Path:
    """Validate a registry file and copy it into ``$SIGNKIT_HOME/zoo/registries/`` so it is layered from now on.

    Relative file URLs in it are rewritten to absolute paths so they still point where they did. Each source file
    gets its own copy (two ``lab.toml`` from different folders are both kept; adding the same file again updates
    its copy). An entry name that another added registry already holds is refused, naming that file; a name that
    shadows a built-in entry is allowed with a warning.
    """
    import hashlib
    import warnings

    from .._atomic import atomic_write_text
    from .cache import ensure_writable

    src = Path(path).expanduser().resolve()
    entries = read_registry_file(src)
    read_tokenizer_entries(src)  # validated before it is layered
    tag = hashlib.sha256(str(src).encode()).hexdigest()[:8]
    dest_name = f"{src.parent.name or 'root'}--{src.stem}-{tag}{src.suffix}"
    others = [p for p in registry_files()[1:] if p.parent == registries_dir() and p.name != dest_name]
    for other in others:
        clash = sorted(set(entries) & set(read_registry_file(other)))
        if clash:
            raise ZooError(
                f"{', '.join(clash)} is already added by {other}; delete that file to replace it, or give the entry "
                "another name"
            )
    shadowed = sorted(set(entries) & set(read_registry_file(BUILTIN_REGISTRY)))
    if shadowed:
        warnings.warn(f"{', '.join(shadowed)} now replaces the built-in entry of that name", stacklevel=2)
    dest_dir = ensure_writable(registries_dir())
    dest = dest_dir / dest_name
    if src.suffix == ".json":
        data = json.loads(src.read_text(encoding="utf-8"))
    else:
        data = tomllib.loads(src.read_text(encoding="utf-8"))
    for raw in [*data.get("model", []), *data.get("tokenizer", [])]:
        for f in raw.get("files", []):
            if _is_relative_path(f["url"]):
                f["url"] = str((src.parent / f["url"]).resolve())
    text = json.dumps(data, indent=2) if src.suffix == ".json" else dumps_registry(data)
    atomic_write_text(dest, text)
    return dest


def remember_mirror_entry(name: str, entry_file: Path) -> Path:
    """Keep the ``entry.toml`` a mirror served for ``name`` (as `zoo export` wrote it, relative URLs and all) in
    ``$SIGNKIT_HOME/zoo/mirror-entries/<name>/``; layered after the built-in registry from then on."""
    from .._atomic import atomic_write_text

    dest = mirror_entries_dir() / name / "entry.toml"
    dest.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(dest, Path(entry_file).read_text(encoding="utf-8"))
    return dest


def _is_relative_path(url: str) -> bool:
    return "://" not in url and not Path(url).expanduser().is_absolute()


def dumps_registry(data: dict[str, Any]) -> str:
    """Write ``{"schema": 1, "model": [entry, ...], "tokenizer": [...]}`` (entries as in ``ZooEntry.to_dict``) as
    TOML (``tomli-w``); fields that are None are left out, TOML has no null."""
    import tomli_w

    def table(item: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in item.items() if v is not None}

    models = []
    for model in data.get("model", []):
        entry = {k: v for k, v in table(model).items() if k not in ("files", "metrics")}
        entry.update({t: [table(i) for i in model[t]] for t in ("files", "metrics") if model.get(t)})
        models.append(entry)
    tokenizers = []
    for tokenizer in data.get("tokenizer", []):
        files = [table(i) for i in tokenizer.get("files", [])]
        tokenizers.append({"name": tokenizer["name"], **({"files": files} if files else {})})
    out: dict[str, Any] = {"schema": data.get("schema", SCHEMA_VERSION)}
    out.update({k: v for k, v in (("model", models), ("tokenizer", tokenizers)) if v})
    return tomli_w.dumps(out)
