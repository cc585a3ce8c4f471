"""WebDataset shards: one tar per few hundred MB, one sample = ``{key}.pose.npy`` + ``{key}.conf.npy`` + ``{key}.json``.

Writing is byte-deterministic (sorted input, mtime 0, uid/gid 0, empty owner names, mode 0o644), so the same poses
give the same sha256. Reading never writes anything to disk and refuses hostile member names (absolute paths,
``..``, links, devices): a shard is data from the internet and is treated as such. A truncated or corrupt shard is a
`DatasetError` that names the shard and the sample it was reading.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DatasetError

STORE_DTYPE = np.float16
SUFFIXES = ("conf.npy", "json", "pose.npy")  # the members of one sample, in the (sorted) order they are written


def shard_name(split: str, index: int) -> str:
    return f"{split}-{index:06d}.tar"


def encode_array(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.ascontiguousarray(array), allow_pickle=False)
    return buf.getvalue()


def decode_array(data: bytes) -> np.ndarray:
    return np.lib.format.read_array(io.BytesIO(data), allow_pickle=False)


def encode_sample(key: str, coords: np.ndarray, conf: np.ndarray, meta: dict[str, Any]) -> dict[str, bytes]:
    """The tar members of one sample: float16 arrays and a sorted-key JSON (so bytes depend only on content)."""
    return {
        f"{key}.conf.npy": encode_array(conf.astype(STORE_DTYPE)),
        f"{key}.json": json.dumps(meta, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode(),
        f"{key}.pose.npy": encode_array(coords.astype(STORE_DTYPE)),
    }


class ShardWriter:
    """Writes one tar with fixed metadata; ``size`` is the bytes written so far (for the shard-size target)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._file = open(self.path, "wb")
        self._tar = tarfile.open(fileobj=self._file, mode="w", format=tarfile.PAX_FORMAT)
        self.count = 0

    @property
    def size(self) -> int:
        return self._file.tell()

    def write(self, members: dict[str, bytes]) -> None:
        for name in sorted(members):
            data = members[name]
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 0
            info.mode = 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            self._tar.addfile(info, io.BytesIO(data))
        self.count += 1

    def close(self) -> None:
        self._tar.close()
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()


def split_member_name(name: str) -> tuple[str, str]:
    """``"dir/clip01.pose.npy"`` -> ``("dir/clip01", "pose.npy")``: the key ends at the first dot of the basename."""
    head, _, base = name.rpartition("/")
    stem, dot, suffix = base.partition(".")
    if not dot or not stem:
        raise ValueError(name)
    return (f"{head}/{stem}" if head else stem), suffix


def check_member(info: tarfile.TarInfo, shard: str) -> None:
    """Refuse anything but a regular file with a relative name that stays inside the shard."""
    name = info.name
    if name.startswith(("/", "\\")) or ".." in name.replace("\\", "/").split("/") or (len(name) > 1 and name[1] == ":"):
        raise DatasetError(f"shard {shard}: refusing member {name!r} (absolute path or '..'); the shard is hostile")
    if not info.isreg():
        raise DatasetError(f"shard {shard}: refusing member {name!r} (not a regular file: a link or device)")


@dataclass
class RawSample:
    """One sample as stored: its key, where it came from and its members' bytes by suffix."""

    key: str
    shard: str
    index: int
    members: dict[str, bytes]


def iter_shard(path: str | os.PathLike, keep: range | None = None) -> Iterator[RawSample]:
    """Samples of one shard in stored order; with ``keep``, only those whose position is in it (others are skipped
    without reading their bytes). Members of one sample are contiguous, as every WebDataset writer makes them."""
    path = Path(path)
    shard = path.name
    key: str | None = None
    members: dict[str, bytes] = {}
    index = -1
    stop = keep.stop if keep is not None else None
    try:
        with tarfile.open(path, mode="r:") as tf:
            for info in tf:
                check_member(info, shard)
                try:
                    k, suffix = split_member_name(info.name)
                except ValueError:
                    raise DatasetError(f"shard {shard}: member {info.name!r} has no key.suffix name") from None
                if k != key:
                    if key is not None and (keep is None or index in keep):
                        yield RawSample(key, shard, index, members)
                    key, members, index = k, {}, index + 1
                    if stop is not None and index >= stop:
                        return
                    tf.members.clear()  # tarfile keeps every header it has seen; a stream needs none
                if keep is None or index in keep:
                    f = tf.extractfile(info)
                    data = f.read() if f is not None else b""
                    if len(data) != info.size:
                        raise EOFError(f"member {info.name} is truncated")
                    members[suffix] = data
            if key is not None and (keep is None or index in keep):
                yield RawSample(key, shard, index, members)
    except DatasetError:
        raise
    except (tarfile.TarError, EOFError, OSError) as e:
        where = f" at sample {key!r}" if key is not None else ""
        raise DatasetError(
            f"shard {shard}: corrupt or truncated{where} ({type(e).__name__}: {e}); re-pack or re-download it"
        ) from None


def decode_sample(raw: RawSample) -> dict[str, Any]:
    """Bytes -> ``{"key", "pose": float32 [T,K,3], "conf": float32 [T,K], "meta": dict}``; a bad sample is named."""
    missing = [s for s in SUFFIXES if s not in raw.members]
    if missing:
        raise DatasetError(f"shard {raw.shard}: sample {raw.key!r} lacks {', '.join(missing)}; the shard is corrupt")
    try:
        pose = decode_array(raw.members["pose.npy"]).astype(np.float32)
        conf = decode_array(raw.members["conf.npy"]).astype(np.float32)
        meta = json.loads(raw.members["json"])
    except Exception as e:
        raise DatasetError(
            f"shard {raw.shard}: sample {raw.key!r} cannot be decoded ({type(e).__name__}: {e})"
        ) from None
    if pose.ndim != 3 or pose.shape[-1] != 3 or conf.shape != pose.shape[:2]:
        raise DatasetError(f"shard {raw.shard}: sample {raw.key!r} has pose {pose.shape} and conf {conf.shape}")
    return {"key": raw.key, "pose": pose, "conf": conf, "meta": meta, "shard": raw.shard}


def shard_keys(path: str | os.PathLike) -> list[str]:
    """The sample keys of a shard in stored order, from the tar headers alone (checks every member name)."""
    path = Path(path)
    keys: list[str] = []
    try:
        with tarfile.open(path, mode="r:") as tf:
            for info in tf:
                check_member(info, path.name)
                try:
                    key, _ = split_member_name(info.name)
                except ValueError:
                    raise DatasetError(f"shard {path.name}: member {info.name!r} has no key.suffix name") from None
                if not keys or keys[-1] != key:
                    keys.append(key)
                tf.members.clear()
    except DatasetError:
        raise
    except (tarfile.TarError, EOFError, OSError) as e:
        where = f" after sample {keys[-1]!r}" if keys else ""
        raise DatasetError(f"shard {path.name}: corrupt or truncated{where} ({type(e).__name__}: {e})") from None
    return keys
