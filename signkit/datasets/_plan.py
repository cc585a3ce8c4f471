"""Who reads what, in which order: each slot's share of an epoch, seeded shuffles, and the grouping into batches.

Pure functions of counts, seeds and sample streams (WebDataset's stages), so the exactly-once rule (see `reader`)
is tested without any shard.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import torch

from ._batch import num_frames


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


def dist_rank_world() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def seeded_rng(*entropy: int) -> np.random.Generator:
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
