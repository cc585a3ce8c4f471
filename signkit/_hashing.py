"""The sha256 of a file, read in blocks: zoo weights, shards and manifests are checked by it (one owner)."""

from __future__ import annotations

import hashlib
import os
from typing import BinaryIO

CHUNK = 1 << 22  # 4 MiB a read: as fast as larger blocks on local disk, few requests on a remote store


def sha256_stream(f: BinaryIO, chunk: int = CHUNK) -> str:
    """Hex sha256 of what is left to read in the open binary file ``f``."""
    digest = hashlib.sha256()
    while block := f.read(chunk):
        digest.update(block)
    return digest.hexdigest()


def sha256_file(path: str | os.PathLike, chunk: int = CHUNK) -> str:
    """Hex sha256 of the file at ``path``."""
    with open(path, "rb") as f:
        return sha256_stream(f, chunk)
