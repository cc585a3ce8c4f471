"""A pose file's summary (`signkit info POSE_FILE`): what it holds and how much of each part was detected."""

from __future__ import annotations

import os
from typing import Any

from .io import load_pose
from .layouts import PARTS


def pose_summary(path: str | os.PathLike) -> dict[str, Any]:
    pose = load_pose(path)
    return {
        "path": str(path),
        "layout": pose.layout,
        "frames": pose.num_frames,
        "fps": pose.fps,
        "seconds": round(pose.duration, 3),
        "frame_size": pose.meta.get("frame_size"),
        "normalized": pose.meta.get("normalization") is not None,
        "detected": {p: round(pose.detected_ratio(p), 4) for p in PARTS},
        "extractor": pose.meta.get("extractor"),
        "flags": pose.meta.get("flags", []),
    }
