"""Raw sign videos -> `Pose` files: decoding, the estimators (MediaPipe Holistic, RTMW), clip lists, the runner.

Python users call `extract` (many clips, resumable, parallel) or `extract_clip` (one clip, in this process); the
estimator is picked with `ExtractOptions(estimator=estimator_config(NAME, ...))` from `ESTIMATORS`.
"""

from .clip import ExtractOptions, extract_clip
from .estimators import ESTIMATORS, Estimator, EstimatorConfig, estimator_config
from .inputs import IMAGE_SUFFIXES, VIDEO_SUFFIXES, Clip, discover, read_clip_list
from .mediapipe_backend import HolisticConfig, HolisticEstimator
from .runner import LOG_NAME, ClipResult, ExtractSummary, extract

__all__ = [
    "ESTIMATORS",
    "IMAGE_SUFFIXES",
    "LOG_NAME",
    "VIDEO_SUFFIXES",
    "Clip",
    "ClipResult",
    "Estimator",
    "EstimatorConfig",
    "ExtractOptions",
    "ExtractSummary",
    "HolisticConfig",
    "HolisticEstimator",
    "discover",
    "estimator_config",
    "extract",
    "extract_clip",
    "read_clip_list",
]
