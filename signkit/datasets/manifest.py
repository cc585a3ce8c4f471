"""A packed dataset's two index files: ``manifest.parquet`` (one row per sample) and ``dataset.json``.

``dataset.json`` says what the shards are (layout, normalisation, label map, provenance, each shard's sha256 and
sample count); the manifest says what each sample is (key, shard, position, frames, labels). Both are read here and
only here, so the reader, ``info`` and ``verify`` agree on what a valid dataset is.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._hashing import sha256_file as sha256_file  # pack's shard and manifest hashes (owner: signkit._hashing)
from ..errors import DatasetError
from .checksums import CHECKSUM_COLUMNS
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
# Each array's checksum (`checksums`), checked on every read; older datasets lack them and load as before.
SUM_COLUMNS = tuple(CHECKSUM_COLUMNS.values())
# The source frame [W, H] of a sample stored in pixels; null when it is stored in image-normalised units (x/W, y/H,
# as Uni-Sign pickles are). Model input transforms that work in x/W, y/H units (uni-sign) need it. Older packs lack it.
FRAME_COLUMNS = ("frame_width", "frame_height")


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
            *((c, pa.uint64()) for c in SUM_COLUMNS),
            ("frame_width", pa.int32()),
            ("frame_height", pa.int32()),
        ]
    )


def write_manifest(rows: list[dict[str, Any]], path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = manifest_schema()
    table = pa.Table.from_pylist([{c: r.get(c) for c in schema.names} for r in rows], schema=schema)
    pq.write_table(table, path, compression="zstd")


def read_manifest(root: str | os.PathLike | Location, columns: list[str] | None = None):
    """The manifest as a pyarrow Table (cheap: one row per sample, no pose data); ``columns``: only those that
    the file has of them (the loader skips the ones it does not use)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    where = root if isinstance(root, Location) else Location(root)
    path = where.child(MANIFEST)
    try:
        source = path if not where.url else pa.BufferReader(where.read_bytes(MANIFEST))
        if columns is not None:
            have = set(pq.read_schema(source).names)
            columns = [c for c in columns if c in have]
        table = pq.read_table(source, columns=columns)
    except FileNotFoundError:
        raise DatasetError(f"{where}: no {MANIFEST}; is this a folder written by `signkit pack`?") from None
    except DatasetError:
        raise
    except Exception as e:
        raise DatasetError(f"{path}: unreadable manifest ({type(e).__name__}: {e}); re-pack the dataset") from None
    missing = [c for c in (COLUMNS if columns is None else ()) if c not in table.column_names]
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

    @property
    def estimators(self) -> list[str]:
        """Names of the estimators its poses came from (``extractors`` in dataset.json); [] where not recorded."""
        made_by = self.raw.get("extractors") or []
        return sorted({str(e["name"]) for e in made_by if isinstance(e, dict) and e.get("name")})

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


def consistency_problems(info: DatasetInfo, table, split: str | None = None) -> list[str]:
    """What ``dataset.json`` says that the manifest contradicts, for one split or all: samples per split and per
    shard, the stored dtype, and ``classes[label] == gloss`` for every labelled row. Vectorised (Arrow), so opening
    a dataset of 10⁶ rows pays a few tens of ms; `verify` adds what needs the shards (headers, sample JSON)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    fix = "dataset.json was edited or does not belong to this manifest; re-pack the dataset"
    problems: list[str] = []
    dtype = info.raw.get("dtype", "float16")
    if dtype != "float16":
        problems.append(f"dataset.json says dtype {dtype!r}, the shards hold float16 (signkit stores no other); {fix}")
    if split is not None:
        table = table.filter(pc.equal(table["split"], split))
    shards = [s for s in info.shards if split is None or s.split == split]
    found: dict[tuple[str, str], int] = {}
    for sp in pc.unique(table["split"]).to_pylist() if table.num_rows else []:
        ids = table.filter(pc.equal(table["split"], sp))["shard"].combine_chunks().dictionary_encode()
        counts = np.bincount(ids.indices.to_numpy(), minlength=len(ids.dictionary))
        found.update({(name, sp): int(n) for name, n in zip(ids.dictionary.to_pylist(), counts, strict=True)})
    for s in shards:
        n = found.pop((s.name, s.split), 0)
        if n != s.samples:
            problems.append(f"dataset.json says {s.name} holds {s.samples} samples, the manifest lists {n}; {fix}")
    for shard, sp in sorted(found):
        problems.append(f"the manifest lists {shard} (split {sp}), which dataset.json does not list so; {fix}")
    declared = info.raw.get("splits")
    if isinstance(declared, dict):
        for sp in sorted({s.split for s in shards} | set(declared if split is None else [split])):
            want = declared.get(sp) or {}
            have = {
                "samples": sum(s.samples for s in shards if s.split == sp),
                "shards": sum(1 for s in shards if s.split == sp),
            }
            for what, n in have.items():
                if want.get(what) != n:
                    problems.append(f"dataset.json says split {sp!r} has {want.get(what)} {what}, shards {n}; {fix}")
    labels = table["label"]
    labelled = pc.is_valid(labels)
    if table.num_rows and pc.any(labelled).as_py():
        classes = info.classes or []
        lab = labels.filter(labelled).to_numpy()
        keys, gloss = table["key"].filter(labelled), table["gloss"].filter(labelled)
        outside = np.flatnonzero((lab < 0) | (lab >= len(classes)))
        if len(outside):
            i = int(outside[0])
            problems.append(
                f"{len(outside)} manifest rows have a label outside dataset.json's {len(classes)} classes (first: "
                f"{keys[i].as_py()!r}, label {int(lab[i])}); {fix}"
            )
        elif classes:
            names = pa.array(classes, pa.string()).take(pa.array(lab))
            same = pc.fill_null(pc.equal(names, gloss.cast(pa.string())), True).to_numpy(zero_copy_only=False)
            bad = np.flatnonzero(~same)
            if len(bad):
                i = int(bad[0])
                problems.append(
                    f"{len(bad)} manifest rows' gloss is not dataset.json's classes[label] (first: "
                    f"{keys[i].as_py()!r}, label {int(lab[i])}, gloss {gloss[i].as_py()!r}, classes[{int(lab[i])}] "
                    f"{classes[lab[i]]!r}); {fix}"
                )
    return problems
