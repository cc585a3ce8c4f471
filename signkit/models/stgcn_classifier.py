"""A plain ST-GCN classifier (ISLR only): one whole-body skeleton graph, ST-GCN blocks, mean pooling, a linear head.

The baseline skeleton-based ISLR model of the field (Yan et al. 2018's ST-GCN, as in SignBERT's and WLASL's
pose baselines), built from signkit's own parts: the input transform of `signkit.models.inputs` (the four part
tensors), joined into one graph (each part's own edges, plus an edge from each hand's wrist and from the face's nose
to the body point it hangs from), the mask-aware blocks of `signkit.models.stgcn`, a masked mean over frames and
points, and `ISLRHead` (every head parameter under ``head.``, so a new class list is a new head on a loaded
backbone). It is also the proof that a second architecture is one module + one row of `signkit.models.families`.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from ..pose import get_layout
from .alignment import masked_mean
from .config import ModelConfigBase, SignEncoderConfig
from .graph import PART_NAMES, PartGraph, adjacency, part_graphs
from .heads import ISLRHead
from .inputs import PartInputs
from .stgcn import STGCNChain

TASKS = ("islr",)


@dataclass
class STGCNClassifierConfig(ModelConfigBase):
    """Everything that defines an ST-GCN classifier (architecture, not weights)."""

    name: str = "stgcn-tiny"
    layout: str = "mediapipe-holistic"
    estimators: list[str] = field(default_factory=list)  # the pose estimators of its training data ([] = unknown)
    point_set: str = "uni-sign"  # the points of `signkit.models.graph.part_graphs`: "uni-sign" or "full"
    input_transform: str = "signkit"  # `signkit.models.inputs`: "signkit" or "uni-sign"
    conf_threshold: float = 0.3
    body_scale: float = 1.5
    part_scale: float = 3.0
    clip: float = 1.0
    channels: tuple[int, ...] = (32, 64, 64)  # one ST-GCN block (spatial + temporal) per entry
    temporal_kernel: int = 5
    adaptive_graph: bool = True
    masked_batchnorm: bool = True
    dropout: float = 0.0
    head_dropout: float = 0.1

    def input_config(self) -> SignEncoderConfig:
        """The input-transform settings in the form `PartInputs` takes (and validates)."""
        return SignEncoderConfig(
            point_set=self.point_set,
            input_transform=self.input_transform,
            conf_threshold=self.conf_threshold,
            body_scale=self.body_scale,
            part_scale=self.part_scale,
            clip=self.clip,
        )

    def validate(self) -> STGCNClassifierConfig:
        self.input_config().validate()
        if not self.channels or min(self.channels) < 1:
            raise ConfigError(f"channels must list at least one positive block width, got {list(self.channels)}")
        if self.temporal_kernel < 1 or self.temporal_kernel % 2 != 1:
            raise ConfigError(f"temporal_kernel must be odd, got {self.temporal_kernel}")
        return self

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["channels"] = list(self.channels)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> STGCNClassifierConfig:
        d = copy.deepcopy(d)
        unknown = set(d) - {f.name for f in fields(cls)}
        if unknown:
            raise ConfigError(f"unknown ST-GCN classifier config keys {sorted(unknown)}")
        if "channels" in d:
            d["channels"] = tuple(d["channels"])
        return cls(**d).validate()


def _stgcn_tiny() -> STGCNClassifierConfig:
    return STGCNClassifierConfig()


STGCN_CONFIGS = {"stgcn-tiny": _stgcn_tiny}


def whole_body_graph(graphs: dict[str, PartGraph]) -> tuple[int, tuple[tuple[int, int], ...]]:
    """The four part graphs as one (points in `PART_NAMES` order): each part's edges, and each hand's / the face's
    anchor joined to the body point it hangs from."""
    offsets, n = {}, 0
    for part in PART_NAMES:
        offsets[part] = n
        n += graphs[part].num_points
    edges = [(offsets[p] + i, offsets[p] + j) for p in PART_NAMES for i, j in graphs[p].edges]
    for part in PART_NAMES:
        g = graphs[part]
        if g.anchor is not None and g.body_anchor is not None:
            edges.append((offsets[part] + g.anchor, offsets["body"] + g.body_anchor))
    return n, tuple(edges)


@dataclass
class ClassifierOutput:
    """``loss`` (cross-entropy on the labelled samples; zero without labels), its ``terms`` and ``logits`` [B, C]."""

    loss: torch.Tensor
    terms: dict[str, torch.Tensor] = field(default_factory=dict)
    logits: torch.Tensor | None = None


class STGCNClassifier(nn.Module):
    """``model(batch)`` on the loader's batch (pose, conf, mask, label, frame_size) -> `ClassifierOutput`."""

    def __init__(self, config: STGCNClassifierConfig, task: str | None = "islr", num_classes: int | None = None):
        super().__init__()
        self.config = config.validate()
        self.task = task
        self.num_classes = num_classes
        self.layout = get_layout(config.layout)
        graphs = part_graphs(self.layout.name, config.point_set)
        self.inputs = PartInputs(graphs, config.input_config())
        num_points, edges = whole_body_graph(graphs)
        A = torch.from_numpy(adjacency(num_points, edges).astype(np.float32))
        self.stgcn = STGCNChain(
            3,
            [(c, 1) for c in config.channels],
            config.temporal_kernel,
            A,
            config.adaptive_graph,
            config.masked_batchnorm,
            config.dropout,
        )
        self.head = ISLRHead(config.channels[-1], num_classes, config.head_dropout)

    @property
    def device(self) -> torch.device:
        return self.head.fc.weight.device

    def forward(self, batch: dict) -> ClassifierOutput:
        dev, dtype = self.device, self.head.fc.weight.dtype
        pose, conf, mask = batch["pose"].to(dev).to(dtype), batch["conf"].to(dev).to(dtype), batch["mask"].to(dev)
        mask = mask.bool()
        if pose.ndim != 4 or pose.shape[2] != self.layout.num_points:
            raise ConfigError(
                f"this model takes layout {self.layout.name} ({self.layout.num_points} points) but the pose is "
                f"{tuple(pose.shape)}; remap it with signkit.pose.mapping.index_map (finetune/evaluate remap a "
                "packed dataset by themselves)"
            )
        frame_size = batch.get("frame_size")
        if frame_size is not None:
            frame_size = torch.as_tensor(frame_size).to(dev).to(dtype)
        parts = self.inputs(pose, conf, mask, frame_size)
        x = torch.cat([parts[p] for p in PART_NAMES], dim=2).permute(0, 3, 1, 2)  # [B, 3, T, V]
        x = self.stgcn(x, mask)  # [B, C, T, V]
        logits = self.head(masked_mean(x.mean(-1).transpose(1, 2), mask))
        terms = {}
        if "label" in batch:
            label = batch["label"].to(dev)
            has = label >= 0
            terms["ce"] = F.cross_entropy(logits[has].float(), label[has]) if has.any() else logits.sum() * 0.0
        return ClassifierOutput(terms.get("ce", logits.sum() * 0.0), terms, logits)

    @torch.no_grad()
    def predict(self, batch: dict, k: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
        """(top-k class indices [B, k], probabilities [B, k]), as `SigmaModel.predict` for ISLR."""
        probs = self(batch).logits.float().softmax(-1)
        scores, indices = probs.topk(min(k, probs.shape[-1]), dim=-1)
        return indices, scores
