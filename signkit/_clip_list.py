"""The clip list: the CSV that `signkit datasets clips` writes and `signkit extract` reads (one owner of its format).

Columns: ``path`` (required: a video file or frame folder, relative to the CSV's folder or absolute), ``key`` (the
output key, pose file ``POSES_DIR/{key}.npz``, which `signkit pack` joins to the record of the same key; empty =
the path without its video suffix, dots -> ``_``), ``start`` and ``end`` (empty = from the start / to the end) and
``unit`` (``seconds`` or ``frames``, empty = seconds; frames are 0-based and ``end`` is exclusive). A reader accepts
the columns in any order, a UTF-8 BOM and blanks around fields; the writer writes them in this order.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ._atomic import atomic_write_text
from ._keys import clean_key, key_of_path
from .errors import ExtractError

CLIP_COLUMNS = ("path", "key", "start", "end", "unit")
UNITS = ("seconds", "frames")


@dataclass(frozen=True)
class ClipRow:
    """One row: ``path`` as written (relative to the CSV's folder, or absolute), bounds in ``unit``."""

    path: str
    key: str | None = None
    start: float | None = None
    end: float | None = None
    unit: str = "seconds"


def _parse_bound(value: str, field: str, where: str) -> float | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        raise ExtractError(f"{where}: {field} {value!r} is not a number (seconds or frames)") from None
    if number < 0:
        raise ExtractError(f"{where}: {field} must be >= 0, got {value}")
    return number


def read_clip_list(csv_path: str | os.PathLike) -> list[tuple[Path, str, ClipRow]]:
    """``(path, key, row)`` of every row: the path resolved against the CSV's folder, the key checked (or made
    from the path). A malformed list is an `ExtractError` naming the file and line."""
    csv_path = Path(csv_path)
    try:
        text = csv_path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise ExtractError(f"{csv_path}: cannot read clip list ({e})") from None
    reader = csv.DictReader(text.splitlines())
    if reader.fieldnames is None or "path" not in [f.strip() for f in reader.fieldnames]:
        raise ExtractError(
            f"{csv_path}: a clip list needs a header with a 'path' column (and optional key,start,end,unit)"
        )
    out = []
    for line_no, raw in enumerate(reader, start=2):
        row = {(k or "").strip(): (v or "").strip() for k, v in raw.items()}
        where = f"{csv_path}:{line_no}"
        if not row.get("path"):
            raise ExtractError(f"{where}: empty path")
        unit = row.get("unit") or "seconds"
        if unit not in UNITS:
            raise ExtractError(f"{where}: unit must be one of {', '.join(UNITS)}, got {unit!r}")
        start, end = _parse_bound(row.get("start", ""), "start", where), _parse_bound(row.get("end", ""), "end", where)
        if start is not None and end is not None and end <= start:
            raise ExtractError(f"{where}: end ({end}) must be after start ({start})")
        if unit == "frames" and any(b is not None and b != int(b) for b in (start, end)):
            raise ExtractError(f"{where}: frame bounds must be whole numbers")
        clip = ClipRow(row["path"], row.get("key") or None, start, end, unit)
        path = Path(clip.path)
        path = path if path.is_absolute() else csv_path.parent / path
        key = clean_key(clip.key, ExtractError) if clip.key else key_of_path(clip.path, ExtractError)
        out.append((path, key, clip))
    return out


def _number(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def write_clip_list(rows: Iterable[ClipRow], path: str | os.PathLike) -> int:
    """Write ``rows`` to ``path`` atomically (its folder created); returns the number of rows. The unit is written
    only for a row with a bound."""
    path = Path(path)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CLIP_COLUMNS)
    count = 0
    for row in rows:
        unit = row.unit if (row.start is not None or row.end is not None) else ""
        writer.writerow([row.path, row.key or "", _number(row.start), _number(row.end), unit])
        count += 1
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, buf.getvalue())
    return count
