"""One clip -> one `Pose`: decode (in a background thread), run Holistic frame by frame, normalise, flag."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import PoseError, VideoError
from ..pose import Pose, normalize
from .decode import ClipReader, prefetch, timing
from .inputs import Clip, make_key
from .mediapipe_backend import HolisticConfig, HolisticEstimator, extractor_meta


@dataclass(frozen=True)
class ExtractOptions:
    """How to extract: the MediaPipe settings, normalisation, and the fps assumed for frame folders."""

    holistic: HolisticConfig = field(default_factory=HolisticConfig)
    normalize: bool = True
    frame_fps: float = 25.0


def extract_clip(
    clip: Clip | str | os.PathLike,
    options: ExtractOptions | None = None,
    on_frames: Callable[[int], None] | None = None,
    estimator: HolisticEstimator | None = None,
) -> Pose:
    """Extract one video, frame folder or clip into a `Pose`, in this process.

    A given ``estimator`` (same Holistic settings as ``options``) is reset (see `HolisticEstimator.reset`) and
    kept open; without one, a graph is built and closed here. ``on_frames(n)`` is called as frames are done (for
    progress bars). A clip in which no frame shows both shoulders is returned unnormalised and flagged
    (``meta["flags"]``: ``no_person`` when nothing at all was detected, else ``no_shoulders``); other flags:
    ``variable_frame_rate`` (``meta["timestamps"]`` holds each frame's time), ``truncated`` (fewer frames than
    the container promised), ``rotated_90``/``180``/``270`` (a display rotation was applied).
    """
    options = options or ExtractOptions()
    if not isinstance(clip, Clip):
        path = Path(clip)
        clip = Clip(path, make_key(path.name))
    if estimator is not None and estimator.config != options.holistic:
        raise ValueError("the estimator was built with other Holistic settings than options.holistic")
    reader = ClipReader(clip, frame_fps=options.frame_fps)
    info = reader.info
    coords, conf, times = [], [], []
    pending = 0
    own = estimator is None
    est = HolisticEstimator(options.holistic) if own else estimator
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
    if info.frames and clip.start is None and clip.end is None and len(coords) < info.frames * 0.9:
        flags.append("truncated")
    if info.extra.get("rotation"):
        flags.append(f"rotated_{info.extra['rotation']}")
    meta = {
        "frame_size": [info.width, info.height],
        "normalization": None,
        "extractor": extractor_meta(options.holistic),
        "source": {**clip.source_meta(), "key": clip.key, "absolute_path": os.path.abspath(clip.path)},
        "flags": flags,
    }
    if timestamps is not None:
        meta["timestamps"] = timestamps
    pose = Pose(np.stack(coords), np.stack(conf), fps, options.holistic.layout, meta)
    if not (pose.conf > 0).any():
        flags.append("no_person")
    elif options.normalize:
        try:
            return normalize(pose)
        except PoseError:
            flags.append("no_shoulders")
    return pose
