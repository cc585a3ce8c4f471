"""What is a URL, and which URLs name a local path (one meaning for every layer).

A URL is text of the form ``scheme://...``, ``file://`` included; a `Path` object and a plain path never are.
Callers that open URLs through fsspec may do so for ``file://`` too (extraction outputs do: fsspec's local
filesystem); callers that keep a fast path for local folders turn a ``file://`` URL into its path with
`local_path` first (packed datasets do: their shards are then memory-mapped).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
FILE_SCHEME = "file://"


def is_url(path: str | os.PathLike) -> bool:
    """True for ``scheme://...`` text (``s3://``, ``https://``, ``file://``...); False for a `Path` or a plain path."""
    return isinstance(path, str) and bool(_URL.match(path))


def local_path(path: str | os.PathLike) -> Path | None:
    """The local path a plain path or a ``file://`` URL names; None for any other URL."""
    if not is_url(path):
        return Path(path)
    text = str(path)
    return Path(text[len(FILE_SCHEME) :]) if text.startswith(FILE_SCHEME) else None
