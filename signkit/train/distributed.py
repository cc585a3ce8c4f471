"""Small pure functions around torch.distributed, each with a ``world_size == 1`` fast path.

A run started by ``torchrun`` (``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` in the environment) joins the process group
(NCCL on CUDA, gloo on CPU); a plain ``python``/``signkit`` run never touches torch.distributed.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as dist

from ..errors import SignkitError

T = TypeVar("T")


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def env_info() -> DistInfo:
    """Rank, world size and local rank from torchrun's environment variables (1 process when absent)."""
    return DistInfo(
        int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("LOCAL_RANK", 0))
    )


def init(device: torch.device | None = None) -> DistInfo:
    """Join the process group when launched by torchrun; a no-op for one process."""
    info = env_info()
    if info.world_size > 1 and not dist.is_initialized():
        backend = "nccl" if device is not None and device.type == "cuda" else "gloo"
        if device is not None and device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend=backend)
    return info


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def is_dist() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def mean_across(values: dict[str, float], device: torch.device | None = None) -> dict[str, float]:
    """Average scalar logs across ranks (so rank 0 logs the global number); identity for one process."""
    if not is_dist() or not values:
        return dict(values)
    keys = sorted(values)
    t = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    t /= dist.get_world_size()
    return dict(zip(keys, t.tolist(), strict=True))


def gather_objects(obj: Any) -> list[Any]:
    """Every rank's ``obj`` (a picklable list of predictions, say) on every rank, in rank order."""
    if not is_dist():
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """Rank ``src``'s ``obj`` on every rank."""
    if not is_dist():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def barrier() -> None:
    if is_dist():
        dist.barrier()


def main_first(fn: Callable[[], T]) -> T:
    """``fn()`` on global rank 0 first, then on the other ranks (every rank must call this).

    For downloads into a cache that all nodes may share (``SIGNKIT_HOME`` on NFS, where ``flock`` is not reliable):
    rank 0 fills it, the others then find the files in place (or, with node-local caches, fetch them once per node
    under the per-file lock). When rank 0 fails, every rank raises at once instead of waiting for a timeout.
    """
    if not is_dist():
        return fn()
    if dist.get_rank() == 0:
        try:
            result = fn()
        except BaseException as e:
            broadcast_object(f"{type(e).__name__}: {e}")
            raise
        broadcast_object(None)
        return result
    failure = broadcast_object(None)
    if failure is not None:
        raise SignkitError(f"rank 0 failed ({failure}); see its log")
    return fn()


def shard_batch(batch: dict[str, Any], rank: int, world_size: int) -> dict[str, Any]:
    """This rank's share of a global batch: every ``world_size``-th sample starting at ``rank``.

    Tensors and lists are sliced along the first dimension; other values (scalars, strings) are kept. With equal
    shares, DDP's gradient average equals the gradient of the global batch's mean loss.
    """
    if world_size == 1:
        return batch
    out: dict[str, Any] = {}
    for k, v in batch.items():
        if isinstance(v, torch.Tensor) and v.dim() > 0:
            out[k] = v[rank::world_size]
        elif isinstance(v, list):
            out[k] = v[rank::world_size]
        else:
            out[k] = v
    return out
