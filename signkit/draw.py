"""Draw a `Pose` so people can look at a skeleton before they trust it.

Parts get distinct colours, points with confidence 0 are not drawn, and an edge is drawn only when both its ends
were detected. Over the source video, the stored normalisation maps the pose back to pixels; without a video a
pose is drawn in its source frame's pixels (a canvas of the frame's size), or fitted to a square canvas when
``size`` is given or the frame size is unknown. Frames are Pillow images; ``.mp4`` is encoded by
`signkit.pose_extract.encode` (PyAV), ``.gif`` and ``.png`` written with Pillow.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from .errors import PoseError, VideoError
from .pose import Pose, denormalize, load_pose

PART_COLORS = {
    "body": (255, 200, 40),
    "left_hand": (40, 220, 90),
    "right_hand": (60, 150, 255),
    "face": (255, 80, 110),
}
OUTPUT_SUFFIXES = (".mp4", ".gif", ".png")
DEFAULT_CANVAS = 512
GIF_MAX_SIDE = 360  # GIFs of video frames grow fast; larger views belong in an mp4
MIN_CONF = 0.5  # MediaPipe body "visibility" is a probability: below this a point is guessed (e.g. legs off-frame)


def _fit_transform(coords: np.ndarray, conf: np.ndarray, size: int, margin: float = 0.08):
    """Scale and offset that fit every detected point of the sequence into a ``size`` square."""
    seen = coords[conf > 0][:, :2]
    if len(seen) == 0:
        return 1.0, np.zeros(2), (size, size)
    lo, hi = seen.min(axis=0), seen.max(axis=0)
    span = float(max(hi - lo)) or 1.0
    scale = size * (1 - 2 * margin) / span
    offset = size / 2 - (lo + hi) / 2 * scale
    return scale, offset, (size, size)


def _canvas_mapping(pose: Pose, with_video: bool, size: int | None, min_conf: float):
    """Pixel coordinates of every frame, and the canvas size (W, H)."""
    if with_video:
        px = denormalize(pose).coords
        w, h = pose.meta["frame_size"]
        return px[..., :2], (int(w), int(h))
    if pose.meta.get("frame_size") and size is None:  # the source frame's pixels: its aspect ratio, not a square
        w, h = pose.meta["frame_size"]
        return denormalize(pose).coords[..., :2], (int(w), int(h))
    conf = np.where(pose.conf >= min_conf, pose.conf, 0)
    scale, offset, canvas = _fit_transform(pose.coords, conf, size or DEFAULT_CANVAS)
    return pose.coords[..., :2] * scale + offset, canvas


def draw_skeleton(img: Image.Image, xy: np.ndarray, conf: np.ndarray, pose: Pose, min_conf: float = MIN_CONF) -> None:
    """Draw one frame's skeleton (``xy[K, 2]`` pixels) onto ``img`` in place; points below ``min_conf`` are not
    drawn (conf 0, "not detected", never is)."""
    seen = (conf > 0) & (conf >= min_conf)
    layout = pose.layout_info
    d = ImageDraw.Draw(img)
    r = max(1.5, min(img.size) / 200)
    width = max(1, round(r * 0.8))
    for part, idx in layout.parts.items():
        color = PART_COLORS.get(part, (255, 255, 255))
        for a, b in layout.part_edges[part]:
            i, j = idx[a], idx[b]
            if seen[i] and seen[j]:
                d.line([tuple(xy[i]), tuple(xy[j])], fill=color, width=width)
        if part == "face":
            continue  # hundreds of mesh points: the contour edges are enough
        for i in idx:
            if seen[i]:
                x, y = xy[i]
                d.ellipse([x - r, y - r, x + r, y + r], fill=color)


def _video_frames(path: Path, pose: Pose) -> Iterator[np.ndarray]:
    from .pose_extract.decode import ClipReader
    from .pose_extract.inputs import Clip, make_key

    src = pose.meta.get("source") or {}
    clip = Clip(path, make_key(path.name), src.get("start"), src.get("end"), src.get("unit") or "seconds")
    reader = ClipReader(clip, frame_fps=pose.fps)
    for rgb, _ in reader:
        yield rgb


def render_frames(
    pose: Pose,
    video: str | os.PathLike | None = None,
    size: int | None = None,
    frames: list[int] | None = None,
    min_conf: float = MIN_CONF,
) -> Iterator[Image.Image]:
    """Pillow frames of ``pose`` (all, or the indices in ``frames``), over ``video`` if given."""
    xy, canvas = _canvas_mapping(pose, video is not None, size, min_conf)
    wanted = set(range(pose.num_frames)) if frames is None else set(frames)
    background = _video_frames(Path(video), pose) if video is not None else None
    for t in range(pose.num_frames):
        rgb = next(background, None) if background is not None else None
        if t not in wanted:
            continue
        if background is not None and rgb is None:
            raise VideoError(f"{video}: has fewer frames than the pose ({t} < {pose.num_frames}); is it the source?")
        img = Image.fromarray(rgb) if rgb is not None else Image.new("RGB", canvas, (16, 16, 16))
        if rgb is not None:
            img = Image.blend(img, Image.new("RGB", img.size), 0.3)  # darken so the skeleton stands out
        draw_skeleton(img, xy[t], pose.conf[t], pose, min_conf)
        yield img


def _gif_frame(img: Image.Image) -> Image.Image:
    if max(img.size) > GIF_MAX_SIDE:
        img = img.copy()
        img.thumbnail((GIF_MAX_SIDE, GIF_MAX_SIDE), Image.BILINEAR)
    return img.quantize(colors=128, method=Image.Quantize.FASTOCTREE)


def source_video(pose: Pose, pose_file: str | os.PathLike | None = None) -> Path | None:
    """The source video (or frame folder) recorded in the pose's meta, if it is still there: its absolute path as
    extraction saw it, else the recorded path from here, else relative to the pose file's folder. A recorded source
    that is found nowhere is warned about (the pose is then drawn without it)."""
    src = pose.meta.get("source") or {}
    recorded = [p for p in (src.get("absolute_path"), src.get("path")) if p]
    candidates = [Path(p) for p in recorded]
    if pose_file is not None and src.get("path") and not Path(src["path"]).is_absolute():
        candidates.append(Path(pose_file).parent / src["path"])
    for candidate in candidates:
        if candidate.exists():
            return candidate
    if recorded:
        warnings.warn(
            f"the source video {recorded[0]} is not there; drawing without it (pass --video PATH)", stacklevel=2
        )
    return None


def video_size(path: str | os.PathLike) -> tuple[int, int]:
    """(width, height) of a video, or of the first frame of a frame folder."""
    from .pose_extract.decode import _open_video
    from .pose_extract.inputs import frame_files

    path = Path(path)
    if path.is_dir():
        files = frame_files(path)
        if not files:
            raise VideoError(f"{path}: a folder without image frames")
        with Image.open(files[0]) as img:
            return img.size
    container, info = _open_video(path)
    container.close()
    return info.width, info.height


def check_video_fits(pose: Pose, video: str | os.PathLike) -> None:
    """Warn when a given video's frame size differs from the one the pose was extracted from (a wrong --video)."""
    want = pose.meta.get("frame_size")
    if not want:
        return
    got = video_size(video)
    if tuple(got) not in ((int(want[0]), int(want[1])), (int(want[1]), int(want[0]))):
        warnings.warn(
            f"{video} is {got[0]}x{got[1]} but the pose was extracted from a {want[0]}x{want[1]} video; "
            "is it the source?",
            stacklevel=2,
        )


def render(
    pose: Pose | str | os.PathLike,
    out: str | os.PathLike,
    video: str | os.PathLike | None = None,
    use_source: bool = True,
    frame: int | None = None,
    size: int | None = None,
    min_conf: float = MIN_CONF,
) -> Path:
    """Draw ``pose`` (or a pose file) to ``out`` (.mp4, .gif, or .png = one frame, the middle one by default).

    Drawn over ``video``, else over the source video recorded in the pose if ``use_source`` and it exists.
    """
    pose_file = None
    if not isinstance(pose, Pose):
        pose_file, pose = pose, load_pose(pose)
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in OUTPUT_SUFFIXES:
        raise PoseError(f"{out}: cannot write {suffix or 'no suffix'}; use one of {', '.join(OUTPUT_SUFFIXES)}")
    if pose.num_frames == 0:
        raise PoseError("the pose has no frames to draw")
    if video is not None and not Path(video).exists():
        raise VideoError(f"{video}: no such video")
    if video is not None:
        check_video_fits(pose, video)
    elif use_source:
        video = source_video(pose, pose_file)
    if video is not None and not pose.meta.get("frame_size"):
        raise PoseError("the pose has no frame_size in its meta, so it cannot be drawn over a video; drop --video")
    from ._atomic import atomic_path
    from .pose_extract.encode import write_video  # encoding lives beside decoding, in pose_extract

    out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".png":
        index = pose.num_frames // 2 if frame is None else frame
        if not 0 <= index < pose.num_frames:
            raise PoseError(f"frame {index} is out of range: the pose has {pose.num_frames} frames")
        img = next(render_frames(pose, video, size, frames=[index], min_conf=min_conf))
        with atomic_path(out) as tmp:
            img.save(tmp, format="PNG")
        return out
    frames = render_frames(pose, video, size, min_conf=min_conf)
    with atomic_path(out) as tmp:
        if suffix == ".gif":
            images = [_gif_frame(img) for img in frames]
            images[0].save(
                tmp,
                format="GIF",
                save_all=True,
                append_images=images[1:],
                loop=0,
                duration=max(20, round(1000 / pose.fps)),
            )
        else:
            write_video(frames, tmp, fps=pose.fps)
    return out
