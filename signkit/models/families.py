"""The model family table: name -> config class, model class, named configs, the tasks it does.

Everything outside `signkit.models` (zoo load and export, training, evaluation, inference) builds and reads models
through this table, so a second architecture is one module (its config and model classes) + one row of `FAMILIES`.

A family's config is a dataclass with ``name``, ``layout`` and ``estimators`` (`ModelConfigBase`), ``validate()``,
``to_dict()`` and ``from_dict()``. Written down (a run's ``model.json``, an export's ``config.json`` and weights
metadata), a config is its ``to_dict()`` plus ``"family"``; a config without that key is Sigma's, as every config
written before the table was. Its model takes ``(config, task, num_classes)`` and has ``config``, ``task``,
``num_classes``, ``forward(batch)`` with ``.loss``/``.terms`` (and ``.logits`` for ISLR), ``predict(batch, ...)``;
task-head parameters live under ``head.`` alone (a new head is the only thing a strict load may initialise).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from torch import nn

from ..errors import ConfigError
from .config import SIGMA_CONFIGS, SigmaConfig
from .sigma import TASKS as SIGMA_TASKS
from .sigma import SigmaModel
from .stgcn_classifier import STGCN_CONFIGS, STGCNClassifier, STGCNClassifierConfig
from .stgcn_classifier import TASKS as STGCN_TASKS

FAMILY_KEY = "family"
DEFAULT_FAMILY = "sigma"  # what a written config without a family key is


@dataclass(frozen=True)
class ModelFamily:
    name: str
    config_class: type
    model_class: type[nn.Module]
    configs: Mapping[str, Callable[[], Any]]  # named configs -> a fresh config
    tasks: tuple[str | None, ...]  # None = pre-training
    summary: str

    def task_names(self) -> str:
        return ", ".join("pretrain" if t is None else t for t in self.tasks)


FAMILIES: dict[str, ModelFamily] = {
    f.name: f
    for f in (
        ModelFamily(
            "sigma",
            SigmaConfig,
            SigmaModel,
            SIGMA_CONFIGS,
            SIGMA_TASKS,
            "part-wise ST-GCN + T5 with SignEF, HAL and SGT (docs/sigma.md)",
        ),
        ModelFamily(
            "stgcn-classifier",
            STGCNClassifierConfig,
            STGCNClassifier,
            STGCN_CONFIGS,
            STGCN_TASKS,
            "a plain ST-GCN over one whole-body graph + a linear head",
        ),
    )
}


def family_of(config: Any) -> ModelFamily:
    """The family of a config object (by its class)."""
    for family in FAMILIES.values():
        if type(config) is family.config_class:
            return family
    raise ConfigError(f"{type(config).__name__} is the config of no model family ({', '.join(FAMILIES)})")


def list_configs() -> list[str]:
    """Every named config of every family (`get_config` takes them)."""
    return sorted(name for family in FAMILIES.values() for name in family.configs)


def get_config(name: str) -> Any:
    """A fresh copy of the named config; an unknown name lists the known ones."""
    for family in FAMILIES.values():
        if name in family.configs:
            return family.configs[name]().validate()
    raise ConfigError(f"unknown model config {name!r}; known configs: {', '.join(list_configs())}")


def config_to_dict(config: Any) -> dict[str, Any]:
    """A config as written in ``model.json`` / ``config.json`` / weights metadata: its fields + its family."""
    return {FAMILY_KEY: family_of(config).name, **config.to_dict()}


def config_from_dict(data: dict[str, Any]) -> Any:
    """The config a `config_to_dict` dict (or a Sigma config dict written before families) describes."""
    data = dict(data)
    name = data.pop(FAMILY_KEY, DEFAULT_FAMILY)
    if name not in FAMILIES:
        raise ConfigError(f"unknown model family {name!r}; this signkit knows {', '.join(FAMILIES)} (upgrade signkit?)")
    return FAMILIES[name].config_class.from_dict(data)


def config_with_overrides(config: Any, overrides: Mapping[str, Any]) -> Any:
    """A copy of ``config`` with ``overrides`` applied (a dict value updates a dict field key by key)."""
    data = config.to_dict()
    for key, value in overrides.items():
        data[key] = {**data[key], **value} if isinstance(value, dict) and isinstance(data.get(key), dict) else value
    return family_of(config).config_class.from_dict(data)


def check_task(config: Any, task: str | None) -> None:
    """Refuse, in one line, a task the config's family does not do (``None``: pre-training)."""
    family = family_of(config)
    if task not in family.tasks:
        wanted = "pre-training" if task is None else f"task {task}"
        others = [f.name for f in FAMILIES.values() if task in f.tasks]
        raise ConfigError(
            f"{config.name} (model family {family.name}) does {family.task_names()} only, not {wanted}"
            + (
                f"; use a model of family {' or '.join(others)} (e.g. {next(iter(FAMILIES[others[0]].configs))})"
                if others
                else ""
            )
        )


def create_model(config: str | Any, task: str | None = None, num_classes: int | None = None) -> nn.Module:
    """Build a model of any family (random weights, no download). ``task``: None (pre-training), islr, cslr or slt,
    as far as the family does it; ``num_classes`` for islr (classes) and cslr (gloss vocabulary + CTC blank)."""
    cfg = get_config(config) if isinstance(config, str) else config
    if task not in (None, "islr", "cslr", "slt"):
        raise ConfigError(f"unknown task {task!r}; use one of islr, cslr, slt (or None for pre-training)")
    check_task(cfg, task)
    if task in ("islr", "cslr") and (num_classes is None or num_classes < (2 if task == "cslr" else 1)):
        hint = "the number of classes" if task == "islr" else "gloss vocabulary size + 1 (CTC blank = 0)"
        raise ConfigError(f"task {task} needs num_classes = {hint}, got {num_classes}")
    if task not in ("islr", "cslr") and num_classes is not None:
        raise ConfigError(f"task {task} takes no num_classes")
    return family_of(cfg).model_class(cfg, task, num_classes)
