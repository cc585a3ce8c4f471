"""Verified, resumable, concurrency-safe downloads into the cache.

Sources: ``https://`` (and ``http://``) with HTTP Range resume and retries with exponential backoff;
``hf://owner/repo/path/in/repo@revision`` through huggingface_hub (auth, redirects and Xet storage handled there);
local paths (relative ones against the registry file that names them) and ``file://``.
``SIGNKIT_ZOO_MIRROR`` (base URL or folder holding ``<entry>/<file>``) replaces every origin when set.

A file enters the cache only by atomic rename after its sha256 matched, so a file under its final name is
always a verified one. A lock per file makes concurrent processes (DDP ranks, two shells) download it once;
the others wait and then find it in place.
"""

from __future__ import annotations

import errno
import http.client
import os
import random
import re
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from .. import __version__
from .._urls import local_path
from ..errors import ZooError
from .cache import (
    MIRROR_ENV,
    OFFLINE_ENV,
    check_cached,
    ensure_writable,
    file_lock,
    is_offline,
    mark_verified,
    marker_path,
    mirror,
    model_dir,
    pinned_sha256,
    read_pins,
    record_pin,
    sha256_file,
    zoo_dir,
)
from .registry import (
    BUILTIN_REGISTRY,
    FileSpec,
    ZooEntry,
    load_registry,
    read_registry_file,
    remember_mirror_entry,
    resolve_name,
)

CHUNK = 1 << 20
_HTML_PREFIXES = (b"<!doctype html", b"<html", b"<head", b"<?xml")


class ZooPinWarning(UserWarning):
    """A checksum was recorded on first download because the publisher gives none (trust on first use)."""


@dataclass(frozen=True)
class DownloadOptions:
    """How hard to try. Tests shrink ``backoff``; a flaky network may raise ``retries``."""

    retries: int = 5
    backoff: float = 1.0  # seconds before the first retry; doubles each time (with jitter), at most 30 s
    timeout: float = 60.0  # socket timeout per read
    lock_timeout: float = 6 * 3600
    progress: bool | None = None  # None/True: a bar on a terminal, plain periodic lines otherwise; False: none


@dataclass
class DownloadResult:
    entry: ZooEntry
    paths: dict[str, Path] = field(default_factory=dict)
    tokenizer: Path | None = None  # the folder of the model's tokenizer files, when a registry lists them

    @property
    def weights(self) -> Path:
        return self.paths[self.entry.weights_file.name]


# ---- origin resolution -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Origin:
    """Where one zoo file is fetched from (a benchmark parser is a `datasets.sources.Source`, a different thing)."""

    kind: str  # "http", "hf", "local"
    location: str  # URL, hf:// reference, or filesystem path

    @property
    def remote(self) -> bool:
        return self.kind in ("http", "hf")


def parse_origin(url: str, base_dir: Path | None = None) -> Origin:
    """Classify a registry URL. Relative paths are resolved against ``base_dir`` (the registry's folder)."""
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme in ("http", "https"):
        return Origin("http", url)
    if parsed.scheme == "hf":
        return Origin("hf", url)
    if parsed.scheme == "file":
        return Origin("local", urllib.request.url2pathname(parsed.path))
    if parsed.scheme and len(parsed.scheme) > 1:
        raise ZooError(f"unsupported URL scheme {parsed.scheme!r} in {url}; use https://, hf://, file:// or a path")
    path = Path(url).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    return Origin("local", str(path))


def parse_hf(url: str) -> tuple[str, str, str | None]:
    """``hf://owner/repo/path/in/repo@revision`` -> (repo_id, filename, revision)."""
    rest = url[len("hf://") :]
    revision = None
    if "@" in rest:
        rest, revision = rest.rsplit("@", 1)
    parts = rest.split("/")
    if len(parts) < 3 or not all(parts):
        raise ZooError(f"bad Hugging Face reference {url!r}; expected hf://owner/repo/path/in/repo[@revision]")
    return "/".join(parts[:2]), "/".join(parts[2:]), revision or None


def origin_for(entry: ZooEntry, spec: FileSpec) -> Origin:
    """Where to fetch ``spec`` from: the mirror when one is set, else the registry URL."""
    base = mirror()
    if base is None:
        return parse_origin(spec.url, entry.base_dir)
    if local_path(base) is None:  # a URL, not a folder or file:// URL
        return Origin("http", f"{base.rstrip('/')}/{entry.name}/{spec.name}")
    return Origin("local", str(Path(parse_origin(base).location) / entry.name / spec.name))


# ---- fetchers: each writes/extends ``partial`` and returns; they raise ZooError for what retrying cannot fix ---


class _Retryable(Exception):
    pass


class _NotFound(ZooError):
    """HTTP 404/410: the server has no such file (a mirror without that entry), as opposed to one that failed."""


def _is_html(head: bytes) -> bool:
    return head.lstrip()[:16].lower().startswith(_HTML_PREFIXES)


def _html_error(where: str) -> ZooError:
    return ZooError(
        f"{where} returned an HTML page instead of weights (a login, error or landing page?); "
        "check the URL in the registry, or download the file by hand and use its local path"
    )


def _check_space(directory: Path, needed: int, what: str) -> None:
    free = shutil.disk_usage(directory).free
    if needed > free:
        raise ZooError(
            f"not enough disk space for {what}: need {needed / 1e6:.1f} MB more, {free / 1e6:.1f} MB free in "
            f"{directory}; free some space or set SIGNKIT_HOME to a larger disk"
        )


def _disk_full(e: OSError, partial: Path) -> ZooError:
    return ZooError(
        f"disk full while writing {partial.parent} ({e.strerror}); free some space (or set SIGNKIT_HOME to a larger "
        "disk) and rerun: the download resumes where it stopped"
    )


def _progress(total: int | None, initial: int, desc: str, enabled: bool | None):
    from .._progress import Progress  # a bar on a terminal, plain periodic lines in a log file

    return Progress(total, initial, desc=desc, unit="B", unit_scale=True, enabled=enabled is not False)


def _http_once(url: str, partial: Path, expected_size: int | None, opts: DownloadOptions, desc: str) -> None:
    have = partial.stat().st_size if partial.exists() else 0
    if expected_size is not None and have > expected_size:
        partial.unlink()
        have = 0
    if expected_size is not None and have == expected_size:
        return
    headers = {"User-Agent": f"signkit/{__version__}", "Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=opts.timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:  # our partial is not a prefix the server recognises: start over
            partial.unlink()
            raise _Retryable("HTTP 416 on resume") from None
        if e.code in (408, 425, 429) or e.code >= 500:
            raise _Retryable(f"HTTP {e.code}") from None
        hint = "the registry entry is outdated or the URL is wrong" if e.code == 404 else "check access to it"
        error = _NotFound if e.code in (404, 410) else ZooError
        raise error(f"{url} answered HTTP {e.code} ({e.reason}); {hint}") from None
    with response:
        if "text/html" in response.headers.get("Content-Type", "").lower():
            raise _html_error(url)
        length = response.headers.get("Content-Length")
        length = int(length) if length is not None and length.isdigit() else None
        if have and response.status == 206:
            content_range = response.headers.get("Content-Range", "")
            if not content_range.startswith(f"bytes {have}-"):
                partial.unlink()
                raise _Retryable(f"server resumed at the wrong offset ({content_range!r})")
            mode = "ab"
        else:  # 200: the server sent the whole file (it ignored or lacks Range support)
            have, mode = 0, "wb"
        if length is not None:
            _check_space(partial.parent, length, desc)
        total = have + length if length is not None else expected_size
        written = 0
        with _progress(total, have, desc, opts.progress) as bar, open(partial, mode) as out:
            first = have == 0
            while True:
                try:
                    block = response.read(CHUNK)
                except (http.client.IncompleteRead, ConnectionError, TimeoutError) as e:
                    raise _Retryable(f"connection dropped after {have + written} bytes ({type(e).__name__})") from None
                if not block:
                    break
                if first and _is_html(block[:512]):
                    raise _html_error(url)
                first = False
                try:
                    out.write(block)
                except OSError as e:
                    if e.errno == errno.ENOSPC:
                        raise _disk_full(e, partial) from None
                    raise
                written += len(block)
                bar.update(len(block))
        if length is not None and written < length:
            raise _Retryable(f"connection dropped after {have + written} of {have + length} bytes")


def fetch_http(url: str, partial: Path, expected_size: int | None, opts: DownloadOptions, desc: str) -> None:
    """GET ``url`` into ``partial``, resuming with Range after drops; retries transient failures with backoff."""
    last = ""
    for attempt in range(opts.retries + 1):
        try:
            _http_once(url, partial, expected_size, opts, desc)
            return
        except _Retryable as e:
            last = str(e)
        except (urllib.error.URLError, ConnectionError, TimeoutError, http.client.HTTPException) as e:
            last = str(getattr(e, "reason", e) or type(e).__name__)
        if attempt < opts.retries:
            time.sleep(min(30.0, opts.backoff * 2**attempt) * (0.5 + random.random() / 2))
    have = partial.stat().st_size if partial.exists() else 0
    raise ZooError(
        f"could not download {url} after {opts.retries + 1} attempts ({last}); "
        f"rerun the same command to resume from byte {have}"
    )


def _hf_error(url: str, e: Exception, retries: int | None = None) -> ZooError:
    detail = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    tried = f" after {retries + 1} attempts" if retries else ""
    return ZooError(
        f"{url} could not be fetched from the Hugging Face Hub{tried} ({type(e).__name__}: {detail}); check the "
        "network, and the repository, file and revision in the registry (a gated repository needs `hf auth login`)"
    )


def fetch_hf(url: str, partial: Path, opts: DownloadOptions) -> None:
    """Download an ``hf://`` file with huggingface_hub into a staging folder beside the cache, then move it."""
    import huggingface_hub
    from huggingface_hub import errors as hf_errors

    repo_id, filename, revision = parse_hf(url)
    staging = partial.parent / ".hf-staging"
    for attempt in range(opts.retries + 1):
        try:
            path = huggingface_hub.hf_hub_download(
                repo_id,
                filename,
                revision=revision,
                local_dir=staging,
                endpoint=os.environ.get("HF_ENDPOINT") or None,
            )
            break
        except hf_errors.LocalEntryNotFoundError as e:  # no connection (or offline) and nothing cached by the Hub
            if is_offline() or attempt == opts.retries:
                raise _hf_error(url, e, opts.retries) from None
        except (hf_errors.RepositoryNotFoundError, hf_errors.RevisionNotFoundError, hf_errors.EntryNotFoundError) as e:
            raise _hf_error(url, e) from None
        except hf_errors.HfHubHTTPError as e:
            status = getattr(getattr(e, "response", None), "status_code", None)
            if not (status is None or status >= 500 or status in (408, 429)) or attempt == opts.retries:
                raise ZooError(f"{url}: the Hugging Face Hub answered {e}; rerun later (it resumes)") from None
        except OSError as e:
            if e.errno == errno.ENOSPC:
                raise _disk_full(e, partial) from None
            raise
        time.sleep(min(30.0, opts.backoff * 2**attempt) * (0.5 + random.random() / 2))
    Path(path).replace(partial)
    shutil.rmtree(staging, ignore_errors=True)


def list_hf_repo(url: str) -> list[tuple[str, str]]:
    """``(path, sha256)`` of every file of the repository ``hf://owner/repo[@revision]`` (sha256 "" when the Hub
    gives none, i.e. for files not stored with LFS), listed by huggingface_hub."""
    import huggingface_hub
    from huggingface_hub import errors as hf_errors

    repo_id, _, revision = url.removeprefix("hf://").partition("@")
    api = huggingface_hub.HfApi(endpoint=os.environ.get("HF_ENDPOINT") or None)
    try:
        tree = list(api.list_repo_tree(repo_id, revision=revision or None, recursive=True))
    except (hf_errors.RepositoryNotFoundError, hf_errors.RevisionNotFoundError) as e:
        raise ZooError(
            f"{url}: the Hugging Face Hub has no such repository or revision ({type(e).__name__}); "
            "fix the url in the registry (a gated repository needs `hf auth login`)"
        ) from None
    except hf_errors.HfHubHTTPError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ZooError(f"{url}: listing the repository failed, the Hub answered: {first}; rerun later") from None
    except OSError as e:
        raise ZooError(f"{url}: could not list the repository ({e}); check the network and rerun") from None
    files = [f for f in tree if isinstance(f, huggingface_hub.hf_api.RepoFile)]
    return [(f.path, f.lfs.sha256 if f.lfs is not None else "") for f in files]


def resolve_pattern(entry: ZooEntry, spec: FileSpec) -> tuple[str, str]:
    """The ``hf://`` URL of the one repository file ``spec.pattern`` matches, and the sha256 the Hub lists for it.

    A file resolved before is taken from its pin (no listing, the same file as the first time); otherwise exactly
    one path of the repository must match the pattern in full.
    """
    pinned = read_pins().get(spec.pin_key, {})
    if pinned.get("resolved"):
        return pinned["resolved"], pinned.get("sha256", "")
    repo, _, revision = spec.url.removeprefix("hf://").partition("@")
    files = list_hf_repo(spec.url)
    regex = re.compile(spec.pattern)
    matches = sorted((path, sha) for path, sha in files if regex.fullmatch(path))
    where = f"{entry.name}/{spec.name}: pattern {spec.pattern!r} (registry {entry.registry or 'built-in'})"
    if not matches:
        shown = ", ".join(sorted(path for path, _ in files)[:12]) or "no files"
        raise ZooError(
            f"{where} matches no file of {spec.url} (it has: {shown}); the release may have moved or "
            "been renamed: fix the pattern, or download the file by hand and load it by path"
        )
    if len(matches) > 1:
        shown = ", ".join(path for path, _ in matches[:12])
        raise ZooError(
            f"{where} matches {len(matches)} files of {spec.url} ({shown}); signkit never guesses "
            "which one: make the pattern match exactly one"
        )
    path, sha = matches[0]
    return f"hf://{repo}/{path}" + (f"@{revision}" if revision else ""), sha


def fetch_local(path: str, partial: Path, desc: str) -> None:
    src = Path(path)
    if not src.is_file():
        raise ZooError(f"{src} does not exist; fix the path in the registry (or in {MIRROR_ENV})")
    _check_space(partial.parent, src.stat().st_size, desc)
    try:
        shutil.copyfile(src, partial)
    except OSError as e:
        if e.errno == errno.ENOSPC:
            raise _disk_full(e, partial) from None
        raise


# ---- the cache-filling step ----------------------------------------------------------------------------------


def cached_path(entry: ZooEntry, spec: FileSpec) -> Path:
    """Where the verified file lives: inside the package for a release shipped with signkit, else the cache."""
    return packaged_path(entry, spec) or model_dir(entry.name) / spec.name


def packaged_path(entry: ZooEntry, spec: FileSpec) -> Path | None:
    """A built-in entry's file shipped inside the package (sigma-tiny): read in place, never copied, so it loads
    with a read-only or unset-up SIGNKIT_HOME."""
    if entry.registry != str(BUILTIN_REGISTRY) or "://" in spec.url:
        return None
    path = (BUILTIN_REGISTRY.parent / spec.url).resolve()
    return path if path.is_relative_to(BUILTIN_REGISTRY.parent.resolve()) and path.is_file() else None


def _incomplete(dest: Path) -> Path:
    return dest.with_name(f".{dest.name}.incomplete")


def _offline_error(entry: ZooEntry, spec: FileSpec, origin: Origin, dest: Path) -> ZooError:
    return ZooError(
        f"{entry.name}: {spec.name} is not in the cache ({dest}) and offline mode ({OFFLINE_ENV}/HF_HUB_OFFLINE) "
        f"forbids fetching {origin.location}; run `signkit zoo download {entry.name}` where there is network and "
        f"copy {dest.parent} here, or set {MIRROR_ENV} to a folder that holds {entry.name}/{spec.name}"
    )


def fetch_file(entry: ZooEntry, spec: FileSpec, options: DownloadOptions | None = None) -> Path:
    """Make sure one file of ``entry`` is in the cache, verified; return its path."""
    opts = options or DownloadOptions()
    dest = cached_path(entry, spec)
    if packaged_path(entry, spec) is not None:
        if spec.sha256 and sha256_file(dest) != spec.sha256:  # a few MB: hashed at every load
            raise ZooError(f"{dest}, shipped with signkit, does not match its sha256; reinstall signkit")
        return dest
    if _cached_intact(dest, spec):
        return dest
    origin = origin_for(entry, spec)
    if origin.remote and is_offline():
        raise _offline_error(entry, spec, origin, dest)
    ensure_writable(dest.parent)
    with file_lock(f"{entry.name}/{spec.name}", timeout=opts.lock_timeout, what=f"{entry.name}/{spec.name}"):
        if _cached_intact(dest, spec):  # another process finished it while we waited
            return dest
        partial = _incomplete(dest)
        desc = f"{entry.name}/{spec.name}"
        resolved, listed_sha = "", ""
        if origin.kind == "hf" and spec.pattern:
            resolved, listed_sha = resolve_pattern(entry, spec)
            origin = Origin("hf", resolved)
        if origin.kind == "http":
            fetch_http(origin.location, partial, spec.size, opts, desc)
        elif origin.kind == "hf":
            fetch_hf(origin.location, partial, opts)
        else:
            fetch_local(origin.location, partial, desc)
        _verify_and_commit(entry, spec, origin, partial, dest, listed_sha, resolved)
    return dest


def _cached_intact(dest: Path, spec: FileSpec) -> bool:
    """A cached file is trusted while it is unchanged since its verification (size, then its verified mark, else
    a re-hash); one that changed and no longer matches goes, and is downloaded again."""
    if not dest.is_file():
        return False
    if spec.size is not None and dest.stat().st_size != spec.size:
        warnings.warn(
            f"{dest} has {dest.stat().st_size} bytes, not {spec.size}: deleted, downloading it again", stacklevel=3
        )
        dest.unlink(missing_ok=True)
        return False
    if not check_cached(dest, spec.sha256 or pinned_sha256(spec.url)):
        warnings.warn(
            f"{dest} no longer matches its sha256 (changed on disk): deleted, downloading it again", stacklevel=3
        )
        dest.unlink(missing_ok=True)
        return False
    return True


def _verify_and_commit(
    entry: ZooEntry, spec: FileSpec, origin: Origin, partial: Path, dest: Path, listed_sha: str = "", resolved: str = ""
) -> None:
    """Size, sha256 (the registry's, else the pinned one, else the one the Hub listed), then the atomic rename;
    a file without a known checksum is pinned (with the file a pattern resolved to)."""
    with open(partial, "rb") as f:
        head = f.read(512)
    if _is_html(head):
        partial.unlink()
        raise _html_error(origin.location)
    size = partial.stat().st_size
    if spec.size is not None and size != spec.size:
        partial.unlink()
        raise ZooError(
            f"{entry.name}/{spec.name} from {origin.location} has {size} bytes, the registry says {spec.size}; "
            "the file was discarded. The source changed or the registry entry is wrong"
        )
    got = sha256_file(partial)
    pinned = pinned_sha256(spec.pin_key)
    expected = spec.sha256 or pinned or listed_sha
    if expected and got != expected:
        partial.unlink()
        why = (
            ""
            if spec.sha256
            else " (pinned on first download; `signkit zoo remove --unpin` to re-pin)"
            if pinned
            else " (as the Hugging Face Hub lists it)"
        )
        raise ZooError(
            f"checksum mismatch for {entry.name}/{spec.name} from {origin.location}: expected sha256 {expected}"
            f"{why}, got {got}; the file was discarded. Rerun to download again, or report a changed upload"
        )
    if not spec.sha256 and not pinned:
        record_pin(spec.pin_key, got, size, **({"resolved": resolved} if resolved else {}))
        what = f" (the pattern resolved to {resolved})" if resolved else ""
        if listed_sha:
            told = f"its sha256 {got}, as the Hugging Face Hub lists it, was recorded in the pins file"
        else:
            told = f"the publisher gives no sha256, so this first download's sha256 {got} was recorded in the pins file"
        warnings.warn(
            f"{entry.name}/{spec.name}{what}: {told} and every later download must match it (trust on first use)",
            ZooPinWarning,
            stacklevel=3,
        )
    partial.replace(dest)
    mark_verified(dest, got)


def resolve_for_download(name: str) -> ZooEntry:
    """Resolve ``name`` to a released entry, asking the mirror for one if the registries have none."""
    entries = load_registry()
    try:
        entry = resolve_name(name, entries)
    except ZooError:
        entry = None
        unknown_error = True
    else:
        unknown_error = False
    if entry is not None and entry.released:
        return entry
    from_mirror = _entry_from_mirror(name)
    if from_mirror is not None:
        return from_mirror
    if unknown_error:
        resolve_name(name, entries)  # re-raise the resolver's message
    assert entry is not None
    where = f" (the mirror {mirror()} has no {name}/entry.toml either)" if mirror() else ""
    raise ZooError(f"{entry.name}: no weights are available{where}. {entry.how_to_get}")


def _entry_from_mirror(name: str) -> ZooEntry | None:
    """A mirror may serve a release no registry lists: ``<mirror>/<name>/entry.toml``, as `zoo export` writes it."""
    base = mirror()
    if base is None:
        return None
    spec = FileSpec(name="entry.toml", url="", sha256="0" * 64)
    stub = ZooEntry(name=name, arch="-", files=(spec,))
    origin = origin_for(stub, spec)
    if origin.remote and is_offline():
        return None
    # a fresh, private copy: never resume an old one (the mirror's entry may have changed), and never share the name
    # with another process reading the same entry (all ranks of a node ask at once)
    target = ensure_writable(zoo_dir() / "mirror-entries") / f".{name}.{os.getpid()}-{uuid.uuid4().hex[:12]}.toml"
    try:
        try:
            if origin.kind == "http":
                opts = DownloadOptions(retries=1, backoff=0.2, progress=False)
                fetch_http(origin.location, target, None, opts, name)
            elif not Path(origin.location).is_file():
                return None
            else:
                shutil.copyfile(origin.location, target)
        except _NotFound:
            return None
        except ZooError as e:
            raise ZooError(
                f"the mirror {base} did not answer for {name}/entry.toml: {e}; check {MIRROR_ENV} or rerun later"
            ) from None
        entries = read_registry_file(target)
        if entries:  # kept, so the release stays known when the mirror is down or offline
            remember_mirror_entry(name, target)
    finally:
        target.unlink(missing_ok=True)
    if name in entries:
        return entries[name]
    return resolve_name(name, entries) if entries else None


def download(name: str, options: DownloadOptions | None = None) -> DownloadResult:
    """Fetch every file of a model, and the files of the tokenizer it needs, into the cache (verified).

    Example: ``signkit.zoo.download("sigma-tiny").weights``
    """
    from .tokenizers import fetch_tokenizer

    entry = resolve_for_download(name)
    result = DownloadResult(entry)
    for spec in entry.files:
        result.paths[spec.name] = fetch_file(entry, spec, options)
    result.tokenizer = fetch_tokenizer(tokenizer_name(entry, result.paths), options)
    return result


UNISIGN_TOKENIZER = "google/mt5-base"  # Uni-Sign-family checkpoints are mT5-Base models


def tokenizer_name(entry: ZooEntry, paths: dict[str, Path]) -> str:
    """The tokenizer the model of ``entry`` names (its config file's, its overrides', else its arch's)."""
    import json

    if "tokenizer" in entry.config_overrides:
        return str(entry.config_overrides["tokenizer"])
    if entry.config_file and entry.config_file in paths:
        return str(json.loads(paths[entry.config_file].read_text(encoding="utf-8")).get("tokenizer", "byt5"))
    if entry.format == "unisign":
        return UNISIGN_TOKENIZER
    from ..models import get_config, list_configs

    return getattr(get_config(entry.arch), "tokenizer", "byt5") if entry.arch in list_configs() else "byt5"


def is_cached(entry: ZooEntry) -> bool:
    return entry.released and all(cached_path(entry, spec).is_file() for spec in entry.files)


def verify(name: str) -> dict[str, str]:
    """Re-hash the cached files of ``name``; a file that no longer matches is deleted. Returns file -> status."""
    entry = resolve_name(name)
    status: dict[str, str] = {}
    for spec in entry.files:
        path = cached_path(entry, spec)
        if not path.is_file():
            status[spec.name] = "missing"
            continue
        expected = spec.sha256 or pinned_sha256(spec.pin_key)
        got = sha256_file(path)
        if expected and got != expected and packaged_path(entry, spec) is not None:
            status[spec.name] = f"corrupt (expected {expected}, got {got}; shipped with signkit: reinstall it)"
        elif expected and got != expected:
            path.unlink()
            marker_path(path).unlink(missing_ok=True)
            status[spec.name] = f"corrupt (expected {expected}, got {got}; deleted, download again)"
        else:
            status[spec.name] = "ok" if expected else "ok (no checksum known)"
            if expected and packaged_path(entry, spec) is None:
                mark_verified(path, got)
    return status


def remove(name: str) -> list[Path]:
    """Delete the cached files (and interrupted downloads) of ``name``; returns what was deleted."""
    entry = resolve_name(name)
    folder = model_dir(entry.name)
    removed: list[Path] = []
    if folder.is_dir():
        removed = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.endswith(".verified"))
        shutil.rmtree(folder)
    return removed
