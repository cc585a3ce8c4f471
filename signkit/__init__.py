"""signkit: skeleton-based sign language understanding, from raw videos to fine-tuned models."""

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version

from .errors import SignkitError
from .pose import Pose, denormalize, get_layout, load_pose, normalize, save_pose

try:
    __version__ = version("signkit")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

_SUBPACKAGES = ("datasets", "models", "zoo", "train", "pose_extract")


def __getattr__(name: str):
    # Subpackages pull in torch / mediapipe; import them only when used.
    if name in _SUBPACKAGES:
        return import_module(f".{name}", __name__)
    if name == "predict":  # signkit.predict(inputs, model=...): the function (signkit/inference.py)
        return import_module(".inference", __name__).predict
    raise AttributeError(f"module 'signkit' has no attribute {name!r}")


__all__ = [
    "Pose",
    "SignkitError",
    "__version__",
    "denormalize",
    "get_layout",
    "load_pose",
    "normalize",
    "save_pose",
]
