"""What to extract: video files, folders (searched recursively), frame folders, and clip lists (CSV).

Every input becomes a `Clip` with a unique output key; keys are relative paths without suffix (``/`` allowed,
dots replaced by ``_``) and a collision is an error before any work starts. The clip-list CSV is the contract
shared with the dataset parsers: columns ``path`` (required), ``key``, ``start``, ``end``, ``unit``
(``seconds`` or ``frames``; frames are 0-based and ``end`` is exclusive).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ..errors import ExtractError

VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".flv", ".wmv", ".mpg", ".mpeg", ".ts")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
UNITS = ("seconds", "frames")


@dataclass(frozen=True)
class Clip:
    """One unit of work: a video file or frame folder, optional bounds, and the key of its output file."""

    path: Path
    key: str
    start: float | None = None
    end: float | None = None
    unit: str = "seconds"

    def source_meta(self) -> dict:
        return {"path": str(self.path), "start": self.start, "end": self.end, "unit": self.unit}


def is_frame_folder(path: Path) -> bool:
    """A directory holding image frames (sorted by name), and no videos, is one video."""
    if not path.is_dir():
        return False
    has_image = False
    for child in path.iterdir():
        if child.is_file() and child.suffix.lower() in VIDEO_SUFFIXES:
            return False
        has_image = has_image or (child.is_file() and child.suffix.lower() in IMAGE_SUFFIXES)
    return has_image


def frame_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))


def make_key(relative: str | os.PathLike) -> str:
    """Output key of a relative path: suffix dropped, ``/`` separators, no dots."""
    rel = Path(relative)
    if rel.suffix.lower() in VIDEO_SUFFIXES:
        rel = rel.with_suffix("")
    return clean_key(rel.as_posix())


def clean_key(key: str) -> str:
    parts = [p for p in key.replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        raise ExtractError(f"invalid output key {key!r}: use a relative path such as 'signer1/clip01'")
    return "/".join(p.replace(".", "_") for p in parts)


def _walk(folder: Path, visited: set[tuple[int, int]] | None = None) -> Iterable[Path]:
    """Video files and frame folders under ``folder``, in sorted order, never descending into a frame folder.

    Directory links are followed, but each real directory is walked once (``visited`` holds device + inode), so
    a link loop (``sub/up -> ..``) ends the walk instead of repeating it, and a folder reached twice is not
    extracted twice under two keys.
    """
    if visited is None:
        visited = {_dir_id(folder)}
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            real = _dir_id(entry)
            if real in visited:
                continue  # a link back into the walk, or a second link to a folder already walked
            visited.add(real)
            if is_frame_folder(entry):
                yield entry
            else:
                yield from _walk(entry, visited)
        elif entry.suffix.lower() in VIDEO_SUFFIXES:
            yield entry  # also dangling links and unreadable files: they fail later with a log line


def _dir_id(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_dev, st.st_ino


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


def read_clip_list(csv_path: str | os.PathLike) -> list[Clip]:
    """Clips of a CSV clip list; relative paths are relative to the CSV's folder."""
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
    clips = []
    for line_no, raw in enumerate(reader, start=2):
        row = {(k or "").strip(): (v or "").strip() for k, v in raw.items()}
        where = f"{csv_path}:{line_no}"
        if not row.get("path"):
            raise ExtractError(f"{where}: empty path")
        path = Path(row["path"])
        path = path if path.is_absolute() else csv_path.parent / path
        unit = row.get("unit") or "seconds"
        if unit not in UNITS:
            raise ExtractError(f"{where}: unit must be one of {', '.join(UNITS)}, got {unit!r}")
        start, end = _parse_bound(row.get("start", ""), "start", where), _parse_bound(row.get("end", ""), "end", where)
        if start is not None and end is not None and end <= start:
            raise ExtractError(f"{where}: end ({end}) must be after start ({start})")
        if unit == "frames" and any(b is not None and b != int(b) for b in (start, end)):
            raise ExtractError(f"{where}: frame bounds must be whole numbers")
        key = clean_key(row["key"]) if row.get("key") else make_key(Path(row["path"]))
        clips.append(Clip(path, key, start, end, unit))
    return clips


def discover(inputs: Iterable[str | os.PathLike]) -> list[Clip]:
    """Clips for command-line inputs: video files, folders (recursive), frame folders, ``.csv`` clip lists.

    Raises `ExtractError` for a missing input, an input that is none of these, no videos at all, or two clips
    that would write the same key.
    """
    inputs = list(inputs)
    clips: list[Clip] = []
    for item in inputs:
        path = Path(item)
        if not path.exists() and not path.is_symlink():
            raise ExtractError(f"{path}: no such file or folder")
        if path.is_dir():
            if is_frame_folder(path):
                clips.append(Clip(path, clean_key(path.name.replace(".", "_") or "frames")))
                continue
            clips.extend(Clip(p, make_key(p.relative_to(path))) for p in _walk(path))
        elif path.suffix.lower() == ".csv":
            clips.extend(read_clip_list(path))
        elif path.suffix.lower() in VIDEO_SUFFIXES:
            clips.append(Clip(path, make_key(path.name)))
        else:
            raise ExtractError(
                f"{path}: not a video ({', '.join(VIDEO_SUFFIXES)}), a folder or a .csv clip list"
            )
    if not clips:
        shown = ", ".join(str(i) for i in inputs)
        raise ExtractError(
            f"no videos found in {shown}; give video files, folders of videos or frames, or a .csv clip list"
        )
    check_unique_keys(clips)
    return clips


def check_unique_keys(clips: list[Clip]) -> None:
    seen: dict[str, Clip] = {}
    for clip in clips:
        if clip.key in seen:
            raise ExtractError(
                f"two clips would write the same output key {clip.key!r} ({seen[clip.key].path} and {clip.path}); "
                "give each a distinct 'key' in a clip list"
            )
        seen[clip.key] = clip
