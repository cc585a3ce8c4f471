"""Where extraction writes: a folder (local or a shared filesystem) or an fsspec URL (``s3://``, ``gs://``, ``file://``).

Both kinds promise the same thing: an output that exists is complete, so a rerun skips it. A folder gets a
temporary file + rename (`signkit._atomic`); an object store gets the whole file in one put (the object appears
whole or not at all); any other fsspec filesystem gets a temporary name + move. The run log is always a local file,
appended and fsynced line by line; for a URL output it lives where the command runs and is merged into
``URL/extract-log.jsonl`` at the end of each run (so a crash loses no line: the next run uploads what is missing).
Output objects are picklable: the runner's worker processes and Ray actors write through them.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import uuid
from collections import Counter
from pathlib import Path

from .._atomic import PARTIAL_SUFFIX, remove_stale_partials
from .._urls import is_url
from ..errors import ExtractError
from ..pose import Pose, load_pose, save_pose
from ..pose.io import pose_from_npz_bytes, pose_to_npz_bytes

LOG_NAME = "extract-log.jsonl"
OUTPUT_SUFFIX = ".npz"
# fsspec protocols whose single put makes an object appear whole (multipart uploads too, on completion).
ONE_PUT_PROTOCOLS = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl", "oss", "r2", "memory"})


class LocalOutput:
    """A folder; on a cluster it must be on a filesystem every node mounts at the same path."""

    url: str | None = None

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"LocalOutput({str(self.root)!r})"

    def exists(self) -> bool:
        return self.root.is_dir()

    def prepare(self) -> None:
        """Create the folder."""
        if self.root.exists() and not self.root.is_dir():
            raise ExtractError(f"output {self.root} is a file; give a folder for the pose files (-o POSES_DIR)")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ExtractError(f"cannot create output folder {self.root} ({e.strerror})") from None

    def remove_partials(self) -> None:
        """Remove temporary files that interrupted writers left (called under the run's lock)."""
        remove_stale_partials(self.root)

    def target(self, key: str) -> str:
        return f"{os.fspath(self.root)}{os.sep}{key}{OUTPUT_SUFFIX}"

    def finished(self, keys: list[str]) -> set[str]:
        return set(self.finished_stats(keys))

    def finished_stats(self, keys: list[str]) -> dict[str, dict]:
        """``{key: {"size", "mtime_ns"}}`` of the outputs that exist (one stat each)."""
        stats, root = {}, os.fspath(self.root)
        for k in keys:
            try:
                st = os.stat(f"{root}/{k}{OUTPUT_SUFFIX}")
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                stats[k] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns}
        return stats

    def check(self, key: str) -> None:
        """Fail a clip before extracting it when its output path is blocked by a file or a folder."""
        out = self.root / f"{key}{OUTPUT_SUFFIX}"
        parent = out.parent
        while parent != self.root and not parent.exists():
            parent = parent.parent
        if parent.exists() and not parent.is_dir():
            raise ExtractError(f"cannot write {out}: {parent} is a file; move it away or give the clip another key")
        if out.is_dir():
            raise ExtractError(f"cannot write {out}: it is a folder; move it away or give the clip another key")

    def write(self, key: str, pose: Pose) -> dict:
        """Write the pose atomically; its ``{"size", "mtime_ns"}`` (logged, compared by the next run)."""
        path = self.root / f"{key}{OUTPUT_SUFFIX}"
        save_pose(pose, path)
        st = path.stat()
        return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}

    def read(self, key: str) -> Pose:
        return load_pose(self.root / f"{key}{OUTPUT_SUFFIX}")

    def default_log(self) -> Path:
        return self.root / LOG_NAME

    def published_log_lines(self) -> list[str]:
        return []

    def publish_log(self, log: Path) -> str | None:
        return None


class FsspecOutput:
    """A folder behind an fsspec URL. Credentials come from the environment, as fsspec's backends read them."""

    def __init__(self, url: str):
        import fsspec

        self.url = url.rstrip("/")
        try:
            self._fs, self._root = fsspec.core.url_to_fs(self.url)
        except (ImportError, ValueError) as e:  # unknown protocol, or its backend (s3fs, gcsfs) not installed
            raise ExtractError(f"cannot write to {url}: {e}") from None
        protocols = self._fs.protocol if isinstance(self._fs.protocol, tuple) else (self._fs.protocol,)
        self.one_put = bool(ONE_PUT_PROTOCOLS.intersection(protocols))
        self.process_local = "memory" in protocols

    def __repr__(self) -> str:
        return f"FsspecOutput({self.url!r})"

    def __getstate__(self) -> dict:
        return {"url": self.url}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["url"])

    def _path(self, key: str) -> str:
        return f"{self._root}/{key}{OUTPUT_SUFFIX}"

    def exists(self) -> bool:
        return self._fs.isdir(self._root)

    def prepare(self) -> None:
        fs = self._fs
        if fs.isfile(self._root):
            raise ExtractError(f"output {self.url} is a file; give a folder URL for the pose files")
        try:
            fs.makedirs(self._root, exist_ok=True)
        except OSError as e:
            raise ExtractError(f"cannot create output folder {self.url} ({e})") from None

    def remove_partials(self) -> None:
        fs = self._fs
        if not self.one_put:
            for path in self._find():
                if path.rsplit("/", 1)[-1].startswith(".") and path.endswith(PARTIAL_SUFFIX):
                    with contextlib.suppress(FileNotFoundError):
                        fs.rm_file(path)

    def _find(self) -> list[str]:
        try:
            return list(self._fs.find(self._root))
        except FileNotFoundError:
            return []

    def target(self, key: str) -> str:
        return f"{self.url}/{key}{OUTPUT_SUFFIX}"

    def finished(self, keys: list[str]) -> set[str]:
        return set(self.finished_stats(keys))

    def finished_stats(self, keys: list[str]) -> dict[str, dict]:
        """``{key: {"size"}}`` from one listing of the output folder (not one request per clip)."""
        try:
            listing = self._fs.find(self._root, detail=True)
        except FileNotFoundError:
            listing = {}
        sizes = {self._fs._strip_protocol(p): info.get("size") for p, info in listing.items()}
        stats = {}
        for k in keys:
            path = self._fs._strip_protocol(self._path(k))
            if path in sizes:
                stats[k] = {"size": sizes[path]} if sizes[path] is not None else {}
        return stats

    def check(self, key: str) -> None:
        if not self.one_put and self._fs.isdir(self._path(key)):
            raise ExtractError(f"cannot write {self.target(key)}: it is a folder; move it away")

    def write(self, key: str, pose: Pose) -> dict:
        data = pose_to_npz_bytes(pose)
        self._put(self._path(key), data)
        return {"size": len(data)}

    def read(self, key: str) -> Pose:
        return pose_from_npz_bytes(self._fs.cat_file(self._path(key)))

    def _put(self, path: str, data: bytes) -> None:
        fs = self._fs
        if self.one_put:
            fs.pipe_file(path, data)
            return
        parent, name = path.rsplit("/", 1)
        fs.makedirs(parent, exist_ok=True)
        tmp = f"{parent}/.{name}.{os.getpid()}-{uuid.uuid4().hex[:8]}{PARTIAL_SUFFIX}"
        try:
            fs.pipe_file(tmp, data)
            fs.mv(tmp, path)
        except BaseException:
            with contextlib.suppress(Exception):
                fs.rm_file(tmp)
            raise

    def default_log(self) -> Path:
        """``./extract-log-<url as a file name>.jsonl`` in the folder the command runs in."""
        return Path.cwd() / f"extract-log-{re.sub(r'[^A-Za-z0-9]+', '-', self.url).strip('-')}.jsonl"

    def published_log_lines(self) -> list[str]:
        """The lines of ``URL/extract-log.jsonl`` (earlier runs, maybe from other machines)."""
        try:
            return self._fs.cat_file(f"{self._root}/{LOG_NAME}").decode("utf-8").splitlines()
        except FileNotFoundError:
            return []

    def publish_log(self, log: Path) -> str:
        """Merge the local log's lines that ``URL/extract-log.jsonl`` lacks into it (one put); returns its URL.

        Lines are compared as whole strings, counted: a line uploaded by an earlier run is not added twice.
        """
        remote = f"{self._root}/{LOG_NAME}"
        old = self.published_log_lines()
        have = Counter(old)
        new = []
        for line in log.read_text(encoding="utf-8").splitlines() if log.exists() else []:
            if not line.strip():
                continue
            if have[line]:
                have[line] -= 1
            else:
                new.append(line)
        if new:
            self._put(remote, ("\n".join(old + new) + "\n").encode("utf-8"))
        return f"{self.url}/{LOG_NAME}"


Output = LocalOutput | FsspecOutput


def open_output(out: str | os.PathLike) -> Output:
    """A folder path, or an fsspec URL (``scheme://...``; ``file://`` too, through fsspec's local filesystem)."""
    return FsspecOutput(out) if is_url(out) else LocalOutput(out)
