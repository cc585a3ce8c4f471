"""Give the heap pages freed by a finished clip back to the OS, so a worker's memory stays one clip's worth.

A MediaPipe graph per clip (tracking must not leak between clips) allocates its model arenas and frame buffers
on several threads; glibc keeps what they free in per-thread arenas, and a worker's RSS climbed from ~440 to
~670 MiB over 16 clips of 512x512 video (`benchmarks/extract.py --memory`). ``malloc_trim(0)`` after each clip
returns it: 290-330 MiB over the same clips. Elsewhere (musl, macOS, Windows) there is nothing to call.
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
