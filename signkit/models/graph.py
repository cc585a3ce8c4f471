"""Part graphs: which points each part stream sees, their skeleton edges and the ST-GCN adjacency.

Points are chosen by name. The ``uni-sign`` point set is Uni-Sign's (9 upper-body points, 21 per hand, 9 jaw +
8 inner-lip points + the nose tip for the face), written in COCO-WholeBody names and resolved in any layout
through `signkit.pose.correspondence`, so a model built for MediaPipe input has the same graphs (and can take
Uni-Sign's weights). The ``full`` point set takes every point of each layout part with the layout's own edges.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import LayoutError
from ..pose import correspondence, get_layout
from ..pose.layouts import HAND_POINTS

PART_NAMES = ("body", "left_hand", "right_hand", "face")

_UNI_SIGN_BODY = (
    "nose",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
)
_UNI_SIGN_BODY_EDGES = ((0, 1), (0, 2), (0, 3), (0, 4), (3, 5), (5, 7), (4, 6), (6, 8))
# Uni-Sign's hand graph: each finger a chain from the wrist (no palm edges between finger bases).
_UNI_SIGN_HAND_EDGES = tuple(
    e for f in range(5) for e in [(0, 4 * f + 1)] + [(4 * f + k, 4 * f + k + 1) for k in (1, 2, 3)]
)
# Jaw (iBUG 0, 2, ..., 16), inner lips (iBUG 60-67) and the nose tip (iBUG 30) last: the face's anchor.
_UNI_SIGN_FACE = (
    tuple(f"face68_{i}" for i in range(0, 17, 2)) + tuple(f"face68_{i}" for i in range(60, 68)) + ("face68_30",)
)
_UNI_SIGN_FACE_EDGES = (
    tuple((i, i + 1) for i in range(8))
    + tuple((i, i + 1) for i in range(9, 16))
    + ((16, 9),)
    + tuple((17, i) for i in range(17))
)


@dataclass(frozen=True)
class PartGraph:
    """One part stream's points (indices into the input layout), edges (part-local) and anchor."""

    part: str
    indices: tuple[int, ...]
    edges: tuple[tuple[int, int], ...]
    anchor: int | None  # part-local point the part is made relative to (wrist, nose tip); None for the body
    body_anchor: int | None = None  # body-local point whose feature is added to this part (Uni-Sign)

    @property
    def num_points(self) -> int:
        return len(self.indices)


def _resolve(layout: str, coco_names: tuple[str, ...]) -> tuple[int, ...]:
    """Indices in ``layout`` of points named in COCO-WholeBody terms."""
    lay = get_layout(layout)
    table = correspondence(lay.name, "coco-wholebody-133") if lay.name != "coco-wholebody-133" else None
    out = []
    for name in coco_names:
        src = name if table is None else table.get(name)
        if src is None:
            raise LayoutError(f"layout {lay.name!r} has no counterpart of {name!r} needed by the Uni-Sign point set")
        out.append(lay.index(src))
    return tuple(out)


def part_graphs(layout: str, point_set: str = "uni-sign") -> dict[str, PartGraph]:
    """The four part graphs of ``layout`` for ``point_set`` ("uni-sign" or "full")."""
    lay = get_layout(layout)
    if point_set == "uni-sign":
        body = _resolve(lay.name, _UNI_SIGN_BODY)
        graphs = {"body": PartGraph("body", body, _UNI_SIGN_BODY_EDGES, None)}
        for side, wrist in (("left", 7), ("right", 8)):
            idx = _resolve(lay.name, tuple(f"{side}_hand_{p}" for p in HAND_POINTS))
            graphs[f"{side}_hand"] = PartGraph(f"{side}_hand", idx, _UNI_SIGN_HAND_EDGES, 0, wrist)
        face = _resolve(lay.name, _UNI_SIGN_FACE)
        graphs["face"] = PartGraph("face", face, _UNI_SIGN_FACE_EDGES, len(face) - 1, 0)
        return graphs
    if point_set == "full":
        body_idx = lay.part_indices("body")
        body_names = [lay.points[i] for i in body_idx]

        def body_local(name: str) -> int:
            return body_names.index(name)

        graphs = {"body": PartGraph("body", body_idx, lay.part_edges["body"], None)}
        for side in ("left", "right"):
            part = f"{side}_hand"
            idx = lay.part_indices(part)
            anchor = [lay.points[i] for i in idx].index(f"{side}_hand_wrist")
            graphs[part] = PartGraph(part, idx, lay.part_edges[part], anchor, body_local(f"{side}_wrist"))
        # The face is made relative to the body's nose point, which every layout has.
        face_idx = lay.part_indices("face")
        graphs["face"] = PartGraph(
            "face", face_idx + (lay.index("nose"),), lay.part_edges["face"], len(face_idx), body_local("nose")
        )
        return graphs
    raise LayoutError(f"unknown point set {point_set!r}; use 'uni-sign' or 'full'")


def adjacency(num_points: int, edges: tuple[tuple[int, int], ...]) -> np.ndarray:
    """ST-GCN "distance" partition with max hop 1: [2, V, V] = (self links, neighbours), column-normalised.

    Same construction as ST-GCN/Uni-Sign's ``Graph(strategy='distance', max_hop=1)``: A + I normalised by the
    in-degree of each column, then split by hop distance 0 and 1.
    """
    a = np.eye(num_points)
    for i, j in edges:
        if i != j:
            a[i, j] = a[j, i] = 1.0
    norm = a / a.sum(0, keepdims=True)
    eye = np.eye(num_points, dtype=bool)
    return np.stack([np.where(eye, norm, 0.0), np.where(eye, 0.0, norm)]).astype(np.float32)
