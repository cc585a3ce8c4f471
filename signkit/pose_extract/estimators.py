"""The estimator seam: one small interface every pose estimator implements, and the table the runner and the CLI
pick from by name.

An estimator has two halves, so that the runner's parent never loads a model and its workers never download one:

- a **config** (a frozen, picklable dataclass: the settings) that the parent uses to check the model files once
  per run (`EstimatorConfig.prepare`: present, fetched, or a one-line error) and to describe the run for the pose
  files and the run log (`EstimatorConfig.meta`: name, version, settings, model hashes);
- an **estimator** (`EstimatorConfig.build`, called in a worker) that streams a clip's frames through the models:
  ``reset()`` before each clip, ``stream(frames)`` yielding ``(tag, coords[K, 3] in pixels, conf[K] in [0, 1])``,
  ``close()`` at the end.

Adding an estimator = one module with its config and estimator classes + one row of `ESTIMATORS` (see
docs/extract.md). Modules are imported only when their row is used: importing this table imports no model code
(and never mediapipe or onnxruntime).
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, runtime_checkable

import numpy as np

from ..errors import ExtractError

T = TypeVar("T")


@runtime_checkable
class Estimator(Protocol):
    """A loaded model: frames in, keypoints out, one clip at a time."""

    def reset(self) -> None:
        """Forget everything about the previous clip (tracking state)."""

    def stream(self, frames: Iterable[tuple[np.ndarray, Any]]) -> Iterator[tuple[Any, np.ndarray, np.ndarray]]:
        """``(tag, coords[K, 3], conf[K])`` for each ``(rgb[H, W, 3] uint8, tag)`` of ``frames``, in order."""

    def close(self) -> None: ...


@runtime_checkable
class EstimatorConfig(Protocol):
    """An estimator's settings: picklable (sent to workers), hashable, and all the runner knows of it."""

    name: str  # a key of ESTIMATORS

    @property
    def layout(self) -> str:
        """The keypoint layout of the poses it writes (`signkit.pose.layouts`)."""

    def prepare(self) -> None:
        """Make sure the model files are on disk (download them, or raise a one-line `SignkitError`)."""

    def meta(self) -> dict:
        """``{"name", "version", ...settings, "model_sha256"}``: what goes into every pose file and log line."""

    def build(self) -> Estimator:
        """Load the models (in a worker)."""


@dataclass(frozen=True)
class EstimatorEntry:
    """One row of the table: where the config class lives, the extra that installs it, and why to choose it."""

    name: str
    module: str  # imported only when this row is used
    config: str  # the config class's name in ``module``
    extra: str  # pip install 'signkit[EXTRA]'
    layout: str
    summary: str
    requires: tuple[str, ...] = ()  # the modules its extra installs (to tell whether it can run here)

    def config_class(self) -> type:
        return getattr(importlib.import_module(self.module), self.config)

    def installed(self) -> bool:
        """Whether its extra is installed (its modules found, none imported)."""
        return all(importlib.util.find_spec(m) is not None for m in self.requires)


ESTIMATORS: dict[str, EstimatorEntry] = {
    entry.name: entry
    for entry in (
        EstimatorEntry(
            "mediapipe-holistic",
            "signkit.pose_extract.mediapipe_backend",
            "HolisticConfig",
            "mediapipe",
            "mediapipe-holistic",
            "MediaPipe Holistic (tracking across frames, CPU); face mesh and hands; Python <= 3.12",
            ("mediapipe",),
        ),
        EstimatorEntry(
            "rtmw",
            "signkit.pose_extract.rtmpose",
            "RTMWConfig",
            "rtmpose",
            "coco-wholebody-133",
            "RTMPose/RTMW whole-body via onnxruntime (CPU or CUDA), the keypoints Uni-Sign, Geo-Sign, MSKA "
            "and Sigma were trained on; any Python onnxruntime supports",
            ("onnxruntime", "cv2"),
        ),
    )
}
DEFAULT_ESTIMATOR = "mediapipe-holistic"


def estimator_entry(name: str) -> EstimatorEntry:
    try:
        return ESTIMATORS[name]
    except KeyError:
        raise ExtractError(f"unknown estimator {name!r}; known: {', '.join(ESTIMATORS)}") from None


def estimator_config(name: str = DEFAULT_ESTIMATOR, **settings) -> EstimatorConfig:
    """The config of estimator ``name`` with ``settings`` (its dataclass fields); unknown names list the known."""
    cls = estimator_entry(name).config_class()
    try:
        return cls(**settings)
    except TypeError as e:
        raise ExtractError(f"estimator {name}: {e}") from None
