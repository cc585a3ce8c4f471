"""Keypoint layouts: every point has a name, every point belongs to a part.

Code selects points by name or by part (``layout.part_indices("left_hand")``), never by hard-coded index
ranges. Layouts are plain data; ``get_layout`` is the only way in, and an unknown name lists the known ones.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

from ..errors import LayoutError

PARTS = ("body", "left_hand", "right_hand", "face")

HAND_POINTS = (
    "wrist",
    "thumb_cmc",
    "thumb_mcp",
    "thumb_ip",
    "thumb_tip",
    "index_finger_mcp",
    "index_finger_pip",
    "index_finger_dip",
    "index_finger_tip",
    "middle_finger_mcp",
    "middle_finger_pip",
    "middle_finger_dip",
    "middle_finger_tip",
    "ring_finger_mcp",
    "ring_finger_pip",
    "ring_finger_dip",
    "ring_finger_tip",
    "pinky_mcp",
    "pinky_pip",
    "pinky_dip",
    "pinky_tip",
)
HAND_EDGES = (
    (0, 1),
    (1, 2),
    (2, 3),
    (3, 4),
    (0, 5),
    (5, 6),
    (6, 7),
    (7, 8),
    (5, 9),
    (9, 10),
    (10, 11),
    (11, 12),
    (9, 13),
    (13, 14),
    (14, 15),
    (15, 16),
    (13, 17),
    (0, 17),
    (17, 18),
    (18, 19),
    (19, 20),
)

# MediaPipe Pose's 33 landmarks, in MediaPipe's order (subject's left/right).
MEDIAPIPE_BODY_POINTS = (
    "nose",
    "left_eye_inner",
    "left_eye",
    "left_eye_outer",
    "right_eye_inner",
    "right_eye",
    "right_eye_outer",
    "left_ear",
    "right_ear",
    "mouth_left",
    "mouth_right",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_pinky",
    "right_pinky",
    "left_index",
    "right_index",
    "left_thumb",
    "right_thumb",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
    "left_heel",
    "right_heel",
    "left_foot_index",
    "right_foot_index",
)
MEDIAPIPE_BODY_EDGES = (
    (0, 1),
    (1, 2),
    (2, 3),
    (3, 7),
    (0, 4),
    (4, 5),
    (5, 6),
    (6, 8),
    (9, 10),
    (11, 12),
    (11, 13),
    (13, 15),
    (15, 17),
    (15, 19),
    (15, 21),
    (17, 19),
    (12, 14),
    (14, 16),
    (16, 18),
    (16, 20),
    (16, 22),
    (18, 20),
    (11, 23),
    (12, 24),
    (23, 24),
    (23, 25),
    (24, 26),
    (25, 27),
    (26, 28),
    (27, 29),
    (28, 30),
    (29, 31),
    (30, 32),
    (27, 31),
    (28, 32),
)

# COCO-WholeBody: 17 COCO body points, 6 feet points, 68 face points (iBUG order), two hands.
COCO_BODY_POINTS = (
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
    "left_big_toe",
    "left_small_toe",
    "left_heel",
    "right_big_toe",
    "right_small_toe",
    "right_heel",
)
COCO_BODY_EDGES = (
    (15, 13),
    (13, 11),
    (16, 14),
    (14, 12),
    (11, 12),
    (5, 11),
    (6, 12),
    (5, 6),
    (5, 7),
    (6, 8),
    (7, 9),
    (8, 10),
    (1, 2),
    (0, 1),
    (0, 2),
    (1, 3),
    (2, 4),
    (3, 5),
    (4, 6),
    (15, 17),
    (15, 18),
    (15, 19),
    (16, 20),
    (16, 21),
    (16, 22),
)


def _chain(start: int, end: int, closed: bool = False) -> list[tuple[int, int]]:
    edges = [(i, i + 1) for i in range(start, end)]
    return edges + [(end, start)] if closed else edges


COCO_FACE_EDGES = tuple(
    _chain(0, 16)
    + _chain(17, 21)
    + _chain(22, 26)
    + _chain(27, 30)
    + _chain(31, 35)
    + _chain(36, 41, closed=True)
    + _chain(42, 47, closed=True)
    + _chain(48, 59, closed=True)
    + _chain(60, 67, closed=True)
)


@cache
def _mediapipe_face_edges(refined: bool) -> tuple[tuple[int, int], ...]:
    """Face-mesh contour (and iris) edges: lips, eyes, brows, face oval; the full tessellation is not needed."""
    data = json.loads(resources.files(__package__).joinpath("data/mediapipe_face_edges.json").read_text())
    edges = data["contours"] + (data["irises"] if refined else [])
    return tuple(tuple(e) for e in edges)


@dataclass(frozen=True)
class Layout:
    """Named keypoints grouped into parts, with the edges of each part's skeleton graph (part-local indices)."""

    name: str
    points: tuple[str, ...]
    parts: dict[str, tuple[int, ...]] = field(hash=False)
    part_edges: dict[str, tuple[tuple[int, int], ...]] = field(hash=False)
    description: str = ""

    @property
    def num_points(self) -> int:
        return len(self.points)

    def index(self, name: str) -> int:
        try:
            return self._index_map()[name]
        except KeyError:
            raise LayoutError(f"layout {self.name!r} has no point named {name!r}") from None

    def indices(self, names: list[str] | tuple[str, ...]) -> list[int]:
        return [self.index(n) for n in names]

    def part_indices(self, part: str) -> tuple[int, ...]:
        if part not in self.parts:
            raise LayoutError(f"layout {self.name!r} has no part {part!r}; its parts are {', '.join(self.parts)}")
        return self.parts[part]

    def edges(self) -> list[tuple[int, int]]:
        """All skeleton edges in global point indices (for drawing)."""
        out = []
        for part, idx in self.parts.items():
            out.extend((idx[a], idx[b]) for a, b in self.part_edges[part])
        return out

    def _index_map(self) -> dict[str, int]:
        cached = self.__dict__.get("_index_cache")
        if cached is None:
            cached = {n: i for i, n in enumerate(self.points)}
            object.__setattr__(self, "_index_cache", cached)
        return cached


def _build(name: str, description: str, parts: list[tuple[str, tuple[str, ...], tuple]]) -> Layout:
    points: list[str] = []
    index_sets: dict[str, tuple[int, ...]] = {}
    edge_sets: dict[str, tuple[tuple[int, int], ...]] = {}
    for part, names, edges in parts:
        index_sets[part] = tuple(range(len(points), len(points) + len(names)))
        edge_sets[part] = tuple(edges)
        points.extend(names)
    if len(set(points)) != len(points):
        raise AssertionError(f"duplicate point names in layout {name}")
    return Layout(name, tuple(points), index_sets, edge_sets, description)


def _hand(side: str) -> tuple[str, ...]:
    return tuple(f"{side}_hand_{p}" for p in HAND_POINTS)


def _mediapipe(refined: bool) -> Layout:
    n_face = 478 if refined else 468
    name = "mediapipe-holistic-refined" if refined else "mediapipe-holistic"
    return _build(
        name,
        f"MediaPipe Holistic: pose 33 + face {n_face} + left hand 21 + right hand 21 (pose-format's order)",
        [
            ("body", MEDIAPIPE_BODY_POINTS, MEDIAPIPE_BODY_EDGES),
            ("face", tuple(f"face_{i}" for i in range(n_face)), _mediapipe_face_edges(refined)),
            ("left_hand", _hand("left"), HAND_EDGES),
            ("right_hand", _hand("right"), HAND_EDGES),
        ],
    )


def _coco_wholebody() -> Layout:
    return _build(
        "coco-wholebody-133",
        "COCO-WholeBody: body 17 + feet 6 + face 68 + left hand 21 + right hand 21 (RTMPose/HRNet, Uni-Sign, MSKA)",
        [
            ("body", COCO_BODY_POINTS, COCO_BODY_EDGES),
            ("face", tuple(f"face68_{i}" for i in range(68)), COCO_FACE_EDGES),
            ("left_hand", _hand("left"), HAND_EDGES),
            ("right_hand", _hand("right"), HAND_EDGES),
        ],
    )


_FACTORIES = {
    "mediapipe-holistic": lambda: _mediapipe(refined=False),
    "mediapipe-holistic-refined": lambda: _mediapipe(refined=True),
    "coco-wholebody-133": _coco_wholebody,
}


def list_layouts() -> list[str]:
    return sorted(_FACTORIES)


@cache
def get_layout(name: str) -> Layout:
    """The layout called ``name``; an unknown name is an error that lists the known ones."""
    if isinstance(name, Layout):
        return name
    try:
        return _FACTORIES[name]()
    except KeyError:
        raise LayoutError(f"unknown layout {name!r}; known layouts: {', '.join(list_layouts())}") from None


def layout_for_num_points(num_points: int) -> Layout:
    """The one layout with ``num_points`` points (used when a file carries no layout name)."""
    matches = [get_layout(n) for n in list_layouts() if get_layout(n).num_points == num_points]
    if len(matches) != 1:
        raise LayoutError(
            f"cannot tell the layout of {num_points} keypoints; known layouts: "
            + ", ".join(f"{n} ({get_layout(n).num_points})" for n in list_layouts())
        )
    return matches[0]
