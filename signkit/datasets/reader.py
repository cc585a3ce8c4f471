"""The reader: a packed dataset as a torch ``IterableDataset``, and a loader of padded, masked batches.

The pipeline is a chain of plain generator stages in WebDataset's style: shard plan -> read (this worker's part
only) -> decode -> shuffle buffer -> crop/augment -> batch (optionally length-bucketed) -> collate. For a local
shard, "read" yields `SampleRef`s (where the arrays sit, from the manifest) and the collate reads each sample once,
straight into its batch; a sample is only decoded on its own where it must be (augmentation, resampling, or
iterating the dataset itself).

Exactly once per epoch. The split's samples, taken in the epoch's shard order (the same permutation on every rank
and worker: it is seeded by ``seed`` and the epoch), are cut into ``world_size * num_workers`` contiguous ranges of
near-equal size; slot ``rank * num_workers + worker`` reads only its range. This holds for any number of shards,
also fewer shards than slots (a shard is then shared by several slots, each reading only its samples). Ranks differ
by at most one sample; for DDP training with equal step counts use ``resampled=True`` with an ``epoch_size``.
"""

from __future__ import annotations

import os
import sys
import threading
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from ..errors import ConfigError, DatasetError
from ..pose import get_layout
from .checksums import check
from .location import is_url
from .manifest import (
    FRAME_COLUMNS,
    OFFSET_COLUMNS,
    SUM_COLUMNS,
    DatasetInfo,
    ShardInfo,
    consistency_problems,
    read_dataset_json,
    read_manifest,
)
from .sample_refs import SampleRef, ShardFile, stored_header
from .schema import canonical_split
from .shards import ARRAY_SUFFIXES, decode_sample, iter_shard
from .transforms import Augment, crop_start, temporal_crop

TEXT_FIELDS = ("gloss", "text", "signer", "language")


def aligned_share(total: int, part: int, parts: int, align: int = 1) -> tuple[int, int]:
    """Where ``part`` of ``parts`` near-equal contiguous shares of ``total`` items starts and stops, each share a
    multiple of ``align`` but the last (which takes the remainder). With ``align`` = the batch size, workers that
    batch their own share drop or yield at most one partial batch per epoch between them, whatever their number."""
    units = total // align

    def edge(k: int) -> int:
        return total if k == parts else align * (units * k // parts)

    return edge(part), edge(part + 1)


def slot_ranges(counts: list[int], slot: int, num_slots: int, align: int = 1) -> list[tuple[int, range]]:
    """The (shard position, sample positions) that ``slot`` of ``num_slots`` reads, for shards of ``counts``
    samples in this epoch's order: one contiguous range of the concatenated samples per slot (see
    `aligned_share`)."""
    total = sum(counts)
    lo, hi = aligned_share(total, slot, num_slots, align)
    out, start = [], 0
    for i, c in enumerate(counts):
        a, b = max(lo, start), min(hi, start + c)
        if a < b:
            out.append((i, range(a - start, b - start)))
        start += c
    return out


@dataclass
class _ShardRows:
    """The manifest rows of one shard, in stored order: a zero-copy slice of the split's Arrow table plus numpy
    columns, so a process holds no Python object per row (10⁶ rows of ``str`` would cost hundreds of MB in every
    DataLoader worker as refcounts touch their pages). `rows` makes Python values only for the samples read."""

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
_INDEX_COLUMNS = ("key", "shard", "split", "index", "num_frames", "label", *TEXT_FIELDS, *OFFSET_COLUMNS, *SUM_COLUMNS,
                  *FRAME_COLUMNS)  # fmt: skip


def _index_manifest(table, split: str, root) -> dict[str, _ShardRows]:
    """The manifest is the index: keys to check the shards against, where the arrays are, their checksums and
    the labels (so no JSON member is parsed). Columns stay Arrow/numpy, sliced per shard."""
    import pyarrow.compute as pc

    rows = table.select([c for c in _INDEX_COLUMNS if c in table.column_names])
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
        names[ids[a]]: _ShardRows(
            keep.slice(a, b - a), frames[a:b],
            at[a:b] if at is not None else None, sums[a:b] if sums is not None else None,
            frame[a:b] if frame is not None else None,
        )  # fmt: skip
        for a, b in zip(starts.tolist(), stops.tolist(), strict=True)
    }


def _dist_rank_world() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def _rng(*entropy: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(e) for e in entropy]))


def shuffle_buffer(samples: Iterable[Any], size: int, rng: np.random.Generator) -> Iterator[Any]:
    """Yield samples in random order from a buffer of ``size`` (WebDataset's ``shuffle`` stage)."""
    buf: list[Any] = []
    for s in samples:
        if len(buf) < size:
            buf.append(s)
            continue
        i = int(rng.integers(0, len(buf)))
        buf[i], s = s, buf[i]
        yield s
    rng.shuffle(buf)
    yield from buf


_NUMPY_DTYPES = {torch.float16: np.float16, torch.float32: np.float32, torch.float64: np.float64}


class _BufferPool:
    """Batch buffers used again once nothing refers to them. A fresh multi-MB buffer costs a page fault per 4 KB
    (as much as reading the batch, `benchmarks/load.py`); a batch the caller still holds (its tensors keep the
    buffer alive) is never written over, so keeping batches, as ``list(loader)`` does, stays correct."""

    def __init__(self, size: int = 4):
        self._free_refs = sys.getrefcount(np.empty(0)) + 1  # refs of a buffer held only by the pool's list
        self._buffers: list[np.ndarray] = []
        self._size = size
        self._lock = threading.Lock()

    def get(self, numel: int, dtype: np.dtype) -> np.ndarray:
        with self._lock:
            free = [i for i in range(len(self._buffers)) if sys.getrefcount(self._buffers[i]) <= self._free_refs]
            for i in free:
                if self._buffers[i].dtype == dtype and self._buffers[i].size >= numel:
                    return self._buffers[i][:numel]
            buf = np.empty(numel + numel // 4, dtype=dtype)  # room for a longer batch next time
            if free:
                self._buffers[free[0]] = buf
            elif len(self._buffers) < self._size:
                self._buffers.append(buf)
            return buf[:numel]


_POOL = _BufferPool()


def _empty(numel: int, dtype: torch.dtype) -> tuple[torch.Tensor, bool]:
    """An uninitialised 1-D tensor and whether it is known to be zero. In a DataLoader worker it lives in fresh
    shared memory (zero pages), so handing the batch to the main process copies nothing, as with torch's
    ``default_collate``. Otherwise it comes from `_BufferPool`."""
    if get_worker_info() is None:
        if dtype in _NUMPY_DTYPES:
            return torch.from_numpy(_POOL.get(numel, np.dtype(_NUMPY_DTYPES[dtype]))), False
        return torch.empty(numel, dtype=dtype), False
    proto = torch.empty(0, dtype=dtype)
    storage = proto.untyped_storage()._new_shared(numel * proto.element_size())
    return proto.new_empty(0).set_(storage, 0, (numel,)), True


def _identity(batch: Any) -> Any:  # batches are built by the pipeline; keep DataLoader from walking them again
    return batch


def _copy_into(out: torch.Tensor, out_np: np.ndarray, i: int, a: np.ndarray) -> None:
    if a.dtype == out_np.dtype:
        out_np[i, : len(a)] = a  # a memcpy from the shard's pages
    else:  # torch converts float16 <-> float32 ~10x faster than numpy
        out[i, : len(a)] = torch.from_numpy(a)


def num_frames(sample: dict[str, Any]) -> int:
    ref = sample.get("ref")
    return ref.length if ref is not None else sample["pose"].shape[0]


def _num_points(sample: dict[str, Any]) -> int:
    ref = sample.get("ref")
    return ref.points if ref is not None else sample["pose"].shape[1]


def _fill(buf: torch.Tensor, samples: list[dict[str, Any]], lengths: np.ndarray, t: int, k: int, zeroed: bool):
    """Write the samples into ``buf`` (pose [B,T,K,3] then conf [B,T,K]), each byte once: the padding gets zeros
    (unless ``zeroed``), the rest the sample."""
    b = len(samples)
    pose, conf = buf[: b * t * k * 3].view(b, t, k, 3), buf[b * t * k * 3 :].view(b, t, k)
    pose_np, conf_np = pose.numpy(), conf.numpy()
    direct = pose_np.dtype == np.float16
    with warnings.catch_warnings():  # torch warns about read-only sources (the shard's pages); they are only read
        warnings.simplefilter("ignore", UserWarning)
        for i, (s, n) in enumerate(zip(samples, lengths.tolist(), strict=True)):
            ref = s.get("ref")
            if ref is not None and direct:
                ref.read_into(pose_np[i, :n], conf_np[i, :n])
            else:
                coords, confs = ref.arrays() if ref is not None else (s["pose"], s["conf"])
                _copy_into(pose, pose_np, i, coords)
                _copy_into(conf, conf_np, i, confs)
            if n < t and not zeroed:
                pose_np[i, n:] = 0
                conf_np[i, n:] = 0


def pad_samples(samples: list[dict[str, Any]], dtype: torch.dtype = torch.float16) -> dict[str, Any]:
    """The batch as it crosses from a DataLoader worker: pose and conf are views of one buffer (one shared-memory
    segment to hand over, not one per tensor) and the small fields stay numpy (sent by value); `finish_batch`
    makes the tensors and the mask in the main process. A sample given as a `SampleRef` is read straight into
    its place (for another dtype: into a float16 batch, converted in one pass)."""
    b = len(samples)
    lengths = np.array([num_frames(s) for s in samples], dtype=np.int64)
    t, k = int(lengths.max()), _num_points(samples[0])
    numel = b * t * k * 4
    buf, zeroed = _empty(numel, dtype)
    if dtype != torch.float16 and any("ref" in s for s in samples):
        stored = torch.from_numpy(_POOL.get(numel, np.dtype(np.float16)))
        _fill(stored, samples, lengths, t, k, zeroed=False)
        buf.copy_(stored)
    else:
        _fill(buf, samples, lengths, t, k, zeroed)
    pose, conf = buf[: b * t * k * 3].view(b, t, k, 3), buf[b * t * k * 3 :].view(b, t, k)
    batch: dict[str, Any] = {
        "pose": pose,
        "conf": conf,
        "length": lengths,
        "label": np.array([s["label"] for s in samples], dtype=np.int64),
        "key": [s["key"] for s in samples],
    }
    for f in TEXT_FIELDS:
        batch[f] = [s[f] for s in samples]
    if all("frame_size" in s for s in samples):  # older packs do not say
        batch["frame_size"] = np.array([s["frame_size"] for s in samples], dtype=np.float32).reshape(b, 2)
    return batch


def finish_batch(batch: dict[str, Any]) -> dict[str, Any]:
    length = torch.from_numpy(batch["length"])
    mask = torch.arange(batch["pose"].shape[1])[None, :] < length[:, None]
    out = {**batch, "mask": mask, "length": length, "label": torch.from_numpy(batch["label"])}
    if "frame_size" in batch:
        out["frame_size"] = torch.from_numpy(batch["frame_size"])
    return out


def collate(samples: list[dict[str, Any]], dtype: torch.dtype = torch.float16) -> dict[str, Any]:
    """Pad to the longest sample: pose [B,T,K,3] and conf [B,T,K] of ``dtype`` (0 on padding), mask [B,T],
    length, label (-1 = none), and the lists key, gloss, text, signer, language.

    float16 by default: it is what the shards hold, so float32 here adds no precision, only twice the bytes to
    write, to pass between processes and to copy to the device; cast there (``.float()``), where it is free."""
    return finish_batch(pad_samples(samples, dtype))


def batched(samples: Iterable[dict], batch_size: int, drop_last: bool = False) -> Iterator[list[dict]]:
    buf: list[dict] = []
    for s in samples:
        buf.append(s)
        if len(buf) == batch_size:
            yield buf
            buf = []
    if buf and not drop_last:
        yield buf


def bucketed(
    samples: Iterable[dict], batch_size: int, boundaries: list[int], drop_last: bool = False
) -> Iterator[list[dict]]:
    """Batches of similar length: a sample goes to the bucket its length falls in, a full bucket is a batch."""
    buckets: list[list[dict]] = [[] for _ in range(len(boundaries) + 1)]
    for s in samples:
        b = buckets[int(np.searchsorted(boundaries, num_frames(s), side="right"))]
        b.append(s)
        if len(b) == batch_size:
            yield list(b)
            b.clear()
    # what is left in the buckets is batched together, so a worker whose share is a multiple of the batch size
    # (see `aligned_share`) yields only full batches
    yield from batched((s for b in buckets for s in b), batch_size, drop_last)


class SignDataset(IterableDataset):
    """A split of a packed dataset: yields one sample dict at a time (``key``, ``pose`` [T,K,3], ``conf`` [T,K] as
    stored, float16, or float32 once augmented; ``label`` (-1 = none), ``gloss``, ``text``, ``signer``,
    ``language``); `loader` gives padded batches. ``root`` may also be a URL (``s3://``, ``https://``...).

    ``shuffle`` (default: on for the train split) permutes shards per epoch and mixes samples in a buffer of
    ``shuffle_buffer``; ``resampled`` draws shards with replacement for ever, or for ``epoch_size`` samples per rank;
    ``max_frames`` crops (``crop``: random when shuffling, else center) or resamples long clips; ``augment`` takes
    an `Augment` (True = its defaults). ``rank``/``world_size`` default to torch.distributed's.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        split: str | None = "train",
        *,
        shuffle: bool | None = None,
        resampled: bool = False,
        epoch_size: int | None = None,
        seed: int = 0,
        max_frames: int | None = None,
        crop: str | None = None,
        augment: Augment | bool | None = None,
        shuffle_buffer: int = 1000,
        rank: int | None = None,
        world_size: int | None = None,
    ):
        self.info: DatasetInfo = read_dataset_json(root)
        self.root = self.info.root
        self.split = self._pick_split(split)
        self.shards: list[ShardInfo] = self.info.split_shards(self.split)
        if not self.shards:
            raise DatasetError(
                f"{self.root} has no split {self.split!r}; its splits are {', '.join(self.info.splits) or 'none'}"
            )
        table = read_manifest(self.info.location, columns=list(_INDEX_COLUMNS))
        problems = consistency_problems(self.info, table, self.split)
        if problems:
            more = f" (and {len(problems) - 1} more: `signkit verify` lists them)" if len(problems) > 1 else ""
            raise DatasetError(f"{self.root}: {problems[0]}{more}")
        self._rows = _index_manifest(table, self.split, self.root)
        del table
        import pyarrow as pa

        pa.default_memory_pool().release_unused()  # the full table and the temporaries: give their pages back
        self._points = get_layout(self.info.layout).num_points
        self._check_layout()
        self.lengths = np.concatenate([self._rows[s.name].frames for s in self.shards])
        self.shuffle = (self.split == "train") if shuffle is None else shuffle
        self.resampled = resampled
        self.epoch_size = epoch_size
        self.seed = seed
        self.max_frames = max_frames
        self.crop = crop or ("random" if self.shuffle else "center")
        self.augment = Augment() if augment is True else (augment or None)
        self.shuffle_buffer = shuffle_buffer if self.shuffle else 0
        if (rank is None) != (world_size is None):
            raise ConfigError("give rank and world_size together (or neither, to take them from torch.distributed)")
        self.rank, self.world_size = (rank, world_size) if rank is not None else _dist_rank_world()
        if not 0 <= self.rank < self.world_size:
            raise ConfigError(f"rank {self.rank} is not in [0, {self.world_size})")
        if resampled and epoch_size is not None and epoch_size < 1:
            raise ConfigError("epoch_size must be positive")
        # in shared memory, so persistent DataLoader workers (copies of this object) follow `set_epoch`
        self._epoch = torch.zeros((), dtype=torch.int64).share_memory_()
        temporal_crop(np.zeros((1, 1, 3)), np.zeros((1, 1)), max_frames or 1, self.crop)  # validates crop + max_frames

    # --- what the dataset is -------------------------------------------------------------------------------
    @property
    def layout(self) -> str:
        return self.info.layout

    @property
    def classes(self) -> list[str] | None:
        return self.info.classes

    @property
    def num_classes(self) -> int:
        return len(self.info.classes or [])

    @property
    def gloss_vocab(self) -> list[str]:
        return self.info.gloss_vocab

    @property
    def num_samples(self) -> int:
        """Samples in the whole split (all ranks)."""
        return sum(s.samples for s in self.shards)

    def __len__(self) -> int:
        """Samples this rank yields per epoch."""
        if self.resampled:
            if self.epoch_size is None:
                raise TypeError("a resampled dataset without epoch_size is endless")
            return self.epoch_size
        n = self.num_samples
        return n * (self.rank + 1) // self.world_size - n * self.rank // self.world_size

    @property
    def epoch(self) -> int:
        return int(self._epoch)

    def set_epoch(self, epoch: int) -> None:
        """Reseed shard order, shuffle and augmentation for ``epoch`` (call before each epoch, as with
        DistributedSampler; `SignLoader` does it for you, and its workers see it)."""
        self._epoch.fill_(int(epoch))

    def bucket_boundaries(self, num_buckets: int) -> list[int]:
        """Length boundaries (frames) that cut this split into ``num_buckets`` equally full buckets (manifest)."""
        lengths = np.minimum(self.lengths, self.max_frames) if self.max_frames else self.lengths
        qs = np.quantile(lengths, np.linspace(0, 1, num_buckets + 1)[1:-1]) if num_buckets > 1 else []
        return sorted({int(q) for q in qs})

    # --- the pipeline --------------------------------------------------------------------------------------
    def _slot(self) -> tuple[int, int, int]:
        worker = get_worker_info()
        wid, nw = (worker.id, worker.num_workers) if worker is not None else (0, 1)
        return self.rank * nw + wid, self.world_size * nw, nw

    def _raw(self, slot: int, num_slots: int, align: int = 1) -> Iterator[dict[str, Any]]:
        if self.resampled:
            yield from self._resampled(slot, num_slots, align)
            return
        order = list(range(len(self.shards)))
        if self.shuffle:
            order = [int(i) for i in _rng(self.seed, self.epoch).permutation(len(self.shards))]
        shards = [self.shards[i] for i in order]
        for pos, keep in slot_ranges([s.samples for s in shards], slot, num_slots, align):
            yield from self._read(shards[pos], keep)

    def _resampled(self, slot: int, num_slots: int, align: int = 1) -> Iterator[dict[str, Any]]:
        rng = _rng(self.seed, self.epoch, slot, 1)
        limit = None
        if self.epoch_size is not None:
            per_rank_slots = num_slots // self.world_size
            local = slot % per_rank_slots
            lo, hi = aligned_share(self.epoch_size, local, per_rank_slots, align)
            limit = hi - lo
        n = 0
        while limit is None or n < limit:
            shard = self.shards[int(rng.integers(0, len(self.shards)))]
            for s in self._read(shard, None):
                if limit is not None and n >= limit:
                    return
                n += 1
                yield s

    def _read(self, shard: ShardInfo, keep: range | None) -> Iterator[dict[str, Any]]:
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
            yield {"ref": ref, **self._fields(cols, j)}

    def _cut_at(self, rows: _ShardRows, file: ShardFile) -> str:
        """`` at sample 'k'``: the first sample whose arrays run past the end of a cut shard (manifest offsets)."""
        if rows.at is None:
            return ""
        keys = rows.keys()
        for i, ((pose_at, conf_at), frames) in enumerate(zip(rows.at.tolist(), rows.frames.tolist(), strict=True)):
            if SampleRef(file, keys[i], pose_at, conf_at, frames, self._points).end > file.size:
                return f" at sample {keys[i]!r}"
        return ""

    def _check_layout(self) -> None:
        """dataset.json's layout and dtype against the first sample's stored ``.npy`` header: one small read (each
        read checks its own sample; `verify` checks them all). Shards behind a URL are checked as they stream."""
        first = self.shards[0]
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

    def _pick_split(self, split: str | None) -> str:
        """``None``: the train split, or the dataset's only split."""
        if split is not None:
            return canonical_split(split)
        splits = self.info.splits
        if "train" in splits or len(splits) != 1:
            if "train" not in splits:
                raise DatasetError(f"{self.root} has no train split; pick one of {', '.join(splits)} with split=")
            return "train"
        return splits[0]

    @staticmethod
    def _fields(cols: dict[str, list], j: int) -> dict[str, Any]:
        out = {"key": cols["key"][j], "label": cols["label"][j]}
        for f in TEXT_FIELDS:
            out[f] = cols[f][j]
        if "frame_size" in cols:
            out["frame_size"] = cols["frame_size"][j]
        return out

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
        manifest (key, frames, checksums). Reading stops after the shard's last listed sample, so members
        appended after it (into the tar's padding) are never read."""
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
            for (suffix, name), want_sum in zip((("pose.npy", "pose"), ("conf.npy", "conf")), cols["sums"][j],
                                                strict=True):  # fmt: skip
                check(sample[name], want_sum, shard.name, raw.key, suffix)
            yield {"pose": sample["pose"], "conf": sample["conf"], **self._fields(cols, j)}
        if last != keep.stop - 1:
            raise DatasetError(
                f"shard {shard.name}: ends after {last + 1} samples, dataset.json says {shard.samples}; "
                "the shard is truncated or the manifest is wrong (re-pack or re-download it)"
            )

    def _prepare(self, s: dict[str, Any], rng: np.random.Generator, lazy: bool = False) -> dict[str, Any]:
        """Crop and augment one sample. With ``lazy``, a sample that needs neither stays a `SampleRef` (a window
        crop only moves where it is read from) for the collate to read into the batch."""
        out = {"key": s["key"], "label": s["label"]}
        for f in TEXT_FIELDS:
            out[f] = s[f]
        if "frame_size" in s:
            out["frame_size"] = s["frame_size"]
        ref = s.get("ref")
        if ref is not None:
            if self.max_frames is not None and ref.length > self.max_frames and self.crop != "resample":
                ref = ref.window(crop_start(ref.length, self.max_frames, self.crop, rng), self.max_frames)
            if lazy and self.augment is None and (self.max_frames is None or ref.length <= self.max_frames):
                out["ref"] = ref
                return out
            coords, conf = ref.arrays()
        else:
            coords, conf = s["pose"], s["conf"]
        if self.max_frames is not None:
            coords, conf = temporal_crop(coords, conf, self.max_frames, self.crop, rng)
        if self.augment is not None:
            coords, conf = self.augment(coords, conf, self.layout, rng)
        out["pose"], out["conf"] = coords, conf
        return out

    def samples(self) -> Iterator[dict[str, Any]]:
        return self._stream(lazy=False)

    def _stream(self, lazy: bool, align: int = 1) -> Iterator[dict[str, Any]]:
        slot, num_slots, _ = self._slot()
        rng = _rng(self.seed, self.epoch, slot, 2)
        stream: Iterable[dict[str, Any]] = self._raw(slot, num_slots, align)
        if self.shuffle_buffer > 1:
            stream = shuffle_buffer(stream, self.shuffle_buffer, rng)
        for s in stream:
            yield self._prepare(s, rng, lazy)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return self.samples()

    def loader(
        self,
        batch_size: int,
        num_workers: int = 0,
        *,
        buckets: int | None = None,
        drop_last: bool = False,
        dtype: torch.dtype = torch.float16,
        pin_memory: bool = False,
        prefetch_factor: int | None = None,
    ) -> SignLoader:
        """Padded batches (see `collate`; pose and conf are float16, as stored, unless ``dtype`` says otherwise:
        cast on the device). ``buckets`` groups samples of similar length (boundaries from the manifest) so
        padding stays small. Each worker batches its own samples, as WebDataset's loaders do; their shares are cut
        at multiples of ``batch_size``, so an epoch holds the same batches for any number of workers, at most one
        of them partial (dropped with ``drop_last``). ``len()`` is the number of batches per epoch (this rank)."""
        if batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1, got {batch_size}")
        if dtype not in (torch.float16, torch.float32, torch.bfloat16, torch.float64):
            raise ConfigError(f"dtype must be a floating point torch dtype, got {dtype}")
        boundaries = self.bucket_boundaries(buckets) if buckets else None
        batches = _Batches(self, batch_size, boundaries, drop_last, dtype)
        kwargs: dict[str, Any] = {}
        if num_workers > 0:
            kwargs["prefetch_factor"] = prefetch_factor or 4
            kwargs["persistent_workers"] = True  # started once, not every epoch; they read the epoch from shared memory
        return SignLoader(
            batches, batch_size=None, collate_fn=_identity, num_workers=num_workers, pin_memory=pin_memory, **kwargs
        )


class _Batches(IterableDataset):
    def __init__(
        self, ds: SignDataset, batch_size: int, boundaries: list[int] | None, drop_last: bool, dtype: torch.dtype
    ):
        self.ds, self.batch_size, self.boundaries, self.drop_last = ds, batch_size, boundaries, drop_last
        self.dtype = dtype

    def __len__(self) -> int:
        """Batches this rank yields per epoch: its share of the split (or ``epoch_size``), cut into batches."""
        ds = self.ds
        if ds.resampled:
            if ds.epoch_size is None:
                raise TypeError("a resampled dataset without epoch_size is endless")
            n = ds.epoch_size
        else:
            lo, hi = aligned_share(ds.num_samples, ds.rank, ds.world_size, self.batch_size)
            n = hi - lo
        full, part = divmod(n, self.batch_size)
        return full + int(part > 0 and not self.drop_last)

    def __iter__(self) -> Iterator[dict[str, Any] | list[dict[str, Any]]]:
        """Padded batches; in a DataLoader worker, a batch of unread `SampleRef`s goes to the main process as is
        (see `SignLoader`)."""
        samples = self.ds._stream(lazy=True, align=self.batch_size)
        if self.boundaries is not None:
            groups = bucketed(samples, self.batch_size, self.boundaries, self.drop_last)
        else:
            groups = batched(samples, self.batch_size, self.drop_last)
        in_worker = get_worker_info() is not None
        for group in groups:
            yield group if in_worker and all("ref" in s for s in group) else pad_samples(group, self.dtype)


class SignLoader(DataLoader):
    """A DataLoader that moves its dataset to the next epoch each time it is iterated (so shuffles differ per
    epoch and are the same on every rank); `set_epoch` picks the epoch explicitly, e.g. when resuming.

    Workers that have nothing to do per sample (no augmentation, no resampling) send their batch as `SampleRef`s
    (a few bytes each), and the main process reads the samples into the batch: one copy from the page cache, where
    a padded batch built in a worker would cost a page fault per 4 KB of fresh shared memory to hand over
    (`benchmarks/load.py` measures both)."""

    def __iter__(self):
        ds = self.dataset.ds
        ds.set_epoch(getattr(self, "_next_epoch", ds.epoch))
        self._next_epoch = ds.epoch + 1
        return map(self._finish, super().__iter__())

    def _finish(self, batch: dict[str, Any] | list[dict[str, Any]]) -> dict[str, Any]:
        if isinstance(batch, list):  # sample refs from a worker
            batch = pad_samples(batch, self.dataset.dtype)
            if self.pin_memory and torch.cuda.is_available():
                batch["pose"], batch["conf"] = batch["pose"].pin_memory(), batch["conf"].pin_memory()
        return finish_batch(batch)

    def set_epoch(self, epoch: int) -> None:
        self._next_epoch = int(epoch)


def open(root: str | os.PathLike, split: str | None = "train", **kwargs: Any) -> SignDataset:  # noqa: A001
    """Open one split of a packed dataset (see `SignDataset` for the options); ``split=None`` takes the train
    split, or the only split of a dataset that has one."""
    return SignDataset(root, split, **kwargs)
