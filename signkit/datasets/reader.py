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

The pieces, one job each: `_index` (the manifest as per-shard Arrow/numpy rows), `_plan` (slot shares, seeded
shuffles, batching and length buckets), `_shard_reader` (one shard's samples, checked against the manifest),
`_batch` (batch buffers, padding, collate); this module holds the dataset and loader classes and `open`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from ..errors import ConfigError, DatasetError
from ..pose import get_layout
from ._batch import PENDING_CHECKS, collate, finish_batch, num_frames, pad_samples
from ._index import TEXT_FIELDS, open_index
from ._plan import aligned_share, batched, bucketed, dist_rank_world, seeded_rng, shuffle_buffer, slot_ranges
from ._shard_reader import ShardReader
from .checksums import check_sample
from .manifest import DatasetInfo, ShardInfo, read_dataset_json
from .schema import canonical_split
from .transforms import Augment, crop_start, temporal_crop

__all__ = [  # the public names of the reader's pieces stay importable from here
    "TEXT_FIELDS",
    "SignDataset",
    "SignLoader",
    "aligned_share",
    "batched",
    "bucketed",
    "collate",
    "finish_batch",
    "num_frames",
    "open",
    "pad_samples",
    "shuffle_buffer",
    "slot_ranges",
]


def _identity(batch: Any) -> Any:  # batches are built by the pipeline; keep DataLoader from walking them again
    return batch


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
        rows = open_index(self.info, self.split)
        self._read = ShardReader(self.info, rows, get_layout(self.info.layout).num_points)
        self._read.check_layout(self.shards[0])
        self.lengths = np.concatenate([rows[s.name].frames for s in self.shards])
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
        self.rank, self.world_size = (rank, world_size) if rank is not None else dist_rank_world()
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
            order = [int(i) for i in seeded_rng(self.seed, self.epoch).permutation(len(self.shards))]
        shards = [self.shards[i] for i in order]
        for pos, keep in slot_ranges([s.samples for s in shards], slot, num_slots, align):
            yield from self._read(shards[pos], keep)

    def _resampled(self, slot: int, num_slots: int, align: int = 1) -> Iterator[dict[str, Any]]:
        rng = seeded_rng(self.seed, self.epoch, slot, 1)
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
            pending = s.get("unchecked")  # a streamed sample's checksums (see `ShardReader`)
            if pending is not None:
                if lazy and self.augment is None and (self.max_frames is None or len(coords) <= self.max_frames):
                    out["pose"], out["conf"], out["unchecked"] = coords, conf, pending  # checked in the batch
                    return out
                check_sample(coords, conf, s["key"], pending)
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
        rng = seeded_rng(self.seed, self.epoch, slot, 2)
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
            if in_worker and all("ref" in s for s in group):
                yield group
            else:
                yield pad_samples(group, self.dtype, defer=not in_worker)


def _when_checked(batches: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Each batch once its checksums are checked: the helper process checks batch k while batch k+1 is read
    (`_check_process`), so a batch is handed over one batch later, never before its check."""
    held = None
    for batch in batches:
        if held is not None:
            yield _checked(held)
        held = batch
    if held is not None:
        yield _checked(held)


def _checked(batch: dict[str, Any]) -> dict[str, Any]:
    checks = batch.pop(PENDING_CHECKS, None)
    if checks is not None:
        checks.wait()
    return batch


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
        return _when_checked(map(self._finish, super().__iter__()))

    def _finish(self, batch: dict[str, Any] | list[dict[str, Any]]) -> dict[str, Any]:
        if isinstance(batch, list):  # sample refs from a worker
            batch = pad_samples(batch, self.dataset.dtype, defer=True)
            if self.pin_memory and torch.cuda.is_available():
                batch["pose"], batch["conf"] = batch["pose"].pin_memory(), batch["conf"].pin_memory()
        return finish_batch(batch)

    def set_epoch(self, epoch: int) -> None:
        self._next_epoch = int(epoch)


def open(root: str | os.PathLike, split: str | None = "train", **kwargs: Any) -> SignDataset:  # noqa: A001
    """Open one split of a packed dataset (see `SignDataset` for the options); ``split=None`` takes the train
    split, or the only split of a dataset that has one."""
    return SignDataset(root, split, **kwargs)
