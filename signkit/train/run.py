"""`finetune` and `pretrain`: a packed dataset + a model name -> a run directory, via the one training loop.

What a run directory holds is described in `signkit._run_folder` (its one owner). ``model.json`` (model config, task,
number of classes, class names / gloss vocabulary) makes the run loadable by ``signkit.zoo.load(RUN_DIR)``,
``signkit evaluate RUN_DIR`` and ``signkit zoo export``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch

from .. import _run_folder as run_folder
from .._run_folder import CONFIG_JSON, MODEL_JSON
from ..errors import ConfigError
from . import distributed as D
from .checkpoint import seed_everything, write_json
from .config import TrainConfig, check_resume_compatible
from .data import DatasetSource, has_split
from .loop import FitResult, fit, pick_device
from .tasks import LabelSpace, Task, make_task

log = logging.getLogger("signkit.train")


def label_space(data: str | Path) -> LabelSpace:
    """Class names, gloss vocabulary and (when the whole dataset has one) the language of a packed dataset."""
    from ..datasets import read_dataset_json, read_manifest

    info = read_dataset_json(data)
    langs = {v for v in read_manifest(data)["language"].to_pylist() if v}
    return LabelSpace(list(info.classes or []), list(info.gloss_vocab or []), langs.pop() if len(langs) == 1 else None)


def build_model(name: str, task: Task, from_scratch: bool = False) -> torch.nn.Module:
    """The model to train. A zoo name (``sigma-tiny`` = its default release), a run directory, an export folder or a
    weights file is loaded strictly with a new head (`signkit.zoo.load`). Random weights only when asked: with
    ``from_scratch``, or when pre-training from a config name (nothing is downloaded then)."""
    from .. import zoo
    from ..models import create_model, list_configs

    model_task = None if task.name == "pretrain" else task.name
    num_classes = task.num_classes if task.name in ("islr", "cslr") else None
    if from_scratch or (task.name == "pretrain" and name in list_configs()):
        if name not in list_configs():
            raise ConfigError(
                f"--from-scratch builds a model config, not {name!r}; use one of {', '.join(list_configs())}"
            )
        log.info("building %s from its config with random weights", name)
        return create_model(name, model_task, num_classes)
    return zoo.load(name, task=model_task or "pretrain", num_classes=num_classes)


def _model_meta(model: torch.nn.Module, task: Task, dataset: str | Path, layout: str) -> dict[str, Any]:
    from ..models import config_to_dict

    return {
        "config": config_to_dict(model.config),
        "task": task.name,
        "num_classes": task.num_classes if task.name in ("islr", "cslr") else None,
        **task.labels.to_dict(),
        "dataset": str(dataset),
        "dataset_layout": layout,
        "options": task.options,
    }


def _prepare_run_dir(config: TrainConfig, run_dir: Path, resume: bool) -> None:
    """Write ``config.json``, or check it against a resumed run. A folder counts as a run only once its first
    checkpoint exists: a start that failed before it (a batch larger than the split, a bad SIGNKIT_HOME) left a
    ``config.json`` that the corrected command simply replaces, with or without ``--resume``."""
    saved = run_dir / CONFIG_JSON
    started = run_folder.has_started(run_dir)
    if started and resume and saved.is_file():
        check_resume_compatible(TrainConfig.from_dict(json.loads(saved.read_text())), config)
    elif D.env_info().is_main:
        if started and not resume:
            raise ConfigError(f"{run_dir} already holds a run; pass --resume to continue it or choose a new -o folder")
        run_dir.mkdir(parents=True, exist_ok=True)
        write_json(saved, config.to_dict())


def train(config: TrainConfig, run_dir: str | Path, resume: bool = False) -> FitResult:
    """Fine-tune (task islr/cslr/slt) or pre-train (task pretrain) ``config.model`` on ``config.data``."""
    if not config.data:
        raise ConfigError("no dataset given; pass --data DATASET_DIR (a folder written by `signkit pack`)")
    run_dir = Path(run_dir)
    D.init(pick_device())  # join the process group first: what follows is ordered across ranks (and nodes)
    D.main_first(lambda: _prepare_run_dir(config, run_dir, resume))  # rank 0's refusal stops every rank at once
    seed_everything(config.seed)
    task = make_task(config.task, label_space(config.data), config.extra)
    # rank 0 downloads zoo weights first, the others then read them (a shared SIGNKIT_HOME) or fetch them once per
    # node (node-local caches: the per-file lock makes the node's other ranks wait); docs/scale.md
    model = D.main_first(lambda: build_model(config.model, task, config.from_scratch))
    layout = model.config.layout
    world = D.env_info().world_size
    if config.batch_size % world:
        raise ConfigError(f"batch_size {config.batch_size} must be a multiple of the {world} processes")
    common = dict(seed=config.seed, max_frames=config.max_frames, num_workers=config.num_workers, layout=layout)
    share = dict(rank=D.env_info().rank, world_size=world) if config.data_per_rank else {}
    train_src = DatasetSource(config.data, config.train_split, config.batch_size, training=True, **common, **share)
    dev_src = None
    if config.dev_split and has_split(config.data, config.dev_split):
        dev_src = DatasetSource(config.data, config.dev_split, config.batch_size, training=False, **common)
    elif config.dev_split:
        log.warning(
            "%s has no %s split: training without evaluation or a best checkpoint", config.data, config.dev_split
        )
    from ..datasets import read_dataset_json

    data_estimators = read_dataset_json(config.data).estimators
    mismatch = model.config.estimator_mismatch(data_estimators, str(config.data))
    if mismatch and D.env_info().is_main:
        log.warning("%s", mismatch)
    model.config.estimators = data_estimators or model.config.estimators  # what the new weights were trained on
    if D.env_info().is_main:
        write_json(run_dir / MODEL_JSON, _model_meta(model, task, config.data, train_src.layout))
    return fit(task, model, train_src, config, run_dir, dev=dev_src, resume=resume)


def finetune(config: TrainConfig, run_dir: str | Path, resume: bool = False) -> FitResult:
    """Fine-tune a model for ``config.task`` (islr, cslr, slt); see `train`."""
    if config.task == "pretrain":
        raise ConfigError("finetune needs --task islr, cslr or slt; use `signkit pretrain` for pre-training")
    return train(config, run_dir, resume)


def pretrain(config: TrainConfig, run_dir: str | Path, resume: bool = False) -> FitResult:
    """Pre-train with Sigma's objectives (HAL + SGT); the dataset's samples need their spoken-language text."""
    if config.task != "pretrain":
        raise ConfigError(f"pretrain runs task 'pretrain', not {config.task!r}")
    return train(config, run_dir, resume)
