"""Left-right symmetry of every layout: which point a horizontal mirror puts in each point's place.

Named points swap by name (``left_*`` <-> ``right_*``: shoulders, hands, eyes, ``mouth_left``...). Face points carry
numbers, not sides, so each face model has a named table: ``mediapipe-face-mesh`` (478 vertices, from MediaPipe's
symmetric canonical face model as pose-format ships it) and ``ibug-68`` (the standard 68-point pairs: jaw 0<->16,
brows 17<->26, eyes 36<->45...). A layout whose face has no table is an error, never an unmirrored face.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

import numpy as np

from ..errors import LayoutError
from .layouts import get_layout

# iBUG-68 (0-based) mirror pairs; the points not listed lie on the midline (chin 8, nose ridge 27-30, 33, 51, 57,
# 62, 66). The same pairs as the COCO-WholeBody face flip table.
IBUG68_PAIRS = (
    (0, 16),
    (1, 15),
    (2, 14),
    (3, 13),
    (4, 12),
    (5, 11),
    (6, 10),
    (7, 9),  # jaw
    (17, 26),
    (18, 25),
    (19, 24),
    (20, 23),
    (21, 22),  # brows
    (31, 35),
    (32, 34),  # nostrils
    (36, 45),
    (37, 44),
    (38, 43),
    (39, 42),
    (40, 47),
    (41, 46),  # eyes
    (48, 54),
    (49, 53),
    (50, 52),
    (55, 59),
    (56, 58),  # outer lips
    (60, 64),
    (61, 63),
    (65, 67),  # inner lips
)

# layout -> (face table, prefix of the face points' names)
FACE_TABLES = {
    "mediapipe-holistic": ("mediapipe-face-mesh", "face_"),
    "mediapipe-holistic-refined": ("mediapipe-face-mesh", "face_"),
    "coco-wholebody-133": ("ibug-68", "face68_"),
}


def _pairs_to_table(pairs: tuple[tuple[int, int], ...], size: int) -> tuple[int, ...]:
    table = list(range(size))
    for a, b in pairs:
        table[a], table[b] = b, a
    return tuple(table)


@cache
def face_mirror_table(name: str) -> tuple[int, ...]:
    """Face table ``name``: entry ``i`` is the face point that a horizontal mirror puts in point ``i``'s place."""
    if name == "ibug-68":
        return _pairs_to_table(IBUG68_PAIRS, 68)
    if name == "mediapipe-face-mesh":
        data = json.loads(resources.files(__package__).joinpath("data/mediapipe_face_mirror.json").read_text())
        return tuple(data["mirror"])
    raise LayoutError(f"no face mirror table {name!r}; known: ibug-68, mediapipe-face-mesh")


def _swap_side(name: str) -> str:
    tokens = name.split("_")
    return "_".join("right" if t == "left" else "left" if t == "right" else t for t in tokens)


@cache
def mirror_permutation(layout: str) -> np.ndarray:
    """Index ``i`` of the mirrored pose takes point ``perm[i]`` (an involution: ``perm[perm] == arange``).

    Body and hand points swap with their twin by name, face points through the layout's face table; points on
    the midline (nose, chin) stay.
    """
    lay = get_layout(layout)
    perm = np.arange(lay.num_points)
    for i, name in enumerate(lay.points):
        twin = _swap_side(name)
        if twin != name and twin in lay.points:
            perm[i] = lay.index(twin)
    face = lay.parts.get("face", ())
    if face:
        if lay.name not in FACE_TABLES:
            raise LayoutError(f"layout {lay.name!r} has a face but no face mirror table; add one to FACE_TABLES")
        table_name, prefix = FACE_TABLES[lay.name]
        table = face_mirror_table(table_name)
        if len(table) < len(face):
            raise LayoutError(f"face mirror table {table_name!r} has {len(table)} points, {lay.name!r} {len(face)}")
        for i in face:
            perm[i] = lay.index(f"{prefix}{table[int(lay.points[i].removeprefix(prefix))]}")
    perm.flags.writeable = False  # cached: shared by every caller
    return perm
