"""Poses that a pack takes in: signkit ``.npz``, pose-format ``.pose``, and Uni-Sign-style per-video pickles.

Many labs already hold their poses as pickles ``{"keypoints": [T, 1, 133, 2], "scores": [T, 1, 133]}`` (RTMPose
COCO-WholeBody, x/W and y/H image-normalised coordinates, as Uni-Sign ships them); they are packed without
re-extracting. A pickle is code, so it is read with an unpickler that builds only numpy arrays and builtin
containers and refuses anything else.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np

from .._atomic import PARTIAL_SUFFIX
from ..errors import DatasetError, PoseError
from ..pose import Pose, load_pose
from ._unpickle import NUMPY_ARRAYS, restricted_load
from .schema import check_key

POSE_FILE_SUFFIXES = (".npz", ".pose")
PICKLE_SUFFIXES = (".pkl", ".pickle")
INPUT_SUFFIXES = POSE_FILE_SUFFIXES + PICKLE_SUFFIXES
UNISIGN_LAYOUT = "coco-wholebody-133"


def find_pose_inputs(poses_dir: str | os.PathLike) -> dict[str, Path]:
    """key -> file for every pose input under ``poses_dir`` (key = relative path without suffix, '/'-separated).

    Hidden files and unfinished writes (``.*.partial``) are skipped; two files with one key are an error.
    """
    root = Path(poses_dir)
    if not root.is_dir():
        raise DatasetError(f"{root}: not a folder of pose files; give the folder that `signkit extract` wrote")
    found: dict[str, Path] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts) or path.name.endswith(PARTIAL_SUFFIX):
            continue
        if path.suffix.lower() not in INPUT_SUFFIXES or not path.is_file():
            continue
        key = rel.with_suffix("").as_posix()
        check_key(key)
        if key in found:
            raise DatasetError(f"two pose files for key {key!r}: {found[key]} and {path}; keep one")
        found[key] = path
    return found


def load_unisign_pickle(path: str | os.PathLike, fps: float | None) -> Pose:
    """A Uni-Sign pickle as a `Pose` in ``coco-wholebody-133`` (x/W, y/H coordinates, not yet normalised).

    ``frame_size`` is None: the coordinates are image-normalised, which the ``uni-sign`` model input transform
    relies on (it reads a missing frame size as x/W, y/H units).

    The pickle carries no frame rate, so ``fps`` must be given (25 for CSL-Daily and Phoenix-2014T).
    """
    path = Path(path)
    if fps is None:
        raise DatasetError(f"{path}: Uni-Sign pickles carry no frame rate; pass fps (--fps 25 for CSL-Daily/Phoenix)")
    try:
        with open(path, "rb") as f:
            obj = restricted_load(f, NUMPY_ARRAYS, ": only numpy arrays are allowed in a pose pickle")
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, ImportError) as e:
        raise PoseError(f"{path}: not a readable pose pickle ({type(e).__name__}: {e})") from None
    if not isinstance(obj, dict) or "keypoints" not in obj or "scores" not in obj:
        raise PoseError(f"{path}: a pose pickle must be a dict with 'keypoints' [T,1,133,2] and 'scores' [T,1,133]")
    kp = np.asarray(obj["keypoints"], dtype=np.float32)
    sc = np.asarray(obj["scores"], dtype=np.float32)
    if kp.ndim == 3:  # [T, 133, 2] without the person axis
        kp, sc = kp[:, None], sc[:, None]
    if kp.ndim != 4 or kp.shape[2:] != (133, 2) or sc.shape != kp.shape[:3] or kp.shape[1] < 1:
        raise PoseError(f"{path}: keypoints {kp.shape} / scores {sc.shape} are not [T,1,133,2] / [T,1,133]")
    coords = np.concatenate([kp[:, 0], np.zeros_like(kp[:, 0, :, :1])], axis=-1)
    conf = sc[:, 0]
    if not (np.isfinite(coords).all() and np.isfinite(conf).all()):
        raise PoseError(f"{path}: keypoints or scores contain NaN or inf")
    conf = np.clip(conf, 0.0, 1.0)
    coords = np.where(conf[..., None] > 0, coords, 0)
    meta = {"frame_size": None, "normalization": None, "source_format": "unisign-pickle"}
    return Pose(coords, conf, fps, UNISIGN_LAYOUT, meta)


def read_pose_input(path: str | os.PathLike, fps: float | None = None) -> Pose:
    """Any supported pose input by suffix."""
    path = Path(path)
    if path.suffix.lower() in PICKLE_SUFFIXES:
        return load_unisign_pickle(path, fps)
    return load_pose(path)
