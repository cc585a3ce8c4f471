"""The one sample schema every benchmark parser produces and every packed dataset stores.

A `SampleRecord` is what signkit knows about one sample before its pose is attached: where its media is, which
split it belongs to and its labels. Parsers (``signkit.datasets.sources``) yield records; ``pack`` joins them
to pose files by ``key`` and writes them to the manifest (one row per sample).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from .. import _keys
from ..errors import DatasetError

SPLITS = ("train", "dev", "test")
_SPLIT_ALIASES = {
    "train": "train",
    "training": "train",
    "dev": "dev",
    "val": "dev",
    "valid": "dev",
    "validation": "dev",
    "test": "test",
    "testing": "test",
}

# Manifest columns, in order (DESIGN.md, "Files and shards").
MANIFEST_COLUMNS = (
    "key",
    "shard",
    "split",
    "num_frames",
    "fps",
    "label",
    "gloss",
    "text",
    "signer",
    "language",
    "source",
)


def canonical_split(name: str) -> str:
    """``val``/``validation``/``dev`` -> ``dev`` and so on; an unknown split is an error."""
    try:
        return _SPLIT_ALIASES[name.strip().lower()]
    except (KeyError, AttributeError):
        raise DatasetError(f"unknown split {name!r}; use one of {', '.join(SPLITS)} (or val/validation)") from None


def check_key(key: str) -> str:
    """Keys name tar members and files: no dots (WebDataset splits member names at the first dot), no blanks."""
    return _keys.check_key(key, DatasetError)


@dataclass
class SampleRecord:
    """One sample of a dataset, as its annotation describes it.

    ``label`` is the class index (ISLR), ``gloss`` the class gloss (ISLR) or the gloss sequence separated by
    spaces (CSLR), ``text`` the spoken-language sentence (SLT). ``language`` is the sign language as an ISO 639-3
    code (``ase``, ``gsg``, ``csl``...). ``media`` is the video or frame folder relative to the release root;
    ``start``/``end`` bound the clip within it (seconds, or frames when ``clip_unit == "frames"``; end exclusive,
    None = to the end).
    """

    key: str
    split: str
    source: str
    label: int | None = None
    gloss: str | None = None
    text: str | None = None
    signer: str | None = None
    language: str | None = None
    media: str | None = None
    start: float | None = None
    end: float | None = None
    clip_unit: str = "seconds"
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_key(self.key)
        self.split = canonical_split(self.split)
        if self.clip_unit not in ("seconds", "frames"):
            raise DatasetError(f"clip_unit must be 'seconds' or 'frames', got {self.clip_unit!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
