"""WebDataset shards: one tar per few hundred MB, one sample = ``{key}.pose.npy`` + ``{key}.conf.npy`` + ``{key}.json``.

Writing is byte-deterministic (sorted input, mtime 0, uid/gid 0, empty owner names, mode 0o644), so the same poses
give the same sha256. Reading never writes anything to disk and refuses hostile member names (absolute paths,
``..``, links, devices): a shard is data from the internet and is treated as such. A truncated or corrupt shard is a
`DatasetError` that names the shard and the sample it was reading.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import math
import mmap
import os
import tarfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._urls import is_url
from ..errors import DatasetError
from .checksums import CHECKSUM_COLUMNS, checksum
from .location import url_to_fs

STORE_DTYPE = np.float16
SUFFIXES = ("conf.npy", "json", "pose.npy")  # the members of one sample, in the (sorted) order they are written


def shard_name(split: str, index: int) -> str:
    return f"{split}-{index:06d}.tar"


def encode_array(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.ascontiguousarray(array), allow_pickle=False)
    return buf.getvalue()


_CACHED_HEADER = 256  # numpy writes 128 bytes for a plain array's header; a longer one is parsed uncached


@functools.lru_cache(maxsize=4096)
def _npy_header(header: bytes) -> tuple[np.dtype, tuple[int, ...]] | None:
    """dtype and shape from a version 1 or 2 ``.npy`` header, read by numpy's own parser (a literal, never a
    pickle); None for what a view cannot serve (Fortran order, objects). Cached by the header's bytes: numpy's
    parser costs ~80 µs a call, a stream of samples holds few distinct shapes, and a hit costs well under 1 µs."""
    buf = io.BytesIO(header)
    version = np.lib.format.read_magic(buf)
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, fortran, dtype = read(buf)
    return None if fortran or dtype.hasobject else (dtype, tuple(shape))


def decode_array(data: bytes | bytearray | memoryview) -> np.ndarray:
    """A ``.npy`` member as a view of ``data`` (no copy) for a plain array; anything else goes through numpy's
    own reader (never with pickles)."""
    if data[:6] == b"\x93NUMPY" and data[6] in (1, 2):
        width = 2 if data[6] == 1 else 4
        end = 8 + width + int.from_bytes(data[8 : 8 + width], "little")
        parsed = _npy_header(bytes(data[:end])) if end <= _CACHED_HEADER else None
        if parsed is not None:
            dtype, shape = parsed
            return np.frombuffer(data, dtype=dtype, count=math.prod(shape), offset=end).reshape(shape)
    return np.lib.format.read_array(io.BytesIO(data), allow_pickle=False)


def encode_sample(key: str, coords: np.ndarray, conf: np.ndarray, meta: dict[str, Any]) -> dict[str, bytes]:
    """The tar members of one sample: float16 arrays and a sorted-key JSON (so bytes depend only on content)."""
    return {
        f"{key}.conf.npy": encode_array(conf.astype(STORE_DTYPE)),
        f"{key}.json": json.dumps(meta, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode(),
        f"{key}.pose.npy": encode_array(coords.astype(STORE_DTYPE)),
    }


def sample_checksums(key: str, members: dict[str, bytes]) -> dict[str, int]:
    """The manifest's checksum columns of one encoded sample: each array's data bytes, as stored."""
    return {column: checksum(decode_array(members[f"{key}.{suffix}"])) for suffix, column in CHECKSUM_COLUMNS.items()}


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

    def write(self, members: dict[str, bytes]) -> dict[str, int]:
        """Append one sample; returns where each member's data starts in the shard (for the manifest)."""
        offsets = {}
        for name in sorted(members):
            data = members[name]
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 0
            info.mode = 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            self._tar.addfile(info, io.BytesIO(data))
            offsets[name] = self._file.tell() - -(-len(data) // _BLOCK) * _BLOCK  # the data ends on a block boundary
        self.count += 1
        return offsets

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


def check_member_name(name: str, shard: str) -> None:
    """Refuse a member name that is absolute or climbs out with ``..`` (a hostile shard)."""
    parts = name.replace("\\", "/").split("/")
    if name.startswith(("/", "\\")) or ".." in parts or (len(name) > 1 and name[1] == ":"):
        raise DatasetError(f"shard {shard}: refusing member {name!r} (absolute path or '..'); the shard is hostile")


_BLOCK = 512
_ZERO_BLOCK = bytes(_BLOCK)
_REGULAR = (b"0", b"\0", b"7")


def _number(field: bytes) -> int:
    if field[:1] and field[0] & 0x80:  # GNU base-256 for numbers too big for octal
        return int.from_bytes(field[1:], "big")
    digits = field.split(b"\0", 1)[0].strip()
    return int(digits, 8) if digits else 0


def _checksum_ok(header: bytes) -> bool:
    """tar's header checksum: the byte sum with the checksum field read as 8 spaces. adler32's low half is 1 + that
    sum mod 65521, which tells the same for any change short of 65521 (over 257 whole bytes) and is ~15x faster
    than ``sum()`` in Python; a mismatch is then checked exactly, also in the old signed-char variant."""
    checksum = _number(header[148:156])
    blanked = header[:148] + b"        " + header[156:]
    if zlib.adler32(blanked) & 0xFFFF == (1 + checksum) % 65521:
        return True
    unsigned = sum(blanked)
    return checksum in (unsigned, unsigned - 256 * sum(b > 127 for b in blanked))


def _pax_records(data: bytes) -> dict[str, str]:
    out, i = {}, 0
    while i < len(data):
        space = data.index(b" ", i)
        length = int(data[i:space])
        key, _, value = data[space + 1 : i + length - 1].partition(b"=")
        out[key.decode("utf-8")] = value.decode("utf-8", "surrogateescape")
        i += length
    return out


class MappedShard:
    """A local shard mapped into memory, for walking its tar headers (`scan_shard`, `verify`) and for `iter_shard`:
    a member is a view of the page cache, read without a syscall or a copy. (The loader reads local samples
    through `sample_refs` instead.)"""

    def __init__(self, path: str | os.PathLike):
        with open(path, "rb") as f:
            self.size = os.fstat(f.fileno()).st_size
            if self.size == 0:
                self._view = memoryview(b"")
                return
            mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        if hasattr(mmap, "MADV_SEQUENTIAL") and hasattr(mapped, "madvise"):  # neither on Windows
            mapped.madvise(mmap.MADV_SEQUENTIAL)  # read ahead from the disk as a sequential read would
        self._view = memoryview(mapped)

    def read(self, pos: int, n: int) -> memoryview:
        return self._view[pos : pos + n]


class StreamedShard:
    """A shard behind a file object (an fsspec URL): sequential reads, forward seeks over what is not wanted."""

    def __init__(self, f, size: int):
        self._f, self.size, self._pos = f, size, 0

    def read(self, pos: int, n: int) -> bytes:
        if pos != self._pos:
            self._f.seek(pos)
        data = self._f.read(n)
        self._pos = pos + len(data)
        return data


def iter_tar(src: MappedShard | StreamedShard, shard: str) -> Iterator[tuple[str, int, int]]:
    """``(name, size, data offset)`` of every member of an uncompressed tar, from its headers alone.

    A small reader of the POSIX formats (ustar, pax and GNU long names) instead of `tarfile`, which spends most of
    a loader's time on header objects; every header's checksum is checked, a missing end-of-archive is a
    truncation, and anything but a regular file with a safe name is refused.
    """
    pos, pax, long_name = 0, {}, None
    file_size = src.size
    while True:
        header = bytes(src.read(pos, _BLOCK))
        if len(header) < _BLOCK:
            raise EOFError("unexpected end of file (the end-of-archive marker is missing)")
        if header == _ZERO_BLOCK:
            return
        if not _checksum_ok(header):
            raise tarfile.HeaderError(f"bad header checksum at byte {pos}")
        size, kind = _number(header[124:136]), header[156:157]
        if pos + _BLOCK + size > file_size:  # also keeps a forged size from allocating more than the file holds
            raise EOFError(f"a member of {size} bytes at byte {pos} runs past the end of the file")
        if kind in (b"x", b"g", b"L"):
            data = bytes(src.read(pos + _BLOCK, size))
            if len(data) < size:
                raise EOFError("truncated extended header")
            if kind == b"x":
                pax = _pax_records(data)
            elif kind == b"L":
                long_name = data.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
            pos += _BLOCK + -(-size // _BLOCK) * _BLOCK
            continue
        name = header[:100].split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
        prefix = header[345:500].split(b"\0", 1)[0] if header[257:262] == b"ustar" else b""
        if prefix:
            name = prefix.decode("utf-8", "surrogateescape") + "/" + name
        name = pax.get("path", long_name or name)
        size = int(pax.get("size", size))
        pax, long_name = {}, None
        if pos + _BLOCK + size > file_size:
            raise EOFError(f"member {name!r} of {size} bytes runs past the end of the file")
        check_member_name(name, shard)
        if kind not in _REGULAR:
            raise DatasetError(f"shard {shard}: refusing member {name!r} (not a regular file: a link or device)")
        yield name, size, pos + _BLOCK
        pos += _BLOCK + -(-size // _BLOCK) * _BLOCK


@dataclass
class RawSample:
    """One sample as stored: its key, where it came from and its members' bytes by suffix (read-only views of
    the shard for a local one)."""

    key: str
    shard: str
    index: int
    members: dict[str, bytes | memoryview]


STREAM_BLOCK = 1 << 22  # bytes per request for a URL's shard: big enough for throughput, small enough to skip


@contextlib.contextmanager
def open_shard(path: str | os.PathLike) -> Iterator[MappedShard | StreamedShard]:
    """A local shard is mapped; a URL (``s3://``, ``https://``, ...) is streamed through fsspec."""
    if not is_url(path):
        yield MappedShard(path)
        return
    fs, where = url_to_fs(str(path))
    try:
        f = fs.open(where, "rb", block_size=STREAM_BLOCK)
        size = getattr(f, "size", None)
    except FileNotFoundError:
        raise DatasetError(f"shard {shard_basename(path)}: not found at {path}; is the dataset complete?") from None
    except Exception as e:
        raise DatasetError(f"{path}: cannot be reached ({type(e).__name__}: {e}); check the URL and network") from None
    with f:
        if size is None:
            raise DatasetError(f"{path}: the server does not say how big the shard is; serve it with Content-Length")
        yield StreamedShard(f, int(size))


def iter_shard(
    path: str | os.PathLike, keep: range | None = None, suffixes: tuple[str, ...] | None = None
) -> Iterator[RawSample]:
    """Samples of one shard in stored order; with ``keep``, only those whose position is in it, and with
    ``suffixes``, only those members (the rest is skipped without reading its bytes). Members of one sample are
    contiguous, as every WebDataset writer makes them."""
    shard = shard_basename(path)
    key: str | None = None
    members: dict[str, bytes | memoryview] = {}
    index = -1
    stop = keep.stop if keep is not None else None
    try:
        with open_shard(path) as src:
            for name, size, offset in iter_tar(src, shard):
                try:
                    k, suffix = split_member_name(name)
                except ValueError:
                    raise DatasetError(f"shard {shard}: member {name!r} has no key.suffix name") from None
                if k != key:
                    if key is not None and (keep is None or index in keep):
                        yield RawSample(key, shard, index, members)
                    key, members, index = k, {}, index + 1
                    if stop is not None and index >= stop:
                        return
                if (keep is None or index in keep) and (suffixes is None or suffix in suffixes):
                    data = src.read(offset, size)
                    if len(data) != size:
                        raise EOFError(f"member {name} is truncated")
                    members[suffix] = data
            if key is not None and (keep is None or index in keep):
                yield RawSample(key, shard, index, members)
    except DatasetError:
        raise
    except (tarfile.TarError, EOFError) as e:
        where = f" at sample {key!r}" if key is not None else ""
        raise DatasetError(
            f"shard {shard}: corrupt or truncated{where} ({type(e).__name__}: {e}); re-pack or re-download it"
        ) from None
    except Exception as e:
        where = f" at sample {key!r}" if key is not None else ""
        if is_url(path):  # a network error (aiohttp's are not all OSErrors) is not a corrupt shard
            raise DatasetError(
                f"shard {shard}: reading {path} failed{where} ({type(e).__name__}: {e}); check the network"
            ) from None
        if isinstance(e, (OSError, ValueError)):
            raise DatasetError(
                f"shard {shard}: corrupt or unreadable{where} ({type(e).__name__}: {e}); re-pack or re-download it"
            ) from None
        raise


ARRAY_SUFFIXES = ("conf.npy", "pose.npy")


def decode_sample(raw: RawSample, meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """Bytes -> ``{"key", "pose": [T,K,3], "conf": [T,K], "meta": dict}``; a bad sample is named.

    Arrays stay as stored: read-only float16 views of the member bytes (of the page cache, for a local shard),
    copied once, into the batch, by the collate. A reader that has the sample's labels
    from the manifest passes them as ``meta`` and skips the JSON member."""
    missing = [s for s in (ARRAY_SUFFIXES if meta is not None else SUFFIXES) if s not in raw.members]
    if missing:
        raise DatasetError(f"shard {raw.shard}: sample {raw.key!r} lacks {', '.join(missing)}; the shard is corrupt")
    try:
        pose = decode_array(raw.members["pose.npy"])
        conf = decode_array(raw.members["conf.npy"])
        if meta is None:
            meta = json.loads(bytes(raw.members["json"]))
    except Exception as e:
        raise DatasetError(
            f"shard {raw.shard}: sample {raw.key!r} cannot be decoded ({type(e).__name__}: {e})"
        ) from None
    if pose.ndim != 3 or pose.shape[-1] != 3 or conf.shape != pose.shape[:2]:
        raise DatasetError(f"shard {raw.shard}: sample {raw.key!r} has pose {pose.shape} and conf {conf.shape}")
    return {"key": raw.key, "pose": pose, "conf": conf, "meta": meta, "shard": raw.shard}


def shard_basename(path: str | os.PathLike) -> str:
    return str(path).rstrip("/").rpartition("/")[2]


def scan_shard(path: str | os.PathLike) -> tuple[list[str], dict[str, int]]:
    """The sample keys of a shard in stored order, and where each member's data starts, from the tar headers
    alone (checks every header and member name)."""
    name = shard_basename(path)
    keys: list[str] = []
    offsets: dict[str, int] = {}
    try:
        with open_shard(path) as src:
            for member, _, offset in iter_tar(src, name):
                try:
                    key, _ = split_member_name(member)
                except ValueError:
                    raise DatasetError(f"shard {name}: member {member!r} has no key.suffix name") from None
                if not keys or keys[-1] != key:
                    keys.append(key)
                offsets[member] = offset
    except DatasetError:
        raise
    except (tarfile.TarError, EOFError, OSError, ValueError) as e:
        where = f" after sample {keys[-1]!r}" if keys else ""
        raise DatasetError(f"shard {name}: corrupt or truncated{where} ({type(e).__name__}: {e})") from None
    return keys, offsets
