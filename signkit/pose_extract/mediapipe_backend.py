"""MediaPipe Holistic (mediapipe 0.10.14, bundled models) turned into `Pose` sequences.

The estimator runs the very graph of ``mp.solutions.holistic.Holistic`` (same side packets, options and 30 fps
timestamps, so bit-identical landmarks) on a ``CalculatorGraph`` of its own, so that `HolisticEstimator.stream`
can feed frames without waiting for the graph to go idle after each one.
Tracking state must never leak from one video to the next, so `HolisticEstimator.reset` builds a new graph
before each clip (~0.2-0.6 s; MediaPipe's own ``reset()`` restarts the graph and costs the same). The cheaper trick
pose-format uses (one blank frame between videos) is not a reset: landmark coordinates come out identical, but
the body visibility scores of the next clip differ from a fresh graph's (its smoothing state survives; see
``tests/test_extract.py::test_no_tracking_leak_between_clips``). Landmarks become pixels
(x*W, y*H, z*W); body confidence is MediaPipe's visibility, face and hands have no per-point score and get 1 where
detected; undetected points have conf 0 and coords 0.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import sys
import threading
import warnings
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import ClassVar, TypeVar

import numpy as np

from .._hashing import sha256_file
from .._offline import is_offline
from ..errors import ExtractError, MissingDependencyError
from ._heap import release_freed_memory

T = TypeVar("T")

POSE_MODELS = {0: "pose_landmark_lite.tflite", 1: "pose_landmark_full.tflite", 2: "pose_landmark_heavy.tflite"}


@dataclass(frozen=True)
class HolisticConfig:
    """MediaPipe Holistic settings (its own defaults); the `EstimatorConfig` of ``mediapipe-holistic``."""

    name: ClassVar[str] = "mediapipe-holistic"
    model_complexity: int = 1
    refine_face: bool = False
    min_detection_confidence: float = 0.5
    min_tracking_confidence: float = 0.5

    def __post_init__(self) -> None:
        if self.model_complexity not in POSE_MODELS:
            raise ExtractError(f"model complexity must be 0, 1 or 2, got {self.model_complexity}")
        for name in ("min_detection_confidence", "min_tracking_confidence"):
            if not 0 <= getattr(self, name) <= 1:
                raise ExtractError(f"{name.replace('_', '-')} must be within [0, 1], got {getattr(self, name)}")

    @property
    def layout(self) -> str:
        return "mediapipe-holistic-refined" if self.refine_face else "mediapipe-holistic"

    def prepare(self) -> None:
        ensure_models(self)

    def meta(self) -> dict:
        return extractor_meta(self)

    def build(self) -> HolisticEstimator:
        return HolisticEstimator(self)


# The protos that `import mediapipe` registers (through the modules of ``mediapipe.python.solutions``). The graph
# config reaches MediaPipe's C++ side as a Python proto, which carries only the calculator options whose proto is
# registered in Python (mediapipe's own comment: "python pb2 silently discards unknown fields"): registering exactly
# this set without the rest of the package runs the graph with the very options `mp.solutions.holistic` runs it with
# (three calculators' options are dropped there too; tests/test_extract_lean.py checks both ways).
_OPTION_PROTOS = (
    "calculators.core.constant_side_packet_calculator_pb2",
    "calculators.core.gate_calculator_pb2",
    "calculators.core.split_vector_calculator_pb2",
    "calculators.image.image_transformation_calculator_pb2",
    "calculators.image.warp_affine_calculator_pb2",
    "calculators.tensor.image_to_tensor_calculator_pb2",
    "calculators.tensor.inference_calculator_pb2",
    "calculators.tensor.tensors_to_classification_calculator_pb2",
    "calculators.tensor.tensors_to_detections_calculator_pb2",
    "calculators.tensor.tensors_to_floats_calculator_pb2",
    "calculators.tensor.tensors_to_landmarks_calculator_pb2",
    "calculators.tensor.tensors_to_segmentation_calculator_pb2",
    "calculators.tflite.ssd_anchors_calculator_pb2",
    "calculators.util.association_calculator_pb2",
    "calculators.util.collection_has_min_size_calculator_pb2",
    "calculators.util.detection_label_id_to_text_calculator_pb2",
    "calculators.util.detections_to_rects_calculator_pb2",
    "calculators.util.landmark_projection_calculator_pb2",
    "calculators.util.landmarks_refinement_calculator_pb2",
    "calculators.util.landmarks_smoothing_calculator_pb2",
    "calculators.util.local_file_contents_calculator_pb2",
    "calculators.util.logic_calculator_pb2",
    "calculators.util.non_max_suppression_calculator_pb2",
    "calculators.util.rect_transformation_calculator_pb2",
    "calculators.util.thresholding_calculator_pb2",
    "calculators.util.visibility_smoothing_calculator_pb2",
    "framework.calculator_pb2",
    "framework.formats.body_rig_pb2",
    "framework.formats.classification_pb2",
    "framework.formats.detection_pb2",
    "framework.formats.landmark_pb2",
    "framework.formats.location_data_pb2",
    "framework.formats.rect_pb2",
    "framework.tool.switch_container_pb2",
    "modules.face_detection.face_detection_pb2",
    "modules.holistic_landmark.calculators.roi_tracking_calculator_pb2",
    "modules.objectron.calculators.annotation_data_pb2",
    "modules.objectron.calculators.frame_annotation_to_rect_calculator_pb2",
    "modules.objectron.calculators.lift_2d_frame_annotation_to_3d_calculator_pb2",
)
# The release that list was read from; any other release gets the full ``import mediapipe`` (its set may differ,
# and a missing option proto changes the landmarks without a word).
_OPTION_PROTOS_RELEASE = "0.10.14"


def require_mediapipe():
    """The ``mediapipe`` package, registered without running its ``__init__`` when nothing imported it yet.

    ``import mediapipe`` imports the solutions and tasks APIs, and with them matplotlib, cv2 and sounddevice
    (~70 MiB per worker process); the estimator needs only the graph bindings and a few protos, which import as
    submodules of a package whose ``__init__`` has not run. The first attribute asked of the package beyond those
    submodules (``mediapipe.solutions``, ``mediapipe.__version__``) runs its ``__init__`` then, so code in the
    same process that uses the full package still gets it.
    """
    # mediapipe 0.10.14 calls a protobuf API that warns on every graph; nothing a user can act on
    warnings.filterwarnings("ignore", message="SymbolDatabase.GetPrototype", category=UserWarning)
    if "mediapipe" in sys.modules:
        return sys.modules["mediapipe"]
    spec = importlib.util.find_spec("mediapipe")
    if spec is None or spec.loader is None:
        raise MissingDependencyError("mediapipe", "mediapipe")
    if _installed_release() != _OPTION_PROTOS_RELEASE:
        return importlib.import_module("mediapipe")
    package = importlib.util.module_from_spec(spec)

    def complete_import(name: str):
        del package.__dict__["__getattr__"]
        spec.loader.exec_module(package)
        return getattr(package, name)

    package.__getattr__ = complete_import
    sys.modules["mediapipe"] = package
    for name in _OPTION_PROTOS:
        importlib.import_module(f"mediapipe.{name}")
    return package


def _installed_release() -> str | None:
    try:
        return importlib.metadata.version("mediapipe")
    except importlib.metadata.PackageNotFoundError:
        return None


def _modules_dir() -> Path:
    spec = importlib.util.find_spec("mediapipe")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError("mediapipe", "mediapipe")
    return Path(list(spec.submodule_search_locations)[0]) / "modules"


def model_files(config: HolisticConfig, modules_dir: Path | None = None) -> list[Path]:
    """The .tflite files the Holistic graph loads for ``config``."""
    m = modules_dir or _modules_dir()
    files = [
        m / "pose_detection/pose_detection.tflite",
        m / "pose_landmark" / POSE_MODELS[config.model_complexity],
        m / "face_landmark" / ("face_landmark_with_attention.tflite" if config.refine_face else "face_landmark.tflite"),
        m / "hand_landmark/hand_landmark_full.tflite",
        m / "holistic_landmark/hand_recrop.tflite",
        m / "palm_detection/palm_detection_full.tflite",
    ]
    return files


def ensure_models(config: HolisticConfig, modules_dir: Path | None = None, allow_download: bool | None = None) -> None:
    """Make sure the pose model of ``config`` is on disk (mediapipe bundles only complexity 1).

    A missing model is fetched with mediapipe's own downloader unless offline (`signkit._offline.is_offline`:
    ``SIGNKIT_OFFLINE`` or ``HF_HUB_OFFLINE``); a failure becomes an `ExtractError` naming the path to fill and
    the download's error.
    """
    if allow_download is None:
        allow_download = not is_offline()
    missing = [p for p in model_files(config, modules_dir) if not p.is_file()]
    pose_model = model_files(config, modules_dir)[1]
    cause = ""
    if pose_model in missing and modules_dir is None:
        if allow_download:
            try:
                from mediapipe.python.solutions import download_utils

                download_utils.download_oss_model(f"mediapipe/modules/pose_landmark/{pose_model.name}")
            except Exception as e:  # any failure of mediapipe's downloader: its message goes into ours
                cause = f"; the download failed: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        else:
            cause = "; offline mode (SIGNKIT_OFFLINE / HF_HUB_OFFLINE) forbids downloading it"
        missing = [p for p in missing if not p.is_file()]
    if missing:
        raise ExtractError(
            f"MediaPipe model {missing[0]} is missing (model complexity {config.model_complexity}){cause}; "
            f"use --model-complexity 1 (bundled) or put {missing[0].name} at that path"
        )


@cache
def model_sha256(config: HolisticConfig) -> str:
    """One sha256 over the model files the graph uses (name and content of each, in order)."""
    h = hashlib.sha256()
    for path in model_files(config):
        h.update(path.name.encode())
        h.update(bytes.fromhex(sha256_file(path)))
    return h.hexdigest()


def mediapipe_version() -> str:
    """mediapipe's version without importing it (the import takes seconds; the runner's parent never needs it)."""
    from importlib.metadata import PackageNotFoundError, version

    _modules_dir()  # raises MissingDependencyError if absent
    try:
        return version("mediapipe")
    except PackageNotFoundError:
        return require_mediapipe().__version__


def extractor_meta(config: HolisticConfig) -> dict:
    return {
        "name": "mediapipe-holistic",
        "version": mediapipe_version(),
        **asdict(config),
        "model_sha256": model_sha256(config),
    }


def _landmarks(lms, n: int, w: int, h: int, visibility: bool) -> tuple[np.ndarray, np.ndarray]:
    if lms is None:
        return np.zeros((n, 3), np.float32), np.zeros(n, np.float32)
    points = lms.landmark
    if len(points) != n:
        raise ExtractError(f"MediaPipe returned {len(points)} landmarks where {n} were expected")
    xyz = np.array([(p.x * w, p.y * h, p.z * w) for p in points], dtype=np.float32)
    conf = np.array([p.visibility for p in points], np.float32).clip(0, 1) if visibility else np.ones(n, np.float32)
    return xyz, conf


# The graph `mp.solutions.holistic.Holistic` runs, with the same side packets and calculator options, built here
# so that frames can be fed without waiting (see `HolisticEstimator.stream`).
_GRAPH = "mediapipe/modules/holistic_landmark/holistic_landmark_cpu.binarypb"
_DETECTION_NODE = "poselandmarkcpu__posedetectioncpu__TensorsToDetectionsCalculator"
_TRACKING_NODE = "poselandmarkcpu__poselandmarkbyroicpu__tensorstoposelandmarksandsegmentation__ThresholdingCalculator"
OUTPUTS = ("pose_landmarks", "face_landmarks", "left_hand_landmarks", "right_hand_landmarks")
FRAME_STEP_US = 33333  # the timestamp step of `SolutionBase.process` (30 fps); smoothing depends on it
STALL_SECONDS = 2.0  # a frame takes ~0.1 s; a bound this late is taken as never coming


@cache
def _graph_config(config: HolisticConfig, threads: int | None) -> bytes:
    """The expanded Holistic graph config, serialised: confidences set as `Holistic.__init__` sets them; ``threads``
    sizes the graph's scheduler (None: MediaPipe's default, one thread per core)."""
    require_mediapipe()
    from mediapipe.calculators.tensor import tensors_to_detections_calculator_pb2 as detections_pb2
    from mediapipe.calculators.util import thresholding_calculator_pb2 as thresholding_pb2
    from mediapipe.framework import calculator_pb2
    from mediapipe.python._framework_bindings import resource_util, validated_graph_config

    root = _modules_dir().parent.parent
    resource_util.set_resource_dir(str(root))
    validated = validated_graph_config.ValidatedGraphConfig()
    validated.initialize(binary_graph_path=str(root / _GRAPH))
    graph = calculator_pb2.CalculatorGraphConfig.FromString(validated.binary_config)
    options = {
        _DETECTION_NODE: (
            detections_pb2.TensorsToDetectionsCalculatorOptions,
            "min_score_thresh",
            config.min_detection_confidence,
        ),
        _TRACKING_NODE: (thresholding_pb2.ThresholdingCalculatorOptions, "threshold", config.min_tracking_confidence),
    }
    for node in graph.node:
        if node.name in options:
            kind, name, value = options.pop(node.name)
            setattr(node.options.Extensions[kind.ext], name, value)
    if options:
        raise ExtractError(
            f"mediapipe {mediapipe_version()}: the Holistic graph lacks {sorted(options)}; install mediapipe==0.10.14"
        )
    if threads is not None:
        del graph.executor[:]  # the default executor's entry; num_threads sizes it instead
        graph.num_threads = threads
    return graph.SerializeToString()


class _GraphRun:
    """One run of a Holistic graph: frames in at 33333 us steps, landmark lists out by timestamp.

    Output streams are observed with their timestamp bounds, so a frame is known to be finished (each stream either
    sent its landmarks or moved past the frame) without waiting for the whole graph to go idle.
    """

    def __init__(self, graph):
        self.graph = graph
        self.results: dict[str, dict[int, object]] = {name: {} for name in OUTPUTS}
        self.bounds = dict.fromkeys(OUTPUTS, -1)
        self.done = threading.Condition()
        self.next_ts = FRAME_STEP_US
        self.stalled = False

    def on_packet(self, stream: str, packet) -> None:  # called on MediaPipe's threads
        from mediapipe.python import packet_getter

        value = None if packet.is_empty() else packet_getter.get_proto(packet)
        ts = packet.timestamp.value
        with self.done:
            if value is not None:
                self.results[stream][ts] = value
            self.bounds[stream] = max(self.bounds[stream], ts)
            self.done.notify_all()

    def add(self, rgb: np.ndarray) -> int:
        from mediapipe.python import packet_creator
        from mediapipe.python._framework_bindings import image_frame

        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ExtractError(f"frames must be RGB uint8 [H, W, 3], got {rgb.dtype} {list(rgb.shape)}")
        ts, self.next_ts = self.next_ts, self.next_ts + FRAME_STEP_US
        frame = packet_creator.create_image_frame(rgb, image_format=image_frame.ImageFormat.SRGB)
        self.graph.add_packet_to_input_stream(stream="image", packet=frame.at(ts))
        return ts

    def finished(self, ts: int) -> bool:
        return all(bound >= ts for bound in self.bounds.values())

    def wait(self, ts: int) -> None:
        """Until frame ``ts`` is finished. Should a bound ever be late (not seen with mediapipe 0.10.14), wait for
        the graph to go idle instead (then every frame fed is finished), for the rest of this run."""
        if not self.stalled:
            with self.done:
                if self.done.wait_for(lambda: self.finished(ts), timeout=STALL_SECONDS):
                    return
            self.stalled = True
        self.graph.wait_until_idle()

    def take(self, ts: int) -> list:
        with self.done:
            return [self.results[name].pop(ts, None) for name in OUTPUTS]


class HolisticEstimator:
    """A Holistic graph: ``stream(frames)`` or ``process(rgb)``, ``reset()`` between clips, ``close()`` at the end.

    ``stream`` feeds up to ``depth`` frames into the graph before it waits for the oldest one, so the stages of
    consecutive frames overlap (pose of frame t+1 while face and hands of frame t run); its output is bit-identical
    to frame-by-frame ``process()`` (same graph, same timestamps; tracking waits on the previous frame by itself).
    ``threads`` sizes the graph's scheduler (None: MediaPipe's default, one thread per core).
    """

    def __init__(self, config: HolisticConfig, depth: int = 4, threads: int | None = None):
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        ensure_models(config)
        self.config = config
        self.depth = depth
        self.threads = threads
        self.n_face = 478 if config.refine_face else 468
        self._graph = self._new_graph()
        self._run = self._start()

    def _new_graph(self):
        require_mediapipe()
        from mediapipe.framework import calculator_pb2
        from mediapipe.python._framework_bindings import calculator_graph

        config = calculator_pb2.CalculatorGraphConfig.FromString(_graph_config(self.config, self.threads))
        graph = calculator_graph.CalculatorGraph(graph_config=config)
        for name in OUTPUTS:
            graph.observe_output_stream(name, lambda stream, packet: self._run.on_packet(stream, packet), True)
        return graph

    def _start(self) -> _GraphRun:
        from mediapipe.python import packet_creator

        self._run = _GraphRun(self._graph)
        self._graph.start_run(
            {
                "model_complexity": packet_creator.create_int(self.config.model_complexity),
                "smooth_landmarks": packet_creator.create_bool(True),
                "enable_segmentation": packet_creator.create_bool(False),
                "smooth_segmentation": packet_creator.create_bool(True),
                "refine_face_landmarks": packet_creator.create_bool(self.config.refine_face),
                "use_prev_landmarks": packet_creator.create_bool(True),
            }
        )
        return self._run

    def reset(self) -> None:
        """Forget every tracked landmark and filter state before the next clip: a new graph, if this one was used.

        (Restarting the same graph also opens fresh calculators, but then the hand streams stop reporting their
        timestamp bounds, which `stream` needs to see a frame finished.)"""
        if self._run.next_ts == FRAME_STEP_US:
            return
        self._graph.close()
        release_freed_memory()  # before the new graph allocates: else the old one's pages stay (+150 MiB peak)
        self._graph = self._new_graph()
        self._start()

    def process(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(coords[K, 3] in pixels, conf[K])`` in the layout's part order: body, face, left hand, right hand."""
        ts = self._run.add(rgb)
        self._graph.wait_until_idle()
        return self._arrays(self._run.take(ts), rgb)

    def stream(self, frames: Iterable[tuple[np.ndarray, T]]) -> Iterator[tuple[T, np.ndarray, np.ndarray]]:
        """``(tag, coords, conf)`` for each ``(rgb, tag)`` of ``frames``, in order, ``depth`` frames in flight."""
        run = self._run
        pending: deque[tuple[int, T, tuple[int, int]]] = deque()
        for rgb, tag in frames:
            pending.append((run.add(rgb), tag, rgb.shape[:2]))
            while pending and (len(pending) > self.depth or run.finished(pending[0][0])):
                ts, tag_, size = pending.popleft()
                run.wait(ts)
                yield (tag_, *self._arrays(run.take(ts), size))
        if pending:
            self._graph.wait_until_idle()
        while pending:
            ts, tag_, size = pending.popleft()
            yield (tag_, *self._arrays(run.take(ts), size))

    def _arrays(self, lists: list, frame) -> tuple[np.ndarray, np.ndarray]:
        h, w = frame.shape[:2] if isinstance(frame, np.ndarray) else frame
        pose, face, left, right = lists
        parts = [
            _landmarks(pose, 33, w, h, visibility=True),
            _landmarks(face, self.n_face, w, h, visibility=False),
            _landmarks(left, 21, w, h, visibility=False),
            _landmarks(right, 21, w, h, visibility=False),
        ]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    @property
    def stalled(self) -> bool:
        """True if the current clip's `stream` fell back to waiting for an idle graph (a late timestamp bound)."""
        return self._run.stalled

    def close(self) -> None:
        self._graph.close()

    def __enter__(self) -> HolisticEstimator:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
