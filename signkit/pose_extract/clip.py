"""One clip -> one `Pose`: decode (in a background thread), stream frames through an estimator, normalise, flag."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import PoseError, VideoError
from ..pose import Pose, normalize
from .decode import ClipReader, prefetch, timing
from .estimators import Estimator, EstimatorConfig
from .inputs import Clip, make_key
from .mediapipe_backend import HolisticConfig
from .source import source_stat


@dataclass(frozen=True)
class ExtractOptions:
    """How to extract: the estimator and its settings (`signkit.pose_extract.estimators`; default MediaPipe
    Holistic), normalisation, and the fps assumed for frame folders."""

    estimator: EstimatorConfig = field(default_factory=HolisticConfig)
    normalize: bool = True
    frame_fps: float = 25.0


def extract_clip(
    clip: Clip | str | os.PathLike,
    options: ExtractOptions | None = None,
    on_frames: Callable[[int], None] | None = None,
    estimator: Estimator | None = None,
    meta: dict | None = None,
) -> Pose:
    """Extract one video, frame folder or clip into a `Pose`, in this process.

    A given ``estimator`` (built from ``options.estimator``) is reset and kept open; without one, one is built and
    closed here. ``meta`` is ``options.estimator.meta()`` when the caller has it (the runner computes it once per
    run); it goes into the pose's ``meta["extractor"]``. ``on_frames(n)`` is called as frames are done (for
    progress bars). A clip in which no frame shows both shoulders is returned unnormalised and flagged
    (``meta["flags"]``: ``no_person`` when nothing at all was detected, else ``no_shoulders``); other flags:
    ``variable_frame_rate`` (``meta["timestamps"]`` holds each frame's time), ``truncated`` (fewer frames than
    the container promised, or than the clip's range asks for), ``rotated_90``/``180``/``270`` (a display
    rotation was applied).
    """
    options = options or ExtractOptions()
    if not isinstance(clip, Clip):
        path = Path(clip)
        clip = Clip(path, make_key(path.name))
    if estimator is not None and getattr(estimator, "config", options.estimator) != options.estimator:
        raise ValueError("the estimator was built with other settings than options.estimator")
    reader = ClipReader(clip, frame_fps=options.frame_fps)
    info = reader.info
    coords, conf, times = [], [], []
    pending = 0
    own = estimator is None
    est = options.estimator.build() if own else estimator
    try:
        est.reset()
        # frames go into the graph without waiting for each to finish (bit-identical to one process() per frame;
        # it keeps an otherwise idle core busy when workers are fewer than cores, as in a run's last clips)
        for t, xyz, c in est.stream(prefetch(iter(reader))):
            coords.append(xyz)
            conf.append(c)
            times.append(t)
            pending += 1
            if on_frames is not None and pending >= 10:
                on_frames(pending)
                pending = 0
    finally:
        reader.close()
        if own:
            est.close()
    if on_frames is not None and pending:
        on_frames(pending)
    if not coords:
        bounds = "" if clip.start is None and clip.end is None else f" within [{clip.start}, {clip.end}) {clip.unit}"
        raise VideoError(f"{clip.path}: no frames decoded{bounds}; check the clip bounds and the file")
    fps, timestamps = timing(times, info.fps)
    flags: list[str] = []
    if timestamps is not None:
        flags.append("variable_frame_rate")
    if _truncated(clip, info.frames, fps, len(coords)):
        flags.append("truncated")
    if info.extra.get("rotation"):
        flags.append(f"rotated_{info.extra['rotation']}")
    meta = {
        "frame_size": [info.width, info.height],
        "normalization": None,
        "extractor": meta if meta is not None else options.estimator.meta(),
        "source": {
            **clip.source_meta(),
            "key": clip.key,
            "absolute_path": os.path.abspath(clip.path),
            **source_stat(clip),
        },
        "flags": flags,
    }
    if timestamps is not None:
        meta["timestamps"] = timestamps
    pose = Pose(np.stack(coords), np.stack(conf), fps, options.estimator.layout, meta)
    if not (pose.conf > 0).any():
        flags.append("no_person")
    elif options.normalize:
        try:
            return normalize(pose)
        except PoseError:
            flags.append("no_shoulders")
    return pose


def _truncated(clip: Clip, promised: int | None, fps: float, got: int) -> bool:
    """Fewer frames than the container promised (whole video, 10 % slack), or than the clip's range asks for
    (a range past the end of the video; one frame of slack for rounding)."""
    if clip.start is None and clip.end is None:
        return bool(promised) and got < promised * 0.9
    start = clip.start or 0.0
    if clip.end is None:
        if not promised:
            return False
        wanted = promised - (start * fps if clip.unit == "seconds" else start)
    else:
        wanted = (clip.end - start) * fps if clip.unit == "seconds" else clip.end - start
    return got < wanted - 1
