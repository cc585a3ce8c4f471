"""Small generated ONNX models with the inputs and outputs of rtmlib's whole-body models (no weights can be fetched
here): a "detector" ``input [1, 3, H, W] -> dets [1, 3, 5], labels [1, 3]`` (boxes sorted by score, as the ONNX SDK
YOLOX with NMS inside gives them) and a "pose model" ``input [1, 3, h, w] -> simcc_x [1, 133, 2w], simcc_y
[1, 133, 2h]``. Their outputs depend on the image (pooled pixels through fixed random weights), so pre-processing
errors change the numbers. Deterministic: the same seed gives byte-identical files (the rtmlib reference fixture
records their sha256). Needs the ``onnx`` package; also run, unchanged, by ``tests/fixtures/rtmw/make_reference.py``
in a venv with rtmlib.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import numpy as np

OPSET = 17


def _const(name: str, array: np.ndarray):
    from onnx import numpy_helper

    return numpy_helper.from_array(np.ascontiguousarray(array), name)


def detector_model(size: tuple[int, int] = (416, 416), seed: int = 0, score_bias: float = 0.5) -> bytes:
    """``size`` is (width, height); ``score_bias`` moves every box score (very negative: no person ever)."""
    from onnx import TensorProto, helper

    w, h = size
    rng = np.random.default_rng(seed)
    weights = rng.normal(0, 4.0, (48, 15)).astype(np.float32)
    bias = rng.normal(0, 0.5, (15,)).astype(np.float32)
    bias[4::5] += score_bias
    n = helper.make_node
    nodes = [
        n("AveragePool", ["input"], ["pooled"], kernel_shape=[h // 4, w // 4], strides=[h // 4, w // 4]),
        n("Reshape", ["pooled", "shape_48"], ["flat"]),
        n("Mul", ["flat", "inv255"], ["unit"]),
        n("Sub", ["unit", "half"], ["centred"]),
        n("MatMul", ["centred", "weights"], ["z0"]),
        n("Add", ["z0", "bias"], ["z1"]),
        n("Reshape", ["z1", "shape_135"], ["z"]),
        n("Sigmoid", ["z"], ["s"]),
        n("Slice", ["s", "i0", "i2", "axis2"], ["xy"]),
        n("Slice", ["s", "i2", "i4", "axis2"], ["wh01"]),
        n("Slice", ["s", "i4", "i5", "axis2"], ["score"]),
        n("Mul", ["xy", "xy_range"], ["xy1"]),
        n("Mul", ["wh01", "wh_range"], ["wh_a"]),
        n("Add", ["wh_a", "wh_min"], ["wh"]),
        n("Add", ["xy1", "wh"], ["xy2"]),
        n("Concat", ["xy1", "xy2", "score"], ["unsorted"], axis=2),
        n("Reshape", ["score", "shape_13"], ["score_flat"]),
        n("TopK", ["score_flat", "k3"], ["top", "order"], axis=1),
        n("Squeeze", ["order", "axis0"], ["order_flat"]),
        n("Gather", ["unsorted", "order_flat"], ["dets"], axis=1),
        n("Mul", ["top", "zero"], ["zeros"]),
        n("Cast", ["zeros"], ["labels"], to=TensorProto.INT64),
    ]
    inits = [
        _const("shape_48", np.array([1, 48], np.int64)),
        _const("shape_135", np.array([1, 3, 5], np.int64)),
        _const("shape_13", np.array([1, 3], np.int64)),
        _const("inv255", np.array(1 / 255, np.float32)),
        _const("half", np.array(0.5, np.float32)),
        _const("weights", weights),
        _const("bias", bias),
        _const("i0", np.array([0], np.int64)),
        _const("i2", np.array([2], np.int64)),
        _const("i4", np.array([4], np.int64)),
        _const("i5", np.array([5], np.int64)),
        _const("axis2", np.array([2], np.int64)),
        _const("axis0", np.array([0], np.int64)),
        _const("k3", np.array([3], np.int64)),
        _const("xy_range", np.array([w * 0.6, h * 0.5], np.float32)),
        _const("wh_range", np.array([w * 0.35, h * 0.45], np.float32)),
        _const("wh_min", np.array([w * 0.05, h * 0.05], np.float32)),
        _const("zero", np.array(0, np.float32)),
    ]
    graph = helper.make_graph(
        nodes,
        "detector",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, h, w])],
        [
            helper.make_tensor_value_info("dets", TensorProto.FLOAT, [1, 3, 5]),
            helper.make_tensor_value_info("labels", TensorProto.INT64, [1, 3]),
        ],
        inits,
    )
    return _serialise(graph)


def pose_model(size: tuple[int, int] = (192, 256), seed: int = 1, keypoints: int = 133) -> bytes:
    """``size`` is (width, height) of the input; SimCC bins are twice as many."""
    from onnx import TensorProto, helper

    w, h = size
    rng = np.random.default_rng(seed)
    n = helper.make_node
    nodes, inits = [], []
    for axis, (pixels, bins, reduce) in {"x": (w, 2 * w, [1, 2]), "y": (h, 2 * h, [1, 3])}.items():
        nodes += [
            n("ReduceMean", ["input"], [f"profile_{axis}"], axes=reduce, keepdims=0),
            n("MatMul", [f"profile_{axis}", f"w_{axis}"], [f"proj_{axis}"]),
            n("Unsqueeze", [f"proj_{axis}", "axis1"], [f"proj3_{axis}"]),
            n("Mul", [f"proj3_{axis}", f"gain_{axis}"], [f"mod_{axis}"]),
            n("Add", [f"mod_{axis}", f"bias_{axis}"], [f"simcc_{axis}"]),
        ]
        inits += [
            _const(f"w_{axis}", rng.normal(0, pixels**-0.5, (pixels, bins)).astype(np.float32)),
            _const(f"gain_{axis}", rng.uniform(0.05, 0.4, (1, keypoints, 1)).astype(np.float32)),
            _const(
                f"bias_{axis}",
                (rng.normal(0, 0.25, (1, keypoints, bins)) + rng.uniform(-0.9, 0.4, (1, keypoints, 1))).astype(
                    np.float32
                ),
            ),
        ]
    inits.append(_const("axis1", np.array([1], np.int64)))
    graph = helper.make_graph(
        nodes,
        "pose",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, h, w])],
        [
            helper.make_tensor_value_info("simcc_x", TensorProto.FLOAT, [1, keypoints, 2 * w]),
            helper.make_tensor_value_info("simcc_y", TensorProto.FLOAT, [1, keypoints, 2 * h]),
        ],
        inits,
    )
    return _serialise(graph)


def _serialise(graph) -> bytes:
    from onnx import checker, helper

    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="signkit-tests")
    model.ir_version = 8  # what every onnxruntime >= 1.14 reads
    checker.check_model(model)
    return model.SerializeToString()


def sdk_zip(onnx_bytes: bytes, folder: str) -> bytes:
    """An ONNX SDK-like zip: ``folder/end2end.onnx`` beside the JSON files the real ones carry."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(f"{folder}/end2end.onnx", onnx_bytes)
        z.writestr(f"{folder}/deploy.json", "{}")
        z.writestr(f"{folder}/pipeline.json", "{}")
    return buf.getvalue()


def write_models(root: Path) -> dict[str, Path]:
    """The three test models as files: ``det``, ``det_none`` (never finds a person), ``pose``."""
    root.mkdir(parents=True, exist_ok=True)
    files = {"det": detector_model(), "det_none": detector_model(score_bias=-20.0), "pose": pose_model()}
    paths = {}
    for name, data in files.items():
        paths[name] = root / f"{name}.onnx"
        paths[name].write_bytes(data)
    return paths


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def reference_frames(assets: Path) -> list[np.ndarray]:
    """Real RGB frames (the photo clips in signkit/assets, decoded by PyAV): as decoded (384x384, 384x450), padded
    to 416x416 (the detector's own size: no resize) and a wide 384x200 crop (letterboxed)."""
    import av

    frames = []
    for name in ("astronaut", "grace_hopper"):
        with av.open(str(assets / f"{name}.mp4")) as container:
            decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
        for i in (0, len(decoded) // 2, len(decoded) - 1):
            frames.append(decoded[i])
        frame = decoded[1][:416, :416]
        pad = ((0, 416 - frame.shape[0]), (0, 416 - frame.shape[1]), (0, 0))
        frames.append(np.ascontiguousarray(np.pad(frame, pad, mode="edge")))
        frames.append(np.ascontiguousarray(decoded[2][100:300, :]))
    return frames
