"""Samples read straight into their batch: the loader's path for local shards.

A `SampleRef` is where a sample's arrays sit in its shard: from the manifest (``pose_offset``, ``conf_offset``) or,
for a dataset packed without them, from the tar headers. The collate reads each array with one ``preadv`` from the
page cache into its place in the padded batch, so a sample is copied once and nothing is mapped or decoded per
sample; what is allocated per array is room for the tar and ``.npy`` headers it checks. (WebDataset's indexed
reader, wids, also reads through an index of member offsets.)

Each read checks that the bytes are what the manifest says: the tar header just before the data must name the
sample's member, the ``.npy`` header must give the manifest's shape, and the data must have the checksum recorded
at pack time (`checksums`; a temporal window reads the whole array to check it, datasets packed without checksums
are checked as before). Where the quick check does not hold (a
long key stored in a pax header, an ``.npy`` header written by another numpy), the shard's headers are read once
to decide; a real mismatch is a `DatasetError` naming the shard and the sample.
"""

from __future__ import annotations

import functools
import io
import math
import os
import weakref
from dataclasses import dataclass

import numpy as np

from ..errors import DatasetError
from .checksums import check, checksum
from .shards import STORE_DTYPE, scan_shard

_BLOCK = 512  # a tar header
_STORED = np.dtype(STORE_DTYPE).newbyteorder("<")


class ShardFile:
    """An open local shard, read with ``preadv``; the descriptor closes with the last `SampleRef` using it."""

    def __init__(self, path: str | os.PathLike, name: str):
        self.path, self.name = str(path), name
        try:
            self.fd = os.open(self.path, os.O_RDONLY)
        except OSError as e:
            raise DatasetError(f"shard {name}: cannot open {path} ({e.strerror}); is the dataset complete?") from None
        self.size = os.fstat(self.fd).st_size
        weakref.finalize(self, os.close, self.fd)
        self._scan: tuple[list[str], dict[str, int]] | None = None

    def __reduce__(self):  # refs sent from a DataLoader worker open the shard again in the main process
        return ShardFile, (self.path, self.name)

    def scan(self) -> tuple[list[str], dict[str, int]]:
        """The shard's keys and where each member's data starts, from its tar headers (read once, on first need)."""
        if self._scan is None:
            self._scan = scan_shard(self.path)
        return self._scan

    def member_offsets(self) -> dict[str, int]:
        return self.scan()[1]


def stored_header(path: str | os.PathLike, at: int) -> tuple[tuple[int, ...], bool, np.dtype, int]:
    """Shape, fortran order, dtype and data offset of the ``.npy`` member whose bytes start at ``at`` (plain file
    reads, so it works on every platform); ValueError if there is no valid header there."""
    with open(path, "rb") as f:
        f.seek(at)
        buf = io.BytesIO(f.read(1 << 16))
    version = np.lib.format.read_magic(buf)
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, fortran, dtype = read(buf)
    return tuple(shape), fortran, dtype, at + buf.tell()


@functools.lru_cache(maxsize=4096)
def npy_header(shape: tuple[int, ...]) -> bytes:
    """The ``.npy`` header numpy writes for a stored (float16) array of ``shape``, as the shard holds it."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": _STORED.str, "fortran_order": False, "shape": shape})
    return buf.getvalue()


def _tar_name_field(member: str) -> bytes | None:
    """The name field of a ustar header for ``member`` (NUL-padded), or None for a name longer than the field
    (stored in a pax header: checked against the shard's scanned headers instead)."""
    name = member.encode("utf-8", "surrogateescape")
    return name.ljust(100, b"\0") if len(name) <= 100 else None


@dataclass(slots=True)
class SampleRef:
    """One sample's arrays in a local shard: frames ``start`` to ``start + length`` of ``frames`` stored ones."""

    file: ShardFile
    key: str
    pose_at: int  # where the pose member's data (its .npy) starts
    conf_at: int
    frames: int
    points: int
    start: int = 0
    length: int = -1
    pose_sum: int | None = None  # the arrays' checksums from the manifest (None: packed without them)
    conf_sum: int | None = None

    def __post_init__(self) -> None:
        if self.length < 0:
            self.length = self.frames

    def window(self, start: int, length: int) -> SampleRef:
        """The same sample cut to ``length`` frames from ``start`` (a temporal crop, read as such)."""
        return SampleRef(
            self.file,
            self.key,
            self.pose_at,
            self.conf_at,
            self.frames,
            self.points,
            self.start + start,
            length,
            self.pose_sum,
            self.conf_sum,
        )

    def read_into(self, pose: np.ndarray, conf: np.ndarray, checksums: bool = True) -> None:
        """Read the arrays into ``pose`` [length, K, 3] and ``conf`` [length, K], contiguous float16 arrays, and
        check their checksums (a window reads each whole array once to check it; ``checksums=False``: the caller
        checks a whole read, as the loader's helper process does)."""
        pose_shape, conf_shape = (self.frames, self.points, 3), (self.frames, self.points)
        if self.pose_sum is not None and self.length != self.frames:
            for suffix, at, shape, dest, want in (
                ("pose.npy", self.pose_at, pose_shape, pose, self.pose_sum),
                ("conf.npy", self.conf_at, conf_shape, conf, self.conf_sum),
            ):
                whole = np.empty(shape, dtype=STORE_DTYPE)
                self._read(suffix, at, shape, whole, 0)
                check(whole, want, self.file.name, self.key, suffix)
                dest[...] = whole[self.start : self.start + self.length]
            return
        self._read("pose.npy", self.pose_at, pose_shape, pose, self.start)
        self._read("conf.npy", self.conf_at, conf_shape, conf, self.start)
        if (
            checksums
            and self.pose_sum is not None
            and (checksum(pose) != self.pose_sum or checksum(conf) != self.conf_sum)
        ):
            check(pose, self.pose_sum, self.file.name, self.key, "pose.npy")  # raises, naming the array
            check(conf, self.conf_sum, self.file.name, self.key, "conf.npy")

    @property
    def end(self) -> int:
        """The byte after the sample's arrays, as the manifest places them."""
        values = self.frames * self.points
        pose_end = self.pose_at + len(npy_header((self.frames, self.points, 3))) + 3 * values * _STORED.itemsize
        conf_end = self.conf_at + len(npy_header((self.frames, self.points))) + values * _STORED.itemsize
        return max(pose_end, conf_end)

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        pose = np.empty((self.length, self.points, 3), dtype=STORE_DTYPE)
        conf = np.empty((self.length, self.points), dtype=STORE_DTYPE)
        self.read_into(pose, conf)
        return pose, conf

    def _read(self, suffix: str, at: int, shape: tuple[int, ...], dest: np.ndarray, start: int) -> None:
        member = f"{self.key}.{suffix}"
        header = npy_header(shape)
        skip = start * math.prod(shape[1:]) * _STORED.itemsize
        tar, npy = bytearray(_BLOCK), bytearray(len(header))
        fd = self.file.fd
        try:
            if skip == 0:
                got = os.preadv(fd, [tar, npy, dest], at - _BLOCK)
            else:
                got = os.preadv(fd, [tar, npy], at - _BLOCK) + os.preadv(fd, [dest], at + len(header) + skip)
        except (OSError, ValueError) as e:
            raise DatasetError(f"shard {self.file.name}: reading sample {self.key!r} failed ({e})") from None
        if got != _BLOCK + len(header) + dest.nbytes:
            raise DatasetError(
                f"shard {self.file.name}: corrupt or truncated at sample {self.key!r} (it runs past the end of the "
                "file); re-pack or re-download it"
            )
        field = _tar_name_field(member)
        named = tar[:100] == field if field is not None else self.file.member_offsets().get(member) == at
        if not named or npy != header:
            self._slow_check(member, at, shape, dest, skip)

    def _slow_check(self, member: str, at: int, shape: tuple[int, ...], dest: np.ndarray, skip: int) -> None:
        """The quick check failed: decide from the shard's tar headers and the member's own ``.npy`` header."""
        offsets = self.file.member_offsets()
        if offsets.get(member) != at:
            there = next((name for name, offset in offsets.items() if offset == at), "no member")
            raise DatasetError(
                f"shard {self.file.name}: the manifest says {self.key!r} is at byte {at}, but the shard holds "
                f"{there!r} there; the manifest disagrees with the shards (run `signkit verify`)"
            )
        try:
            stored_shape, fortran, dtype, data_at = stored_header(self.file.path, at)
        except Exception as e:
            raise DatasetError(
                f"shard {self.file.name}: sample {self.key!r} cannot be decoded ({member}: {e}); re-pack or "
                "re-download it"
            ) from None
        if tuple(stored_shape) != shape or fortran or dtype != _STORED:
            raise DatasetError(
                f"shard {self.file.name}: sample {self.key!r} holds {dtype}{tuple(stored_shape)} in {member}, the "
                f"manifest says {_STORED}{shape}; the manifest disagrees with the shards (run `signkit verify`)"
            )
        if os.preadv(self.file.fd, [dest], data_at + skip) != dest.nbytes:
            raise DatasetError(f"shard {self.file.name}: sample {self.key!r} is truncated (re-pack or re-download it)")
