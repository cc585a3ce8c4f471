"""The one error family users see.

Every error a user can cause (bad path, corrupt video, wrong layout, missing weights) is a `SignkitError`
subclass whose message says what to do. The CLI prints it on one line and exits non-zero; library callers
can catch the whole family with one `except SignkitError`.
"""

from __future__ import annotations


class SignkitError(Exception):
    """Base class of every error caused by input, configuration or environment (not by a bug)."""


class PoseError(SignkitError):
    """A pose array or pose file that is malformed, or an operation it cannot support."""


class LayoutError(SignkitError):
    """An unknown keypoint layout, or a layout that does not fit the data."""


class VideoError(SignkitError):
    """A video (or frame folder) that cannot be found, opened or decoded."""


class ExtractError(SignkitError):
    """A pose backend that cannot run as configured (missing model, missing extra)."""


class DatasetError(SignkitError):
    """A dataset release, packed dataset, shard or manifest that is missing, malformed or inconsistent."""


class ModelError(SignkitError):
    """A model that cannot be built or run as asked: its text model or tokenizer missing from the local cache, or a
    batch it cannot take (samples without the text its task trains on)."""


class ZooError(SignkitError):
    """A model name, registry entry, download or checkpoint that cannot be used."""


class ConfigError(SignkitError):
    """A configuration value that is out of range or inconsistent with others."""


class MissingDependencyError(SignkitError):
    """An optional dependency (an extra such as ``signkit[mediapipe]``) that is not installed."""

    def __init__(self, module: str, extra: str):
        super().__init__(f"{module} is not installed; install it with: pip install 'signkit[{extra}]'")
        self.module = module
        self.extra = extra
