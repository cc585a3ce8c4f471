"""RTMPose/RTMW whole-body (COCO-WholeBody, 133 points with scores) with onnxruntime, as rtmlib runs it.

The keypoints every public skeleton-text checkpoint (Uni-Sign, Geo-Sign, MSKA, Sigma) was trained on. Per frame:
a YOLOX person detector, then RTMW on the first (highest-scoring) person box, each frame on its own (no
tracking). The pre- and post-processing are rtmlib's (``rtmlib.tools.object_detection.yolox`` and
``rtmlib.tools.pose_estimation``, 0.0.13-0.0.16: letterbox to the detector's size with pad 114, boxes above 0.3
from the model's own NMS, 1.25 box padding to the pose model's aspect ratio, ``cv2.warpAffine``, ImageNet mean/std,
SimCC argmax with split ratio 2, score = the mean of the x and y maxima), written here so that signkit needs
neither rtmlib nor its two OpenCV wheels (rtmlib asks for both ``opencv-python`` and ``opencv-contrib-python``,
which overwrite each other's ``cv2``); ``tests/test_extract_rtmw.py`` holds it to rtmlib's own numbers.

Frames reach the models as BGR, as Uni-Sign's ``demo/pose_extraction.py`` feeds them (``cv2.VideoCapture``).
Coordinates are pixels (z = 0); conf is the score clipped to [0, 1]. A frame without a person box gets conf 0
(MediaPipe's convention); ``whole_image_fallback`` (preset ``unisign``) estimates the whole frame instead, as rtmlib
does. Model files are the official ONNX SDK zips of rtmlib's ``Wholebody.MODE`` table, fetched through the zoo's
downloader (``SIGNKIT_HOME`` cache, sha256 pinned on first download, ``SIGNKIT_ZOO_MIRROR``, offline mode, resume).
"""

from __future__ import annotations

import contextlib
import hashlib
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from .._hashing import sha256_file
from ..errors import ExtractError, MissingDependencyError, SignkitError

_OMM = "https://download.openmmlab.com/mmpose/v1/projects"
DETECTORS = {
    "yolox-tiny": f"{_OMM}/rtmposev1/onnx_sdk/yolox_tiny_8xb8-300e_humanart-6f3252f9.zip",
    "yolox-m": f"{_OMM}/rtmposev1/onnx_sdk/yolox_m_8xb8-300e_humanart-c2c7a14a.zip",
}
POSE_MODELS = {
    "rtmw-l-256x192": f"{_OMM}/rtmw/onnx_sdk/rtmw-dw-l-m_simcc-cocktail14_270e-256x192_20231122.zip",
    "rtmw-x-256x192": f"{_OMM}/rtmw/onnx_sdk/rtmw-dw-x-l_simcc-cocktail14_270e-256x192_20231122.zip",
    "rtmw-x-384x288": f"{_OMM}/rtmw/onnx_sdk/rtmw-dw-x-l_simcc-cocktail14_270e-384x288_20231122.zip",
}


@dataclass(frozen=True)
class Mode:
    """A detector + pose model pair and their input sizes, as (width, height)."""

    det: str
    det_size: tuple[int, int]
    pose: str
    pose_size: tuple[int, int]


# rtmlib's Wholebody.MODE
MODES = {
    "lightweight": Mode("yolox-tiny", (416, 416), "rtmw-l-256x192", (192, 256)),
    "balanced": Mode("yolox-m", (640, 640), "rtmw-x-256x192", (192, 256)),
    "performance": Mode("yolox-m", (640, 640), "rtmw-x-384x288", (288, 384)),
}
# Uni-Sign's demo/pose_extraction.py: Wholebody(mode="lightweight"), one person, every frame on its own; rtmlib
# estimates the whole image when no person is detected.
PRESETS = {"unisign": {"mode": "lightweight", "whole_image_fallback": True}}

NUM_KEYPOINTS = 133
MEAN = (123.675, 116.28, 103.53)
STD = (58.395, 57.12, 57.375)
BOX_PADDING = 1.25
BOX_SCORE = 0.3  # boxes of the ONNX SDK detectors (NMS inside the model) kept above this score, as rtmlib
SIMCC_SPLIT = 2.0
PAD_VALUE = 114
CACHE_ENTRY = "rtmlib-onnx"  # the zoo cache folder (and mirror folder) of these model files


@dataclass(frozen=True)
class RTMWConfig:
    """RTMW settings; the `EstimatorConfig` of ``rtmw``. ``det``/``pose`` replace the mode's model with a URL (an
    ONNX SDK ``.zip`` or an ``.onnx``) or a local ``.onnx`` file; input sizes stay the mode's unless given."""

    name: ClassVar[str] = "rtmw"
    mode: str = "lightweight"
    whole_image_fallback: bool = False
    device: str = "auto"  # auto (CUDA where onnxruntime has it, else CPU) | cpu | cuda
    threads: int = 1  # onnxruntime intra-op threads per worker (the runner already runs one worker per core)
    det: str = ""
    pose: str = ""
    det_size: tuple[int, int] | None = None
    pose_size: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ExtractError(f"unknown RTMW mode {self.mode!r}; use one of {', '.join(MODES)}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ExtractError(f"device must be auto, cpu or cuda, got {self.device!r}")
        if self.threads < 0:
            raise ExtractError(f"threads must be >= 0 (0: onnxruntime's default), got {self.threads}")

    @classmethod
    def preset(cls, name: str, **settings) -> RTMWConfig:
        if name not in PRESETS:
            raise ExtractError(f"unknown RTMW preset {name!r}; use one of {', '.join(PRESETS)}")
        return cls(**{**PRESETS[name], **settings})

    @property
    def layout(self) -> str:
        return "coco-wholebody-133"

    @property
    def sizes(self) -> tuple[tuple[int, int], tuple[int, int]]:
        mode = MODES[self.mode]
        return tuple(self.det_size or mode.det_size), tuple(self.pose_size or mode.pose_size)

    @property
    def sources(self) -> dict[str, str]:
        mode = MODES[self.mode]
        return {"det": self.det or DETECTORS[mode.det], "pose": self.pose or POSE_MODELS[mode.pose]}

    def prepare(self) -> None:
        model_paths(self)

    def meta(self) -> dict:
        paths = model_paths(self)
        models = {role: {"source": self.sources[role], "sha256": _sha256(paths[role])} for role in paths}
        combined = hashlib.sha256("".join(models[r]["sha256"] for r in ("det", "pose")).encode()).hexdigest()
        return {
            "name": self.name,
            "version": _onnxruntime_version(),
            **{k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()},
            "det_size": list(self.sizes[0]),
            "pose_size": list(self.sizes[1]),
            "models": models,
            "model_sha256": combined,
        }

    def build(self) -> RTMWEstimator:
        return RTMWEstimator(self)


def require_onnxruntime():
    try:
        import onnxruntime
    except ImportError:
        raise MissingDependencyError("onnxruntime", "rtmpose") from None
    return onnxruntime


def require_cv2():
    try:
        import cv2
    except ImportError:
        raise MissingDependencyError("cv2 (OpenCV)", "rtmpose") from None
    return cv2


def _onnxruntime_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    for dist in ("onnxruntime", "onnxruntime-gpu"):
        with contextlib.suppress(PackageNotFoundError):
            return f"onnxruntime {version(dist)}"
    raise MissingDependencyError("onnxruntime", "rtmpose")


# ---- model files ---------------------------------------------------------------------------------------------


def model_paths(config: RTMWConfig) -> dict[str, Path]:
    """``{"det": path, "pose": path}`` of the ONNX files, fetched (and unpacked) into the cache when missing."""
    from .._offline import is_offline

    if is_offline():  # name every file that is missing, not only the first
        from ..zoo.downloading import origin_for

        missing = [
            s
            for s in config.sources.values()
            if "://" in s and not _cached(s).is_file() and origin_for(*_spec(s)).remote
        ]  # a mirror folder is ok
        if missing:
            names = ", ".join(_cached(s).name for s in missing)
            raise ExtractError(
                f"RTMW model files missing from the cache ({_cached(missing[0]).parent}): {names}; offline mode "
                "(SIGNKIT_OFFLINE/HF_HUB_OFFLINE) forbids fetching them from download.openmmlab.com: run the extract "
                f"once with network and copy that folder here, or set SIGNKIT_ZOO_MIRROR to a folder (or URL) "
                f"that holds {CACHE_ENTRY}/<file>"
            )
    return {role: _model_file(url) for role, url in config.sources.items()}


def _spec(source: str):
    from ..zoo.registry import FileSpec, ZooEntry

    name = source.rstrip("/").rsplit("/", 1)[-1]
    entry = ZooEntry(name=CACHE_ENTRY, arch="pose-estimator", description="RTMPose/RTMW ONNX SDK files")
    return entry, FileSpec(name=name, url=source, pin="first-download")


def _cached(source: str) -> Path:
    from ..zoo.downloading import cached_path

    return cached_path(*_spec(source))


def _model_file(source: str) -> Path:
    if "://" not in source:
        path = Path(source).expanduser()
        if not path.is_file():
            raise ExtractError(f"RTMW model {path} does not exist; give an .onnx file or a URL")
        return path
    from ..zoo.downloading import fetch_file

    entry, spec = _spec(source)
    name = spec.name
    try:
        fetched = fetch_file(entry, spec)
    except SignkitError as e:
        raise ExtractError(f"RTMW model file {name}: {e}") from None
    return _unpacked(fetched) if name.endswith(".zip") else fetched


def _unpacked(archive: Path) -> Path:
    """The one ``.onnx`` of an ONNX SDK zip, unpacked next to it once (atomically)."""
    target = archive.with_suffix(".onnx")
    if target.is_file():
        return target
    from .._atomic import atomic_path

    try:
        with zipfile.ZipFile(archive) as z:
            members = [m for m in z.namelist() if m.endswith(".onnx")]
            if len(members) != 1:
                raise ExtractError(
                    f"{archive}: expected one .onnx file in the zip, found {members or 'none'}; "
                    "delete it to download again"
                )
            with atomic_path(target) as tmp, z.open(members[0]) as src, open(tmp, "wb") as dst:
                while block := src.read(1 << 20):
                    dst.write(block)
    except zipfile.BadZipFile as e:
        raise ExtractError(f"{archive}: not a readable zip ({e}); delete it to download again") from None
    return target


@cache
def _sha256_cached(path: str, size: int, mtime_ns: int) -> str:
    return sha256_file(path)


def _sha256(path: Path) -> str:
    st = path.stat()
    return _sha256_cached(str(path), st.st_size, st.st_mtime_ns)


# ---- the models ----------------------------------------------------------------------------------------------


def _session(path: Path, config: RTMWConfig, role: str, inputs: list, outputs: list):
    """An onnxruntime session whose input and outputs are checked against what rtmlib's models have."""
    ort = require_onnxruntime()
    available = ort.get_available_providers()
    if config.device == "cuda" and "CUDAExecutionProvider" not in available:
        raise ExtractError(
            "device cuda: this onnxruntime has no CUDA provider; pip install onnxruntime-gpu or use device cpu"
        )
    cuda = config.device in ("cuda", "auto") and "CUDAExecutionProvider" in available
    providers = (["CUDAExecutionProvider"] if cuda else []) + ["CPUExecutionProvider"]
    options = ort.SessionOptions()
    if config.threads:
        options.intra_op_num_threads = config.threads
        options.inter_op_num_threads = 1
    try:
        session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
    except Exception as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ExtractError(f"{path}: not a readable ONNX model ({first[:200]}); delete it to download again") from None
    found_in = [list(i.shape) for i in session.get_inputs()]
    found_out = [list(o.shape) for o in session.get_outputs()]
    if not _shapes_match(found_in, inputs) or not _shapes_match(found_out, outputs):
        raise ExtractError(
            f"{path}: not an RTMW {role} model: expected inputs {inputs} and outputs {outputs}, "
            f"found inputs {found_in} and outputs {found_out}"
        )
    return session


def _shapes_match(found: list, expected: list) -> bool:
    """Same count and rank; a fixed expected dim must equal a fixed found one (symbolic dims match anything)."""
    if len(found) != len(expected):
        return False
    for f, e in zip(found, expected, strict=True):
        if len(f) != len(e):
            return False
        if any(isinstance(a, int) and isinstance(b, int) and a != b for a, b in zip(f, e, strict=True)):
            return False
    return True


class RTMWEstimator:
    """Detector + RTMW sessions: ``infer(bgr)`` (rtmlib's numbers), ``stream(frames)`` for the runner."""

    def __init__(self, config: RTMWConfig):
        self.config = config
        self._cv2 = require_cv2()
        paths = model_paths(config)
        (dw, dh), (pw, ph) = config.sizes
        self.det_size, self.pose_size = (dw, dh), (pw, ph)
        self.det = _session(paths["det"], config, "detector", [[1, 3, dh, dw]], [[1, "N", 5], [1, "N"]])
        self.pose = _session(
            paths["pose"],
            config,
            "pose",
            [[1, 3, ph, pw]],
            [[1, NUM_KEYPOINTS, int(pw * SIMCC_SPLIT)], [1, NUM_KEYPOINTS, int(ph * SIMCC_SPLIT)]],
        )
        self._det_io = (self.det.get_inputs()[0].name, [o.name for o in self.det.get_outputs()])
        self._pose_io = (self.pose.get_inputs()[0].name, [o.name for o in self.pose.get_outputs()])
        self._mean, self._std = np.array(MEAN), np.array(STD)

    # detector (rtmlib YOLOX, ONNX SDK models with NMS inside)
    def detect(self, bgr: np.ndarray) -> np.ndarray:
        """Person boxes ``[N, 4]`` (x1, y1, x2, y2 in pixels), highest score first."""
        w_in, h_in = self.det_size
        h, w = bgr.shape[:2]
        if (h, w) == (h_in, w_in):
            padded, ratio = bgr.copy(), 1.0
        else:
            ratio = min(h_in / h, w_in / w)
            size = (int(w * ratio), int(h * ratio))
            resized = self._cv2.resize(bgr, size, interpolation=self._cv2.INTER_LINEAR).astype(np.uint8)
            padded = np.full((h_in, w_in, 3), PAD_VALUE, dtype=np.uint8)
            padded[: size[1], : size[0]] = resized
        name, outputs = self._det_io
        dets = self.det.run(outputs, {name: _nchw(padded)})[0]
        boxes, scores = dets[0, :, :4] / ratio, dets[0, :, 4]
        return boxes[scores > BOX_SCORE]

    # pose (rtmlib RTMPose: top-down affine crop, SimCC decoding)
    def estimate(self, bgr: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(keypoints[133, 2] in pixels, scores[133])`` of the person in ``box``."""
        box = np.asarray(box)
        center = (box[:2] + box[2:4]) * 0.5  # array arithmetic throughout: the dtypes rtmlib's numbers have
        scale = (box[2:4] - box[:2]) * BOX_PADDING
        w, h = self.pose_size
        aspect = w / h
        width, height = scale[:1], scale[1:]
        scale = np.where(
            width > height * aspect, np.hstack([width, width / aspect]), np.hstack([height * aspect, height])
        )
        crop = self._cv2.warpAffine(
            bgr, _warp_matrix(self._cv2, center, scale, (w, h)), (int(w), int(h)), flags=self._cv2.INTER_LINEAR
        )
        name, outputs = self._pose_io
        simcc_x, simcc_y = self.pose.run(outputs, {name: _nchw((crop - self._mean) / self._std)})[:2]
        x, y = simcc_x[0], simcc_y[0]
        locs = np.stack([np.argmax(x, axis=1), np.argmax(y, axis=1)], axis=-1).astype(np.float32)
        scores = 0.5 * (np.amax(x, axis=1) + np.amax(y, axis=1))
        locs[scores <= 0] = -1
        keypoints = locs / SIMCC_SPLIT / np.array((w, h)) * scale + center - scale / 2
        return keypoints, scores

    def infer(self, bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """One BGR frame -> ``(keypoints[133, 2], scores[133])`` of the first person, or None (no person box and
        no whole-image fallback)."""
        boxes = self.detect(bgr)
        if len(boxes):
            return self.estimate(bgr, boxes[0])
        if self.config.whole_image_fallback:
            return self.estimate(bgr, np.array([0, 0, bgr.shape[1], bgr.shape[0]]))
        return None

    def process(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(coords[133, 3] in pixels, conf[133])`` of an RGB frame (z = 0; conf = score clipped to [0, 1])."""
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ExtractError(f"frames must be RGB uint8 [H, W, 3], got {rgb.dtype} {list(rgb.shape)}")
        found = self.infer(np.ascontiguousarray(rgb[..., ::-1]))
        coords = np.zeros((NUM_KEYPOINTS, 3), np.float32)
        if found is None:
            return coords, np.zeros(NUM_KEYPOINTS, np.float32)
        keypoints, scores = found
        coords[:, :2] = keypoints
        return coords, np.clip(scores, 0, 1).astype(np.float32)

    def stream(self, frames: Iterable[tuple[np.ndarray, Any]]) -> Iterator[tuple[Any, np.ndarray, np.ndarray]]:
        for rgb, tag in frames:
            yield (tag, *self.process(rgb))

    def reset(self) -> None:
        """Nothing to forget: every frame is estimated on its own."""

    def close(self) -> None:
        self.det = self.pose = None

    def __enter__(self) -> RTMWEstimator:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _nchw(image: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32)[None]


def _warp_matrix(cv2, center: np.ndarray, scale: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The 2x3 affine map of the box (center, scale) onto the model input (no rotation), from three point pairs
    in float32 as mmpose's ``get_warp_matrix`` builds them."""
    dst_w, dst_h = size
    src = np.zeros((3, 2), np.float32)
    dst = np.zeros((3, 2), np.float32)
    src[0] = center
    src[1] = center + np.array([0.0, scale[0] * -0.5])
    src[2] = _third_point(src[0], src[1])
    dst[0] = [dst_w * 0.5, dst_h * 0.5]
    dst[1] = np.array([dst_w * 0.5, dst_h * 0.5]) + np.array([0.0, dst_w * -0.5])
    dst[2] = _third_point(dst[0], dst[1])
    return cv2.getAffineTransform(src, dst)


def _third_point(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a - b`` turned 90 degrees counter-clockwise about ``b``."""
    d = a - b
    return b + np.r_[-d[1], d[0]]
