"""`TrainConfig`: every knob of a fine-tuning or pre-training run, from a file plus ``key=value`` overrides.

The resolved config is written to ``RUN_DIR/config.json``; ``--resume`` reads it back, so a resumed run cannot
silently change its hyper-parameters (an override that differs from the saved value is an error).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from .._toml import toml_reader
from ..errors import ConfigError

TASKS = ("islr", "cslr", "slt", "pretrain")
PRECISIONS = ("auto", "bf16", "fp32")


@dataclass
class TrainConfig:
    """One training run. Steps count optimiser updates (after gradient accumulation)."""

    task: str = "islr"
    model: str = "sigma-tiny"  # zoo name (pre-trained weights), checkpoint or run directory
    from_scratch: bool = False  # build ``model`` (a config name) with random weights instead of loading weights
    data: str = ""  # packed dataset directory
    train_split: str = "train"
    dev_split: str | None = "dev"  # None: no evaluation during training (then no "best" checkpoint)
    # schedule
    max_steps: int = 1000
    batch_size: int = 16  # global batch per optimiser step = batch_size * grad_accum (* world size is not added:
    # under torchrun each of N ranks gets batch_size // N samples of every batch)
    grad_accum: int = 1
    lr: float = 3e-4  # backbone learning rate
    head_lr: float | None = None  # task-head learning rate; None = 10 x lr when fine-tuning, lr when pre-training
    weight_decay: float = 0.01
    warmup_steps: int = 100
    min_lr_ratio: float = 0.0  # cosine decays to lr * min_lr_ratio at max_steps
    betas: tuple[float, float] = (0.9, 0.999)
    clip_grad: float | None = 1.0
    precision: str = "auto"  # auto = bf16 autocast on CUDA, fp32 on CPU
    seed: int = 0
    # data
    num_workers: int = 0
    max_frames: int | None = None  # crop (train) / truncate (eval) longer clips; None = keep all frames
    # under torchrun, each rank reads only its part of the training split (1/N of the bytes: big or remote data);
    # off: every rank reads each global batch and keeps its share, so N processes equal one (docs/scale.md)
    data_per_rank: bool = False
    # bookkeeping
    log_every: int = 10
    eval_every: int = 200
    ckpt_every: int = 200
    keep_last: int = 2  # step checkpoints kept besides "best"
    tensorboard: bool = False
    progress: bool = True
    extra: dict[str, Any] = field(default_factory=dict)  # decode options etc. passed to the task

    def __post_init__(self) -> None:
        for f in fields(self):
            setattr(self, f.name, _checked(f.name, getattr(self, f.name), str(f.type)))
        if self.task not in TASKS:
            raise ConfigError(f"unknown task {self.task!r}; use one of {', '.join(TASKS)}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"unknown precision {self.precision!r}; use one of {', '.join(PRECISIONS)}")
        for name in ("max_steps", "batch_size", "grad_accum", "log_every", "eval_every", "ckpt_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.warmup_steps < 0 or self.lr <= 0:
            raise ConfigError("warmup_steps must be >= 0 and lr > 0")

    @property
    def head_learning_rate(self) -> float:
        if self.head_lr is not None:
            return self.head_lr
        return self.lr if self.task == "pretrain" else 10 * self.lr

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown training option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return cls(**data)


_KINDS = {
    "int": "a whole number",
    "float": "a number",
    "bool": "true or false",
    "str": "a string",
    "tuple[float, float]": "two numbers, e.g. [0.9, 0.999]",
    "dict[str, Any]": "a table of options",
}


def _checked(name: str, value: Any, annotation: str) -> Any:
    """``value`` as the type of option ``name`` (an int is a float too), or a one-line error naming the option."""
    base = annotation.removesuffix(" | None")
    if value is None and base != annotation:
        return None
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if base == "int" and number and float(value).is_integer():
        return int(value)
    if base == "float" and number:
        return float(value)
    if (base == "bool" and isinstance(value, bool)) or (base == "str" and isinstance(value, str)):
        return value
    if base == "dict[str, Any]" and isinstance(value, dict):
        return value
    if base == "tuple[float, float]" and isinstance(value, (list, tuple)) and len(value) == 2:
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            return tuple(float(v) for v in value)
    kind = _KINDS.get(base, base) + (" or none" if base != annotation else "")
    raise ConfigError(f"training option {name} must be {kind}, got {value!r}")


def read_config_file(path: str | Path) -> dict[str, Any]:
    """A JSON or TOML file of TrainConfig fields."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} not found")
    try:
        if path.suffix == ".toml":
            return toml_reader().loads(path.read_text())
        return json.loads(path.read_text())
    except ValueError as e:  # tomllib's TOMLDecodeError and json's JSONDecodeError are ValueErrors
        raise ConfigError(f"config file {path} is not valid {path.suffix.lstrip('.') or 'JSON'}: {e}") from None


def _field_types() -> dict[str, Any]:
    return {f.name: f for f in fields(TrainConfig)}


def parse_override(item: str) -> tuple[str, Any]:
    """``key=value`` -> (key, typed value); the value is parsed as JSON when it can be, else kept as a string."""
    if "=" not in item:
        raise ConfigError(f"override {item!r} must look like key=value (e.g. lr=1e-4)")
    key, raw = item.split("=", 1)
    key = key.strip()
    if key not in _field_types():
        raise ConfigError(f"unknown training option {key!r}; known: {', '.join(sorted(_field_types()))}")
    try:
        value = json.loads(raw)
    except ValueError:
        value = {"none": None, "null": None, "true": True, "false": False}.get(raw.lower(), raw)
    return key, value


def resolve_config(
    file: str | Path | None = None, overrides: dict[str, Any] | None = None, items: list[str] | tuple = ()
) -> TrainConfig:
    """Defaults < config file < ``overrides`` (dict, e.g. from CLI options) < ``items`` (``key=value`` strings)."""
    data: dict[str, Any] = {}
    if file is not None:
        data.update(read_config_file(file))
    data.update({k: v for k, v in (overrides or {}).items() if v is not None})
    data.update(dict(parse_override(i) for i in items))
    return TrainConfig.from_dict(data)


def check_resume_compatible(saved: TrainConfig, requested: TrainConfig) -> None:
    """A resumed run must keep every option that shapes the result; only bookkeeping may change."""
    free = {"progress", "tensorboard", "num_workers", "log_every"}
    diffs = [
        f.name
        for f in dataclasses.fields(TrainConfig)
        if f.name not in free and getattr(saved, f.name) != getattr(requested, f.name)
    ]
    if diffs:
        raise ConfigError(
            f"--resume with different options than the saved run ({', '.join(diffs)}); "
            "rerun with the same options or start a new run directory"
        )
