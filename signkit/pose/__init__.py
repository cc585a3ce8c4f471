"""The Pose core: the `Pose` type, keypoint layouts, normalisation and pose files. Imports nothing else of signkit
except the error classes and the atomic-write helper."""

from .io import load_pose, save_pose
from .layouts import PARTS, Layout, get_layout, layout_for_num_points, list_layouts
from .mapping import correspondence, index_map
from .normalize import denormalize, is_normalized, normalize
from .pose import Pose
from .summary import pose_summary
from .symmetry import face_mirror_table, mirror_permutation

__all__ = [
    "PARTS",
    "Layout",
    "Pose",
    "correspondence",
    "denormalize",
    "face_mirror_table",
    "get_layout",
    "index_map",
    "is_normalized",
    "layout_for_num_points",
    "list_layouts",
    "load_pose",
    "mirror_permutation",
    "normalize",
    "pose_summary",
    "save_pose",
]
