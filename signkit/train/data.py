"""A packed dataset as the training loop's `BatchSource`: global batches in an order fixed by (seed, epoch).

Every rank reads the same global batch and the loop hands each rank its share, so one process and N processes
see the same batches and a resumed run can replay its position exactly. With ``rank``/``world_size`` (the
``data_per_rank`` option) a rank reads only its part of each epoch instead: 1/N of the bytes, still exactly
resumable with the same number of processes, but no longer equal to one process's run.

When the dataset's keypoint layout is not the model's, keypoints are remapped by name (`signkit.pose.mapping`);
points without a counterpart get confidence 0.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import ConfigError
from ..pose.mapping import index_map


class DatasetSource:
    """One split of a packed dataset, batched. Training sources shuffle, crop randomly and drop the last partial
    batch (so every optimiser step sees the same number of samples); evaluation sources keep order and all samples.
    """

    def __init__(
        self,
        root: str | Path,
        split: str,
        batch_size: int,
        *,
        training: bool,
        seed: int = 0,
        max_frames: int | None = None,
        num_workers: int = 0,
        layout: str | None = None,
        rank: int = 0,
        world_size: int = 1,
    ):
        from .. import datasets

        # per_rank: this rank reads only its part of every epoch and yields its share of each global batch itself
        self.per_rank = world_size > 1
        if self.per_rank and (not training or batch_size % world_size):
            raise ConfigError("reading per rank is for training, with a batch size that the ranks divide")
        self.ds = datasets.open(
            root, split, shuffle=training, seed=seed, max_frames=max_frames, rank=rank, world_size=world_size
        )
        self.split = self.ds.split
        self.training = training
        n = self.ds.num_samples
        if training and n < batch_size:
            raise ConfigError(
                f"the {self.split} split of {root} has {n} samples, fewer than one batch ({batch_size}); "
                "pass a smaller --batch-size"
            )
        local_batch = batch_size // world_size
        # ranks hold n // world_size or one more sample: all stop after the same number of batches (DDP needs it)
        self.batches_per_epoch = (n // world_size) // local_batch if training else None
        self.loader = self.ds.loader(local_batch, num_workers, drop_last=training)
        self.layout = self.ds.layout
        self._map: torch.Tensor | None = None
        if layout is not None and layout != self.ds.layout:
            self._map = torch.from_numpy(index_map(self.ds.layout, layout))

    def batches(self, epoch: int) -> Iterator[dict[str, Any]]:
        self.loader.set_epoch(epoch)
        for batch in itertools.islice(self.loader, self.batches_per_epoch):
            yield self._remap(batch) if self._map is not None else batch

    def _remap(self, batch: dict[str, Any]) -> dict[str, Any]:
        idx = self._map
        have = idx >= 0
        safe = idx.clamp(min=0)
        pose = batch["pose"][:, :, safe] * have[None, None, :, None]
        conf = batch["conf"][:, :, safe] * have[None, None, :]
        return {**batch, "pose": pose, "conf": conf}


def split_labels(root: str | Path, split: str) -> np.ndarray:
    """Class labels of one split from the manifest (no pose data is read); -1 where a sample has none."""
    from ..datasets import canonical_split, read_manifest

    table = read_manifest(root)
    split = canonical_split(split)
    mask = np.asarray(table["split"].to_numpy(zero_copy_only=False) == split)
    values = np.asarray([-1 if v is None else int(v) for v in table["label"].to_pylist()], dtype=np.int64)
    return values[mask]


def split_glosses(root: str | Path, split: str) -> list[str]:
    """Gloss sequences of one split from the manifest (no pose data is read); "" where a sample has none."""
    from ..datasets import canonical_split, read_manifest

    table = read_manifest(root)
    split = canonical_split(split)
    return [g or "" for s, g in zip(table["split"].to_pylist(), table["gloss"].to_pylist(), strict=True) if s == split]


def has_split(root: str | Path, split: str) -> bool:
    from ..datasets import canonical_split, read_dataset_json

    return canonical_split(split) in read_dataset_json(root).splits
