"""Task objects: what a batch means for a task, how the model's output becomes predictions, how they are scored.

The training loop knows nothing about ISLR, CSLR or SLT; it calls ``prepare`` (targets from the batch's labels),
``loss`` (training), ``predict`` (one JSON-able dict per sample) and ``score`` (metrics over all predictions), and
compares ``score(...)[task.primary]`` to keep the best checkpoint.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..errors import ConfigError, DatasetError
from . import metrics


@dataclass
class LabelSpace:
    """What a task needs to know about the dataset: class names (ISLR), gloss vocabulary (CSLR), language."""

    classes: list[str] = field(default_factory=list)
    gloss_vocab: list[str] = field(default_factory=list)
    language: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"classes": self.classes, "gloss_vocab": self.gloss_vocab, "language": self.language}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LabelSpace:
        return cls(list(d.get("classes") or []), list(d.get("gloss_vocab") or []), d.get("language"))


class Task:
    """Base task: the loss comes straight from ``model(batch).loss``."""

    name = "task"
    primary = "loss"
    higher_is_better = False

    def __init__(self, labels: LabelSpace | None = None, options: dict[str, Any] | None = None):
        self.labels = labels or LabelSpace()
        self.options = dict(options or {})

    @property
    def num_classes(self) -> int | None:
        return None

    def prepare(self, batch: dict[str, Any], training: bool = False) -> dict[str, Any]:
        return batch

    def loss(self, model: torch.nn.Module, batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        out = model(batch)
        return out.loss, dict(getattr(out, "terms", None) or {})

    @torch.no_grad()
    def predict(self, model: torch.nn.Module, batch: dict[str, Any]) -> list[dict[str, Any]]:
        """Per-sample records; the base task records the batch loss (pre-training is scored by its loss)."""
        loss, terms = self.loss(model, batch)
        n = len(batch["key"])
        rec = {"loss": float(loss), **{k: float(v) for k, v in terms.items()}, "weight": n}
        return [{"key": batch["key"][0], **rec}] + [{"key": k} for k in batch["key"][1:]]

    def score(self, predictions: Sequence[dict[str, Any]]) -> dict[str, float]:
        weighted = [p for p in predictions if "weight" in p]
        total = sum(p["weight"] for p in weighted)
        if not total:
            return {}
        names = [k for k in weighted[0] if k not in ("key", "weight")]
        return {k: sum(p[k] * p["weight"] for p in weighted) / total for k in names}


class PretrainTask(Task):
    name = "pretrain"


class ISLRTask(Task):
    """Isolated recognition: labels are class indices; scored by per-instance and per-class top-1 / top-5."""

    name = "islr"
    primary = "top1"
    higher_is_better = True

    @property
    def num_classes(self) -> int:
        if not self.labels.classes:
            raise DatasetError("ISLR needs the dataset's class list (dataset.json 'classes'); pack it with labels")
        return len(self.labels.classes)

    def prepare(self, batch: dict[str, Any], training: bool = False) -> dict[str, Any]:
        if "label" in batch and bool((batch["label"] < 0).any()) and training:
            bad = [k for k, lab in zip(batch["key"], batch["label"].tolist(), strict=True) if lab < 0][:3]
            raise DatasetError(f"samples without a class label in the training split: {bad}; pack them with labels")
        return batch

    @torch.no_grad()
    def predict(self, model: torch.nn.Module, batch: dict[str, Any]) -> list[dict[str, Any]]:
        logits = model(batch).logits.float()
        k = min(5, logits.shape[1])
        scores, idx = logits.softmax(-1).topk(k, dim=1)
        labels = batch["label"].tolist()
        out = []
        for i, key in enumerate(batch["key"]):
            top = idx[i].tolist()
            out.append(
                {
                    "key": key,
                    "label": labels[i],
                    "pred": top[0],
                    "pred_gloss": self._gloss(top[0]),
                    "topk": top,
                    "scores": [round(s, 6) for s in scores[i].tolist()],
                    "logits": logits[i].tolist(),
                }
            )
        return out

    def _gloss(self, index: int) -> str | None:
        return self.labels.classes[index] if index < len(self.labels.classes) else None

    def score(self, predictions: Sequence[dict[str, Any]]) -> dict[str, float]:
        scored = [p for p in predictions if p["label"] >= 0]
        if not scored:
            return {}
        logits = np.asarray([p["logits"] for p in scored], dtype=np.float64)
        labels = np.asarray([p["label"] for p in scored])
        out = metrics.topk_accuracy(logits, labels, (1, 5))
        out.update(metrics.per_class_accuracy(logits, labels, (1, 5)))
        out["samples"] = len(scored)
        return out


class CSLRTask(Task):
    """Continuous recognition: CTC over the gloss vocabulary (blank = 0, glosses from 1); scored by WER."""

    name = "cslr"
    primary = "wer"
    higher_is_better = False

    def __init__(self, labels: LabelSpace | None = None, options: dict[str, Any] | None = None):
        super().__init__(labels, options)
        self._ids = {g: i + 1 for i, g in enumerate(self.labels.gloss_vocab)}

    @property
    def num_classes(self) -> int:
        if not self.labels.gloss_vocab:
            raise DatasetError("CSLR needs the dataset's gloss vocabulary (dataset.json 'gloss_vocab')")
        return len(self.labels.gloss_vocab) + 1

    def encode(self, glosses: str) -> list[int]:
        try:
            return [self._ids[g] for g in glosses.split()]
        except KeyError as e:
            msg = f"gloss {e.args[0]!r} is not in the dataset's gloss vocabulary; repack the dataset"
            raise DatasetError(msg) from None

    def decode(self, ids: Sequence[int]) -> str:
        vocab = self.labels.gloss_vocab
        return " ".join(vocab[i - 1] for i in ids if 0 < i <= len(vocab))

    def prepare(self, batch: dict[str, Any], training: bool = False) -> dict[str, Any]:
        if "targets" in batch or not training:
            return batch
        seqs = []
        for key, g in zip(batch["key"], batch["gloss"], strict=True):
            if not g:
                raise DatasetError(f"sample {key} has no gloss sequence; CSLR training needs one per sample")
            seqs.append(self.encode(g))
        if "length" in batch:  # CTC cannot align a target longer than the clip: refuse it instead of a zero loss
            for key, s, n in zip(batch["key"], seqs, batch["length"].tolist(), strict=True):
                need = len(s) + sum(a == b for a, b in zip(s, s[1:], strict=False))  # a blank between repeats
                if need > n:
                    raise DatasetError(
                        f"sample {key} has {n} frames but its {len(s)} glosses need {need} for CTC; "
                        "raise max_frames or drop the sample"
                    )
        longest = max(len(s) for s in seqs)
        targets = torch.zeros(len(seqs), longest, dtype=torch.int64)
        for i, s in enumerate(seqs):
            targets[i, : len(s)] = torch.tensor(s, dtype=torch.int64)
        return {**batch, "targets": targets, "target_lengths": torch.tensor([len(s) for s in seqs])}

    @torch.no_grad()
    def predict(self, model: torch.nn.Module, batch: dict[str, Any]) -> list[dict[str, Any]]:
        decode = {k: v for k, v in self.options.items() if k in ("beam_size",)}
        hyps = model.predict(batch, **decode)
        return [
            {"key": k, "ref": g or "", "hyp": self.decode(list(h))}
            for k, g, h in zip(batch["key"], batch["gloss"], hyps, strict=True)
        ]

    def score(self, predictions: Sequence[dict[str, Any]]) -> dict[str, float]:
        res = metrics.wer(
            [p["ref"] for p in predictions], [p["hyp"] for p in predictions], cleanup=self.options.get("wer_cleanup")
        )
        return res.to_dict()


class SLTTask(Task):
    """Gloss-free translation: text targets, generated hypotheses; scored by BLEU-1..4, ROUGE-L and chrF."""

    name = "slt"
    primary = "bleu4"
    higher_is_better = True

    def prepare(self, batch: dict[str, Any], training: bool = False) -> dict[str, Any]:
        if training:
            missing = [k for k, t in zip(batch["key"], batch["text"], strict=True) if not t][:3]
            if missing:
                raise DatasetError(f"samples without a translation in the training split: {missing}")
        return batch

    @torch.no_grad()
    def predict(self, model: torch.nn.Module, batch: dict[str, Any]) -> list[dict[str, Any]]:
        decode = {k: v for k, v in self.options.items() if k in ("beam_size", "length_penalty", "max_length")}
        hyps = model.predict(batch, **decode)
        return [{"key": k, "ref": t or "", "hyp": h} for k, t, h in zip(batch["key"], batch["text"], hyps, strict=True)]

    def score(self, predictions: Sequence[dict[str, Any]]) -> dict[str, float]:
        if not predictions:
            return {}
        return metrics.translation_metrics(
            [p["hyp"] for p in predictions],
            [p["ref"] for p in predictions],
            language=text_language(self.labels.language),
        )


# A packed dataset records its samples' *sign* language (manifest ``language``); the scorer needs the language of
# the text. Sign languages whose translations are written in Chinese (character-level BLEU/ROUGE): CSL-Daily,
# CSL-News (csl), Taiwan and Hong Kong sign language.
_TEXT_LANGUAGE = {"csl": "zh", "tss": "zh", "hks": "zh"}


def text_language(language: str | None) -> str | None:
    """The written language to score translations in, for a dataset's (sign) language code."""
    return _TEXT_LANGUAGE.get((language or "").lower(), language)


# ---- decoding defaults and generative ISLR (Uni-Sign's way of doing ISLR) -------------------------------------------

DEFAULT_NUM_BEAMS = 1  # signkit's own decoding defaults, for model configs that carry none (num_beams, max_new_tokens)


def decoding(config: Any, beams: int | None = None, max_new_tokens: int | None = None) -> dict[str, int]:
    """The one place decoding options are resolved: ``beams``/``max_new_tokens`` when given, else the model
    config's ``num_beams``/``max_new_tokens`` (Uni-Sign-family models: 4 and 100, their authors' evaluation), else
    signkit's defaults (greedy, ``max_text_tokens`` new tokens). Returns ``model.predict``'s keyword arguments."""
    return {
        "beam_size": int(beams or getattr(config, "num_beams", None) or DEFAULT_NUM_BEAMS),
        "max_length": int(max_new_tokens or getattr(config, "max_new_tokens", None) or config.max_text_tokens),
    }


class GenerativeISLRTask(Task):
    """ISLR as Uni-Sign does it: the model writes the sign's word (text generation, no class head) and a sample is
    right when the written word is its class name (whitespace at the ends ignored). Scored by per-instance (P-I,
    ``top1``) and per-class (P-C, ``per_class_top1``) accuracy, as Uni-Sign's ``islr_performance``; a written word
    that is no class counts as wrong (``pred`` -1)."""

    name = "islr-generative"
    primary = "top1"
    higher_is_better = True

    @property
    def num_classes(self) -> int:
        return ISLRTask(self.labels).num_classes

    @torch.no_grad()
    def predict(self, model: torch.nn.Module, batch: dict[str, Any]) -> list[dict[str, Any]]:
        decode = {k: v for k, v in self.options.items() if k in ("beam_size", "length_penalty", "max_length")}
        hyps = model.predict(batch, **decode)
        index = {c.strip(): i for i, c in enumerate(self.labels.classes)}
        out = []
        for key, label, hyp in zip(batch["key"], batch["label"].tolist(), hyps, strict=True):
            ref = self.labels.classes[label] if 0 <= label < len(self.labels.classes) else None
            out.append({"key": key, "label": label, "ref": ref, "hyp": hyp, "pred": index.get(hyp.strip(), -1)})
        return out

    def score(self, predictions: Sequence[dict[str, Any]]) -> dict[str, float]:
        scored = [p for p in predictions if p["label"] >= 0]
        if not scored:
            return {}
        hits = np.asarray([p["pred"] == p["label"] for p in scored], dtype=np.float64)
        labels = np.asarray([p["label"] for p in scored])
        per_class = [hits[labels == c].mean() for c in np.unique(labels)]
        return {
            "top1": 100.0 * float(hits.mean()),
            "per_class_top1": 100.0 * float(np.mean(per_class)),
            "samples": len(scored),
        }


TASK_TYPES: dict[str, type[Task]] = {
    "islr": ISLRTask,
    "cslr": CSLRTask,
    "slt": SLTTask,
    "pretrain": PretrainTask,
    "islr-generative": GenerativeISLRTask,
}


def make_task(name: str, labels: LabelSpace | None = None, options: dict[str, Any] | None = None) -> Task:
    try:
        return TASK_TYPES[name](labels, options)
    except KeyError:
        raise ConfigError(f"unknown task {name!r}; use one of {', '.join(TASK_TYPES)}") from None
