"""`evaluate`: a trained run (or a zoo model) on one split of a packed dataset -> predictions + metrics JSON.

ISLR results also carry the majority-class baseline (always predicting the most frequent training class), CSLR
results the WER of the most frequent training gloss sequence and of empty output: the floors a model must beat to
have learnt anything. A model that writes text (SLT, as Uni-Sign-family ISLR checkpoints are)
evaluated on a dataset with classes and no texts is scored as generative ISLR (``islr-generative``: the written
word against the class name), as its authors scored it; ``task="islr-generative"`` asks for it explicitly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import _run_folder as run_folder
from .._atomic import atomic_path
from ..errors import ConfigError
from .checkpoint import write_json
from .data import DatasetSource, has_split, split_glosses, split_labels
from .loop import pick_device, predict_source
from .metrics import majority_baseline, wer_baselines
from .run import label_space
from .tasks import LabelSpace, decoding, make_task

GENERATIVE_ISLR = "islr-generative"


@dataclass
class EvalResult:
    metrics: dict[str, Any]
    predictions: Path
    metrics_file: Path


def _run_file(model_path: Path, name: str) -> dict[str, Any] | None:
    """A run's ``model.json``/``config.json``, given the run folder or one of its checkpoint folders."""
    found = run_folder.run_file(model_path, name)
    return json.loads(found.read_text()) if found is not None else None


def evaluate(
    model: str | Path,
    data: str | Path,
    split: str = "test",
    out_dir: str | Path | None = None,
    batch_size: int = 16,
    max_frames: int | None = None,
    task: str | None = None,
    options: dict[str, Any] | None = None,
    precision: str = "auto",
    beams: int | None = None,
    max_new_tokens: int | None = None,
) -> EvalResult:
    """Score ``model`` (a run directory: its best checkpoint, else its latest; or any ``signkit.zoo.load`` name)
    on ``split`` of ``data``; ``max_frames`` defaults to the run's. Writes ``predictions.jsonl`` (one line per
    sample) and ``metrics.json`` to ``out_dir`` (default ``RUN_DIR/eval-{split}`` for a run). ``beams`` and
    ``max_new_tokens`` default to the model config's decoding (`signkit.train.tasks.decoding`)."""
    from .. import zoo

    path = Path(model).expanduser()
    meta = _run_file(path, run_folder.MODEL_JSON) if path.exists() else None
    run_config = _run_file(path, run_folder.CONFIG_JSON) if meta is not None else None
    if max_frames is None and run_config:
        max_frames = run_config.get("max_frames")  # evaluate clips as the run saw them (centre crop)
    net = zoo.load(model, task=task) if task and task != GENERATIVE_ISLR else zoo.load(model)
    labels = label_space(data)
    task_name = task or _task_for(getattr(net, "task", None), labels, data, split)
    if task_name == GENERATIVE_ISLR and getattr(net, "task", None) not in ("slt", None):
        raise ConfigError(f"generative ISLR needs a model that writes text (an SLT model); {model} is {net.task}")
    if meta is not None:
        trained = LabelSpace.from_dict(meta)
        if task_name == "islr" and trained.classes and labels.classes and trained.classes != labels.classes:
            raise ConfigError(
                f"{data} has another class list than the one {model} was trained on; evaluate on a dataset packed "
                "with the same labels"
            )
        if task_name == "cslr" and trained.gloss_vocab:
            labels.gloss_vocab = trained.gloss_vocab  # ids follow the vocabulary the model was trained with
        labels.language = labels.language or trained.language
    options = {**(meta or {}).get("options", {}), **(options or {})}
    if task_name in ("slt", GENERATIVE_ISLR):
        options.update(
            decoding(net.config, beams or options.get("beam_size"), max_new_tokens or options.get("max_length"))
        )
    elif task_name == "cslr" and beams:  # CTC: greedy unless a beam is asked for (max_new_tokens does not apply)
        options["beam_size"] = beams
    t = make_task(task_name, labels, options)
    if out_dir is None:
        if meta is None:
            raise ConfigError("give -o OUT_DIR for the predictions and metrics (only a run directory has a default)")
        out_dir = path / f"eval-{split}" if path.is_dir() else path.parent / f"eval-{split}"
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    device = pick_device()
    net.to(device)
    source = DatasetSource(data, split, batch_size, training=False, max_frames=max_frames, layout=net.config.layout)
    preds = predict_source(t, net, source, device, precision)
    scores: dict[str, Any] = dict(t.score(preds))
    if task_name in ("islr", GENERATIVE_ISLR) and has_split(data, "train"):
        eval_labels = np.asarray([p["label"] for p in preds if p["label"] >= 0])
        scores["majority_baseline_top1"] = majority_baseline(split_labels(data, "train"), eval_labels)
    if task_name == "cslr" and has_split(data, "train"):
        scores.update(wer_baselines(split_glosses(data, "train"), [p["ref"] for p in preds]))
    result = {
        "model": str(model),
        "data": str(data),
        "split": source.split,
        "task": task_name,
        "samples": len(preds),
        "metrics": scores,
    }
    pred_file = out_dir / "predictions.jsonl"
    with atomic_path(pred_file) as tmp, open(tmp, "w") as f:
        for p in preds:
            f.write(json.dumps({k: v for k, v in p.items() if k != "logits"}, ensure_ascii=False) + "\n")
    metrics_file = out_dir / "metrics.json"
    write_json(metrics_file, result)
    return EvalResult(result, pred_file, metrics_file)


def _task_for(model_task: str | None, labels: LabelSpace, data: str | Path, split: str) -> str:
    """The task a model is scored on when none is asked: its own, except that a text-writing model on a dataset
    with classes and no texts is scored as generative ISLR (how Uni-Sign-family ISLR checkpoints are scored)."""
    if model_task != "slt" or not labels.classes:
        return model_task or "pretrain"
    from ..datasets import canonical_split, read_manifest

    table = read_manifest(data)
    rows = [
        t
        for s, t in zip(table["split"].to_pylist(), table["text"].to_pylist(), strict=True)
        if s == canonical_split(split)
    ]
    return "slt" if any(rows) else GENERATIVE_ISLR
