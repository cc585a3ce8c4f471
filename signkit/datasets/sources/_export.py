"""Keypoint releases to pose files: ``POSES_DIR/{key}.npz`` for each sample, so `signkit pack` treats them like
extracted videos. Resumable: a pose file that exists is kept, and each file is written atomically."""

from __future__ import annotations

import os
from pathlib import Path

from ...errors import DatasetError
from ._registry import get_source


def write_poses(
    name: str,
    root: str | os.PathLike | None,
    poses_dir: str | os.PathLike,
    overwrite: bool = False,
    subset: str | None = None,
) -> tuple[int, int]:
    """Write the keypoints of dataset ``name`` (of ``subset`` if given) as signkit pose files; returns
    ``(written, kept)``."""
    from ...pose import save_pose

    source = get_source(name)
    if not source.info.keypoints:
        raise DatasetError(
            f"{source.name} ships videos: extract them with `signkit datasets clips` and `signkit extract`"
        )
    poses_dir = Path(poses_dir)
    done: set[str] = set()
    if poses_dir.is_dir() and not overwrite:
        done = {p.relative_to(poses_dir).with_suffix("").as_posix() for p in poses_dir.rglob("*.npz")}
    wanted = {r.key for r in source.records(root, subset)}
    kept = len(done & wanted)
    written = 0
    poses = source.poses(root, exclude=done) if subset is None else source.poses(root, exclude=done, subset=subset)
    for key, pose in poses:
        save_pose(pose, poses_dir / f"{key}.npz")
        written += 1
    return written, kept
