"""Pose files: signkit's own ``.npz`` (one compressed file per video) and pose-format's ``.pose``.

The format follows the suffix. Writes are atomic. ``.npz`` keeps everything (normalised coordinates, meta);
``.pose`` is for interoperability with pose-format tools, which expect image coordinates, so a normalised pose
is written denormalised. What pose-format's header cannot hold (signkit's layout name, ``meta`` with the
normalisation centre and scale, the exact fps) follows the pose-format body as a small trailer that pose-format
readers ignore; signkit reads it back, so ``save_pose(p, "x.pose")`` then ``load_pose`` gives ``p`` again (float32
rounding of the denormalise/normalise round trip aside). A ``.pose`` written by other tools has no trailer: it is
read in image coordinates, and only as MediaPipe Holistic.
"""

from __future__ import annotations

import io
import json
import os
import struct
import zipfile
from pathlib import Path

import numpy as np

from .._atomic import atomic_path
from ..errors import LayoutError, PoseError
from .layouts import get_layout
from .normalize import denormalize
from .pose import Pose

NPZ_FORMAT = "signkit-pose"
NPZ_VERSION = 1
POSE_SUFFIXES = (".npz", ".pose")
# .pose trailer: pose-format bytes + JSON + uint64 little-endian JSON length + this magic
POSE_TRAILER_MAGIC = b"\0signkit-meta-v1"

# pose-format component names of a MediaPipe Holistic file, mapped to our parts.
_HOLISTIC_COMPONENTS = {
    "POSE_LANDMARKS": "body",
    "FACE_LANDMARKS": "face",
    "LEFT_HAND_LANDMARKS": "left_hand",
    "RIGHT_HAND_LANDMARKS": "right_hand",
}


def load_pose(path: str | os.PathLike) -> Pose:
    """Read a pose file (``.npz`` written by signkit, or pose-format ``.pose``)."""
    path = Path(path)
    if not path.is_file():
        raise PoseError(f"{path}: no such pose file")
    suffix = path.suffix.lower()
    try:
        if suffix == ".npz":
            return pose_from_npz_bytes(path.read_bytes())
        if suffix == ".pose":
            return _read_pose_format(path.read_bytes())
    except (PoseError, LayoutError) as e:
        raise type(e)(f"{path}: {e}") from None
    except Exception as e:  # a corrupt file surfaces as whatever the decoder raises
        raise PoseError(f"{path}: not a readable {suffix} pose file ({type(e).__name__}: {e})") from None
    raise PoseError(f"{path}: unknown pose file suffix {suffix!r}; use one of {', '.join(POSE_SUFFIXES)}")


def save_pose(pose: Pose, path: str | os.PathLike) -> Path:
    """Write ``pose`` atomically; the format follows the suffix (``.npz`` or ``.pose``)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".npz":
        data = pose_to_npz_bytes(pose)
    elif suffix == ".pose":
        data = _pose_format_bytes(pose)
    else:
        raise PoseError(f"{path}: unknown pose file suffix {suffix!r}; use one of {', '.join(POSE_SUFFIXES)}")
    if path.is_dir():
        raise PoseError(f"{path} is a directory; give a file name ending in {suffix}")
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path


def pose_to_npz_bytes(pose: Pose) -> bytes:
    pose.validate()
    buf = io.BytesIO()
    np.savez_compressed(
        buf,
        format=np.array(NPZ_FORMAT),
        version=np.array(NPZ_VERSION),
        coords=pose.coords.astype(np.float32),
        conf=pose.conf.astype(np.float32),
        fps=np.array(pose.fps, dtype=np.float64),
        layout=np.array(pose.layout),
        meta=np.array(json.dumps(pose.meta, sort_keys=True)),
    )
    return buf.getvalue()


def pose_from_npz_bytes(data: bytes) -> Pose:
    """The inverse of `pose_to_npz_bytes`, for outputs that are not local files (object stores)."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            if "format" not in z or str(z["format"]) != NPZ_FORMAT:
                raise PoseError("not a signkit pose file (no 'format' entry)")
            if int(z["version"]) > NPZ_VERSION:
                raise PoseError(f"written by a newer signkit (format version {int(z['version'])}); upgrade signkit")
            return Pose(z["coords"], z["conf"], float(z["fps"]), str(z["layout"]), json.loads(str(z["meta"])))
    except (zipfile.BadZipFile, EOFError, KeyError) as e:
        raise PoseError(f"corrupt or truncated pose file ({e})") from None


def _require_pose_format():
    try:
        import pose_format
    except ImportError:  # pragma: no cover - pose-format is a core dependency
        from ..errors import MissingDependencyError

        raise MissingDependencyError("pose-format", "all") from None
    return pose_format


def _split_trailer(data: bytes) -> tuple[bytes, dict | None]:
    magic = POSE_TRAILER_MAGIC
    if not data.endswith(magic) or len(data) < len(magic) + 8:
        return data, None
    end = len(data) - len(magic) - 8
    (size,) = struct.unpack("<Q", data[end : end + 8])
    if size > end:
        raise PoseError("the signkit trailer of this .pose file is damaged")
    return data[: end - size], json.loads(data[end - size : end].decode("utf-8"))


def _read_pose_format(data: bytes) -> Pose:
    pf = _require_pose_format()
    data, trailer = _split_trailer(data)
    if trailer is not None:
        return _read_signkit_pose_format(pf.Pose.read(data), trailer)
    pf_pose = pf.Pose.read(data)
    header = pf_pose.header
    names = [c.name for c in header.components]
    missing = [c for c in _HOLISTIC_COMPONENTS if c not in names]
    if missing:
        raise LayoutError(
            f"signkit reads MediaPipe Holistic .pose files; this one has components {names} (missing {missing})"
        )
    face = header.components[names.index("FACE_LANDMARKS")]
    layout = get_layout("mediapipe-holistic-refined" if len(face.points) == 478 else "mediapipe-holistic")
    body = pf_pose.body
    data_arr = np.ma.getdata(body.data)  # [T, people, K_all, dims]
    mask = np.ma.getmaskarray(body.data)
    conf_arr = np.asarray(body.confidence)  # [T, people, K_all]
    if data_arr.shape[1] < 1:
        raise PoseError("the .pose file holds no person")
    # Slice out the four holistic components in our part order, in the file's own offsets.
    offsets, start = {}, 0
    for comp in header.components:
        offsets[comp.name] = (start, start + len(comp.points))
        start += len(comp.points)
    take: list[int] = []
    for part in layout.parts:
        comp = next(c for c, p in _HOLISTIC_COMPONENTS.items() if p == part)
        lo, hi = offsets[comp]
        if hi - lo != len(layout.part_indices(part)):
            raise LayoutError(f"component {comp} has {hi - lo} points, expected {len(layout.part_indices(part))}")
        take.extend(range(lo, hi))
    coords = data_arr[:, 0, take, :].astype(np.float32)
    if coords.shape[-1] == 2:
        coords = np.concatenate([coords, np.zeros_like(coords[..., :1])], axis=-1)
    coords = coords[..., :3]
    conf = conf_arr[:, 0, take].astype(np.float32)
    conf = np.where(mask[:, 0, take].any(axis=-1), 0, np.clip(conf, 0, 1))
    coords = np.where(conf[..., None] > 0, np.nan_to_num(coords), 0).astype(np.float32)
    dims = header.dimensions
    meta = {"frame_size": [int(dims.width), int(dims.height)], "normalization": None, "source_format": "pose-format"}
    return Pose(coords, conf, float(body.fps), layout.name, meta)


def _part_order(layout) -> list[int]:
    """Point indices in the order the .pose components list them (one component per part, in part order)."""
    return [i for idx in layout.parts.values() for i in idx]


def _read_signkit_pose_format(pf_pose, trailer: dict) -> Pose:
    """A .pose written by signkit: its layout, meta and fps from the trailer, normalised again if it was."""
    layout = get_layout(trailer["layout"])
    take = _part_order(layout)
    body = pf_pose.body
    file_coords = np.ma.getdata(body.data)[:, 0].astype(np.float32)
    file_conf = np.asarray(body.confidence)[:, 0].astype(np.float32)
    if file_coords.shape[1] != len(take):
        raise LayoutError(f"the .pose file has {file_coords.shape[1]} points, its layout {layout.name} {len(take)}")
    frames = file_coords.shape[0]
    coords = np.zeros((frames, layout.num_points, 3), np.float32)
    conf = np.zeros((frames, layout.num_points), np.float32)
    coords[:, take] = file_coords[..., :3]
    conf[:, take] = file_conf
    meta = dict(trailer.get("meta") or {})
    norm = meta.get("normalization")
    if norm is not None:  # the file holds image coordinates (for other tools); signkit's pose was normalised
        centre = np.asarray(norm["center"], dtype=np.float64)
        coords = np.where(conf[..., None] > 0, (coords - centre) / norm["scale"], 0).astype(np.float32)
    return Pose(coords, conf, float(trailer.get("fps", body.fps)), layout.name, meta)


def _pose_format_bytes(pose: Pose) -> bytes:
    pf = _require_pose_format()
    from pose_format.numpy.pose_body import NumPyPoseBody
    from pose_format.pose_header import PoseHeader, PoseHeaderComponent, PoseHeaderDimensions

    trailer = {"layout": pose.layout, "fps": pose.fps, "meta": pose.meta}
    pose = denormalize(pose)
    layout = pose.layout_info
    is_holistic = layout.name.startswith("mediapipe-holistic")
    part_to_component = {p: c for c, p in _HOLISTIC_COMPONENTS.items()}
    components, take = [], []
    for part, idx in layout.parts.items():
        point_names = [layout.points[i] for i in idx]
        if is_holistic and part != "face":
            prefix = {"body": "", "left_hand": "left_hand_", "right_hand": "right_hand_"}[part]
            point_names = [n[len(prefix) :].upper() for n in point_names]
        elif is_holistic:
            point_names = [n.removeprefix("face_") for n in point_names]
        name = part_to_component[part] if is_holistic else part.upper()
        limbs = [(a, b) for a, b in layout.part_edges[part]]
        colors = [(255, 255, 255)] * max(len(limbs), 1)
        components.append(PoseHeaderComponent(name, point_names, limbs, colors, "XYZC"))
        take.extend(idx)
    width, height = pose.meta.get("frame_size") or (1, 1)
    header = PoseHeader(0.1, PoseHeaderDimensions(width=int(width), height=int(height), depth=1), components)
    coords = pose.coords[:, take][:, None]
    conf = pose.conf[:, take][:, None]
    mask = np.broadcast_to((conf == 0)[..., None], coords.shape)
    body = NumPyPoseBody(fps=pose.fps, data=np.ma.masked_array(coords, mask=mask), confidence=conf)
    buf = io.BytesIO()
    pf.Pose(header, body).write(buf)
    extra = json.dumps(trailer, sort_keys=True).encode("utf-8")
    return buf.getvalue() + extra + struct.pack("<Q", len(extra)) + POSE_TRAILER_MAGIC
