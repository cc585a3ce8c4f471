"""Checksums checked in a helper process while the loader reads the next batch (Linux).

Hashing every array it has just read costs the reading process about 10 % of a batch (XXH3 itself,
`benchmarks/checksum_cost.py`). A thread cannot take that off it: python-xxhash holds the GIL for arrays under
64 KB, every call needs it, and the hand-offs cost more than the hash (0.74x measured). So the loader's batch buffers
are shared memory (memfds), a helper process (`_check_server`, started on first use) hashes each batch's arrays
there while the loader reads the next batch, and the loader hands a batch over only once the helper has answered for
it: every byte is still checked before anyone sees it, one batch later.

Where it cannot run (off Linux, in a DataLoader worker, when the helper does not start) the reading process checks
inline, as `SampleRef.read_into` does; a helper that dies mid-run is replaced by inline checks, with a warning.
"""

from __future__ import annotations

import array
import atexit
import itertools
import mmap
import os
import socket
import struct
import subprocess
import sys
import threading
import warnings
import weakref
from pathlib import Path

import numpy as np

from .checksums import CHECKSUM_COLUMNS, checksum, damaged

_SERVER = Path(__file__).with_name("_check_server.py")
# the server's message layouts (see `_check_server`)
_JOB = struct.Struct("<QQIIII")
_VERDICT = struct.Struct("<Qq")
MAX_ROWS = 4096  # a job is one datagram; a larger batch is checked inline
VERDICT_TIMEOUT_S = 60  # a helper that has not answered by then (a batch takes it milliseconds) counts as gone
SUFFIXES = tuple(CHECKSUM_COLUMNS)  # ("pose.npy", "conf.npy"): a verdict's parity picks one


def spans(b: int, t: int, k: int, i: int, frames: int) -> tuple[int, int, int, int]:
    """Where sample ``i`` of a float16 batch [B,T,K] (pose [B,T,K,3] then conf [B,T,K] in one buffer) keeps its
    arrays: pose offset and byte count, conf offset and byte count. The server computes the same."""
    return i * t * k * 6, frames * k * 6, b * t * k * 6 + i * t * k * 2, frames * k * 2


class HelperGone(Exception):
    """The helper process stopped answering."""


UNKNOWN_BUFFER = -2  # a verdict: the helper has no such buffer (shared with another helper, e.g. before a fork)


class SharedBuffer:
    """A batch buffer the helper can map: a memfd, mapped here read-write; its fd goes to the helper with the first
    job that uses it, then is closed here (the mapping keeps the memory)."""

    _ids = itertools.count()

    def __init__(self, numel: int, dtype: np.dtype):
        nbytes = max(numel * dtype.itemsize, 1)
        fd = os.memfd_create("signkit-batch", os.MFD_CLOEXEC)
        try:
            os.ftruncate(fd, nbytes)
            mapped = mmap.mmap(fd, nbytes)
        except OSError:
            os.close(fd)
            raise
        self.fd = fd
        self.id = next(SharedBuffer._ids)
        self.array = np.frombuffer(mapped, dtype=dtype, count=numel)
        self.close_fd = weakref.finalize(self, os.close, fd)

    @property
    def shareable(self) -> bool:
        """Whether its fd is still open to send (it is closed once a helper has it)."""
        return self.close_fd.alive


class Helper:
    """One helper process: jobs go out as they are submitted; verdicts come back in order and are matched to their
    job by id (two loaders in two threads may share it)."""

    def __init__(self) -> None:
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self._proc = subprocess.Popen(
                [sys.executable, str(_SERVER), str(theirs.fileno())],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
            )
        finally:
            theirs.close()
        mine.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", VERDICT_TIMEOUT_S, 0))
        self._sock = mine
        self._lock = threading.Lock()
        self._jobs = itertools.count()
        self._verdicts: dict[int, int] = {}
        self._buffers: set[int] = set()  # ids of the buffers this helper has mapped
        self._owner = os.getpid()  # a forked child (a DataLoader worker) inherits this object, not the helper
        atexit.register(self.close)

    def submit(self, buffer: SharedBuffer, shape: tuple[int, int, int], rows: array.array) -> int | None:
        """Check the samples in ``rows`` (flat: index in the batch, frames, pose XXH3-64, conf XXH3-64, ...) of the
        batch of ``shape`` (B, T, K) in ``buffer``; returns the job's id, None for a buffer it cannot map."""
        job = next(self._jobs)
        message = _JOB.pack(job, buffer.id, *shape, len(rows) // 4) + rows.tobytes()
        try:
            with self._lock:
                if buffer.id in self._buffers:
                    self._sock.send(message)
                elif buffer.shareable:
                    socket.send_fds(self._sock, [message], [buffer.fd])
                    self._buffers.add(buffer.id)
                    buffer.close_fd()
                else:
                    return None
        except OSError as e:
            raise HelperGone(str(e)) from None
        return job

    def verdict(self, job: int) -> int:
        """2 x the row of the first array of ``job`` whose checksum differs (+1 for a conf), -1 if none does,
        `UNKNOWN_BUFFER`."""
        with self._lock:
            while job not in self._verdicts:
                try:
                    data = self._sock.recv(_VERDICT.size)
                except OSError as e:
                    raise HelperGone(str(e)) from None
                if not data:
                    raise HelperGone(f"exit code {self._proc.poll()}")
                done, bad = _VERDICT.unpack(data)
                self._verdicts[done] = bad
            return self._verdicts.pop(job)

    def close(self) -> None:
        self._sock.close()
        if os.getpid() != self._owner:
            return
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._proc.kill()


_helpers: dict[int, Helper | None] = {}  # by pid: a forked process starts its own
_starting = threading.Lock()


def helper() -> Helper | None:
    """This process's helper, started on first use (a forked process starts its own); None off Linux, or after
    the helper failed to start or died."""
    pid = os.getpid()
    if pid not in _helpers:
        with _starting:
            if pid not in _helpers:
                _helpers[pid] = _start()
    return _helpers[pid]


def _start() -> Helper | None:
    if not (hasattr(os, "memfd_create") and hasattr(socket, "send_fds") and hasattr(socket, "SOCK_SEQPACKET")):
        return None  # off Linux
    try:
        return Helper()
    except OSError as e:
        warnings.warn(f"signkit: the checksum helper did not start ({e}); checking in this process", stacklevel=3)
        return None


def _gone(why: str) -> None:
    warnings.warn(f"signkit: the checksum helper stopped ({why}); checking in this process from now on", stacklevel=3)
    _helpers[os.getpid()] = None


class BatchChecks:
    """The checksums of one float16 batch's arrays, checked by the helper: ``rows`` gets (index in the batch,
    frames, pose XXH3-64, conf XXH3-64) as each sample lands in the buffer, `submit` when the batch is full, `wait`
    before handing the batch over (raises naming the first damaged array). ``samples`` are the batch's, for the
    names in that error."""

    def __init__(self, buffer: SharedBuffer, helper: Helper, samples: list[dict], t: int, k: int):
        self.buffer, self._helper, self._samples = buffer, helper, samples
        self._shape = (len(samples), t, k)
        self.rows = array.array("Q")
        self._job: int | None = None

    def __len__(self) -> int:
        return len(self.rows) // 4

    def submit(self) -> None:
        if len(self) > MAX_ROWS:
            return  # checked inline in `wait`
        try:
            self._job = self._helper.submit(self.buffer, self._shape, self.rows)
        except HelperGone as e:
            _gone(str(e))

    def wait(self) -> None:
        bad = -1
        if self._job is not None:
            try:
                bad = self._helper.verdict(self._job)
            except HelperGone as e:
                _gone(str(e))
                bad = UNKNOWN_BUFFER
            if bad == UNKNOWN_BUFFER:
                bad = self._inline()
        elif self.rows:
            bad = self._inline()
        if bad >= 0:
            sample = self._samples[self.rows[4 * (bad // 2)]]
            shard = sample["ref"].file.name if "ref" in sample else sample["unchecked"][0]
            raise damaged(shard, sample["key"], SUFFIXES[bad % 2])

    def _inline(self) -> int:
        data, rows = memoryview(self.buffer.array).cast("B"), self.rows
        for row in range(len(self)):
            i, frames, *sums = rows[4 * row : 4 * row + 4]
            pose_at, pose_bytes, conf_at, conf_bytes = spans(*self._shape, i, frames)
            for j, (at, size) in enumerate(((pose_at, pose_bytes), (conf_at, conf_bytes))):
                if checksum(data[at : at + size]) != sums[j]:
                    return 2 * row + j
        return -1
