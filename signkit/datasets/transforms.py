"""Sample transforms: temporal cropping/resampling to ``max_frames`` and pose augmentations.

Every transform is a pure function of ``(coords [T,K,3], conf [T,K])`` and a seeded ``numpy.random.Generator``,
returns new arrays, and keeps undetected points (conf 0) at 0: augmentation never invents a detection. Mirroring
swaps left and right points by name (``left_*`` <-> ``right_*``) and the face through its layout's symmetry table
(`signkit.pose.mirror_permutation`), not by index ranges.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError
from ..pose import mirror_permutation

CROP_MODES = ("random", "center", "resample")


def _masked(coords: np.ndarray, conf: np.ndarray) -> np.ndarray:
    return np.where(conf[..., None] > 0, coords, 0).astype(np.float32, copy=False)


def temporal_crop(
    coords: np.ndarray, conf: np.ndarray, max_frames: int, mode: str = "center", rng: np.random.Generator | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """At most ``max_frames`` frames: a random window (training), the centre window (evaluation), or ``resample``
    (frames picked uniformly over the whole clip, so the whole sign is kept at a lower frame rate)."""
    t = coords.shape[0]
    if mode not in CROP_MODES:
        raise ConfigError(f"crop mode {mode!r} is not one of {', '.join(CROP_MODES)}")
    if max_frames < 1:
        raise ConfigError(f"max_frames must be at least 1, got {max_frames}")
    if t <= max_frames:
        return coords, conf
    if mode == "resample":
        idx = np.linspace(0, t - 1, max_frames).round().astype(np.int64)
        return coords[idx], conf[idx]
    start = crop_start(t, max_frames, mode, rng)
    return coords[start : start + max_frames], conf[start : start + max_frames]


def crop_start(t: int, max_frames: int, mode: str, rng: np.random.Generator | None = None) -> int:
    """The first frame of the ``random`` or ``center`` window of ``max_frames`` out of ``t > max_frames`` frames
    (the loader crops a sample it has not read yet with it, drawing from ``rng`` as `temporal_crop` does)."""
    if mode == "random":
        return int((rng or np.random.default_rng()).integers(0, t - max_frames + 1))
    return (t - max_frames) // 2


def affine(coords: np.ndarray, conf: np.ndarray, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Apply a 2x2 matrix to x, y (around the origin, the normalised mid-shoulder point); z keeps its scale with
    the matrix's mean scale."""
    out = coords.astype(np.float32)  # a copy, and float32 even when the stored pose is float16
    out[..., :2] = out[..., :2] @ matrix.T.astype(np.float32)
    out[..., 2] *= np.float32(np.sqrt(abs(np.linalg.det(matrix))))
    return _masked(out, conf), conf


def rotate(coords: np.ndarray, conf: np.ndarray, degrees: float) -> tuple[np.ndarray, np.ndarray]:
    a = np.deg2rad(degrees)
    return affine(coords, conf, np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]))


def scale(coords: np.ndarray, conf: np.ndarray, factor: float) -> tuple[np.ndarray, np.ndarray]:
    return affine(coords, conf, np.eye(2) * factor)


def shear(coords: np.ndarray, conf: np.ndarray, sx: float, sy: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    return affine(coords, conf, np.array([[1.0, sx], [sy, 1.0]]))


def jitter(
    coords: np.ndarray, conf: np.ndarray, sigma: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian noise of ``sigma`` (in shoulder widths) on every detected point."""
    noise = rng.normal(0.0, sigma, size=coords.shape).astype(np.float32)
    return _masked(coords + noise, conf), conf


def frame_dropout(
    coords: np.ndarray, conf: np.ndarray, p: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Drop each frame with probability ``p`` (at least one frame is kept)."""
    keep = rng.random(coords.shape[0]) >= p
    if not keep.any():
        keep[rng.integers(0, coords.shape[0])] = True
    return coords[keep], conf[keep]


def mirror(coords: np.ndarray, conf: np.ndarray, layout: str) -> tuple[np.ndarray, np.ndarray]:
    """Horizontal flip: x -> -x, left/right points swapped and the face mirrored through its symmetry table, so a
    right-handed signer becomes a left-handed one (the jaw's point 0 is again on the subject's right)."""
    perm = mirror_permutation(layout)
    out = coords[:, perm].copy()
    out[..., 0] *= -1
    c = conf[:, perm]
    return _masked(out, c), c


@dataclass
class Augment:
    """Training augmentations; each is off at its neutral value. Angles in degrees, distances in shoulder widths."""

    rotate: float = 15.0  # uniform in [-rotate, rotate]
    scale: tuple[float, float] = (0.85, 1.15)
    shear: float = 0.1  # uniform in [-shear, shear] for both axes
    jitter: float = 0.005
    frame_dropout: float = 0.05
    mirror: float = 0.0  # probability; off by default since handedness can carry meaning in some datasets

    def __post_init__(self) -> None:
        if not (0 <= self.frame_dropout < 1 and 0 <= self.mirror <= 1):
            raise ConfigError("frame_dropout must be in [0, 1) and mirror in [0, 1]")
        if self.scale[0] <= 0 or self.scale[0] > self.scale[1]:
            raise ConfigError(f"scale range {self.scale} must be positive and increasing")

    def __call__(
        self, coords: np.ndarray, conf: np.ndarray, layout: str, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        coords, conf = coords.astype(np.float32), conf.astype(np.float32)
        if self.frame_dropout > 0 and coords.shape[0] > 1:
            coords, conf = frame_dropout(coords, conf, self.frame_dropout, rng)
        if self.mirror > 0 and rng.random() < self.mirror:
            coords, conf = mirror(coords, conf, layout)
        a = np.deg2rad(rng.uniform(-self.rotate, self.rotate))
        rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        sh = np.array([[1.0, rng.uniform(-self.shear, self.shear)], [rng.uniform(-self.shear, self.shear), 1.0]])
        matrix = rot @ sh * rng.uniform(*self.scale)
        coords, conf = affine(coords, conf, matrix)
        if self.jitter > 0:
            coords, conf = jitter(coords, conf, self.jitter, rng)
        return coords, conf
