"""Normalisation at extraction: mid-shoulder centre, shoulder-width scale, robust over the whole sequence.

Coordinates are first made pixel-aspect-correct (x and y in pixels of the source frame), then
``(p - centre) / scale`` with the per-sequence *median* mid-shoulder point and shoulder width, so one bad frame
cannot move the frame of reference. Centre and scale are stored in ``meta["normalization"]`` and
`denormalize` recovers image coordinates exactly (for drawing over the source video).
"""

from __future__ import annotations

import numpy as np

from ..errors import PoseError
from .pose import Pose

SHOULDERS = ("left_shoulder", "right_shoulder")
MIN_SHOULDER_CONF = 0.5


def shoulder_reference(pose: Pose, min_conf: float = MIN_SHOULDER_CONF) -> tuple[np.ndarray, float]:
    """Median mid-shoulder point (x, y, z) and median 2-D shoulder width over frames that see both shoulders."""
    (left, left_conf), (right, right_conf) = pose.point(SHOULDERS[0]), pose.point(SHOULDERS[1])
    seen = (left_conf >= min_conf) & (right_conf >= min_conf)
    if not seen.any():
        seen = (left_conf > 0) & (right_conf > 0)
    if not seen.any():
        raise PoseError("cannot normalise: no frame shows both shoulders (is there a person in the video?)")
    centre = np.median((left[seen] + right[seen]) / 2, axis=0)
    width = float(np.median(np.linalg.norm(left[seen, :2] - right[seen, :2], axis=1)))
    if not width > 0:
        raise PoseError("cannot normalise: the detected shoulders have zero width")
    return centre, width


def is_normalized(pose: Pose) -> bool:
    return pose.meta.get("normalization") is not None


def normalize(pose: Pose) -> Pose:
    """Centre on the median mid-shoulder point and divide by the median shoulder width (x, y and z alike).

    Undetected points stay at 0 with conf 0. Raises `PoseError` if the pose is already normalised or no frame
    shows both shoulders.
    """
    if is_normalized(pose):
        raise PoseError("pose is already normalised")
    centre, scale = shoulder_reference(pose)
    out = pose.copy()
    seen = out.conf > 0
    out.coords = np.where(seen[..., None], (out.coords - centre) / scale, 0).astype(np.float32)
    out.meta["normalization"] = {
        "method": "shoulders",
        "center": [float(c) for c in centre],
        "scale": scale,
    }
    return out


def denormalize(pose: Pose) -> Pose:
    """Back to the image coordinates the pose was extracted in (pixels); a no-op copy if not normalised."""
    out = pose.copy()
    norm = pose.meta.get("normalization")
    if norm is None:
        return out
    centre = np.asarray(norm["center"], dtype=np.float64)
    seen = out.conf > 0
    out.coords = np.where(seen[..., None], out.coords * norm["scale"] + centre, 0).astype(np.float32)
    out.meta["normalization"] = None
    return out
