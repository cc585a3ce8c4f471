"""The part-wise sign encoder: per-part input transform, one ST-GCN stream per part, fusion, projection.

Shape follows Uni-Sign's pose branch (names too, so its weights map one to one; see docs/sigma.md):
``proj_linear[part]`` (x, y, conf) -> C0, ``gcn_modules[part]`` spatial ST-GCN chain, the body's wrist/nose
feature added to the hands/face, ``fusion_gcn_modules[part]`` temporal ST-GCN chain, mean over points, concat
of the four parts + ``part_para``, ``pose_proj`` to the text model's width. Output: one token per frame.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import ConfigError
from ..pose import get_layout
from .config import SignEncoderConfig
from .graph import PART_NAMES, PartGraph, adjacency, part_graphs
from .stgcn import STGCNChain

# Uni-Sign's part names (module keys), kept so state dicts map one to one.
MODULE_KEYS = {"body": "body", "left_hand": "left", "right_hand": "right", "face": "face_all"}


class PartInput(nn.Module):
    """Selects a part's points and makes them relative: body scaled, hands from the wrist, face from the nose.

    Returns [B, T, V, 3] = (x, y, conf) with every channel zero where a point (or the part's anchor) is not
    detected (conf <= threshold) or the frame is padding, so a missing hand is never "a hand at the origin".
    """

    def __init__(self, graph: PartGraph, cfg: SignEncoderConfig):
        super().__init__()
        self.register_buffer("index", torch.tensor(graph.indices, dtype=torch.long), persistent=False)
        self.anchor = graph.anchor
        self.scale = cfg.body_scale if graph.anchor is None else cfg.part_scale
        self.threshold = cfg.conf_threshold
        self.clip = cfg.clip

    def forward(self, pose: torch.Tensor, conf: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        xy = pose.index_select(2, self.index)[..., :2]
        c = conf.index_select(2, self.index)
        seen = (c > self.threshold) & mask[:, :, None]
        if self.anchor is not None:
            xy = xy - xy[:, :, self.anchor : self.anchor + 1]
            seen = seen & seen[:, :, self.anchor : self.anchor + 1]
        xy = xy / self.scale
        if self.clip:
            xy = xy.clamp(-self.clip, self.clip)
        return torch.cat([xy, c[..., None]], dim=-1) * seen[..., None].to(xy.dtype)


class SignEncoder(nn.Module):
    """Pose [B, T, K, 3] + conf [B, T, K] + mask [B, T] -> sign tokens [B, T, out_dim] (padded frames zero)."""

    def __init__(self, cfg: SignEncoderConfig, layout: str, out_dim: int):
        super().__init__()
        self.cfg = cfg
        self.layout = get_layout(layout)
        self.graphs = part_graphs(self.layout.name, cfg.point_set)
        self.inputs = nn.ModuleDict({p: PartInput(self.graphs[p], cfg) for p in PART_NAMES})
        self.proj_linear = nn.ModuleDict()
        self.gcn_modules = nn.ModuleDict()
        self.fusion_gcn_modules = nn.ModuleDict()
        spatial = [(c, 1) for c in cfg.spatial_channels]
        temporal = [(cfg.part_dim, cfg.temporal_depth)] if cfg.temporal_depth else []
        for part in PART_NAMES:
            key = MODULE_KEYS[part]
            if cfg.share_hands and part == "left_hand":
                continue  # aliased to the right hand's modules below (Uni-Sign does the same)
            A = torch.from_numpy(adjacency(self.graphs[part].num_points, self.graphs[part].edges))
            self.proj_linear[key] = nn.Linear(3, cfg.proj_dim)
            self.gcn_modules[key] = STGCNChain(cfg.proj_dim, spatial, 1, A, cfg.adaptive_graph, cfg.masked_batchnorm)
            self.fusion_gcn_modules[key] = STGCNChain(
                cfg.part_dim, temporal, cfg.temporal_kernel, A, cfg.adaptive_graph, cfg.masked_batchnorm, cfg.dropout
            )
        if cfg.share_hands:
            for modules in (self.proj_linear, self.gcn_modules, self.fusion_gcn_modules):
                modules["left"] = modules["right"]
        self.part_para = nn.Parameter(torch.zeros(cfg.part_dim * len(PART_NAMES)))
        self.pose_proj = nn.Linear(cfg.part_dim * len(PART_NAMES), out_dim)
        self.out_dim = out_dim

    def check_input(self, pose: torch.Tensor, conf: torch.Tensor, mask: torch.Tensor) -> None:
        k = self.layout.num_points
        if pose.ndim != 4 or pose.shape[2] != k or pose.shape[3] < 2:
            raise ConfigError(
                f"pose must be [B, T, {k}, 3] for layout {self.layout.name}, got {tuple(pose.shape)}; remap other "
                "layouts with signkit.pose.mapping.index_map(src, dst)"
            )
        if conf.shape != pose.shape[:3] or mask.shape != pose.shape[:2]:
            raise ConfigError(f"conf must be [B, T, K] and mask [B, T]; got {tuple(conf.shape)}, {tuple(mask.shape)}")

    def forward(self, pose: torch.Tensor, conf: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        self.check_input(pose, conf, mask)
        mask = mask.bool()
        body_feat = None
        features = []
        for part in PART_NAMES:
            key = MODULE_KEYS[part]
            x = self.inputs[part](pose, conf, mask)  # [B, T, V, 3]
            x = self.proj_linear[key](x).permute(0, 3, 1, 2)  # [B, C, T, V]
            x = self.gcn_modules[key](x, mask)
            if part == "body":
                body_feat = x
            else:
                anchor = body_feat[..., self.graphs[part].body_anchor, None]
                x = x + (anchor.detach() if self.cfg.detach_body_anchor else anchor)
            x = self.fusion_gcn_modules[key](x, mask)
            features.append(x.mean(-1).transpose(1, 2))  # [B, T, C]
        tokens = self.pose_proj(torch.cat(features, dim=-1) + self.part_para)
        return tokens * mask[..., None].to(tokens.dtype)
