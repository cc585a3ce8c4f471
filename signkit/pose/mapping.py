"""Converting a pose from one layout to another through named point correspondences.

A target point either has a source point or is masked (conf 0, coords 0): nothing is invented. The tables
map point *names*, so they read as facts about anatomy rather than index arithmetic.
"""

from __future__ import annotations

import numpy as np

from ..errors import LayoutError
from .layouts import COCO_BODY_POINTS, HAND_POINTS, get_layout

# iBUG-68 face points -> MediaPipe face-mesh vertex (the closest mesh vertex; the mesh has no exact jaw contour,
# so the jaw points 0-16 are approximate).
IBUG68_FROM_FACEMESH = (
    162,
    234,
    93,
    58,
    172,
    136,
    149,
    148,
    152,
    377,
    378,
    365,
    397,
    288,
    323,
    454,
    389,  # jaw 0-16
    71,
    63,
    105,
    66,
    107,
    336,
    296,
    334,
    293,
    301,  # brows 17-26
    168,
    197,
    5,
    4,
    75,
    97,
    2,
    326,
    305,  # nose 27-35
    33,
    160,
    158,
    133,
    153,
    144,
    362,
    385,
    387,
    263,
    373,
    380,  # eyes 36-47
    61,
    39,
    37,
    0,
    267,
    269,
    291,
    405,
    314,
    17,
    84,
    181,  # outer lips 48-59
    78,
    82,
    13,
    312,
    308,
    317,
    14,
    87,  # inner lips 60-67
)

# COCO body names that MediaPipe Pose calls differently; the other 17 COCO body names are MediaPipe's own.
_COCO_BODY_FROM_MEDIAPIPE = {"left_big_toe": "left_foot_index", "right_big_toe": "right_foot_index"}
_COCO_WITHOUT_MEDIAPIPE = {"left_small_toe", "right_small_toe"}


def _coco_from_mediapipe() -> dict[str, str]:
    table = {}
    for name in COCO_BODY_POINTS:
        if name not in _COCO_WITHOUT_MEDIAPIPE:
            table[name] = _COCO_BODY_FROM_MEDIAPIPE.get(name, name)
    table.update({f"face68_{i}": f"face_{v}" for i, v in enumerate(IBUG68_FROM_FACEMESH)})
    for side in ("left", "right"):
        table.update({f"{side}_hand_{p}": f"{side}_hand_{p}" for p in HAND_POINTS})
    return table


def correspondence(source: str, target: str) -> dict[str, str]:
    """Target point name -> source point name, for every target point that has a counterpart."""
    src, tgt = get_layout(source).name, get_layout(target).name
    if src == tgt:
        return {n: n for n in get_layout(src).points}
    mp = {"mediapipe-holistic", "mediapipe-holistic-refined"}
    if src in mp and tgt in mp:
        shared = set(get_layout(src).points) & set(get_layout(tgt).points)
        return {n: n for n in get_layout(tgt).points if n in shared}
    if src in mp and tgt == "coco-wholebody-133":
        return _coco_from_mediapipe()
    if src == "coco-wholebody-133" and tgt in mp:
        return {m: c for c, m in _coco_from_mediapipe().items()}
    raise LayoutError(f"no mapping from layout {src!r} to {tgt!r}")


def index_map(source: str, target: str) -> np.ndarray:
    """For each target point, the source index (-1 where the target point has no counterpart)."""
    src, tgt = get_layout(source), get_layout(target)
    table = correspondence(src.name, tgt.name)
    return np.array([src.index(table[n]) if n in table else -1 for n in tgt.points], dtype=np.int64)


def remap_arrays(coords: np.ndarray, conf: np.ndarray, source: str, target: str) -> tuple[np.ndarray, np.ndarray]:
    """Gather ``coords[..., K, C]`` / ``conf[..., K]`` into the target layout; unmatched points are masked."""
    idx = index_map(source, target)
    have = idx >= 0
    safe = np.where(have, idx, 0)
    new_coords = np.where(have[:, None], coords[..., safe, :], 0).astype(coords.dtype)
    new_conf = np.where(have, conf[..., safe], 0).astype(conf.dtype)
    return new_coords, new_conf
