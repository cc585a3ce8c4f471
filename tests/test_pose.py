import json

import numpy as np
import pytest
from conftest import make_pose

import signkit
from signkit.errors import LayoutError, PoseError
from signkit.pose import Pose, denormalize, get_layout, index_map, list_layouts, load_pose, normalize, save_pose


@pytest.mark.parametrize(
    "name,size", [("mediapipe-holistic", 543), ("mediapipe-holistic-refined", 553), ("coco-wholebody-133", 133)]
)
def test_layout_sizes_and_parts(name, size):
    lay = get_layout(name)
    assert lay.num_points == size
    assert len(set(lay.points)) == size
    covered = sorted(i for part in ("body", "face", "left_hand", "right_hand") for i in lay.part_indices(part))
    assert covered == list(range(size))
    for part, edges in lay.part_edges.items():
        n = len(lay.part_indices(part))
        assert all(0 <= a < n and 0 <= b < n for a, b in edges), part


def test_unknown_layout_lists_known():
    with pytest.raises(LayoutError, match="coco-wholebody-133"):
        get_layout("openpose-25")


def test_mediapipe_to_coco_is_named_and_masks_missing():
    idx = index_map("mediapipe-holistic", "coco-wholebody-133")
    mp, coco = get_layout("mediapipe-holistic"), get_layout("coco-wholebody-133")
    assert idx[coco.index("left_shoulder")] == mp.index("left_shoulder") == 11
    assert idx[coco.index("right_wrist")] == 16
    assert idx[coco.index("left_big_toe")] == mp.index("left_foot_index")
    assert idx[coco.index("left_small_toe")] == -1 and idx[coco.index("right_small_toe")] == -1
    assert idx[coco.index("left_hand_pinky_tip")] == mp.index("left_hand_pinky_tip")
    assert (idx >= 0).sum() == 131


def test_to_layout_masks_and_round_trips(synthetic_pose):
    coco = synthetic_pose.to_layout("coco-wholebody-133")
    small_toe = coco.layout_info.index("left_small_toe")
    assert (coco.conf[:, small_toe] == 0).all() and (coco.coords[:, small_toe] == 0).all()
    back = coco.to_layout("mediapipe-holistic")
    idx = index_map("mediapipe-holistic", "coco-wholebody-133")
    mapped = idx[idx >= 0]
    np.testing.assert_array_equal(back.coords[:, mapped], synthetic_pose.coords[:, mapped])
    unmapped = np.setdiff1d(np.arange(543), mapped)
    assert (back.conf[:, unmapped] == 0).all()


def test_pose_validation():
    pose = make_pose()
    with pytest.raises(PoseError, match="shape"):
        Pose(pose.coords[:, :10], pose.conf, 25, "mediapipe-holistic")
    bad = pose.coords.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(PoseError, match="NaN"):
        Pose(bad, pose.conf, 25, "mediapipe-holistic")
    with pytest.raises(PoseError, match="fps"):
        Pose(pose.coords, pose.conf, 0, "mediapipe-holistic")
    with pytest.raises(PoseError, match="conf"):
        Pose(pose.coords, pose.conf + 1, 25, "mediapipe-holistic")


def test_normalize_puts_shoulders_at_half_and_denormalize_inverts(synthetic_pose):
    norm = normalize(synthetic_pose)
    left, _ = norm.point("left_shoulder")
    right, _ = norm.point("right_shoulder")
    np.testing.assert_allclose(left[:, :2], [[0.5, 0.0]] * 10, atol=1e-6)
    np.testing.assert_allclose(right[:, :2], [[-0.5, 0.0]] * 10, atol=1e-6)
    assert norm.meta["normalization"]["scale"] == pytest.approx(100)
    np.testing.assert_allclose(denormalize(norm).coords, synthetic_pose.coords, atol=1e-3)
    with pytest.raises(PoseError, match="already"):
        normalize(norm)


def test_normalize_is_robust_to_an_outlier_frame():
    pose = make_pose(frames=11)
    pose.coords[3, pose.layout_info.index("left_shoulder")] = [600, 10, 0]  # one wild frame
    assert normalize(pose).meta["normalization"]["scale"] == pytest.approx(100)


def test_normalize_without_shoulders_is_an_error(synthetic_pose):
    synthetic_pose.conf[:, synthetic_pose.layout_info.index("left_shoulder")] = 0
    with pytest.raises(PoseError, match="shoulders"):
        normalize(synthetic_pose)


def test_npz_round_trip_is_exact(tmp_path, synthetic_pose):
    pose = normalize(synthetic_pose)
    pose.meta["note"] = "Grüße 手语"
    path = save_pose(pose, tmp_path / "a.npz")
    back = load_pose(path)
    np.testing.assert_array_equal(back.coords, pose.coords)
    np.testing.assert_array_equal(back.conf, pose.conf)
    assert back.fps == pose.fps and back.layout == pose.layout and back.meta == json.loads(json.dumps(pose.meta))
    assert not list(tmp_path.glob(".*partial")), "no temporary file left behind"


def test_pose_format_round_trip_with_real_lexicon_pose(tmp_path, lexicon_pose_files):
    original = load_pose(lexicon_pose_files[0])
    assert original.layout == "mediapipe-holistic-refined" and original.fps == 25
    assert original.detected_ratio("body") == 1.0
    normalized = normalize(original)
    save_pose(normalized, tmp_path / "b.pose")
    back = load_pose(tmp_path / "b.pose")  # .pose holds image coordinates; signkit's trailer restores the rest
    np.testing.assert_array_equal(back.conf, original.conf)
    np.testing.assert_allclose(back.coords, normalized.coords, atol=1e-5)
    assert back.meta == normalized.meta and back.layout == normalized.layout and back.fps == normalized.fps
    from pose_format import Pose as PoseFormatPose  # and pose-format itself reads what we wrote

    pf = PoseFormatPose.read((tmp_path / "b.pose").read_bytes())
    assert [c.name for c in pf.header.components][:4] == [
        "POSE_LANDMARKS",
        "FACE_LANDMARKS",
        "LEFT_HAND_LANDMARKS",
        "RIGHT_HAND_LANDMARKS",
    ]
    assert pf.body.data.shape == (original.num_frames, 1, 553, 3)


def test_pose_format_round_trips_a_normalised_npz_pose(tmp_path, synthetic_pose):
    """Issue 14: save_pose(npz_pose, "x.pose") then load_pose gave pixel coordinates and dropped the metadata."""
    pose = normalize(synthetic_pose)
    pose.fps = 29.97
    pose.meta.update(note="Grüße", source={"path": "/videos/a.mp4", "size": 123})
    back = load_pose(save_pose(pose, tmp_path / "x.pose"))
    np.testing.assert_allclose(back.coords, pose.coords, atol=1e-5)
    np.testing.assert_array_equal(back.conf, pose.conf)
    assert back.meta == json.loads(json.dumps(pose.meta)) and back.fps == 29.97 and back.layout == pose.layout
    coco = make_pose(frames=3, layout="coco-wholebody-133")  # a layout the plain .pose reader does not know
    again = load_pose(save_pose(coco, tmp_path / "c.pose"))
    assert again.layout == "coco-wholebody-133"
    np.testing.assert_allclose(again.coords, coco.coords, atol=1e-3)


def test_corrupt_and_unknown_files_are_clear_errors(tmp_path):
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(PoseError, match="bad.npz"):
        load_pose(tmp_path / "bad.npz")
    (tmp_path / "bad.pose").write_bytes(b"\x00\x01")
    with pytest.raises(PoseError, match="bad.pose"):
        load_pose(tmp_path / "bad.pose")
    with pytest.raises(PoseError, match="no such"):
        load_pose(tmp_path / "missing.npz")
    with pytest.raises(PoseError, match="suffix"):
        save_pose(make_pose(), tmp_path / "a.txt")


def test_public_surface():
    assert signkit.load_pose is load_pose and signkit.save_pose is save_pose
    assert "coco-wholebody-133" in list_layouts()
    assert issubclass(PoseError, signkit.SignkitError)
