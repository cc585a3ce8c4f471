"""Sample keys: the one rule for what a key may be, and how a path or a release's id becomes one.

A key names a pose file (``POSES_DIR/{key}.npz``), a manifest row and the members of a WebDataset sample, and
`signkit pack` joins extraction outputs to a parser's records by it. So it is a relative ``/``-separated path with
no dots (WebDataset splits member names at the first dot), no leading blank and no ``..``. Both sides of that join
(``pose_extract`` and ``datasets``) take their keys from here; each raises its own error class, so the functions
take the class to raise.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from typing import Protocol, TypeVar

from ._media import VIDEO_SUFFIXES
from .errors import SignkitError

_KEY_OK = re.compile(r"^[^.\s][^.]*$")


def check_key(key: str, error: type[SignkitError]) -> str:
    """``key`` if it is a valid key, else ``error``: no dots, no blanks at the start, not absolute, no ``..``."""
    if not key or not _KEY_OK.match(key) or key.startswith("/") or ".." in key.split("/"):
        raise error(f"invalid sample key {key!r}: keys may not be empty, contain dots, or start with '/'")
    return key


def clean_key(key: str, error: type[SignkitError]) -> str:
    """A key from path-like text: ``\\`` and ``/`` both separate, empty and ``.`` parts dropped, dots -> ``_``."""
    parts = [p for p in key.replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        raise error(f"invalid output key {key!r}: use a relative path such as 'signer1/clip01'")
    return "/".join(p.replace(".", "_") for p in parts)


def key_of_path(relative: str | os.PathLike, error: type[SignkitError]) -> str:
    """The key of a video's relative path: its video suffix dropped, then `clean_key`."""
    # string work, not a PurePath (a rerun walks 10^5 files): PurePath's parts, then its suffix rule on the name
    parts = [p for p in os.fspath(relative).replace(os.sep, "/").split("/") if p not in ("", ".")]
    if parts:
        name = parts[-1]
        dot = name.rfind(".")
        if 0 < dot < len(name) - 1 and name[dot:].lower() in VIDEO_SUFFIXES:
            parts[-1] = name[:dot]
    return clean_key("/".join(parts), error)


def safe_key(text: str) -> str:
    """A key from a release's id that may hold dots, colons or blanks: every other character becomes ``_``."""
    out = "".join(c if (c.isalnum() or c in "-_/") else "_" for c in text)
    return out.strip("/")


class _Keyed(Protocol):
    key: str


K = TypeVar("K", bound=_Keyed)


def check_unique_keys(items: Iterable[K], duplicate: Callable[[K, K], Exception]) -> None:
    """Raise ``duplicate(first, second)`` for the first item whose key an earlier one already has."""
    seen: dict[str, K] = {}
    for item in items:
        if item.key in seen:
            raise duplicate(seen[item.key], item)
        seen[item.key] = item
