"""Give the heap pages freed by a finished clip back to the OS, so a worker's memory stays one clip's worth.

A MediaPipe graph per clip (tracking must not leak between clips) allocates its model arenas and frame buffers
on several threads; glibc keeps what a closed graph freed, and a worker's peak RSS climbed from ~300 to ~480 MiB
over 6 clips of 512x512 video (up to ~770 MiB in `benchmarks/extract.py --memory`). ``malloc_trim(0)`` between
closing a graph and building the next (`HolisticEstimator.reset`) keeps every clip's peak at 300-330 MiB, what one
graph reused for every clip reaches; the runner also calls it after each clip. Elsewhere (musl, macOS, Windows)
there is nothing to call.
"""

from __future__ import annotations

import ctypes
from functools import cache


@cache
def _malloc_trim():
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None


def release_freed_memory() -> bool:
    """Return freed heap memory to the OS (glibc); False where the C library has no ``malloc_trim``."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
