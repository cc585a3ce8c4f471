"""Short test clips rendered from real photos (people, not noise), so extraction can be tested without data.

The photos ship in PyPI packages: NASA's astronaut portrait in scikit-image (public domain) and Grace Hopper's
portrait in matplotlib's sample data. Each frame is the photo under a small random affine jitter (shift, rotation,
scale), so trackers see motion, and the clip is written with PyAV (H.264, yuv420p,
`signkit.pose_extract.encode.write_video`). A helper of the tests and benchmarks (which put this folder on their
path), not of the package: it needs scikit-image and matplotlib, which only the ``test`` extra installs.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

PHOTOS = ("astronaut", "grace_hopper")


def load_photo(name: str) -> np.ndarray:
    """RGB uint8 array of a real photo shipped in a PyPI package (``astronaut`` or ``grace_hopper``)."""
    if name == "astronaut":
        from skimage import data

        return np.asarray(data.astronaut())
    if name == "grace_hopper":
        from matplotlib import cbook

        with cbook.get_sample_data("grace_hopper.jpg") as f:
            return np.asarray(Image.open(f).convert("RGB"))
    raise ValueError(f"unknown photo {name!r}; choose one of {', '.join(PHOTOS)}")


def jitter_frames(
    photo: np.ndarray, frames: int, size: tuple[int, int] = (512, 512), jitter: float = 1.0, seed: int = 0
) -> list[np.ndarray]:
    """``frames`` RGB frames of ``size`` (W, H): the photo resized, shifted by a few pixels, rotated and scaled a
    little (``jitter`` = 1 gives up to ±6 px, ±2°, ±2 %)."""
    rng = np.random.default_rng(seed)
    base = Image.fromarray(photo).resize(size, Image.BILINEAR)
    out = []
    for _ in range(frames):
        dx, dy = rng.uniform(-6, 6, 2) * jitter
        angle = rng.uniform(-2, 2) * jitter
        scale = 1 + rng.uniform(-0.02, 0.02) * jitter
        img = base.rotate(angle, resample=Image.BILINEAR, translate=(dx, dy), fillcolor=(0, 0, 0))
        if scale != 1:
            w, h = size
            big = img.resize((round(w * scale), round(h * scale)), Image.BILINEAR)
            left, top = (big.width - w) // 2, (big.height - h) // 2
            img = big.crop((left, top, left + w, top + h)) if scale > 1 else _pad_center(big, size)
        out.append(np.asarray(img))
    return out


def _pad_center(img: Image.Image, size: tuple[int, int]) -> Image.Image:
    canvas = Image.new("RGB", size)
    canvas.paste(img, ((size[0] - img.width) // 2, (size[1] - img.height) // 2))
    return canvas


def render_clip(
    path: str | os.PathLike,
    photo: str = "astronaut",
    frames: int = 8,
    size: tuple[int, int] = (512, 512),
    fps: float = 25.0,
    jitter: float = 1.0,
    seed: int = 0,
) -> Path:
    """Render a jittered clip of a real photo to ``path`` (mp4)."""
    from signkit.pose_extract.encode import write_video

    return write_video(jitter_frames(load_photo(photo), frames, size, jitter, seed), path, fps)
