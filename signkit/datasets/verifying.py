"""``verify``: is a packed dataset exactly what its ``dataset.json`` and manifest say it is?

Checks every shard's size and sha256, that no shard is missing or unlisted, the manifest's own sha256, that
``dataset.json`` agrees with the manifest (samples per split and shard, ``classes[label] == gloss``), that the
manifest's keys, shards, positions and member offsets match the shards' contents (read from the tar headers), and
every sample: its arrays' shapes against the manifest and the layout, their checksums, its JSON member's layout and
normalisation against ``dataset.json``. Members the manifest does not name are listed (the loader never reads them).
Every problem is named; none is fixed silently.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DatasetError
from ..pose import get_layout
from .checksums import CHECKSUM_COLUMNS, checksum
from .manifest import (
    MANIFEST,
    OFFSET_COLUMNS,
    SHARDS_DIR,
    SUM_COLUMNS,
    DatasetInfo,
    ShardInfo,
    consistency_problems,
    read_dataset_json,
    read_manifest,
)
from .shards import STORE_DTYPE, SUFFIXES, decode_array, iter_tar, open_shard, scan_shard


@dataclass
class VerifyReport:
    root: Path | str
    shards_checked: int = 0
    samples_checked: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # checks the store could not do (a web server that cannot list)
    sample_checksums: bool = True  # False for a dataset packed before per-sample checksums

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(root: str | os.PathLike) -> VerifyReport:
    """Check a packed dataset (a folder or a URL); returns a report whose ``problems`` name each mismatch (empty
    when all is well)."""
    info = read_dataset_json(root)
    where = info.location
    report = VerifyReport(info.root)
    want_manifest = info.raw.get("manifest_sha256")
    if want_manifest and where.is_file(MANIFEST) and where.sha256(MANIFEST) != want_manifest:
        report.problems.append(f"{MANIFEST}: sha256 differs from dataset.json (the manifest was changed or damaged)")
    try:
        table = read_manifest(where)
    except DatasetError as e:
        report.problems.append(str(e))
        return report
    report.problems.extend(consistency_problems(info, table))
    if not all(c in table.column_names for c in SUM_COLUMNS):
        report.sample_checksums = False
        report.notes.append(
            "the dataset lacks sample checksums (packed by an older signkit): shards are checked whole (sha256) "
            "here, but the loader cannot tell a damaged sample; re-pack it to check every sample on every read"
        )
    index = _ManifestIndex.of(table)
    _check_listing(info, index, report)
    normalized_by: Counter = Counter()
    for shard in info.shards:
        _check_shard(info, shard, index, normalized_by, report)
    if sum(normalized_by.values()) == table.num_rows:  # every sample's JSON was read
        _check_normalization(info, normalized_by, report.problems)
    return report


@dataclass
class _ManifestIndex:
    """What the manifest says each shard holds: its keys in stored order and where each member's data starts."""

    table: Any
    rows: dict[str, list[tuple[int, str]]]  # shard -> (index, key)
    offsets: dict[str, dict[str, int | None]]  # shard -> member -> offset (empty for datasets packed before them)

    @classmethod
    def of(cls, table) -> _ManifestIndex:
        keys, shards = table["key"].to_pylist(), table["shard"].to_pylist()
        rows: dict[str, list[tuple[int, str]]] = {}
        for key, shard, index in zip(keys, shards, table["index"].to_pylist(), strict=True):
            rows.setdefault(shard, []).append((index, key))
        offsets: dict[str, dict[str, int | None]] = {}
        if all(c in table.column_names for c in OFFSET_COLUMNS):
            for column, suffix in zip(OFFSET_COLUMNS, ("pose.npy", "conf.npy"), strict=True):
                for key, shard, at in zip(keys, shards, table[column].to_pylist(), strict=True):
                    offsets.setdefault(shard, {})[f"{key}.{suffix}"] = at
        return cls(table, rows, offsets)

    def keys(self, shard: str) -> list[str]:
        return [k for _, k in sorted(self.rows.get(shard, []))]

    def rows_of(self, shard: str):
        import pyarrow.compute as pc

        return self.table.filter(pc.equal(self.table["shard"], shard))


def _check_listing(info: DatasetInfo, index: _ManifestIndex, report: VerifyReport) -> None:
    """Shards the manifest or the store has that dataset.json does not list."""
    listed = {s.name for s in info.shards}
    for shard in sorted(set(index.rows) - listed):
        report.problems.append(f"manifest names shard {shard}, which dataset.json does not list")
    on_disk = info.location.list_names(SHARDS_DIR, suffix=".tar")
    if on_disk is None:
        where = info.location
        report.notes.append(f"{where} cannot be listed, so shards that dataset.json does not list were not looked for")
    for name in sorted(set(on_disk or ()) - listed):
        report.problems.append(f"{SHARDS_DIR}/{name}: not listed in dataset.json")


def _check_shard(
    info: DatasetInfo, shard: ShardInfo, index: _ManifestIndex, normalized_by: Counter, report: VerifyReport
) -> None:
    """One shard: present, its size and sha256, its keys, order and offsets against the manifest, then every sample."""
    where, problems, name = info.location, report.problems, f"{SHARDS_DIR}/{shard.name}"
    if not where.is_file(SHARDS_DIR, shard.name):
        problems.append(f"{name}: missing")
        return
    report.shards_checked += 1
    size = where.size(SHARDS_DIR, shard.name)
    if size != shard.bytes:
        problems.append(f"{name}: {size} bytes, dataset.json says {shard.bytes}")
    if where.sha256(SHARDS_DIR, shard.name) != shard.sha256:
        problems.append(f"{name}: sha256 mismatch (the shard is corrupt or was changed)")
    path = info.shard_path(shard)
    try:
        keys, found = scan_shard(path)
    except DatasetError as e:
        problems.append(str(e))
        return
    report.samples_checked += len(keys)
    if len(keys) != shard.samples:
        problems.append(f"{name}: holds {len(keys)} samples, dataset.json says {shard.samples}")
    expected = index.keys(shard.name)
    if expected != keys:
        extra = sorted(set(keys) - set(expected))[:3]
        lost = sorted(set(expected) - set(keys))[:3]
        detail = f"in the shard only: {extra}; in the manifest only: {lost}" if extra or lost else "order differs"
        problems.append(f"{name}: manifest disagrees with the shard ({detail})")
    wrong = [m for m, at in index.offsets.get(shard.name, {}).items() if found.get(m) != at]
    if wrong:
        problems.append(
            f"{name}: manifest offsets disagree with the shard for {len(wrong)} members "
            f"(first: {sorted(wrong)[0]}); re-pack the dataset"
        )
    problems.extend(_check_samples(info, path, shard.name, index.rows_of(shard.name), normalized_by))


def _check_samples(info: DatasetInfo, path, shard: str, rows, normalized_by: Counter) -> list[str]:
    """Every sample of one shard: members the manifest does not name, array shapes and dtype against the manifest
    and the layout, checksums, and the JSON member's layout (counting how each sample was normalised)."""
    points = get_layout(info.layout).num_points
    want: dict[str, tuple[str, str, tuple[int, ...], int | None]] = {}  # member -> key, suffix, shape, checksum
    has_sums = all(c in rows.column_names for c in SUM_COLUMNS)
    columns = ["key", "num_frames", *(SUM_COLUMNS if has_sums else ())]
    for row in rows.select(columns).to_pylist():
        key, frames = row["key"], row["num_frames"]
        for suffix in SUFFIXES:
            shape = (frames, points, 3) if suffix == "pose.npy" else (frames, points) if suffix == "conf.npy" else ()
            sum_column = CHECKSUM_COLUMNS.get(suffix)
            want[f"{key}.{suffix}"] = (key, suffix, shape, row.get(sum_column) if sum_column else None)
    problems, unnamed, damaged = [], [], []
    try:
        with open_shard(path) as src:
            for name, size, offset in iter_tar(src, shard):
                if name not in want:
                    unnamed.append(name)
                    continue
                key, suffix, shape, expected = want[name]
                data = src.read(offset, size)
                if suffix == "json":
                    try:
                        meta = json.loads(bytes(data))
                    except ValueError:
                        problems.append(f"{SHARDS_DIR}/{shard}: sample {key!r} has an unreadable {name}")
                        continue
                    normalized_by[meta.get("normalized_by")] += 1
                    if meta.get("layout") not in (None, info.layout):
                        problems.append(
                            f"{SHARDS_DIR}/{shard}: sample {key!r} is in layout {meta.get('layout')!r}, dataset.json "
                            f"says {info.layout!r}; dataset.json was edited or does not belong here: re-pack"
                        )
                    continue
                try:
                    array = decode_array(data)
                except Exception as e:
                    problems.append(f"{SHARDS_DIR}/{shard}: sample {key!r} cannot be decoded ({name}: {e})")
                    continue
                if array.shape != shape or array.dtype != np.dtype(STORE_DTYPE):
                    problems.append(
                        f"{SHARDS_DIR}/{shard}: sample {key!r} holds {array.dtype}{array.shape} in {name}, the "
                        f"manifest and dataset.json ({info.layout}) say float16{shape}; re-pack the dataset"
                    )
                elif expected is not None and checksum(np.ascontiguousarray(array)) != expected:
                    damaged.append(key)
    except DatasetError:
        return problems  # the shard's headers are refused above (scan_shard), with the reason
    except (OSError, ValueError, EOFError) as e:
        return [*problems, f"{SHARDS_DIR}/{shard}: unreadable ({type(e).__name__}: {e})"]
    if damaged:
        shown = ", ".join(repr(k) for k in sorted(set(damaged))[:5])
        problems.append(
            f"{SHARDS_DIR}/{shard}: {len(set(damaged))} samples fail their checksum ({shown}); the shard is damaged: "
            "re-download or re-pack it"
        )
    if unnamed:
        problems.append(
            f"{SHARDS_DIR}/{shard}: holds {len(unnamed)} members the manifest does not name "
            f"({', '.join(unnamed[:5])}); the loader never reads them, but the shard is not what was packed: "
            "re-pack or re-download it"
        )
    return problems


def _check_normalization(info: DatasetInfo, normalized_by: Counter, problems: list[str]) -> None:
    """dataset.json's normalisation counts against the samples' own record of who normalised them."""
    norm = info.normalization if isinstance(info.normalization, dict) else {}
    for field_name, value in (("normalized_by_pack", "pack"), ("normalized_at_extraction", "input")):
        if field_name in norm and norm[field_name] != normalized_by.get(value, 0):
            problems.append(
                f"dataset.json says {norm[field_name]} samples have {field_name}, the samples say "
                f"{normalized_by.get(value, 0)}; dataset.json was edited or does not belong here: re-pack"
            )
