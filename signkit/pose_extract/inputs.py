"""What to extract: video files, folders (searched recursively), frame folders, and clip lists (CSV).

Every input becomes a `Clip` with a unique output key; keys are relative paths without suffix (``/`` allowed,
dots replaced by ``_``: `signkit._keys`) and a collision is an error before any work starts. The clip-list CSV is
the contract shared with the dataset parsers; its format has one owner, `signkit._clip_list`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .. import _clip_list, _keys
from .._media import IMAGE_SUFFIXES, VIDEO_SUFFIXES
from ..errors import ExtractError


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
    return _holds_frames(_listing(os.fspath(path)))


def _holds_frames(entries: list[os.DirEntry]) -> bool:
    has_image = False
    for child in entries:
        suffix = _suffix(child.name)
        if suffix in VIDEO_SUFFIXES or suffix in IMAGE_SUFFIXES:
            if not child.is_file():  # only now: d_type answers without a stat, except for links
                continue
            if suffix in VIDEO_SUFFIXES:
                return False
            has_image = True
    return has_image


def _suffix(name: str) -> str:
    """``Path(name).suffix.lower()`` without building a Path (10^5 files per walk)."""
    i = name.rfind(".")
    return name[i:].lower() if 0 < i < len(name) - 1 else ""


def _listing(folder: str) -> list[os.DirEntry]:
    with os.scandir(folder) as entries:
        return sorted(entries, key=lambda e: e.name)


def frame_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))


def make_key(relative: str | os.PathLike) -> str:
    """Output key of a relative path: suffix dropped, ``/`` separators, no dots."""
    return _keys.key_of_path(relative, ExtractError)


def clean_key(key: str) -> str:
    return _keys.clean_key(key, ExtractError)


def _walk(
    folder: str,
    entries: list[os.DirEntry] | None = None,
    relative: str = "",
    visited: set[tuple[int, int]] | None = None,
) -> Iterable[tuple[str, str]]:
    """``(path, path relative to the walk's root)`` of the video files and frame folders under ``folder`` (whose
    listing is ``entries``, if already read), in sorted order, never descending into a frame folder.

    One ``scandir`` per folder and no stat per file (the entry's type comes with the listing; a link costs one
    stat); one stat per folder. Directory links are followed, but each real directory is walked once
    (``visited`` holds device + inode), so a link loop (``sub/up -> ..``) ends the walk instead of repeating it,
    and a folder reached twice is not extracted twice under two keys.
    """
    if visited is None:
        visited = {_dir_id(folder)}
    for entry in _listing(folder) if entries is None else entries:
        name = entry.name
        if name.startswith("."):
            continue
        rel = f"{relative}{name}"
        if entry.is_dir():
            try:
                st = entry.stat()
            except OSError:  # gone since the listing
                continue
            if (st.st_dev, st.st_ino) in visited:
                continue  # a link back into the walk, or a second link to a folder already walked
            visited.add((st.st_dev, st.st_ino))
            children = _listing(entry.path)
            if _holds_frames(children):
                yield entry.path, rel
            else:
                yield from _walk(entry.path, children, f"{rel}/", visited)
        elif _suffix(name) in VIDEO_SUFFIXES:
            yield entry.path, rel  # also dangling links and unreadable files: they fail later with a log line


def _dir_id(path: str) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_dev, st.st_ino


def read_clip_list(csv_path: str | os.PathLike) -> list[Clip]:
    """Clips of a CSV clip list; relative paths are relative to the CSV's folder."""
    return [Clip(path, key, row.start, row.end, row.unit) for path, key, row in _clip_list.read_clip_list(csv_path)]


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
            clips.extend(Clip(Path(p), make_key(rel)) for p, rel in _walk(os.fspath(path)))
        elif path.suffix.lower() == ".csv":
            clips.extend(read_clip_list(path))
        elif path.suffix.lower() in VIDEO_SUFFIXES:
            clips.append(Clip(path, make_key(path.name)))
        else:
            raise ExtractError(f"{path}: not a video ({', '.join(VIDEO_SUFFIXES)}), a folder or a .csv clip list")
    if not clips:
        shown = ", ".join(str(i) for i in inputs)
        raise ExtractError(
            f"no videos found in {shown}; give video files, folders of videos or frames, or a .csv clip list"
        )
    _keys.check_unique_keys(clips, _same_key)
    return clips


def _same_key(first: Clip, second: Clip) -> ExtractError:
    return ExtractError(
        f"two clips would write the same output key {second.key!r} ({first.path} and {second.path}); "
        "give each a distinct 'key' in a clip list"
    )
