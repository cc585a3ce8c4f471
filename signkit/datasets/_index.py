"""The manifest as the reader's index: per shard, its rows in stored order as Arrow columns and numpy arrays.

The manifest says where each sample's arrays sit, their checksums, frames and labels, so the reader parses no JSON
member and holds no Python object per row (10⁶ rows of ``str`` would cost hundreds of MB in every DataLoader
worker as refcounts touch their pages); Python values are made only for the rows a worker reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import DatasetError
from .manifest import FRAME_COLUMNS, OFFSET_COLUMNS, SUM_COLUMNS, DatasetInfo, consistency_problems, read_manifest

TEXT_FIELDS = ("gloss", "text", "signer", "language")


@dataclass
class ShardRows:
    """The manifest rows of one shard, in stored order: a zero-copy slice of the split's Arrow table plus numpy
    columns; `rows` makes Python values only for the samples read."""

    table: Any  # pyarrow.Table: key, label and the text fields
    frames: np.ndarray
    at: np.ndarray | None = None  # [n, 2] where each sample's pose and conf start, if the manifest says
    sums: np.ndarray | None = None  # [n, 2] their checksums (uint64), if the dataset was packed with them
    frame: np.ndarray | None = None  # [n, 2] source [W, H] ((0, 0): image-normalised units), if the manifest says

    @property
    def n(self) -> int:
        return len(self.frames)

    def keys(self) -> list[str]:
        return self.table["key"].to_pylist()

    def rows(self, keep: range) -> dict[str, list]:
        """Python values of rows ``keep`` (a step-1 range): key, label (-1 = none), the text fields, frames,
        offsets and checksums (None where the manifest has none)."""
        part = self.table.slice(keep.start, len(keep))
        cols: dict[str, list] = {c: part[c].to_pylist() for c in ("key", *TEXT_FIELDS)}
        cols["label"] = part["label"].fill_null(-1).to_numpy().tolist()
        cols["frames"] = self.frames[keep.start : keep.stop].tolist()
        for name, arr in (("at", self.at), ("sums", self.sums)):
            cols[name] = arr[keep.start : keep.stop].tolist() if arr is not None else [(None, None)] * len(keep)
        if self.frame is not None:
            cols["frame_size"] = [tuple(f) for f in self.frame[keep.start : keep.stop].tolist()]
        return cols


def _column_pairs(rows, columns: tuple[str, ...], dtype) -> np.ndarray | None:
    """Two manifest columns as an [n, 2] array, or None when one is missing or has a null."""
    if not all(c in rows.column_names for c in columns) or any(rows[c].null_count for c in columns):
        return None
    return np.stack([rows[c].to_numpy().astype(dtype, copy=False) for c in columns], axis=1)


# The manifest columns the loader reads (the others stay on disk).
INDEX_COLUMNS = (
    "key",
    "shard",
    "split",
    "index",
    "num_frames",
    "label",
    *TEXT_FIELDS,
    *OFFSET_COLUMNS,
    *SUM_COLUMNS,
    *FRAME_COLUMNS,
)


def open_index(info: DatasetInfo, split: str) -> dict[str, ShardRows]:
    """The index of ``split``: its manifest rows (only the columns the reader needs), checked against dataset.json
    (the first problem is the error; `signkit verify` lists them all)."""
    import pyarrow as pa

    table = read_manifest(info.location, columns=list(INDEX_COLUMNS))
    problems = consistency_problems(info, table, split)
    if problems:
        more = f" (and {len(problems) - 1} more: `signkit verify` lists them)" if len(problems) > 1 else ""
        raise DatasetError(f"{info.root}: {problems[0]}{more}")
    rows = index_manifest(table, split, info.root)
    del table
    pa.default_memory_pool().release_unused()  # the full table and the temporaries: give their pages back
    return rows


def index_manifest(table, split: str, root) -> dict[str, ShardRows]:
    """The manifest is the index: keys to check the shards against, where the arrays are, their checksums and
    the labels (so no JSON member is parsed). Columns stay Arrow/numpy, sliced per shard."""
    import pyarrow.compute as pc

    rows = table.select([c for c in INDEX_COLUMNS if c in table.column_names])
    rows = rows.filter(pc.equal(rows["split"], split))
    rows = rows.sort_by([("shard", "ascending"), ("index", "ascending")])
    shard_ids = rows["shard"].combine_chunks().dictionary_encode()
    names = shard_ids.dictionary.to_pylist()
    ids = shard_ids.indices.to_numpy()
    starts = np.flatnonzero(np.diff(ids, prepend=-1)) if len(ids) else np.zeros(0, dtype=np.int64)
    stops = np.append(starts[1:], len(ids))
    index = rows["index"].to_numpy()
    expected = np.arange(len(ids)) - np.repeat(starts, stops - starts)
    if not np.array_equal(index, expected):
        bad = int(np.argmax(index != expected))
        g = int(np.searchsorted(starts, bad, side="right")) - 1
        shard, n = names[ids[bad]], int(stops[g] - starts[g])
        raise DatasetError(
            f"{root}: manifest positions of {shard} are not 0..{n - 1} (at {rows['key'][bad].as_py()!r}); re-pack"
        )
    frames = rows["num_frames"].to_numpy().astype(np.int64)
    at = _column_pairs(rows, OFFSET_COLUMNS, np.int64)
    sums = _column_pairs(rows, SUM_COLUMNS, np.uint64)
    frame = None
    if all(c in rows.column_names for c in FRAME_COLUMNS):  # null = image-normalised units, given as (0, 0)
        frame = np.stack([rows[c].fill_null(0).to_numpy().astype(np.int64) for c in FRAME_COLUMNS], axis=1)
    keep = rows.select(["key", "label", *TEXT_FIELDS])
    for name in ("gloss", "signer", "language"):  # few distinct values: held once each
        keep = keep.set_column(keep.schema.get_field_index(name), name, pc.dictionary_encode(keep[name]))
    return {
        names[ids[a]]: ShardRows(
            keep.slice(a, b - a),
            frames[a:b],
            at[a:b] if at is not None else None,
            sums[a:b] if sums is not None else None,
            frame[a:b] if frame is not None else None,
        )
        for a, b in zip(starts.tolist(), stops.tolist(), strict=True)
    }


def sample_fields(cols: dict[str, list], j: int) -> dict[str, Any]:
    """The small fields of row ``j`` of `ShardRows.rows` output, as a sample carries them."""
    out = {"key": cols["key"][j], "label": cols["label"][j]}
    for f in TEXT_FIELDS:
        out[f] = cols[f][j]
    if "frame_size" in cols:
        out["frame_size"] = cols["frame_size"][j]
    return out
