"""Where downloaded weights live, and the small tools that keep the cache safe to share.

Layout under ``$SIGNKIT_HOME`` (default ``~/.cache/signkit``)::

    zoo/models/<entry>/<file>            verified files (they only ever appear by atomic rename after the sha256 check)
    zoo/models/<entry>/.<file>.incomplete  a download in progress (kept after an interruption, resumed next time)
    zoo/registries/*.toml                registries layered with `signkit zoo add`
    zoo/pins.json                        sha256 recorded on first download for files whose publisher gives none
    zoo/locks/*.lock                     one lock per file, so concurrent processes download it once
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

from .._atomic import atomic_write_text
from ..errors import ZooError

HOME_ENV = "SIGNKIT_HOME"
OFFLINE_ENV = "SIGNKIT_OFFLINE"
MIRROR_ENV = "SIGNKIT_ZOO_MIRROR"
_TRUE = {"1", "true", "yes", "on"}


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


def pins_path() -> Path:
    return zoo_dir() / "pins.json"


def is_offline() -> bool:
    """True when ``SIGNKIT_OFFLINE`` or Hugging Face's ``HF_HUB_OFFLINE`` is set to a true value."""
    return any(os.environ.get(var, "").strip().lower() in _TRUE for var in (OFFLINE_ENV, "HF_HUB_OFFLINE"))


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


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def file_lock(key: str, *, timeout: float = 6 * 3600, what: str = "") -> Iterator[None]:
    """An exclusive inter-process lock (``fcntl.flock``) named ``key``, shared by DDP ranks and other shells.

    The kernel releases it when its holder dies, so a killed download never leaves a stale lock behind.
    """
    lock_dir = ensure_writable(zoo_dir() / "locks")
    path = lock_dir / (key.replace("/", "__") + ".lock")
    with open(path, "a+") as handle:
        deadline = time.monotonic() + timeout
        delay = 0.05
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as e:
                if e.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() > deadline:
                    raise ZooError(
                        f"gave up waiting {timeout:.0f}s for another process downloading {what or key} "
                        f"(lock {path}); if no signkit process is running, delete the lock file and retry"
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


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
