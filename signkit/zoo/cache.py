"""Where downloaded weights live, and the small tools that keep the cache safe to share.

Layout under ``$SIGNKIT_HOME`` (default ``~/.cache/signkit``)::

    zoo/models/<entry>/<file>            verified files (they only ever appear by atomic rename after the sha256 check)
    zoo/models/<entry>/.<file>.incomplete  a download in progress (kept after an interruption, resumed next time)
    zoo/models/<entry>/.<file>.verified    the sha256 it was verified against, and the size/mtime/inode it had then
    zoo/mirror-entries/<name>/entry.toml   entries served by a mirror for releases installed from it
    zoo/registries/*.toml                registries layered with `signkit zoo add`
    zoo/pins.json                        sha256 recorded on first download for files whose publisher gives none
    zoo/locks/*.lock                     one lock per file, so concurrent processes download it once
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

from .._atomic import atomic_write_text
from .._hashing import sha256_file as sha256_file  # the zoo checks files by it (owner: signkit._hashing)
from .._offline import OFFLINE_ENV, is_offline  # noqa: F401 - re-exported: the zoo's callers import them here
from ..errors import ZooError

HOME_ENV = "SIGNKIT_HOME"
MIRROR_ENV = "SIGNKIT_ZOO_MIRROR"


def signkit_home() -> Path:
    return Path(os.environ.get(HOME_ENV) or "~/.cache/signkit").expanduser()


def zoo_dir() -> Path:
    return signkit_home() / "zoo"


def models_dir() -> Path:
    return zoo_dir() / "models"


def model_dir(name: str) -> Path:
    return models_dir() / name


def registries_dir() -> Path:
    return zoo_dir() / "registries"


def mirror_entries_dir() -> Path:
    return zoo_dir() / "mirror-entries"


def pins_path() -> Path:
    return zoo_dir() / "pins.json"


def mirror() -> str | None:
    """``SIGNKIT_ZOO_MIRROR``: a base URL or a folder holding ``<entry>/<file>``; None when unset."""
    value = os.environ.get(MIRROR_ENV, "").strip()
    return value or None


def ensure_writable(directory: Path) -> Path:
    """Create ``directory`` and prove it is writable, or fail with what to do."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        # unique per call: processes on nodes sharing the folder can have the same pid (containers), and a shared
        # name would let one delete the other's probe mid-check
        probe = directory / f".write-test-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise ZooError(
            f"the signkit cache folder {directory} is not writable ({e.strerror or e}); "
            f"set {HOME_ENV} to a folder you can write to"
        ) from None
    return directory


# ---- verified markers: a cached file is re-hashed whenever it changed since it was last verified ----------------


def marker_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.verified")


def _fingerprint(path: Path) -> dict:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "inode": st.st_ino, "device": st.st_dev}


def mark_verified(path: Path, sha256: str) -> None:
    """Record that ``path`` matched ``sha256`` as it is now (a write, a replace or a touch invalidates the mark)."""
    with contextlib.suppress(OSError):  # a read-only cache still works: it is only re-hashed at every load
        atomic_write_text(marker_path(path), json.dumps({"sha256": sha256, **_fingerprint(path)}) + "\n")


def still_verified(path: Path, sha256: str) -> bool:
    """True when ``path`` was verified against ``sha256`` and has not changed since (no re-hash needed)."""
    try:
        mark = json.loads(marker_path(path).read_text(encoding="utf-8"))
        return mark == {"sha256": sha256, **_fingerprint(path)}
    except (OSError, ValueError):
        return False


def check_cached(path: Path, sha256: str) -> bool:
    """Whether the cached ``path`` still holds ``sha256``: trusted while its verified mark holds, else re-hashed
    (a byte flipped in place changes the file's mtime, so it is caught at the next load, not only by `zoo verify`).
    """
    if not sha256 or still_verified(path, sha256):
        return True  # without a known sha256 there is nothing to compare (the size was checked by the caller)
    got = sha256_file(path)
    if got != sha256:
        marker_path(path).unlink(missing_ok=True)
        return False
    mark_verified(path, got)
    return True


@contextlib.contextmanager
def file_lock(key: str, *, timeout: float = 6 * 3600, what: str = "") -> Iterator[None]:
    """An exclusive inter-process lock named ``key``, shared by DDP ranks and other shells (``filelock``: ``flock``
    on Linux and macOS, ``msvcrt.locking`` on Windows).

    The kernel releases it when its holder dies, so a killed download never leaves a stale lock behind.
    """
    from filelock import FileLock, Timeout

    lock_dir = ensure_writable(zoo_dir() / "locks")
    path = lock_dir / (key.replace("/", "__") + ".lock")
    lock = FileLock(path, timeout=timeout, poll_interval=0.05, thread_local=False)
    try:
        lock.acquire()
    except Timeout:
        raise ZooError(
            f"gave up waiting {timeout:.0f}s for another process downloading {what or key} "
            f"(lock {path}); if no signkit process is running, delete the lock file and retry"
        ) from None
    try:
        yield
    finally:
        lock.release()


# ---- pins: sha256 of files whose publisher gives none, recorded on first download and enforced from then on ----


def read_pins() -> dict[str, dict]:
    path = pins_path()
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ZooError(f"{path} is corrupt ({e}); delete it to re-pin on the next download") from None


def pinned_sha256(url: str) -> str:
    return read_pins().get(url, {}).get("sha256", "")


def record_pin(url: str, sha256: str, size: int, **extra: str) -> None:
    """Pin ``url``'s sha256 (``extra``: more to keep with it, e.g. ``resolved``, the file a pattern named)."""
    with file_lock("pins", what="the pins file"):
        pins = read_pins()
        recorded = datetime.now(timezone.utc).isoformat(timespec="seconds")
        pins[url] = {"sha256": sha256, "size": size, "recorded": recorded, **extra}
        atomic_write_text(pins_path(), json.dumps(pins, indent=2, sort_keys=True) + "\n")


def forget_pin(url: str) -> bool:
    with file_lock("pins", what="the pins file"):
        pins = read_pins()
        if url not in pins:
            return False
        del pins[url]
        atomic_write_text(pins_path(), json.dumps(pins, indent=2, sort_keys=True) + "\n")
        return True
