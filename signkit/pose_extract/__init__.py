"""Raw sign videos -> `Pose` files: decoding, the MediaPipe Holistic backend, clip lists, the parallel runner.

Python users call `extract` (many clips, resumable, parallel) or `extract_clip` (one clip, in this process).
"""

from .clip import ExtractOptions, extract_clip
from .inputs import IMAGE_SUFFIXES, VIDEO_SUFFIXES, Clip, discover, read_clip_list
from .mediapipe_backend import HolisticConfig, HolisticEstimator
from .runner import LOG_NAME, ClipResult, ExtractSummary, extract

__all__ = [
    "IMAGE_SUFFIXES",
    "LOG_NAME",
    "VIDEO_SUFFIXES",
    "Clip",
    "ClipResult",
    "ExtractOptions",
    "ExtractSummary",
    "HolisticConfig",
    "HolisticEstimator",
    "discover",
    "extract",
    "extract_clip",
    "read_clip_list",
]
