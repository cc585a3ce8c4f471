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
from .graph import PART_NAMES, adjacency, part_graphs
from .inputs import PartInputs
from .stgcn import STGCNChain

# Uni-Sign's part names (module keys), kept so state dicts map one to one.
MODULE_KEYS = {"body": "body", "left_hand": "left", "right_hand": "right", "face": "face_all"}


class SignEncoder(nn.Module):
    """Pose [B, T, K, 3] + conf [B, T, K] + mask [B, T] (+ frame_size [B, 2] for the uni-sign transform) -> sign
    tokens [B, T, out_dim] (padded frames zero)."""

    def __init__(self, cfg: SignEncoderConfig, layout: str, out_dim: int):
        super().__init__()
        self.cfg = cfg
        self.layout = get_layout(layout)
        self.graphs = part_graphs(self.layout.name, cfg.point_set)
        self.inputs = PartInputs(self.graphs, cfg)
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
            got = _layouts_with(pose.shape[2]) if pose.ndim == 4 else ""
            raise ConfigError(
                f"this model takes layout {self.layout.name} ({k} points) but the pose is {tuple(pose.shape)}"
                f"{got}; remap it with signkit.pose.mapping.index_map(src, {self.layout.name!r}) (finetune/evaluate "
                "remap a packed dataset by themselves)"
            )
        if conf.shape != pose.shape[:3] or mask.shape != pose.shape[:2]:
            raise ConfigError(f"conf must be [B, T, K] and mask [B, T]; got {tuple(conf.shape)}, {tuple(mask.shape)}")

    def part_inputs(
        self, pose: torch.Tensor, conf: torch.Tensor, mask: torch.Tensor, frame_size: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """The four part tensors [B, T, V, 3] the configured input transform makes (for inspection and parity)."""
        self.check_input(pose, conf, mask)
        return self.inputs(pose, conf, mask.bool(), frame_size)

    def forward(
        self, pose: torch.Tensor, conf: torch.Tensor, mask: torch.Tensor, frame_size: torch.Tensor | None = None
    ) -> torch.Tensor:
        parts = self.part_inputs(pose, conf, mask, frame_size)
        mask = mask.bool()
        body_feat = None
        features: dict[str, torch.Tensor] = {}
        # With shared hand modules both hands go through them in one call: batch norm then normalises them with
        # joint statistics in training, as its running statistics (updated by both) do in eval. Two calls gave
        # each hand its own training statistics but one shared running mean: a train/eval gap that kept CSLR
        # from reproducing in eval the words it had overfit in training (tests/test_fs_words.py).
        groups = (
            [("body",), ("left_hand", "right_hand"), ("face",)] if self.cfg.share_hands else [(p,) for p in PART_NAMES]
        )
        for group in groups:
            key = MODULE_KEYS[group[-1]]
            n = len(group)
            x = torch.cat([parts[part] for part in group])  # [n*B, T, V, 3]
            m = mask.repeat(n, 1)
            x = self.proj_linear[key](x).permute(0, 3, 1, 2)  # [n*B, C, T, V]
            x = self.gcn_modules[key](x, m)
            if group == ("body",):
                body_feat = x
            else:
                anchor = torch.cat([body_feat[..., self.graphs[part].body_anchor, None] for part in group])
                x = x + (anchor.detach() if self.cfg.detach_body_anchor else anchor)
            x = self.fusion_gcn_modules[key](x, m)
            for part, chunk in zip(group, x.mean(-1).transpose(1, 2).chunk(n), strict=True):
                features[part] = chunk  # [B, T, C]
        features = [features[part] for part in PART_NAMES]
        tokens = self.pose_proj(torch.cat(features, dim=-1) + self.part_para)
        return tokens * mask[..., None].to(tokens.dtype)


def _layouts_with(num_points: int) -> str:
    from ..pose import list_layouts

    names = [name for name in list_layouts() if get_layout(name).num_points == num_points]
    return f" (layout {' or '.join(names)})" if names else ""
