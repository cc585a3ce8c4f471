"""Where a packed dataset lives: a local folder, or a URL that fsspec opens (``s3://``, ``gs://``, ``https://``...).

Local folders keep the fast path (shards are memory-mapped); a URL's index files are fetched whole and its shards
streamed. ``file://`` URLs are local folders (`signkit._urls` says what is a URL and which URLs name a local path).
Credentials come from each store's usual environment (fsspec's ``s3fs`` / ``gcsfs`` read ``AWS_*`` /
``GOOGLE_APPLICATION_CREDENTIALS``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .._hashing import sha256_stream
from .._urls import is_url as is_url  # the one meaning: `scheme://` text, file:// included
from .._urls import local_path
from ..errors import DatasetError


def url_to_fs(url: str) -> tuple[Any, str]:
    """fsspec's filesystem for ``url`` and the path within it; a scheme without its package is a one-line error."""
    import fsspec

    try:
        return fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as e:
        raise DatasetError(f"{url}: cannot open this URL ({e}); install the fsspec package for its scheme") from None


class Location:
    """A dataset root: ``child`` names a file in it, and the other methods read it, locally or through fsspec."""

    def __init__(self, root: str | os.PathLike):
        local = local_path(root)
        self.url = local is None
        if local is None:
            self.root: str | Path = str(root).rstrip("/")
            self.fs, self._path = url_to_fs(self.root)
        else:
            self.root = local
            self.fs, self._path = None, str(self.root)

    def __str__(self) -> str:
        return str(self.root)

    def child(self, *parts: str) -> str | Path:
        """What ``open_shard``, `read_bytes` and friends take: a Path, or a URL string."""
        if self.url:
            return "/".join((str(self.root), *parts))
        return self.root.joinpath(*parts)

    def _fs_path(self, *parts: str) -> str:
        return "/".join((self._path.rstrip("/"), *parts))

    def is_dir(self) -> bool:
        if not self.url:
            return self.root.is_dir()
        return True  # object stores and web servers have no folders to check; the files inside are checked

    def is_file(self, *parts: str) -> bool:
        if not self.url:
            return self.child(*parts).is_file()
        try:
            return bool(self.fs.isfile(self._fs_path(*parts)))
        except FileNotFoundError:
            return False

    def read_bytes(self, *parts: str) -> bytes:
        """The file's bytes; FileNotFoundError if it is not there, a DatasetError naming the URL if the store
        cannot be reached (so a network problem never reads as a missing file)."""
        if not self.url:
            return self.child(*parts).read_bytes()
        try:
            return self.fs.cat_file(self._fs_path(*parts))
        except FileNotFoundError:
            raise
        except Exception as e:
            raise DatasetError(
                f"{self.child(*parts)}: cannot be reached ({type(e).__name__}: {e}); check the URL, the network "
                "and the store's credentials"
            ) from None

    def size(self, *parts: str) -> int:
        if not self.url:
            return self.child(*parts).stat().st_size
        return int(self.fs.size(self._fs_path(*parts)))

    def sha256(self, *parts: str) -> str:
        opener = open(self.child(*parts), "rb") if not self.url else self.fs.open(self._fs_path(*parts), "rb")
        with opener as f:
            return sha256_stream(f)

    def list_names(self, *parts: str, suffix: str = "") -> list[str] | None:
        """File names in a folder, or None where the store cannot list (a plain web server may not)."""
        if not self.url:
            folder = self.child(*parts)
            return sorted(p.name for p in folder.iterdir() if p.name.endswith(suffix)) if folder.is_dir() else []
        try:
            entries = self.fs.ls(self._fs_path(*parts), detail=False)
        except (OSError, NotImplementedError, ValueError):
            return None
        return sorted({e.rstrip("/").rpartition("/")[2] for e in entries if e.rstrip("/").endswith(suffix)})
