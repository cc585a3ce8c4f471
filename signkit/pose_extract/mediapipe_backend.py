"""MediaPipe Holistic (mediapipe 0.10.14, bundled models) turned into `Pose` sequences.

Tracking state must never leak from one video to the next, so `HolisticEstimator.reset` builds a new graph
before each clip (~0.6 s; MediaPipe's own ``reset()`` restarts the graph and costs the same). The cheaper trick
pose-format uses (one blank frame between videos) is not a reset: landmark coordinates come out identical, but
the body visibility scores of the next clip differ from a fresh graph's (its smoothing state survives; see
``tests/test_extract.py::test_no_tracking_leak_between_clips``). Landmarks become pixels
(x*W, y*H, z*W); body confidence is MediaPipe's visibility, face and hands have no per-point score and get 1 where
detected; undetected points have conf 0 and coords 0.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path

import numpy as np

from ..errors import ExtractError, MissingDependencyError

POSE_MODELS = {0: "pose_landmark_lite.tflite", 1: "pose_landmark_full.tflite", 2: "pose_landmark_heavy.tflite"}


@dataclass(frozen=True)
class HolisticConfig:
    """MediaPipe Holistic settings (its own defaults)."""

    model_complexity: int = 1
    refine_face: bool = False
    min_detection_confidence: float = 0.5
    min_tracking_confidence: float = 0.5

    def __post_init__(self) -> None:
        if self.model_complexity not in POSE_MODELS:
            raise ExtractError(f"model complexity must be 0, 1 or 2, got {self.model_complexity}")
        for name in ("min_detection_confidence", "min_tracking_confidence"):
            if not 0 <= getattr(self, name) <= 1:
                raise ExtractError(f"{name.replace('_', '-')} must be within [0, 1], got {getattr(self, name)}")

    @property
    def layout(self) -> str:
        return "mediapipe-holistic-refined" if self.refine_face else "mediapipe-holistic"


def require_mediapipe():
    # mediapipe 0.10.14 calls a protobuf API that warns on every graph; nothing a user can act on
    warnings.filterwarnings("ignore", message="SymbolDatabase.GetPrototype", category=UserWarning)
    try:
        import mediapipe
    except ImportError:
        raise MissingDependencyError("mediapipe", "mediapipe") from None
    return mediapipe


def _modules_dir() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("mediapipe")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError("mediapipe", "mediapipe")
    return Path(list(spec.submodule_search_locations)[0]) / "modules"


def model_files(config: HolisticConfig, modules_dir: Path | None = None) -> list[Path]:
    """The .tflite files the Holistic graph loads for ``config``."""
    m = modules_dir or _modules_dir()
    files = [
        m / "pose_detection/pose_detection.tflite",
        m / "pose_landmark" / POSE_MODELS[config.model_complexity],
        m / "face_landmark" / ("face_landmark_with_attention.tflite" if config.refine_face else "face_landmark.tflite"),
        m / "hand_landmark/hand_landmark_full.tflite",
        m / "holistic_landmark/hand_recrop.tflite",
        m / "palm_detection/palm_detection_full.tflite",
    ]
    return files


def ensure_models(config: HolisticConfig, modules_dir: Path | None = None, allow_download: bool | None = None) -> None:
    """Make sure the pose model of ``config`` is on disk (mediapipe bundles only complexity 1).

    A missing model is fetched with mediapipe's own downloader unless ``SIGNKIT_OFFLINE=1``; a failure becomes an
    `ExtractError` naming the path to fill.
    """
    if allow_download is None:
        allow_download = os.environ.get("SIGNKIT_OFFLINE", "") not in ("1", "true", "yes")
    missing = [p for p in model_files(config, modules_dir) if not p.is_file()]
    pose_model = model_files(config, modules_dir)[1]
    if pose_model in missing and allow_download and modules_dir is None:
        try:
            from mediapipe.python.solutions import download_utils

            download_utils.download_oss_model(f"mediapipe/modules/pose_landmark/{pose_model.name}")
        except Exception:
            pass
        missing = [p for p in missing if not p.is_file()]
    if missing:
        raise ExtractError(
            f"MediaPipe model {missing[0]} is missing (model complexity {config.model_complexity}); "
            f"use --model-complexity 1 (bundled) or put {missing[0].name} at that path"
        )


@cache
def model_sha256(config: HolisticConfig) -> str:
    """One sha256 over the model files the graph uses (name and content of each, in order)."""
    h = hashlib.sha256()
    for path in model_files(config):
        h.update(path.name.encode())
        h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def mediapipe_version() -> str:
    """mediapipe's version without importing it (the import takes seconds; the runner's parent never needs it)."""
    from importlib.metadata import PackageNotFoundError, version

    _modules_dir()  # raises MissingDependencyError if absent
    try:
        return version("mediapipe")
    except PackageNotFoundError:
        return require_mediapipe().__version__


def extractor_meta(config: HolisticConfig) -> dict:
    return {
        "name": "mediapipe-holistic",
        "version": mediapipe_version(),
        **asdict(config),
        "model_sha256": model_sha256(config),
    }


def _landmarks(lms, n: int, w: int, h: int, visibility: bool) -> tuple[np.ndarray, np.ndarray]:
    if lms is None:
        return np.zeros((n, 3), np.float32), np.zeros(n, np.float32)
    points = lms.landmark
    if len(points) != n:
        raise ExtractError(f"MediaPipe returned {len(points)} landmarks where {n} were expected")
    xyz = np.array([(p.x * w, p.y * h, p.z * w) for p in points], dtype=np.float32)
    conf = np.array([p.visibility for p in points], np.float32).clip(0, 1) if visibility else np.ones(n, np.float32)
    return xyz, conf


class HolisticEstimator:
    """A Holistic graph: ``process(rgb)`` per frame, ``reset()`` between clips, ``close()`` at the end."""

    def __init__(self, config: HolisticConfig):
        ensure_models(config)
        self.config = config
        self.n_face = 478 if config.refine_face else 468
        self._graph = self._new_graph()
        self._used = False

    def _new_graph(self):
        mp = require_mediapipe()
        return mp.solutions.holistic.Holistic(
            static_image_mode=False,
            model_complexity=self.config.model_complexity,
            smooth_landmarks=True,
            refine_face_landmarks=self.config.refine_face,
            min_detection_confidence=self.config.min_detection_confidence,
            min_tracking_confidence=self.config.min_tracking_confidence,
        )

    def reset(self) -> None:
        """Forget every tracked landmark and filter state before the next clip: a new graph, if this one was used."""
        if not self._used:
            return
        self._graph.close()
        self._graph = self._new_graph()
        self._used = False

    def process(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(coords[K, 3] in pixels, conf[K])`` in the layout's part order: body, face, left hand, right hand."""
        h, w = rgb.shape[:2]
        self._used = True
        r = self._graph.process(rgb)
        parts = [
            _landmarks(r.pose_landmarks, 33, w, h, visibility=True),
            _landmarks(r.face_landmarks, self.n_face, w, h, visibility=False),
            _landmarks(r.left_hand_landmarks, 21, w, h, visibility=False),
            _landmarks(r.right_hand_landmarks, 21, w, h, visibility=False),
        ]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def close(self) -> None:
        self._graph.close()

    def __enter__(self) -> HolisticEstimator:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
