"""Batches: padded pose/conf buffers (reused, or shared memory in a DataLoader worker), filled once per byte.

A sample given as a `SampleRef` is read straight into its place in the batch, a decoded one is copied in; either
is checked against its checksums right after, while its bytes are in the CPU caches (reading them from memory
once more only for the hash cost the streaming reader 10-20 %), or, for the loader's own batches, by the helper
process of `_check_process` while the next batch is read. `pad_samples` is what a worker hands over,
`finish_batch` adds the torch-only fields in the main process, `collate` is both.
"""

from __future__ import annotations

import sys
import threading
import warnings
from typing import Any

import numpy as np
import torch
from torch.utils.data import get_worker_info

from . import _check_process
from ._check_process import BatchChecks, SharedBuffer
from ._index import TEXT_FIELDS
from .checksums import check_sample

PENDING_CHECKS = "_pending_checks"  # a batch's `BatchChecks`, until the loader has waited for them

_NUMPY_DTYPES = {torch.float16: np.float16, torch.float32: np.float32, torch.float64: np.float64}


class _BufferPool:
    """Batch buffers used again once nothing refers to them. A fresh multi-MB buffer costs a page fault per 4 KB
    (as much as reading the batch, `benchmarks/load.py`); a batch the caller still holds (its tensors keep the
    buffer alive) is never written over, so keeping batches, as ``list(loader)`` does, stays correct. With
    ``shared``, the buffer is a `SharedBuffer` the checksum helper can read."""

    def __init__(self, size: int = 4):
        self._free_refs = sys.getrefcount(np.empty(0)) + 1  # refs of a buffer held only by the pool's list
        self._buffers: list[np.ndarray] = []
        self._shared: list[SharedBuffer | None] = []
        self._size = size
        self._lock = threading.Lock()

    def get(self, numel: int, dtype: np.dtype, shared: bool = False) -> tuple[np.ndarray, SharedBuffer | None]:
        with self._lock:
            free = [  # a shared buffer's `SharedBuffer` holds one more reference
                i
                for i in range(len(self._buffers))
                if sys.getrefcount(self._buffers[i]) <= self._free_refs + (self._shared[i] is not None)
            ]
            for i in free:
                buf = self._buffers[i]
                if buf.dtype == dtype and buf.size >= numel and (self._shared[i] is not None or not shared):
                    return buf[:numel], self._shared[i] if shared else None
            room = numel + numel // 4  # for a longer batch next time
            made = SharedBuffer(room, dtype) if shared else None
            buf = made.array if made is not None else np.empty(room, dtype=dtype)
            if free:
                self._buffers[free[0]], self._shared[free[0]] = buf, made
            elif len(self._buffers) < self._size:
                self._buffers.append(buf)
                self._shared.append(made)
            return buf[:numel], made


_POOL = _BufferPool()


def _empty(numel: int, dtype: torch.dtype, shared: bool = False) -> tuple[torch.Tensor, bool, SharedBuffer | None]:
    """An uninitialised 1-D tensor, whether it is known to be zero, and its `SharedBuffer` (with ``shared``). In a
    DataLoader worker it lives in fresh shared memory (zero pages), so handing the batch to the main process copies
    nothing, as with torch's ``default_collate``. Otherwise it comes from `_BufferPool`."""
    if get_worker_info() is None:
        if dtype in _NUMPY_DTYPES:
            buf, made = _POOL.get(numel, np.dtype(_NUMPY_DTYPES[dtype]), shared)
            return torch.from_numpy(buf), False, made
        return torch.empty(numel, dtype=dtype), False, None
    proto = torch.empty(0, dtype=dtype)
    storage = proto.untyped_storage()._new_shared(numel * proto.element_size())
    return proto.new_empty(0).set_(storage, 0, (numel,)), True, None


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


def _fill(
    buf: torch.Tensor,
    samples: list[dict[str, Any]],
    lengths: np.ndarray,
    t: int,
    k: int,
    zeroed: bool,
    checks: BatchChecks | None = None,
):
    """Write the samples into ``buf`` (pose [B,T,K,3] then conf [B,T,K]), each byte once: the padding gets zeros
    (unless ``zeroed``), the rest the sample. With ``checks``, a whole sample stored as float16 is not checked here:
    its index, frames and checksums go to ``checks.rows`` for the helper process."""
    b = len(samples)
    pose, conf = buf[: b * t * k * 3].view(b, t, k, 3), buf[b * t * k * 3 :].view(b, t, k)
    pose_np, conf_np = pose.numpy(), conf.numpy()
    direct = pose_np.dtype == np.float16
    defer = checks.rows.extend if checks is not None else None  # (index, frames, pose XXH3, conf XXH3) per sample
    with warnings.catch_warnings():  # torch warns about read-only sources (the shard's pages); they are only read
        warnings.simplefilter("ignore", UserWarning)
        for i, (s, n) in enumerate(zip(samples, lengths.tolist(), strict=True)):
            ref = s.get("ref")
            if ref is not None and direct:
                if defer is not None and ref.pose_sum is not None and ref.length == ref.frames:
                    ref.read_into(pose_np[i, :n], conf_np[i, :n], checksums=False)
                    defer((i, n, ref.pose_sum, ref.conf_sum))
                else:
                    ref.read_into(pose_np[i, :n], conf_np[i, :n])
            else:
                coords, confs = ref.arrays() if ref is not None else (s["pose"], s["conf"])
                _copy_into(pose, pose_np, i, coords)
                _copy_into(conf, conf_np, i, confs)
                pending = s.get("unchecked")  # a streamed sample's checksums: its bytes are in the CPU caches now
                if pending is not None:
                    if defer is not None and direct and coords.dtype == confs.dtype == pose_np.dtype:  # as stored
                        defer((i, n, pending[1], pending[2]))
                    else:
                        check_sample(coords, confs, s["key"], pending)
            if n < t and not zeroed:
                pose_np[i, n:] = 0
                conf_np[i, n:] = 0


def pad_samples(
    samples: list[dict[str, Any]], dtype: torch.dtype = torch.float16, defer: bool = False
) -> dict[str, Any]:
    """The batch as it crosses from a DataLoader worker: pose and conf are views of one buffer (one shared-memory
    segment to hand over, not one per tensor) and the small fields stay numpy (sent by value); `finish_batch`
    makes the tensors and the mask in the main process. A sample given as a `SampleRef` is read straight into
    its place (for another dtype: into a float16 batch, converted in one pass). With ``defer`` (the loader's own
    float16 batches, outside a worker), the checksums go to the helper process under `PENDING_CHECKS`, submitted:
    whoever hands the batch over waits for them first."""
    b = len(samples)
    lengths = np.array([num_frames(s) for s in samples], dtype=np.int64)
    t, k = int(lengths.max()), _num_points(samples[0])
    numel = b * t * k * 4
    helper = _check_process.helper() if defer and dtype == torch.float16 and get_worker_info() is None else None
    buf, zeroed, shared = _empty(numel, dtype, shared=helper is not None)
    checks = BatchChecks(shared, helper, samples, t, k) if shared is not None else None
    if dtype != torch.float16 and any("ref" in s for s in samples):
        stored = torch.from_numpy(_POOL.get(numel, np.dtype(np.float16))[0])
        _fill(stored, samples, lengths, t, k, zeroed=False)
        buf.copy_(stored)
    else:
        _fill(buf, samples, lengths, t, k, zeroed, checks)
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
    if checks is not None and len(checks):
        checks.submit()
        batch[PENDING_CHECKS] = checks
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
