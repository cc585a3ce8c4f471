"""Frames -> an H.264 mp4 with PyAV: the encoding side of `decode` (drawings, test clips and benchmarks write
videos through it; `signkit.draw` renders skeletons into frames and encodes them here)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import VideoError


def write_video(frames: Iterable, path: str | os.PathLike, fps: float = 25.0, crf: int = 23) -> Path:
    """Write RGB frames (arrays or Pillow images) to an H.264 mp4 with PyAV; odd sizes are padded to even."""
    import av

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w", format="mp4") as container:
        stream = None
        for frame in frames:
            arr = np.asarray(frame)
            h, w = arr.shape[:2]
            if h % 2 or w % 2:
                arr = np.pad(arr, ((0, h % 2), (0, w % 2), (0, 0)))
            if stream is None:
                stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1000))
                stream.width, stream.height, stream.pix_fmt = arr.shape[1], arr.shape[0], "yuv420p"
                stream.options = {"crf": str(crf), "preset": "veryfast"}
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(arr), format="rgb24")):
                container.mux(packet)
        if stream is None:
            raise VideoError(f"{path}: nothing to write, no frames were given")
        for packet in stream.encode():
            container.mux(packet)
    return path
