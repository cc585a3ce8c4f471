"""The training loop: plain PyTorch, resumable to the exact step.

`fit` drives a task object (model + loss + metrics, `signkit.train.tasks`) over a `BatchSource` whose batch order
is a pure function of the epoch number. It keeps a `TrainState` (step, epoch, batch within the epoch), checkpoints
model, optimiser, scheduler and every RNG every ``ckpt_every`` steps, and on ``resume`` continues from the latest
checkpoint: it replays the data position (skipping the batches of the epoch already consumed), *then* restores the
RNG states, so the next step draws exactly what the uninterrupted run drew. Under ``torchrun`` every rank reads the
same global batch and trains on its share (`distributed.shard_batch`); DDP averages the gradients, so N processes
give the result of one process with the same global batch. A source with ``per_rank`` set yields this rank's share
itself (it read only its part of the data). Rank 0 logs and writes checkpoints. The run is a small `_Fit` object in
pieces of one job each: set up (resume, DDP), an epoch, a micro-batch, an optimiser step, and what a step may do
(log, evaluate, checkpoint).
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from torch.nn.parallel import DistributedDataParallel

from .. import _run_folder as run_folder
from .._atomic import atomic_write_text
from ..errors import DatasetError, SignkitError
from . import distributed as D
from .checkpoint import (
    agreed_checkpoint,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from .config import TrainConfig
from .state import TrainState
from .tasks import Task


class BatchSource(Protocol):
    """Global batches (the batch contract of DESIGN.md), in an order fixed by ``epoch`` (and the source's seed)."""

    def batches(self, epoch: int) -> Iterable[dict[str, Any]]: ...


@dataclass
class FitResult:
    state: TrainState
    run_dir: Path
    last_eval: dict[str, float] = field(default_factory=dict)
    best_eval: dict[str, float] | None = None


# ------------------------------------------------------------------------------------------------ small pieces


def pick_device(info: D.DistInfo | None = None) -> torch.device:
    if torch.cuda.is_available():
        return torch.device("cuda", (info or D.env_info()).local_rank)
    return torch.device("cpu")


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """bf16 autocast on GPU (``auto``/``bf16``), fp32 on CPU unless ``bf16`` is asked for explicitly."""
    if precision == "bf16" or (precision == "auto" and device.type == "cuda"):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def to_device(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    return {k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def param_groups(model: torch.nn.Module, config: TrainConfig) -> list[dict[str, Any]]:
    """AdamW groups: backbone and head (``head.*``) at their own learning rates; no weight decay on biases/norms."""
    groups: dict[tuple[str, bool], list[torch.nn.Parameter]] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        part = "head" if name.startswith("head.") else "backbone"
        groups.setdefault((part, p.ndim >= 2), []).append(p)
    lrs = {"backbone": config.lr, "head": config.head_learning_rate}
    return [
        {"params": ps, "lr": lrs[part], "weight_decay": config.weight_decay if decay else 0.0, "name": f"{part}"}
        for (part, decay), ps in sorted(groups.items())
    ]


def warmup_cosine(warmup: int, total: int, min_ratio: float = 0.0) -> Callable[[int], float]:
    """LR factor: linear warm-up over ``warmup`` steps, then cosine from 1 to ``min_ratio`` at ``total``."""

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return factor


class MetricsLog:
    """``metrics.jsonl`` (and TensorBoard when asked), written by rank 0 only."""

    def __init__(self, run_dir: Path, enabled: bool, tensorboard: bool = False, resume_step: int = 0):
        self.path = run_dir / "metrics.jsonl"
        self.enabled = enabled
        self.tb = None
        if not enabled:
            return
        if self.path.exists():
            # drop what a killed run logged after its last checkpoint: those steps will be run again
            keep = [
                ln
                for ln in self.path.read_text().splitlines()
                if ln.strip() and json.loads(ln).get("step", 0) <= resume_step
            ]
            atomic_write_text(self.path, "".join(ln + "\n" for ln in keep))
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                raise SignkitError("--tensorboard needs the tensorboard package: pip install tensorboard") from None
            self.tb = SummaryWriter(str(run_dir / "tensorboard"), purge_step=resume_step + 1)

    def write(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        with open(self.path, "a") as f:
            f.write(json.dumps(record, default=float) + "\n")
        if self.tb is not None:
            for k, v in record.items():
                if isinstance(v, (int, float)) and k not in ("step", "epoch"):
                    self.tb.add_scalar(f"{record.get('event', 'train')}/{k}", v, record["step"])

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


def _progress(total: int, initial: int, enabled: bool):
    from .._progress import Progress  # a bar on a terminal, plain periodic lines in a log file

    return Progress(total, initial, desc="train", unit="step", enabled=enabled)


# --------------------------------------------------------------------------------------------------- evaluation


def predict_source(
    task: Task, model: torch.nn.Module, source: BatchSource, device: torch.device, precision: str = "auto"
) -> list[dict[str, Any]]:
    """Predictions for every sample of ``source`` (on every rank under DDP, sorted by key).

    The RNG states are restored afterwards, so evaluating during training does not change what training draws.
    """
    info = D.env_info()
    saved = rng_state()
    was_training = model.training
    model.eval()
    preds: list[dict[str, Any]] = []
    try:
        for batch in source.batches(0):
            local = D.shard_batch(task.prepare(batch), info.rank, info.world_size)
            if not local["key"]:
                continue
            with torch.no_grad(), autocast(device, precision):
                preds.extend(task.predict(model, to_device(local, device)))
    finally:
        model.train(was_training)
        set_rng_state(saved)
    merged = [p for part in D.gather_objects(preds) for p in part]
    return sorted(merged, key=lambda p: p["key"])


def evaluate_model(
    task: Task, model: torch.nn.Module, source: BatchSource, device: torch.device, precision: str = "auto"
) -> tuple[dict[str, float], list[dict[str, Any]]]:
    preds = predict_source(task, model, source, device, precision)
    return task.score(preds), preds


# ------------------------------------------------------------------------------------------------------- fit


def _skip(it: Iterator, n: int, epoch: int) -> None:
    for i in range(n):
        try:
            next(it)
        except StopIteration:
            raise DatasetError(
                f"the training data has fewer batches in epoch {epoch} ({i}) than the checkpoint consumed ({n}); "
                "the dataset or batch size changed since the run started: resume with the same data and options"
            ) from None


def fit(
    task: Task,
    model: torch.nn.Module,
    train: BatchSource,
    config: TrainConfig,
    run_dir: str | Path,
    dev: BatchSource | None = None,
    resume: bool = False,
    device: torch.device | None = None,
) -> FitResult:
    """Train ``model`` on ``train`` until ``config.max_steps`` optimiser steps; see the module docstring.

    With ``resume=True`` and a checkpoint in ``run_dir``, continue from it; without one, start from step 0.
    """
    run = _Fit(task, model, train, config, Path(run_dir), dev, resume, device)
    try:
        run.run()
    finally:
        run.close()
    return run.result


@dataclass
class _Window:
    """The loss terms and sample count since the last ``train`` log line."""

    values: dict[str, list[float]] = field(default_factory=dict)
    samples: int = 0
    start: float = field(default_factory=time.perf_counter)

    def add(self, loss: torch.Tensor, terms: dict[str, torch.Tensor], samples: int) -> None:
        self.values.setdefault("loss", []).append(float(loss.detach()))
        for k, v in terms.items():
            self.values.setdefault(k, []).append(float(v.detach()))
        self.samples += samples

    def means(self) -> dict[str, float]:
        return {k: sum(v) / len(v) for k, v in self.values.items()}

    def rate(self) -> float | None:
        elapsed = time.perf_counter() - self.start
        return self.samples / elapsed if elapsed > 0 else None


class _Fit:
    """One run of `fit`: set up (optimiser, resume, DDP, log) once, then epochs of micro-batches and optimiser steps;
    each step may log, evaluate and checkpoint, and the step that reaches ``max_steps`` ends the run."""

    def __init__(
        self,
        task: Task,
        model: torch.nn.Module,
        train: BatchSource,
        config: TrainConfig,
        run_dir: Path,
        dev: BatchSource | None,
        resume: bool,
        device: torch.device | None,
    ) -> None:
        self.task, self.model, self.train, self.dev = task, model, train, dev
        self.config, self.run_dir = config, run_dir
        self.info = D.init(device or pick_device())
        self.device = device or pick_device(self.info)
        if self.info.is_main:  # only global rank 0 writes the run directory (other nodes may not even share its disk)
            run_dir.mkdir(parents=True, exist_ok=True)
        model.to(self.device)
        self.optimizer = torch.optim.AdamW(param_groups(model, config), lr=config.lr, betas=config.betas)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, warmup_cosine(config.warmup_steps, config.max_steps, config.min_lr_ratio)
        )
        self.state, self.pending_rng = self._restore(resume)
        self.net = self._wrap(model)
        self.per_rank = getattr(train, "per_rank", False)  # the source already yields this rank's share of each batch
        self.log = MetricsLog(run_dir, self.info.is_main, config.tensorboard, self.state.step)
        self.bar = _progress(config.max_steps, self.state.step, self.info.is_main and config.progress)
        self.result = FitResult(self.state, run_dir)
        self.window = _Window()
        self.micro = 0  # micro-batches since the last optimiser step (gradient accumulation)
        model.train()

    # ---- set up

    def _restore(self, resume: bool) -> tuple[TrainState, dict[str, Any] | None]:
        """The state to start from and this rank's RNG states to set once the data position is replayed."""
        ckpt = agreed_checkpoint(self.run_dir) if resume else None  # rank 0's latest, on every rank
        if ckpt is None:
            if resume is False and run_folder.has_started(self.run_dir):
                raise SignkitError(
                    f"{self.run_dir} already holds a run; pass --resume to continue it or choose a new -o folder"
                )
            return TrainState(), None
        state, trainer, rngs = load_checkpoint(ckpt, self.model)
        self.optimizer.load_state_dict(trainer["optimizer"])
        self.scheduler.load_state_dict(trainer["scheduler"])
        if rngs is None or len(rngs) != self.info.world_size:
            raise SignkitError(
                f"checkpoint {ckpt} was written by {len(rngs or [])} processes, this run has {self.info.world_size}; "
                "resume with the same number of processes"
            )
        return state, rngs[self.info.rank]

    def _wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        if not D.is_dist():
            return model
        # a task model leaves parts of Sigma unused (ISLR never runs the T5 decoder or the alignment heads)
        device = self.device
        return DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None, find_unused_parameters=True
        )

    # ---- the loop

    def run(self) -> None:
        while self.state.step < self.config.max_steps:
            self._epoch()

    def _epoch(self) -> None:
        """The rest of epoch ``state.epoch`` (all of it unless resumed mid-epoch), or up to the run's last step."""
        state = self.state
        it = iter(self.train.batches(state.epoch))
        _skip(it, state.batch_in_epoch, state.epoch)
        if self.pending_rng is not None:  # after the replay: the next step draws what the uninterrupted run drew
            set_rng_state(self.pending_rng)
            self.pending_rng = None
        consumed = state.batch_in_epoch
        for batch in it:
            if self._micro_step(batch) and self._step():
                return
        if state.batch_in_epoch == consumed == 0:
            raise DatasetError("the training split yields no batches; check --data and the split name")
        state.epoch += 1
        state.batch_in_epoch = 0

    def _micro_step(self, batch: dict[str, Any]) -> bool:
        """Forward and backward on this rank's share of ``batch``; True when the gradients are due for a step."""
        info, config, state = self.info, self.config, self.state
        batch = self.task.prepare(batch, training=True)
        local = to_device(batch if self.per_rank else D.shard_batch(batch, info.rank, info.world_size), self.device)
        state.batch_in_epoch += 1
        self.micro += 1
        sync = self.micro == config.grad_accum
        no_sync = self.net.no_sync() if isinstance(self.net, DistributedDataParallel) and not sync else None
        with no_sync or contextlib.nullcontext():
            with autocast(self.device, config.precision):
                loss, terms = self.task.loss(self.net, local)
            if not torch.isfinite(loss):
                raise SignkitError(
                    f"loss is {loss.item()} at step {state.step + 1} (keys {batch['key'][:3]}); "
                    "lower the learning rate or check the data"
                )
            (loss / config.grad_accum).backward()
        n = len(batch["key"]) * (info.world_size if self.per_rank else 1)
        state.samples_seen += n
        self.window.add(loss, terms, n)
        if sync:
            self.micro = 0
        return sync

    def _step(self) -> bool:
        """One optimiser step, then the log line, evaluation and checkpoint due at it; True on the run's last step."""
        config, state = self.config, self.state
        grad_norm = None
        if config.clip_grad:
            grad_norm = float(torch.nn.utils.clip_grad_norm_(self.model.parameters(), config.clip_grad))
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        state.step += 1
        self.bar.update(1)
        last = state.step >= config.max_steps
        if state.step % config.log_every == 0 or last:
            self._log_train(grad_norm)
        pointers: tuple[str, ...] = ()
        if self.dev is not None and (state.step % config.eval_every == 0 or last):
            pointers = self._evaluate()
        if pointers or state.step % config.ckpt_every == 0 or last:
            self._checkpoint(("latest", *pointers))
        return last

    # ---- what a step may do

    def _log_train(self, grad_norm: float | None) -> None:
        state, lrs = self.state, self.scheduler.get_last_lr()
        vals = D.mean_across(self.window.means(), self.device)
        rec = {"event": "train", "step": state.step, "epoch": state.epoch, **vals}
        rec.update(lr=lrs[0], head_lr=lrs[-1], samples_per_s=self.window.rate())
        if grad_norm is not None:
            rec["grad_norm"] = grad_norm
        self.log.write(rec)
        self.bar.set_postfix(loss=f"{vals['loss']:.4f}")
        self.window = _Window()

    def _evaluate(self) -> tuple[str, ...]:
        """Score the dev split; ``("best",)`` when the primary metric improved (the checkpoint pointer to move)."""
        state, task = self.state, self.task
        scores, _ = evaluate_model(task, self.model, self.dev, self.device, self.config.precision)
        scores = D.broadcast_object(scores)
        self.result.last_eval = scores
        self.log.write({"event": "eval", "step": state.step, **scores})
        value = scores.get(task.primary)
        if value is None or not _better(value, state.best_metric, task.higher_is_better):
            return ()
        state.best_metric, state.best_step = float(value), state.step
        self.result.best_eval = scores
        return ("best",)

    def _checkpoint(self, pointers: tuple[str, ...]) -> None:
        rngs = D.gather_objects(rng_state())  # every rank's, so each resumes its own streams
        if self.info.is_main:
            trainer = {"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict()}
            keep = self.config.keep_last
            save_checkpoint(self.run_dir, self.model, self.state, trainer, rngs, pointers=pointers, keep_last=keep)
        D.barrier()

    def close(self) -> None:
        self.bar.close()
        self.log.close()


def _better(value: float, best: float | None, higher: bool) -> bool:
    if best is None:
        return True
    return value > best if higher else value < best
