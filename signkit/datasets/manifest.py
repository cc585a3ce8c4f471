"""A packed dataset's two index files: ``manifest.parquet`` (one row per sample) and ``dataset.json``.

``dataset.json`` says what the shards are (layout, normalisation, label map, provenance, each shard's sha256 and
sample count); the manifest says what each sample is (key, shard, position, frames, labels). Both are read here and
only here, so the reader, ``info`` and ``verify`` agree on what a valid dataset is.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import DatasetError
from .location import Location
from .schema import MANIFEST_COLUMNS

DATASET_FORMAT = "signkit-dataset"
DATASET_VERSION = 1
DATASET_JSON = "dataset.json"
MANIFEST = "manifest.parquet"
SHARDS_DIR = "shards"
REFUSED = "refused.jsonl"
# Columns after the DESIGN.md ones: where a sample sits in its shard, and how often each hand was seen (info).
EXTRA_COLUMNS = ("index", "left_hand_detected", "right_hand_detected")
COLUMNS = MANIFEST_COLUMNS + EXTRA_COLUMNS
# Where the sample's arrays start in its shard (their .npy member's first byte): the loader reads them from there
# without parsing tar headers. Datasets packed by an older signkit lack them; the loader then reads the headers.
OFFSET_COLUMNS = ("pose_offset", "conf_offset")
# Extraction's flags of each sample (``truncated``, ``rotated_90``...); absent from datasets packed before them.
FLAGS_COLUMN = "flags"
# The source frame [W, H] of a sample stored in pixels; null when it is stored in image-normalised units (x/W, y/H,
# as Uni-Sign pickles are). Model input transforms that work in x/W, y/H units (uni-sign) need it. Older packs lack it.
FRAME_COLUMNS = ("frame_width", "frame_height")


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def manifest_schema():
    import pyarrow as pa

    return pa.schema(
        [
            ("key", pa.string()),
            ("shard", pa.string()),
            ("split", pa.string()),
            ("num_frames", pa.int32()),
            ("fps", pa.float32()),
            ("label", pa.int64()),
            ("gloss", pa.string()),
            ("text", pa.string()),
            ("signer", pa.string()),
            ("language", pa.string()),
            ("source", pa.string()),
            ("index", pa.int32()),
            ("left_hand_detected", pa.float32()),
            ("right_hand_detected", pa.float32()),
            ("pose_offset", pa.int64()),
            ("conf_offset", pa.int64()),
            (FLAGS_COLUMN, pa.list_(pa.string())),
            ("frame_width", pa.int32()),
            ("frame_height", pa.int32()),
        ]
    )


def write_manifest(rows: list[dict[str, Any]], path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = manifest_schema()
    names = (*COLUMNS, *OFFSET_COLUMNS, FLAGS_COLUMN, *FRAME_COLUMNS)
    table = pa.Table.from_pylist([{c: r.get(c) for c in names} for r in rows], schema=schema)
    pq.write_table(table, path, compression="zstd")


def read_manifest(root: str | os.PathLike | Location):
    """The manifest as a pyarrow Table (cheap: one row per sample, no pose data)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    where = root if isinstance(root, Location) else Location(root)
    path = where.child(MANIFEST)
    try:
        source = path if not where.url else pa.BufferReader(where.read_bytes(MANIFEST))
        table = pq.read_table(source)
    except FileNotFoundError:
        raise DatasetError(f"{where}: no {MANIFEST}; is this a folder written by `signkit pack`?") from None
    except DatasetError:
        raise
    except Exception as e:
        raise DatasetError(f"{path}: unreadable manifest ({type(e).__name__}: {e}); re-pack the dataset") from None
    missing = [c for c in COLUMNS if c not in table.column_names]
    if missing:
        raise DatasetError(f"{path}: manifest lacks columns {missing}; re-pack with this signkit")
    return table


@dataclass(frozen=True)
class ShardInfo:
    name: str
    split: str
    samples: int
    sha256: str
    bytes: int


@dataclass
class DatasetInfo:
    """What ``dataset.json`` holds, parsed and checked."""

    root: Path | str  # a local folder, or a URL
    layout: str
    normalization: dict[str, Any]
    classes: list[str] | None
    gloss_vocab: list[str]
    shards: list[ShardInfo]
    raw: dict[str, Any]
    location: Location

    @property
    def splits(self) -> list[str]:
        return sorted({s.split for s in self.shards})

    def split_shards(self, split: str) -> list[ShardInfo]:
        return [s for s in self.shards if s.split == split]

    def shard_path(self, shard: ShardInfo | str) -> Path | str:
        return self.location.child(SHARDS_DIR, shard.name if isinstance(shard, ShardInfo) else shard)


def read_dataset_json(root: str | os.PathLike) -> DatasetInfo:
    """``dataset.json`` of a local folder or a URL (``s3://``, ``gs://``, ``https://``: see `Location`)."""
    where = Location(root)
    root, path = where.root, where.child(DATASET_JSON)
    if not where.is_dir():
        raise DatasetError(f"{root}: no such dataset folder; create one with `signkit pack POSES_DIR -o {root}`")
    try:
        text = where.read_bytes(DATASET_JSON)
    except FileNotFoundError:
        raise DatasetError(f"{root}: no {DATASET_JSON}; is this a folder written by `signkit pack`?") from None
    try:
        raw = json.loads(text)
        if raw.get("format") != DATASET_FORMAT:
            raise DatasetError(f"{path}: not a signkit dataset (format {raw.get('format')!r})")
        if int(raw.get("version", 0)) > DATASET_VERSION:
            raise DatasetError(f"{path}: written by a newer signkit (version {raw['version']}); upgrade signkit")
        shards = [
            ShardInfo(s["name"], s["split"], int(s["samples"]), s["sha256"], int(s["bytes"])) for s in raw["shards"]
        ]
        return DatasetInfo(
            root=root,
            layout=raw["layout"],
            normalization=raw["normalization"],
            classes=raw.get("classes"),
            gloss_vocab=raw.get("gloss_vocab") or [],
            shards=shards,
            raw=raw,
            location=where,
        )
    except DatasetError:
        raise
    except (ValueError, KeyError, TypeError) as e:
        raise DatasetError(f"{path}: malformed ({type(e).__name__}: {e}); re-pack the dataset") from None
