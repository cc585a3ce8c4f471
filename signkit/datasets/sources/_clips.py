"""Clip lists (the CSV `signkit extract` reads) and media checks for parsed records.

Columns: ``path`` (video file or frame folder, relative to the CSV's folder), ``key`` (the output key: pose file
``POSES_DIR/{key}.npz``, which `signkit pack` joins to the record of the same key), ``start``, ``end`` (empty = from
the start / to the end) and ``unit`` (``seconds`` or ``frames``; frames 0-based, end exclusive).
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable
from pathlib import Path

from ..._atomic import atomic_write_text
from ...errors import DatasetError
from ..schema import SampleRecord, check_key

CLIP_COLUMNS = ("path", "key", "start", "end", "unit")


def media_present(root: str | os.PathLike, record: SampleRecord) -> bool:
    """Whether the record's video, frame folder or keypoint file exists (a frame folder must hold images)."""
    if record.media is None:
        return False
    path = Path(root) / record.media
    if path.is_dir():
        return any(p.suffix.lower() in (".png", ".jpg", ".jpeg") for p in path.iterdir())
    return path.is_file()


def split_by_media(root: str | os.PathLike, records: Iterable[SampleRecord]) -> tuple[list, list]:
    """``(present, missing)`` records."""
    present, missing = [], []
    for r in records:
        (present if media_present(root, r) else missing).append(r)
    return present, missing


def _number(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def write_clip_list(records: Iterable[SampleRecord], path: str | os.PathLike,
                    root: str | os.PathLike | None = None, absolute: bool = False) -> int:
    """Write the clip list of ``records`` to ``path`` atomically; returns the number of rows.

    ``root`` is the release folder the records' ``media`` is relative to (absolute media needs none). Media paths
    are written relative to the CSV's folder, or absolute with ``absolute=True``. Keys must be unique.
    """
    path = Path(path)
    base = path.resolve().parent
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CLIP_COLUMNS)
    seen: set[str] = set()
    rows = 0
    for r in records:
        check_key(r.key)
        if r.key in seen:
            raise DatasetError(f"two clips share the key {r.key!r}; keys must be unique")
        seen.add(r.key)
        if r.media is None:
            raise DatasetError(f"sample {r.key} has no media to extract (a keypoint dataset is packed directly)")
        media = Path(r.media)
        if not media.is_absolute():
            if root is None:
                raise DatasetError("write_clip_list needs the release root the records' media is relative to")
            media = Path(root) / media
        media = media.resolve()
        shown = media.as_posix() if absolute else os.path.relpath(media, base).replace(os.sep, "/")
        unit = r.clip_unit if (r.start is not None or r.end is not None) else ""
        writer.writerow([shown, r.key, _number(r.start), _number(r.end), unit])
        rows += 1
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, buf.getvalue())
    return rows
