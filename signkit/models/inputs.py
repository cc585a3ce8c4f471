"""Model input transforms: stored keypoints -> the four part tensors [B, T, V, 3] = (x, y, conf) a sign encoder eats.

A transform is part of a model's configuration (``sign_encoder.input_transform``), because weights are only right
for the inputs they were trained on:

- ``signkit``: the stored shoulder-normalised coordinates; the body divided by ``body_scale``, hands from the wrist
  and the face from the nose tip divided by ``part_scale``; a part whose anchor is not seen is zeroed whole.
- ``uni-sign``: Uni-Sign's ``load_part_kp`` + ``crop_scale`` (``datasets.py`` of github.com/ZechengLi19/Uni-Sign),
  exactly: one square box per clip over every confident body point of every frame, in x/W, y/H units, maps the body
  to [-1, 1]; hands (from the wrist) and face (from the nose tip) are divided by the box side; everything clipped
  to [-1, 1]; a point at or below the threshold has all three channels zero, point by point (no anchor rule); a
  clip with fewer than 4 confident body points is all zero.

The ``uni-sign`` transform needs no image coordinates: the box, its centre and the wrist/nose offsets move and
scale with the coordinates, so the stored ``(p - centre) / scale`` gives the same numbers as the image ones. Only
the aspect matters: x/W, y/H units are not square pixels, so a sample stored in pixels (``frame_size`` [W, H]) has
its x multiplied by H/W first; a sample stored in image-normalised units (``frame_size`` (0, 0): Uni-Sign pickles)
is used as is.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import ConfigError
from .config import SignEncoderConfig
from .graph import PART_NAMES, PartGraph

MIN_BODY_POINTS = 4  # crop_scale: fewer confident body points than this and the clip is all zero


class SignkitPartInput(nn.Module):
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


def _masked(c: torch.Tensor, mask: torch.Tensor, threshold: float) -> torch.Tensor:
    return (c > threshold) & mask[:, :, None]


class UniSignInput(nn.Module):
    """All four parts at once (the body box is shared): Uni-Sign's ``load_part_kp`` + ``crop_scale``."""

    def __init__(self, graphs: dict[str, PartGraph], cfg: SignEncoderConfig):
        super().__init__()
        for part in PART_NAMES:
            self.register_buffer(
                f"index_{part}", torch.tensor(graphs[part].indices, dtype=torch.long), persistent=False
            )
        self.anchors = {p: graphs[p].anchor for p in PART_NAMES}
        self.threshold = cfg.conf_threshold

    def forward(
        self, pose: torch.Tensor, conf: torch.Tensor, mask: torch.Tensor, frame_size: torch.Tensor | None
    ) -> dict[str, torch.Tensor]:
        if frame_size is None:
            raise ConfigError(
                "the uni-sign input transform needs each sample's source frame size (batch['frame_size'] [B, 2], "
                "(0, 0) for image-normalised coordinates); re-pack the dataset with this signkit version"
            )
        xy = pose[..., :2].clone()
        w, h = frame_size[:, 0].to(xy.dtype), frame_size[:, 1].to(xy.dtype)
        aspect = torch.where((w > 0) & (h > 0), h / w.clamp(min=1e-12), torch.ones_like(w))
        xy[..., 0] = xy[..., 0] * aspect[:, None, None]  # pixels -> x/W, y/H units, up to one scale per clip
        thr = self.threshold
        body_xy = xy.index_select(2, self.index_body)
        body_c = conf.index_select(2, self.index_body)
        valid = _masked(body_c, mask, thr)
        inf = torch.tensor(float("inf"), dtype=xy.dtype, device=xy.device)
        lo = torch.where(valid[..., None], body_xy, inf).amin(dim=(1, 2))  # [B, 2]
        hi = torch.where(valid[..., None], body_xy, -inf).amax(dim=(1, 2))
        side = (hi - lo).amax(dim=-1)  # [B]
        ok = (valid.sum(dim=(1, 2)) >= MIN_BODY_POINTS) & (side > 0)
        side = torch.where(ok, side, torch.ones_like(side))[:, None, None, None]
        centre = torch.where(ok[:, None], (lo + hi) / 2, torch.zeros_like(lo))[:, None, None]
        out = {}
        for part in PART_NAMES:
            index = getattr(self, f"index_{part}")
            p_xy, c = (body_xy, body_c) if part == "body" else (xy.index_select(2, index), conf.index_select(2, index))
            anchor = self.anchors[part]
            if anchor is None:
                p_xy = 2 * (p_xy - centre) / side
            else:
                p_xy = (p_xy - p_xy[:, :, anchor : anchor + 1]) / side
            x = torch.cat([p_xy, c[..., None]], dim=-1).clamp(-1, 1)
            keep = _masked(c, mask, thr) & ok[:, None, None]
            out[part] = x * keep[..., None].to(x.dtype)
        return out


class PartInputs(nn.Module):
    """The configured transform: ``(pose, conf, mask, frame_size) -> {part: [B, T, V, 3]}``."""

    def __init__(self, graphs: dict[str, PartGraph], cfg: SignEncoderConfig):
        super().__init__()
        self.transform = cfg.input_transform
        if self.transform == "uni-sign":
            self.unisign = UniSignInput(graphs, cfg)
        else:
            self.parts = nn.ModuleDict({p: SignkitPartInput(graphs[p], cfg) for p in PART_NAMES})

    def forward(
        self, pose: torch.Tensor, conf: torch.Tensor, mask: torch.Tensor, frame_size: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        if self.transform == "uni-sign":
            return self.unisign(pose, conf, mask, frame_size)
        return {p: self.parts[p](pose, conf, mask) for p in PART_NAMES}
