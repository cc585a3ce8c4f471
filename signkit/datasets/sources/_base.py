"""What every benchmark parser shares: the registry entry (`SourceInfo`), the `Source` base class and the small
readers that make a malformed release an error naming its file and line.

A parser reads a release exactly as it is distributed (annotation files found under the user's RAW_DIR by their
official names) and yields `SampleRecord`s. Parsing is pure: nothing is extracted, downloaded or written.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from collections.abc import Container, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..._keys import check_unique_keys as _check_unique_keys
from ..._keys import safe_key as safe_key  # the parsers' id -> key rule is the one of `signkit._keys`
from ..._media import VIDEO_SUFFIXES
from ...errors import DatasetError
from ..labels import normalize_gloss as normalize_gloss  # the parsers' gloss rule is the labels' one
from ..schema import SampleRecord

if TYPE_CHECKING:
    from ...pose import Pose

TASKS = ("ISLR", "CSLR", "SLT")


@dataclass(frozen=True)
class SourceInfo:
    """One benchmark as data: what it is, what it holds and where to obtain it (shown by `signkit datasets list`)."""

    name: str
    title: str
    task: str  # ISLR (isolated), CSLR (continuous, gloss sequences), SLT (translation to spoken text)
    sign_language: str  # ISO 639-3 ("ase", "gsg", "csl"...); "mul" when the set holds several
    spoken_language: str  # ISO 639-1 of the written language ("en", "de", "zh"...); "mul" when several
    classes: int | None  # number of ISLR classes of the full set; None for CSLR/SLT
    splits: tuple[str, ...]  # canonical splits the release defines (or signkit's documented split when it has none)
    licence: str
    url: str
    files: tuple[str, ...]  # official annotation file names looked for under RAW_DIR
    media: str  # what the media is and where the release keeps it
    subsets: tuple[str, ...] = ()
    keypoints: bool = False  # True: the release ships keypoints; `poses()` gives them and nothing is extracted
    citation: str = ""
    notes: str = ""

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise AssertionError(f"{self.name}: task must be one of {TASKS}")

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class SkippedRow:
    """A row of the release that names no usable sample (e.g. a clip of zero length): skipped and listed, so one
    such row does not refuse the whole release (``strict`` refuses it)."""

    where: str  # FILE:LINE or FILE and the entry
    key: str | None
    reason: str


@dataclass
class Parsed:
    """What a parse of a release gave: its records, the rows skipped, and the keys that a subset left out."""

    records: list[SampleRecord]
    skipped: list[SkippedRow] = field(default_factory=list)
    outside_subset: list[str] = field(default_factory=list)


def skipped_error(name: str, skipped: list[SkippedRow]) -> DatasetError:
    shown = "; ".join(f"{s.where}: {s.reason}" for s in skipped[:3])
    more = f" and {len(skipped) - 3} more" if len(skipped) > 3 else ""
    return DatasetError(
        f"{name}: {len(skipped)} row(s) of the release name no usable sample ({shown}{more}); "
        "drop --strict to skip them"
    )


class Source:
    """A benchmark parser. Subclasses set `info` and implement `_parse` (all records, every split, file order).

    ``records`` and ``classes`` are the interface `signkit pack --dataset` uses; ``subset`` selects an official
    subset (WLASL100, MS-ASL200...) and keeps label indices as in the full set (the first N classes).
    """

    info: SourceInfo
    subset_sizes: dict[str, int] = {}  # subset name -> number of classes (the first N of the full class list)

    @property
    def name(self) -> str:
        return self.info.name

    # --- the interface -------------------------------------------------------------------------------------
    def records(self, root: str | os.PathLike | None, subset: str | None = None) -> list[SampleRecord]:
        """Every sample of the release under ``root`` (of ``subset`` if given), keys unique, in a stable order.

        Rows that name no usable sample are left out; `parse` lists them (``skipped_error`` for ``--strict``).
        """
        return self.parse(root, subset).records

    def parse(self, root: str | os.PathLike | None, subset: str | None = None) -> Parsed:
        """`records`, with the rows skipped and the keys of the full release outside ``subset``."""
        if type(self).records is not Source.records:  # a parser that reads other files per subset (PHOENIX SI5)
            return Parsed(self.records(root, subset))
        root = self.resolve_root(root)
        out = self._parse(root)
        parsed = out if isinstance(out, Parsed) else Parsed(list(out))
        check_unique_keys(parsed.records, self.name)
        if subset is not None:
            chosen = self._select_subset(parsed.records, self.check_subset(subset))
            keys = {r.key for r in chosen}
            parsed.outside_subset = [r.key for r in parsed.records if r.key not in keys]
            parsed.records = chosen
        return parsed

    def classes(self, root: str | os.PathLike | None, subset: str | None = None) -> list[str]:
        """Label index -> normalised gloss (empty for CSLR/SLT sets, which have no class labels)."""
        root = self.resolve_root(root)
        classes = self._classes(root)
        if subset is not None:
            classes = classes[: self.subset_sizes[self.check_subset(subset)]]
        return classes

    def poses(self, root: str | os.PathLike | None, exclude: Container[str] = ()) -> Iterator[tuple[str, Pose]]:
        """``(key, Pose)`` for releases that ship keypoints (skipping keys in ``exclude``), in record order; video
        releases must go through `signkit extract`."""
        raise DatasetError(
            f"{self.name} ships videos, not keypoints: write a clip list with `signkit datasets clips {self.name}`, "
            "run `signkit extract` on it, then `signkit pack --poses POSES_DIR`"
        )

    def provenance(self, root: str | os.PathLike | None, subset: str | None = None) -> dict[str, Any]:
        """What `signkit pack` records in dataset.json about how the samples were made (composed sources say
        how); empty for releases read as distributed."""
        return {}

    def media_path(self, root: str | os.PathLike, record: SampleRecord) -> Path | None:
        """Where the record's media (video, frame folder or keypoint file) is expected on disk."""
        return None if record.media is None else Path(root) / record.media

    # --- for subclasses ------------------------------------------------------------------------------------
    def _parse(self, root: Path) -> list[SampleRecord] | Parsed:
        """All records; a `Parsed` when some rows were skipped."""
        raise NotImplementedError

    def _classes(self, root: Path) -> list[str]:
        return []

    def _select_subset(self, records: list[SampleRecord], subset: str) -> list[SampleRecord]:
        n = self.subset_sizes[subset]
        return [r for r in records if r.label is not None and r.label < n]

    def default_root(self) -> Path | None:
        return None

    def resolve_root(self, root: str | os.PathLike | None) -> Path:
        if root is None:
            default = self.default_root()
            if default is None:
                raise DatasetError(f"{self.name}: give the folder that holds the release (--root RAW_DIR)")
            root = default
        root = Path(root)
        if not root.is_dir():
            raise DatasetError(f"{self.name}: release folder {root} does not exist; pass the folder you unpacked it to")
        return root

    def check_subset(self, subset: str) -> str:
        wanted = subset.strip().lower().replace("-", "").replace("_", "")
        for name in self.info.subsets:
            if wanted in (name.lower().replace("-", "").replace("_", ""), str(self.subset_sizes.get(name, ""))):
                return name
        known = ", ".join(self.info.subsets) or "none"
        raise DatasetError(f"{self.name} has no subset {subset!r}; its subsets: {known}")

    def find(self, root: Path, *names: str) -> Path:
        """The one file called ``names[0]`` (or one of the alternatives) under ``root``."""
        return find_file(root, names, self.name)


# --- helpers -------------------------------------------------------------------------------------------------


def find_file(root: Path, names: Sequence[str], source: str) -> Path:
    """Find an official annotation file by name anywhere under ``root``; absent or ambiguous is an error."""
    for name in names:
        direct = root / name
        if direct.is_file():
            return direct
        hits = sorted(p for p in root.rglob(name) if p.is_file())
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            listing = ", ".join(str(p.relative_to(root)) for p in hits[:4])
            raise DatasetError(
                f"{source}: found {len(hits)} files named {name} under {root} ({listing}); "
                "pass a --root that holds only one copy of the release"
            )
    raise DatasetError(
        f"{source}: no {' or '.join(names)} under {root}; pass the folder that holds the release "
        "as it was distributed (see `signkit datasets list`)"
    )


def find_optional(root: Path, name: str) -> Path | None:
    hits = sorted(p for p in root.rglob(name) if p.is_file())
    return hits[0] if hits else None


def row_error(path: Path, line: int | None, problem: str) -> DatasetError:
    where = f"{path}:{line}" if line is not None else str(path)
    return DatasetError(f"{where}: {problem}; fix or remove that row (the release should be used as distributed)")


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise DatasetError(f"{path}: not UTF-8 text (byte {e.start}); re-download the file") from None


def read_json(path: Path) -> Any:
    try:
        return json.loads(read_text(path))
    except json.JSONDecodeError as e:
        raise row_error(path, e.lineno, f"invalid JSON ({e.msg})") from None


def read_rows(
    path: Path,
    delimiter: str = ",",
    header: Sequence[str] | None = None,
    min_fields: int | None = None,
    quoting: int = csv.QUOTE_MINIMAL,
) -> Iterator[tuple[int, list[str]]]:
    """``(line, fields)`` of a delimited file; checks the header when one is expected and the field count."""
    text = read_text(path)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quoting=quoting)
    if header is not None:
        first = next(reader, None)
        got = [h.strip() for h in first] if first is not None else []
        if got[: len(header)] != list(header):
            raise row_error(path, 1, f"header is {got}, expected {list(header)}")
    need = min_fields if min_fields is not None else (len(header) if header is not None else 1)
    for fields in reader:
        if not fields or all(not f.strip() for f in fields):
            continue
        if len(fields) < need:
            raise row_error(path, reader.line_num, f"{len(fields)} field(s), expected {need}: {fields}")
        yield reader.line_num, [f.strip() for f in fields]


def read_dict_rows(
    path: Path, required: Sequence[str], delimiter: str = ",", quoting: int = csv.QUOTE_MINIMAL
) -> Iterator[tuple[int, dict[str, str]]]:
    """``(line, row)`` of a delimited file with a header that must contain ``required`` (in any order)."""
    text = read_text(path)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quoting=quoting)
    header = [h.strip() for h in next(reader, [])]
    missing = [c for c in required if c not in header]
    if missing:
        raise row_error(path, 1, f"header {header} lacks column(s) {missing}")
    for fields in reader:
        if not fields or all(not f.strip() for f in fields):
            continue
        if len(fields) != len(header):
            raise row_error(path, reader.line_num, f"{len(fields)} field(s), the header has {len(header)}")
        yield reader.line_num, {h: f.strip() for h, f in zip(header, fields, strict=True)}


def record_at(path: Path, line: int | None, where: str | None = None, **fields: Any) -> SampleRecord:
    """A `SampleRecord` whose validation errors (bad split, bad key) name the file and line it came from."""
    try:
        return SampleRecord(**fields)
    except DatasetError as e:
        raise row_error(path, line, f"{where}: {e}" if where else str(e)) from None


def parse_int(value: Any, path: Path, line: int | None, what: str) -> int:
    try:
        if isinstance(value, bool):
            raise ValueError
        if isinstance(value, float) and not value.is_integer():
            raise ValueError
        return int(value)
    except (TypeError, ValueError):
        raise row_error(path, line, f"{what} must be an integer, got {value!r}") from None


def parse_float(value: Any, path: Path, line: int | None, what: str) -> float:
    try:
        if isinstance(value, bool):
            raise ValueError
        return float(value)
    except (TypeError, ValueError):
        raise row_error(path, line, f"{what} must be a number, got {value!r}") from None


def parse_timestamp(value: str, path: Path, line: int | None, what: str) -> float:
    """Seconds from ``12.5`` or ``HH:MM:SS(.fff)`` / ``MM:SS(.fff)``."""
    text = value.strip()
    try:
        if ":" not in text:
            return float(text)
        seconds = 0.0
        for part in text.split(":"):
            seconds = seconds * 60 + float(part)
        return seconds
    except ValueError:
        raise row_error(path, line, f"{what} must be seconds or HH:MM:SS.fff, got {value!r}") from None


def signer_or_none(value: Any) -> str | None:
    """Signer ids as strings; absent, empty or negative (the releases' "unknown") -> None."""
    if value is None:
        return None
    text = str(value).strip()
    if not text or text.lower() in ("none", "nan", "null", "-1"):
        return None
    return text


def hash_split(key: str, fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)) -> str:
    """A deterministic train/dev/test split from the key alone (same on every run, machine and Python)."""
    value = int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big") / 2**64
    if value < fractions[0]:
        return "train"
    return "dev" if value < fractions[0] + fractions[1] else "test"


def check_unique_keys(records: Iterable[SampleRecord], source: str) -> None:
    """A release that lists one key twice is an error naming ``source`` (the rule: `signkit._keys`)."""
    _check_unique_keys(
        records, lambda _, r: DatasetError(f"{source}: two samples share the key {r.key!r}; the release lists it twice")
    )


@dataclass
class MediaIndex:
    """Every file and folder under a release root by name, built with one walk (releases keep media in varying
    folder layouts; annotation files name media by id only)."""

    root: Path
    files: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def build(cls, root: Path, suffixes: tuple[str, ...] = VIDEO_SUFFIXES) -> MediaIndex:
        index = cls(root)
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            rel_dir = os.path.relpath(dirpath, root)
            for name in sorted(filenames):
                if name.lower().endswith(suffixes) and not name.startswith("."):
                    rel = name if rel_dir == "." else f"{rel_dir}/{name}".replace(os.sep, "/")
                    index.files.setdefault(name, []).append(rel)
        return index

    def find(self, name: str, prefer: Sequence[str] = ()) -> str | None:
        """The relative path of the file called ``name``; with several, the first under a ``prefer`` folder."""
        hits = self.files.get(name)
        if not hits:
            return None
        for folder in prefer:
            for hit in hits:
                if folder in hit.split("/")[:-1]:
                    return hit
        return hits[0]

    def find_stem(self, stem: str, prefer: Sequence[str] = ()) -> str | None:
        for suffix in VIDEO_SUFFIXES:
            hit = self.find(stem + suffix, prefer)
            if hit is not None:
                return hit
        return None


def rel(root: Path, path: Path) -> str:
    """``path`` relative to the release root (media must lie inside the release)."""
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        raise DatasetError(f"{path} lies outside the release folder {root}; keep the release as distributed") from None
