"""Reading one shard's samples for the reader, each checked against the manifest.

A local shard yields `SampleRef`s (where the arrays sit; the collate reads and checks them in the batch); a shard
behind a URL, or any shard where ``os.preadv`` is missing (Windows), is streamed and decoded, each sample checked
(key, shape, checksums) as it arrives.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..errors import DatasetError
from ._index import ShardRows, sample_fields
from .location import is_url
from .manifest import DatasetInfo, ShardInfo
from .sample_refs import SampleRef, ShardFile, stored_header
from .shards import ARRAY_SUFFIXES, decode_sample, iter_shard


class ShardReader:
    """The samples of a split's shards, from the manifest index ``rows`` (see `_index`)."""

    def __init__(self, info: DatasetInfo, rows: dict[str, ShardRows], points: int):
        self.info, self.root, self._rows, self._points = info, info.root, rows, points

    def __call__(self, shard: ShardInfo, keep: range | None) -> Iterator[dict[str, Any]]:
        """Samples at positions ``keep`` (all: None) of ``shard``, in stored order."""
        if is_url(str(self.root)) or not hasattr(os, "preadv"):  # preadv: Linux, macOS 11+, BSD; not Windows
            return self._read_stream(shard, keep)
        return self._read_local(shard, keep)

    def _read_local(self, shard: ShardInfo, keep: range | None) -> Iterator[dict[str, Any]]:
        """`SampleRef`s of a local shard: from the manifest's offsets, else from the shard's tar headers."""
        file = ShardFile(self.info.shard_path(shard), shard.name)
        rows = self._rows[shard.name]
        if file.size != shard.bytes:  # a shard cut short or changed: refuse it before yielding any of it
            raise DatasetError(
                f"shard {shard.name}: corrupt or truncated{self._cut_at(rows, file)} ({file.size} bytes, dataset.json "
                f"says {shard.bytes}); re-pack or re-download it (`signkit verify {self.root}` checks every shard)"
            )
        keep = keep if keep is not None else range(rows.n)
        cols = rows.rows(keep)
        at = cols["at"] if rows.at is not None else self._offsets_from_headers(file, shard)[keep.start : keep.stop]
        points = self._points
        for j, (key, (pose_at, conf_at), frames, (pose_sum, conf_sum)) in enumerate(
            zip(cols["key"], at, cols["frames"], cols["sums"], strict=True)
        ):
            ref = SampleRef(file, key, pose_at, conf_at, frames, points, 0, -1, pose_sum, conf_sum)
            yield {"ref": ref, **sample_fields(cols, j)}

    def _cut_at(self, rows: ShardRows, file: ShardFile) -> str:
        """`` at sample 'k'``: the first sample whose arrays run past the end of a cut shard (manifest offsets)."""
        if rows.at is None:
            return ""
        keys = rows.keys()
        for i, ((pose_at, conf_at), frames) in enumerate(zip(rows.at.tolist(), rows.frames.tolist(), strict=True)):
            if SampleRef(file, keys[i], pose_at, conf_at, frames, self._points).end > file.size:
                return f" at sample {keys[i]!r}"
        return ""

    def check_layout(self, first: ShardInfo) -> None:
        """dataset.json's layout and dtype against the first sample's stored ``.npy`` header: one small read (each
        read checks its own sample; `verify` checks them all). Shards behind a URL are checked as they stream."""
        rows = self._rows.get(first.name)
        if is_url(str(self.root)) or rows is None or rows.at is None or rows.n == 0:
            return
        try:
            shape, _, dtype, _ = stored_header(self.info.shard_path(first), int(rows.at[0, 0]))
        except (OSError, ValueError):
            return  # a missing or damaged shard is named when it is read
        if len(shape) != 3 or shape[1:] != (self._points, 3) or dtype != np.dtype("<f2"):
            raise DatasetError(
                f"{self.root}: dataset.json says layout {self.info.layout} ({self._points} points, float16), but "
                f"{first.name} holds {dtype}{shape} for its first sample; dataset.json was edited or does not belong "
                "to these shards: re-pack the dataset"
            )

    def _offsets_from_headers(self, file: ShardFile, shard: ShardInfo) -> list[tuple[int, int]]:
        expected = self._rows[shard.name].keys()
        found, offsets = file.scan()
        for i, key in enumerate(found[: len(expected)]):
            if key != expected[i]:
                raise DatasetError(
                    f"shard {shard.name}: sample {i} is {key!r} but the manifest says {expected[i]!r}; "
                    f"the manifest disagrees with the shard (run `signkit verify {self.root}`)"
                )
        if len(found) != len(expected):
            raise DatasetError(
                f"shard {shard.name}: holds {len(found)} samples, the manifest says {len(expected)}; the shard is "
                "truncated or the manifest is wrong (re-pack or re-download it)"
            )
        try:
            return [(offsets[f"{k}.pose.npy"], offsets[f"{k}.conf.npy"]) for k in expected]
        except KeyError as e:
            raise DatasetError(f"shard {shard.name}: member {e.args[0]!r} is missing; the shard is corrupt") from None

    def _read_stream(self, shard: ShardInfo, keep: range | None) -> Iterator[dict[str, Any]]:
        """Samples of a shard behind a URL, decoded from the bytes as they stream in and checked against the
        manifest (key, frames). Their checksums go with them as ``unchecked`` = (shard, pose, conf): the
        dataset checks them before anything else touches the arrays, or the collate right after copying them
        into the batch, while they are in the CPU caches (hashing the shard's pages here, then copying them,
        would read every byte from memory twice). Reading stops after the shard's last listed sample, so
        members appended after it (into the tar's padding) are never read."""
        rows = self._rows[shard.name]
        keep = keep if keep is not None else range(rows.n)
        cols = rows.rows(keep)
        last = -1
        for raw in iter_shard(self.info.shard_path(shard), keep, ARRAY_SUFFIXES):
            j = raw.index - keep.start
            want = cols["key"][j] if 0 <= j < len(keep) else "nothing"
            if raw.key != want:
                raise DatasetError(
                    f"shard {shard.name}: sample {raw.index} is {raw.key!r} but the manifest says {want!r}; "
                    f"the manifest disagrees with the shard (run `signkit verify {self.root}`)"
                )
            last = raw.index
            sample = decode_sample(raw, {})  # labels come from the manifest, not the JSON member
            if sample["pose"].shape[:2] != (cols["frames"][j], self._points):
                raise DatasetError(
                    f"shard {shard.name}: sample {raw.key!r} holds pose {sample['pose'].shape}, the manifest and "
                    f"dataset.json say ({cols['frames'][j]}, {self._points}, 3); run `signkit verify {self.root}`"
                )
            out = {"pose": sample["pose"], "conf": sample["conf"], **sample_fields(cols, j)}
            pose_sum, conf_sum = cols["sums"][j]
            if pose_sum is not None:
                out["unchecked"] = (shard.name, pose_sum, conf_sum)
            yield out
        if last != keep.stop - 1:
            raise DatasetError(
                f"shard {shard.name}: ends after {last + 1} samples, dataset.json says {shard.samples}; "
                "the shard is truncated or the manifest is wrong (re-pack or re-download it)"
            )
