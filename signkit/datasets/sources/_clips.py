"""Clip lists of parsed records (the CSV `signkit extract` reads; its format: `signkit._clip_list`) and media
checks for parsed records.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from ... import _clip_list
from ..._clip_list import CLIP_COLUMNS as CLIP_COLUMNS
from ..._clip_list import ClipRow
from ..._keys import check_unique_keys
from ..._media import IMAGE_SUFFIXES
from ...errors import DatasetError
from ..schema import SampleRecord, check_key


def media_present(root: str | os.PathLike, record: SampleRecord) -> bool:
    """Whether the record's video, frame folder or keypoint file exists (a frame folder must hold images)."""
    if record.media is None:
        return False
    path = Path(root) / record.media
    if path.is_dir():
        return any(p.suffix.lower() in IMAGE_SUFFIXES for p in path.iterdir())
    return path.is_file()


def split_by_media(root: str | os.PathLike, records: Iterable[SampleRecord]) -> tuple[list, list]:
    """``(present, missing)`` records."""
    present, missing = [], []
    for r in records:
        (present if media_present(root, r) else missing).append(r)
    return present, missing


def write_clip_list(
    records: Iterable[SampleRecord],
    path: str | os.PathLike,
    root: str | os.PathLike | None = None,
    absolute: bool = False,
) -> int:
    """Write the clip list of ``records`` to ``path`` atomically; returns the number of rows.

    ``root`` is the release folder the records' ``media`` is relative to (absolute media needs none). Media paths
    are written relative to the CSV's folder, or absolute with ``absolute=True``. Keys must be unique.
    """
    path, records = Path(path), list(records)
    for r in records:
        check_key(r.key)
    check_unique_keys(records, lambda _, r: DatasetError(f"two clips share the key {r.key!r}; keys must be unique"))
    return _clip_list.write_clip_list(_rows(records, path.resolve().parent, root, absolute), path)


def _rows(
    records: Iterable[SampleRecord], base: Path, root: str | os.PathLike | None, absolute: bool
) -> Iterator[ClipRow]:
    for r in records:
        if r.media is None:
            raise DatasetError(f"sample {r.key} has no media to extract (a keypoint dataset is packed directly)")
        media = Path(r.media)
        if not media.is_absolute():
            if root is None:
                raise DatasetError("write_clip_list needs the release root the records' media is relative to")
            media = Path(root) / media
        media = media.resolve()
        shown = media.as_posix() if absolute else os.path.relpath(media, base).replace(os.sep, "/")
        yield ClipRow(shown, r.key, r.start, r.end, r.clip_unit)
