"""The `Pose`: one person's keypoint sequence, the type every other part of signkit speaks."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import PoseError
from .layouts import Layout, get_layout


@dataclass
class Pose:
    """A keypoint sequence in a named layout.

    ``coords[T, K, 3]`` holds x, y, z; ``conf[T, K]`` in [0, 1] says how sure the detector was, and 0 means
    "not detected" (the coordinates of such a point mean nothing). ``meta`` carries what travels with the
    sequence: ``frame_size`` [W, H] of the source, ``normalization`` (centre and scale, or None), provenance.
    """

    coords: np.ndarray
    conf: np.ndarray
    fps: float
    layout: str
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.layout = get_layout(self.layout).name
        self.coords = np.asarray(self.coords, dtype=np.float32)
        self.conf = np.asarray(self.conf, dtype=np.float32)
        self.fps = float(self.fps)
        self.validate()

    def validate(self) -> None:
        """Raise `PoseError` unless shapes, layout, fps and values are consistent."""
        k = self.layout_info.num_points
        if self.coords.ndim != 3 or self.coords.shape[1:] != (k, 3):
            raise PoseError(f"coords must have shape [T, {k}, 3] for layout {self.layout}, got {self.coords.shape}")
        if self.conf.shape != self.coords.shape[:2]:
            raise PoseError(f"conf must have shape {self.coords.shape[:2]}, got {self.conf.shape}")
        if not (np.isfinite(self.fps) and self.fps > 0):
            raise PoseError(f"fps must be a positive number, got {self.fps}")
        if not np.isfinite(self.coords).all():
            raise PoseError("coords contain NaN or inf; mark missing points with conf 0 instead")
        if not np.isfinite(self.conf).all() or (self.conf < 0).any() or (self.conf > 1).any():
            raise PoseError("conf must be finite and within [0, 1]")

    @property
    def layout_info(self) -> Layout:
        return get_layout(self.layout)

    @property
    def num_frames(self) -> int:
        return int(self.coords.shape[0])

    @property
    def duration(self) -> float:
        return self.num_frames / self.fps

    def part(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """``(coords, conf)`` of one part (``body``, ``left_hand``, ``right_hand``, ``face``)."""
        idx = list(self.layout_info.part_indices(name))
        return self.coords[:, idx], self.conf[:, idx]

    def point(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """``(coords[T, 3], conf[T])`` of one named point."""
        i = self.layout_info.index(name)
        return self.coords[:, i], self.conf[:, i]

    def detected_ratio(self, part: str) -> float:
        """Fraction of frames in which any point of ``part`` was detected."""
        if self.num_frames == 0:
            return 0.0
        _, conf = self.part(part)
        return float((conf > 0).any(axis=1).mean())

    def to_layout(self, layout: str) -> Pose:
        """This pose in another layout; points without a counterpart are masked (conf 0), never invented."""
        from .mapping import remap_arrays

        target = get_layout(layout).name
        coords, conf = remap_arrays(self.coords, self.conf, self.layout, target)
        meta = copy.deepcopy(self.meta)
        meta["converted_from"] = self.layout
        return Pose(coords, conf, self.fps, target, meta)

    def copy(self) -> Pose:
        return Pose(self.coords.copy(), self.conf.copy(), self.fps, self.layout, copy.deepcopy(self.meta))

    def __repr__(self) -> str:
        return f"Pose(layout={self.layout!r}, frames={self.num_frames}, fps={self.fps:g})"
