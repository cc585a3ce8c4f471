"""``verify``: is a packed dataset exactly what its ``dataset.json`` and manifest say it is?

Checks every shard's size and sha256, that no shard is missing or unlisted, the manifest's own sha256, and that the
manifest's keys, shards, positions and member offsets match the shards' contents (read from the tar headers). Every
problem is named; none is fixed silently.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DatasetError
from .manifest import MANIFEST, OFFSET_COLUMNS, SHARDS_DIR, read_dataset_json, read_manifest
from .shards import scan_shard


@dataclass
class VerifyReport:
    root: Path | str
    shards_checked: int = 0
    samples_checked: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # checks the store could not do (a web server that cannot list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(root: str | os.PathLike) -> VerifyReport:
    """Check a packed dataset (a folder or a URL); returns a report whose ``problems`` name each mismatch (empty
    when all is well)."""
    info = read_dataset_json(root)
    where = info.location
    report = VerifyReport(info.root)
    problems = report.problems
    want_manifest = info.raw.get("manifest_sha256")
    if want_manifest and where.is_file(MANIFEST) and where.sha256(MANIFEST) != want_manifest:
        problems.append(f"{MANIFEST}: sha256 differs from dataset.json (the manifest was changed or damaged)")
    try:
        table = read_manifest(where)
    except DatasetError as e:
        problems.append(str(e))
        return report
    keys, shards = table["key"].to_pylist(), table["shard"].to_pylist()
    rows: dict[str, list[tuple[int, str]]] = {}
    for key, shard, index in zip(keys, shards, table["index"].to_pylist(), strict=True):
        rows.setdefault(shard, []).append((index, key))
    offsets: dict[str, dict[str, int | None]] = {}  # shard -> member -> where the manifest says its data starts
    if all(c in table.column_names for c in OFFSET_COLUMNS):
        for column, suffix in zip(OFFSET_COLUMNS, ("pose.npy", "conf.npy"), strict=True):
            for key, shard, at in zip(keys, shards, table[column].to_pylist(), strict=True):
                offsets.setdefault(shard, {})[f"{key}.{suffix}"] = at
    listed = {s.name for s in info.shards}
    for shard in sorted(set(rows) - listed):
        problems.append(f"manifest names shard {shard}, which dataset.json does not list")
    on_disk = where.list_names(SHARDS_DIR, suffix=".tar")
    if on_disk is None:
        report.notes.append(f"{where} cannot be listed, so shards that dataset.json does not list were not looked for")
    for name in sorted(set(on_disk or ()) - listed):
        problems.append(f"{SHARDS_DIR}/{name}: not listed in dataset.json")
    for shard in info.shards:
        path = info.shard_path(shard)
        if not where.is_file(SHARDS_DIR, shard.name):
            problems.append(f"{SHARDS_DIR}/{shard.name}: missing")
            continue
        report.shards_checked += 1
        size = where.size(SHARDS_DIR, shard.name)
        if size != shard.bytes:
            problems.append(f"{SHARDS_DIR}/{shard.name}: {size} bytes, dataset.json says {shard.bytes}")
        if where.sha256(SHARDS_DIR, shard.name) != shard.sha256:
            problems.append(f"{SHARDS_DIR}/{shard.name}: sha256 mismatch (the shard is corrupt or was changed)")
        try:
            keys, found = scan_shard(path)
        except DatasetError as e:
            problems.append(str(e))
            continue
        report.samples_checked += len(keys)
        if len(keys) != shard.samples:
            problems.append(f"{SHARDS_DIR}/{shard.name}: holds {len(keys)} samples, dataset.json says {shard.samples}")
        expected = [k for _, k in sorted(rows.get(shard.name, []))]
        if expected != keys:
            extra = sorted(set(keys) - set(expected))[:3]
            lost = sorted(set(expected) - set(keys))[:3]
            detail = f"in the shard only: {extra}; in the manifest only: {lost}" if extra or lost else "order differs"
            problems.append(f"{SHARDS_DIR}/{shard.name}: manifest disagrees with the shard ({detail})")
        wrong = [m for m, at in offsets.get(shard.name, {}).items() if found.get(m) != at]
        if wrong:
            problems.append(
                f"{SHARDS_DIR}/{shard.name}: manifest offsets disagree with the shard for {len(wrong)} members "
                f"(first: {sorted(wrong)[0]}); re-pack the dataset"
            )
    return report
