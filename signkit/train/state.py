"""`TrainState`: where a run is, in a few integers; saved with every checkpoint and read back by ``--resume``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass
class TrainState:
    """``step`` counts optimiser updates; ``epoch`` and ``batch_in_epoch`` locate the next batch in the data.

    Data order is a pure function of (seed, epoch), so (epoch, batch_in_epoch) is enough to continue exactly.
    """

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0  # batches of this epoch already consumed (micro-batches, before accumulation)
    samples_seen: int = 0
    best_metric: float | None = None
    best_step: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainState:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})
