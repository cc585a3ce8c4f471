"""Training, evaluation and metrics: plain PyTorch, exact resume, torchrun-ready.

Public API::

    from signkit.train import TrainConfig, finetune, pretrain, evaluate
    result = finetune(TrainConfig(task="islr", model="sigma-tiny", data="packed/lexicon"), "runs/lexicon")
    evaluate("runs/lexicon", "packed/lexicon", split="test").metrics

The loop itself (`fit`) takes any task object, model and `BatchSource`; `signkit.train.metrics` holds the metrics.
"""

from __future__ import annotations

from .config import TrainConfig, resolve_config
from .evaluate import EvalResult, evaluate
from .loop import BatchSource, FitResult, fit
from .run import finetune, pretrain, train
from .state import TrainState
from .tasks import LabelSpace, Task, make_task

__all__ = [
    "BatchSource",
    "EvalResult",
    "FitResult",
    "LabelSpace",
    "Task",
    "TrainConfig",
    "TrainState",
    "evaluate",
    "finetune",
    "fit",
    "make_task",
    "pretrain",
    "resolve_config",
    "train",
]
