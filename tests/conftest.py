"""Shared fixtures: synthetic poses and the real fingerspelling poses that `spoken-to-signed` ships."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from signkit.pose import Pose, get_layout

# The test models are tiny: intra-op threads only fight the DataLoader workers and subprocesses for 2 cores (a
# sigma-tiny step ran 1.7x slower with 2 threads than with 1). Set before torch is imported; subprocesses inherit it.
os.environ.setdefault("OMP_NUM_THREADS", "1")


def make_pose(frames: int = 10, layout: str = "mediapipe-holistic", seed: int = 0, fps: float = 25.0) -> Pose:
    """A random pose in image coordinates with level shoulders 100 px apart around (320, 240)."""
    rng = np.random.default_rng(seed)
    lay = get_layout(layout)
    coords = rng.uniform(0, 640, size=(frames, lay.num_points, 3)).astype(np.float32)
    conf = rng.uniform(0.6, 1.0, size=(frames, lay.num_points)).astype(np.float32)
    coords[:, lay.index("left_shoulder")] = [370, 240, 0]
    coords[:, lay.index("right_shoulder")] = [270, 240, 0]
    return Pose(coords, conf, fps, layout, {"frame_size": [640, 480], "normalization": None})


@pytest.fixture
def synthetic_pose() -> Pose:
    return make_pose()


def lexicon_dir() -> Path:
    spoken_to_signed = pytest.importorskip("spoken_to_signed")
    return Path(spoken_to_signed.__file__).parent / "assets" / "fingerspelling_lexicon"


@pytest.fixture(scope="session")
def lexicon_pose_files() -> list[Path]:
    files = sorted(lexicon_dir().rglob("*.pose"))
    assert len(files) >= 500, "spoken-to-signed should ship ~600 real fingerspelling .pose files"
    return files
