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

import itertools
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
from .location import is_url
from .manifest import FRAME_COLUMNS, OFFSET_COLUMNS, DatasetInfo, ShardInfo, read_dataset_json, read_manifest
from .sample_refs import SampleRef, ShardFile
from .schema import canonical_split
from .shards import ARRAY_SUFFIXES, decode_sample, iter_shard
from .transforms import Augment, crop_start, temporal_crop

TEXT_FIELDS = ("gloss", "text", "signer", "language")


def slot_ranges(counts: list[int], slot: int, num_slots: int) -> list[tuple[int, range]]:
    """The (shard position, sample positions) that ``slot`` of ``num_slots`` reads, for shards of ``counts``
    samples in this epoch's order: one contiguous range of the concatenated samples per slot."""
    total = sum(counts)
    lo, hi = total * slot // num_slots, total * (slot + 1) // num_slots
    out, start = [], 0
    for i, c in enumerate(counts):
        a, b = max(lo, start), min(hi, start + c)
        if a < b:
            out.append((i, range(a - start, b - start)))
        start += c
    return out


@dataclass
class _ShardRows:
    """The manifest rows of one shard, in stored order, as columns."""

    keys: list[str]
    frames: list[int]
    labels: list[int | None]
    text: dict[str, list[str | None]]
    at: list[tuple[int, int]] | None = None  # where each sample's pose and conf start, if the manifest says
    frame: list[tuple[int, int]] | None = None  # source [W, H] ((0, 0): image-normalised units), if the manifest says


def _index_manifest(table, split: str, root) -> dict[str, _ShardRows]:
    """The manifest is the index: keys to check the shards against, where the arrays are, and labels (so no JSON
    member is parsed). Columns are sliced per shard; nothing is built per row."""
    rows = table.filter(table["split"].to_numpy(zero_copy_only=False) == split)
    rows = rows.sort_by([("shard", "ascending"), ("index", "ascending")])
    shards = rows["shard"].to_pylist()
    index = rows["index"].to_numpy()
    columns = {c: rows[c].to_pylist() for c in ("key", "num_frames", "label", *TEXT_FIELDS)}
    have_offsets = all(c in rows.column_names for c in OFFSET_COLUMNS)
    at = list(zip(*(rows[c].to_pylist() for c in OFFSET_COLUMNS), strict=True)) if have_offsets else []
    have_frames = all(c in rows.column_names for c in FRAME_COLUMNS)
    frames = list(zip(*(rows[c].fill_null(0).to_pylist() for c in FRAME_COLUMNS), strict=True)) if have_frames else []
    out: dict[str, _ShardRows] = {}
    start = 0
    for shard, group in itertools.groupby(shards):
        stop = start + sum(1 for _ in group)
        if not np.array_equal(index[start:stop], np.arange(stop - start)):
            bad = start + int(np.argmax(index[start:stop] != np.arange(stop - start)))
            raise DatasetError(
                f"{root}: manifest positions of {shard} are not 0..{stop - start - 1} (at {columns['key'][bad]!r}); "
                "re-pack"
            )
        offsets = at[start:stop] if have_offsets else None
        if offsets is not None and any(None in pair for pair in offsets):
            offsets = None
        out[shard] = _ShardRows(
            columns["key"][start:stop], columns["num_frames"][start:stop], columns["label"][start:stop],
            {f: columns[f][start:stop] for f in TEXT_FIELDS}, offsets, frames[start:stop] if have_frames else None,
        )  # fmt: skip
        start = stop
    return out


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
    for b in buckets:
        if b and not drop_last:
            yield b


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
        split: str = "train",
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
        self.split = canonical_split(split)
        self.shards: list[ShardInfo] = self.info.split_shards(self.split)
        if not self.shards:
            raise DatasetError(
                f"{self.root} has no split {self.split!r}; its splits are {', '.join(self.info.splits) or 'none'}"
            )
        self._rows = _index_manifest(read_manifest(self.info.location), self.split, self.root)
        self._points = get_layout(self.info.layout).num_points
        for s in self.shards:
            listed = len(self._rows[s.name].keys) if s.name in self._rows else 0
            if listed != s.samples:
                raise DatasetError(
                    f"{self.root}: manifest lists {listed} samples in {s.name}, dataset.json {s.samples}; the manifest"
                    f" disagrees with the shards (run `signkit verify {self.root}`)"
                )
        self.lengths = np.asarray([n for r in self._rows.values() for n in r.frames], dtype=np.int64)
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

    def _raw(self, slot: int, num_slots: int) -> Iterator[dict[str, Any]]:
        if self.resampled:
            yield from self._resampled(slot, num_slots)
            return
        order = list(range(len(self.shards)))
        if self.shuffle:
            order = [int(i) for i in _rng(self.seed, self.epoch).permutation(len(self.shards))]
        shards = [self.shards[i] for i in order]
        for pos, keep in slot_ranges([s.samples for s in shards], slot, num_slots):
            yield from self._read(shards[pos], keep)

    def _resampled(self, slot: int, num_slots: int) -> Iterator[dict[str, Any]]:
        rng = _rng(self.seed, self.epoch, slot, 1)
        limit = None
        if self.epoch_size is not None:
            per_rank_slots = num_slots // self.world_size
            local = slot % per_rank_slots
            limit = self.epoch_size * (local + 1) // per_rank_slots - self.epoch_size * local // per_rank_slots
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
        keys, frames = rows.keys, rows.frames
        at = rows.at or self._offsets_from_headers(file, shard)
        points = self._points

        def ref(i: int) -> SampleRef:
            return SampleRef(file, keys[i], at[i][0], at[i][1], frames[i], points)

        if file.size != shard.bytes:  # a shard cut short or changed: refuse it before yielding any of it
            cut = next((keys[i] for i in range(len(keys)) if ref(i).end > file.size), None)
            where = f" at sample {cut!r}" if cut is not None else ""
            raise DatasetError(
                f"shard {shard.name}: corrupt or truncated{where} ({file.size} bytes, dataset.json says {shard.bytes})"
                f"; re-pack or re-download it (`signkit verify {self.root}` checks every shard)"
            )
        for i in keep if keep is not None else range(len(keys)):
            yield {"key": keys[i], "ref": ref(i), "shard": shard.name, "row": i}

    def _offsets_from_headers(self, file: ShardFile, shard: ShardInfo) -> list[tuple[int, int]]:
        expected = self._rows[shard.name].keys
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
        """Samples of a shard behind a URL, decoded from the bytes as they stream in."""
        expected = self._rows[shard.name].keys
        last = -1
        for raw in iter_shard(self.info.shard_path(shard), keep, ARRAY_SUFFIXES):
            if raw.index >= len(expected) or raw.key != expected[raw.index]:
                want = expected[raw.index] if raw.index < len(expected) else "nothing"
                raise DatasetError(
                    f"shard {shard.name}: sample {raw.index} is {raw.key!r} but the manifest says {want!r}; "
                    f"the manifest disagrees with the shard (run `signkit verify {self.root}`)"
                )
            last = raw.index
            yield {**decode_sample(raw, {}), "row": raw.index}  # labels come from the manifest, not the JSON member
        want_last = (keep.stop if keep is not None else shard.samples) - 1
        if last != want_last:
            raise DatasetError(
                f"shard {shard.name}: ends after {last + 1} samples, dataset.json says {shard.samples}; "
                "the shard is truncated or the manifest is wrong (re-pack or re-download it)"
            )

    def _prepare(self, s: dict[str, Any], rng: np.random.Generator, lazy: bool = False) -> dict[str, Any]:
        """Crop and augment one sample. With ``lazy``, a sample that needs neither stays a `SampleRef` (a window
        crop only moves where it is read from) for the collate to read into the batch."""
        rows, i = self._rows[s["shard"]], s["row"]
        label = rows.labels[i]
        out = {"key": s["key"], "label": -1 if label is None else int(label)}
        for f in TEXT_FIELDS:
            out[f] = rows.text[f][i]
        if rows.frame is not None:
            out["frame_size"] = rows.frame[i]
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

    def _stream(self, lazy: bool) -> Iterator[dict[str, Any]]:
        slot, num_slots, _ = self._slot()
        rng = _rng(self.seed, self.epoch, slot, 2)
        stream: Iterable[dict[str, Any]] = self._raw(slot, num_slots)
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
        padding stays small. Each worker batches its own samples, as WebDataset's loaders do."""
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

    def __iter__(self) -> Iterator[dict[str, Any] | list[dict[str, Any]]]:
        """Padded batches; in a DataLoader worker, a batch of unread `SampleRef`s goes to the main process as is
        (see `SignLoader`)."""
        samples = self.ds._stream(lazy=True)
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


def open(root: str | os.PathLike, split: str = "train", **kwargs: Any) -> SignDataset:  # noqa: A001
    """Open one split of a packed dataset (see `SignDataset` for the options)."""
    return SignDataset(root, split, **kwargs)
