"""Frames of a clip, decoded with PyAV (video files) or Pillow (frame folders), with their timestamps.

PyAV was chosen over OpenCV: both decode far faster than pose estimation runs, a few percent of extraction's time
(measured in docs/benchmarks.md, "Decoding"), and PyAV gives per-frame timestamps (variable frame rate), display
rotation, exact seeking and clear errors. Decoding runs in a background thread
(`prefetch`) so it overlaps inference.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import VideoError
from .inputs import Clip, frame_files

THREADED_DECODE_PIXELS = 300_000
VFR_TOLERANCE = 0.1  # a frame interval this far (relative) from the median makes a video variable-rate


@dataclass
class VideoInfo:
    """What the container says before decoding: frame size, nominal fps and (when known) the frame count."""

    width: int
    height: int
    fps: float
    frames: int | None = None
    extra: dict = field(default_factory=dict)


class ClipReader:
    """Iterate over ``(rgb_frame[H, W, 3] uint8, time_seconds)`` of one clip; ``info`` is set on construction."""

    def __init__(self, clip: Clip, frame_fps: float = 25.0):
        self.clip = clip
        self.frame_fps = frame_fps
        path = clip.path
        if path.is_dir():
            self._files = frame_files(path)
            if not self._files:
                raise VideoError(f"{path}: frame folder holds no .png/.jpg images")
            w, h = self._open_image(self._files[0]).size
            self.info = VideoInfo(w, h, frame_fps, len(self._files))
            self._container = None
        else:
            self._files = None
            self._container, self.info = _open_video(path)

    def _open_image(self, path: Path):
        from PIL import Image

        try:
            img = Image.open(path)
            img.load()
        except Exception as e:
            raise VideoError(f"{path}: unreadable frame image ({type(e).__name__}: {e})") from None
        return img

    def _bounds_in_frames(self) -> tuple[float, float]:
        start = self.clip.start or 0.0
        end = float("inf") if self.clip.end is None else self.clip.end
        return start, end

    def __iter__(self) -> Iterator[tuple[np.ndarray, float]]:
        if self._files is not None:
            yield from self._iter_folder()
        else:
            yield from self._iter_video()

    def _iter_folder(self) -> Iterator[tuple[np.ndarray, float]]:
        start, end = self._bounds_in_frames()
        if self.clip.unit == "seconds":
            start, end = start * self.frame_fps, end * self.frame_fps
        size = (self.info.width, self.info.height)
        for i, path in enumerate(self._files):
            if i < start - 1e-6:
                continue
            if i >= end - 1e-6:
                break
            img = self._open_image(path)
            if img.size != size:
                raise VideoError(f"{path}: frame size {img.size} differs from the first frame's {size}")
            yield np.asarray(img.convert("RGB")), i / self.frame_fps

    def _iter_video(self) -> Iterator[tuple[np.ndarray, float]]:
        import av

        container = self._container
        stream = container.streams.video[0]
        if self.info.width * self.info.height > THREADED_DECODE_PIXELS:
            stream.thread_type = "AUTO"  # frame threads pay off only for large frames (measured: slower at 512^2)
        self._reformatter = av.video.reformatter.VideoReformatter()  # one swscale context for all frames
        start, end = self._bounds_in_frames()
        by_time = self.clip.unit == "seconds"
        t0 = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
        if by_time and start > 0:
            container.seek(int((start + t0) / stream.time_base), stream=stream, backward=True, any_frame=False)
        index = -1
        fps = self.info.fps
        try:
            for frame in container.decode(stream):
                index += 1
                t = float(frame.time) - t0 if frame.time is not None else index / fps
                position = t + 1e-6 if by_time else index
                if position < start:
                    continue
                if position >= end:
                    break
                yield self._upright(frame), t
        except av.FFmpegError as e:
            raise VideoError(
                f"{self.clip.path}: decoding failed after {index} frames ({e}); the video is truncated or corrupt"
            ) from None
        finally:
            container.close()

    def _upright(self, frame) -> np.ndarray:
        """RGB in display orientation: phone videos store frames sideways with a rotation tag, which PyAV does
        not apply (ffmpeg's CLI does). ``rotation`` is counter-clockwise degrees, as ``np.rot90``'s ``k``."""
        rgb = self._reformatter.reformat(frame, format="rgb24", threads=1).to_ndarray()
        rotation = int(getattr(frame, "rotation", 0) or 0) % 360
        if rotation:
            rgb = np.ascontiguousarray(np.rot90(rgb, k=rotation // 90))
            if self.info.extra.get("rotation") != rotation:
                self.info.extra["rotation"] = rotation
                self.info.height, self.info.width = rgb.shape[:2]
        return rgb

    def close(self) -> None:
        if self._container is not None:
            self._container.close()


def _open_video(path: Path):
    import av

    if path.is_symlink() and not path.exists():
        raise VideoError(f"{path}: broken link (its target does not exist)")
    try:
        size = path.stat().st_size
    except OSError as e:
        raise VideoError(f"{path}: cannot read ({e.strerror})") from None
    if size == 0:
        raise VideoError(f"{path}: empty file (0 bytes); re-download or re-export the video")
    try:
        container = av.open(str(path))
    except PermissionError:
        raise VideoError(f"{path}: permission denied; make the file readable") from None
    except (av.FFmpegError, OSError, UnicodeDecodeError) as e:
        raise VideoError(f"{path}: not a readable video ({e}); is the file truncated or not a video?") from None
    if not container.streams.video:
        container.close()
        raise VideoError(f"{path}: holds no video stream")
    if _is_still_image(container.format.name):
        name = container.format.name
        container.close()
        raise VideoError(
            f"{path}: a still image ({name}), not a video, whatever its extension; to extract images "
            "as frames, put them in a folder (one image per frame) and give the folder"
        )
    stream = container.streams.video[0]
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    fps = float(rate) if rate else 0.0
    width, height = stream.codec_context.width, stream.codec_context.height
    if not width or not height:
        container.close()
        raise VideoError(f"{path}: the video stream has no frame size; the file is corrupt")
    return container, VideoInfo(int(width), int(height), fps if fps > 0 else 25.0, int(stream.frames) or None)


def _is_still_image(format_name: str) -> bool:
    """ffmpeg's image demuxers (``jpeg_pipe``, ``png_pipe``, ``image2``...): one picture, and an invented 25 fps."""
    return format_name.endswith("_pipe") or format_name == "image2"  # (animated GIFs are "gif": a video)


def timing(times: list[float], nominal_fps: float) -> tuple[float, list[float] | None]:
    """Average fps of decoded frame times, and the times themselves when the frame rate is variable."""
    if len(times) < 3:
        return nominal_fps, None
    t = np.asarray(times, dtype=np.float64)
    steps = np.diff(t)
    median = float(np.median(steps))
    if median <= 0:
        return nominal_fps, None
    variable = bool(np.any(np.abs(steps - median) > VFR_TOLERANCE * median))
    if not variable:
        return nominal_fps, None
    span = float(t[-1] - t[0])
    fps = (len(t) - 1) / span if span > 0 else nominal_fps
    return fps, [round(float(x - t[0]), 6) for x in t]


def prefetch(items: Iterator, depth: int = 8) -> Iterator:
    """Run ``items`` in a background thread, ``depth`` ahead; exceptions surface in the consumer."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put(done)
        except BaseException as e:  # handed to the consumer, raised there
            put(e)

    thread = threading.Thread(target=produce, daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)
