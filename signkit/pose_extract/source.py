"""What a finished output was made from, so that a rerun redoes a clip whose source changed under the same key.

A source is identified by one ``stat``: its size and modification time (a frame folder: the folder's own mtime,
which changes when frames are added, removed or renamed), plus the clip's bounds. One stat per clip keeps a
rerun over 10^5 clips cheap; content hashes would read every video again. Copies that keep the mtime
(``cp -p``, ``rsync -a``) of an identical file count as the same source, which they are.
"""

from __future__ import annotations

import os
import stat

from .inputs import Clip

STAT_FIELDS = ("size", "mtime_ns")


def source_stat(clip: Clip) -> dict:
    """``{"size", "mtime_ns"}`` of the clip's file or folder (empty if it cannot be read: the clip fails anyway)."""
    try:
        st = os.stat(clip.path)  # one stat call: reruns over 10^5 clips make this hot
    except OSError:
        return {}
    return {"size": 0 if stat.S_ISDIR(st.st_mode) else st.st_size, "mtime_ns": st.st_mtime_ns}


def fingerprint(clip: Clip) -> dict:
    """The source's stat and bounds, as logged with every ``ok`` line (``source_stat`` key of the run log)."""
    return {**source_stat(clip), "start": clip.start, "end": clip.end, "unit": clip.unit}


def same_source(logged: dict | None, clip: Clip, current: dict | None = None) -> bool:
    """Whether a logged fingerprint matches the clip now. A log line without one (written before signkit logged
    sources) is trusted, as it always was."""
    if not logged:
        return True
    current = current or fingerprint(clip)
    keys = [k for k in (*STAT_FIELDS, "start", "end", "unit") if k in logged]
    return all(logged[k] == current.get(k) for k in keys)
