"""Transforms: pure functions of (coords, conf) that never invent a detection; mirror swaps sides by name."""

from __future__ import annotations

import numpy as np
import pytest

from signkit.datasets import transforms as tr
from signkit.errors import ConfigError
from signkit.pose import face_mirror_table, get_layout, list_layouts


def _sample(frames: int = 12, layout: str = "coco-wholebody-133", seed: int = 0):
    rng = np.random.default_rng(seed)
    k = get_layout(layout).num_points
    coords = rng.normal(size=(frames, k, 3)).astype(np.float32)
    conf = rng.uniform(0.5, 1, size=(frames, k)).astype(np.float32)
    conf[:, :5] = 0  # some points never detected
    coords[conf == 0] = 0
    return coords, conf


@pytest.mark.parametrize("layout", ["coco-wholebody-133", "mediapipe-holistic", "mediapipe-holistic-refined"])
def test_mirror_swaps_left_and_right_by_name(layout):
    lay = get_layout(layout)
    perm = tr.mirror_permutation(layout)
    assert sorted(perm) == list(range(lay.num_points)) and (perm[perm] == np.arange(lay.num_points)).all()
    for part_a, part_b in (("left_hand", "right_hand"), ("right_hand", "left_hand")):
        assert [perm[i] for i in lay.part_indices(part_a)] == list(lay.part_indices(part_b))
    assert perm[lay.index("left_shoulder")] == lay.index("right_shoulder")
    assert perm[lay.index("nose")] == lay.index("nose")
    if layout.startswith("mediapipe"):
        assert perm[lay.index("mouth_left")] == lay.index("mouth_right")
    coords, conf = _sample(layout=layout)
    m_coords, m_conf = tr.mirror(coords, conf, layout)
    li, ri = lay.index("left_hand_wrist"), lay.index("right_hand_wrist")
    np.testing.assert_array_equal(m_coords[:, li, 0], -coords[:, ri, 0])
    np.testing.assert_array_equal(m_coords[:, li, 1:], coords[:, ri, 1:])
    np.testing.assert_array_equal(m_conf[:, li], conf[:, ri])
    back = tr.mirror(m_coords, m_conf, layout)
    np.testing.assert_array_equal(back[0], coords)
    np.testing.assert_array_equal(back[1], conf)


def test_rotation_and_scale_are_what_they_say():
    coords, conf = _sample()
    r, rc = tr.rotate(coords, conf, 90)
    seen = conf > 0
    np.testing.assert_allclose(r[..., 0][seen], -coords[..., 1][seen], atol=1e-5)
    np.testing.assert_allclose(r[..., 1][seen], coords[..., 0][seen], atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(r[..., :2], axis=-1), np.linalg.norm(coords[..., :2], axis=-1), atol=1e-5)
    s, _ = tr.scale(coords, conf, 2.0)
    np.testing.assert_allclose(s, coords * 2, atol=1e-6)
    sh, _ = tr.shear(coords, conf, 0.5)
    np.testing.assert_allclose(sh[..., 0], coords[..., 0] + 0.5 * coords[..., 1], atol=1e-6)
    assert rc is conf


def test_transforms_never_invent_detections():
    coords, conf = _sample()
    rng = np.random.default_rng(1)
    for out, out_conf in (
        tr.rotate(coords, conf, 30),
        tr.jitter(coords, conf, 0.1, rng),
        tr.Augment(mirror=1.0, frame_dropout=0.3)(coords, conf, "coco-wholebody-133", rng),
    ):
        assert not out[out_conf == 0].any()
        assert out.dtype == np.float32


def test_augment_is_reproducible_with_a_seed_and_differs_without():
    coords, conf = _sample()
    aug = tr.Augment(mirror=0.5, frame_dropout=0.2)
    a = aug(coords, conf, "coco-wholebody-133", np.random.default_rng(7))
    b = aug(coords, conf, "coco-wholebody-133", np.random.default_rng(7))
    c = aug(coords, conf, "coco-wholebody-133", np.random.default_rng(8))
    np.testing.assert_array_equal(a[0], b[0])
    assert a[0].shape != c[0].shape or not np.array_equal(a[0], c[0])
    with pytest.raises(ConfigError):
        tr.Augment(frame_dropout=1.0)


def test_frame_dropout_keeps_at_least_one_frame():
    coords, conf = _sample(frames=3)
    out, out_conf = tr.frame_dropout(coords, conf, 0.999999, np.random.default_rng(0))
    assert out.shape[0] >= 1 and out_conf.shape[0] == out.shape[0]


def test_temporal_crop_modes():
    coords, conf = _sample(frames=10)
    c, _ = tr.temporal_crop(coords, conf, 4, "center")
    np.testing.assert_array_equal(c, coords[3:7])
    r, _ = tr.temporal_crop(coords, conf, 10, "random", np.random.default_rng(0))
    assert r is coords  # short enough: untouched
    starts = {
        int(
            np.argmax(
                (coords[:, 5:] == tr.temporal_crop(coords, conf, 4, "random", np.random.default_rng(s))[0][0, 5:]).all(
                    axis=(1, 2)
                )
            )
        )
        for s in range(30)
    }
    assert len(starts) > 2 and max(starts) <= 6
    u, _ = tr.temporal_crop(coords, conf, 4, "resample")
    np.testing.assert_array_equal(u, coords[[0, 3, 6, 9]])
    with pytest.raises(ConfigError, match="crop mode"):
        tr.temporal_crop(coords, conf, 4, "middle")


@pytest.mark.parametrize("layout", list_layouts())
def test_every_layout_mirrors_its_face_through_a_symmetry_table(layout):
    lay = get_layout(layout)
    perm = tr.mirror_permutation(layout)
    assert (perm[perm] == np.arange(lay.num_points)).all()
    face = lay.part_indices("face")
    assert sorted(perm[list(face)]) == list(face)  # the face maps onto itself
    assert (perm[list(face)] != np.array(face)).sum() >= len(face) // 2  # most face points have a twin
    if layout == "coco-wholebody-133":  # iBUG-68: the jaw's ends, the eyes' outer corners, the mouth's corners
        for a, b in ((0, 16), (36, 45), (48, 54), (31, 35)):
            assert perm[lay.index(f"face68_{a}")] == lay.index(f"face68_{b}")
        for mid in (8, 27, 30, 33, 51, 57, 62, 66):
            assert perm[lay.index(f"face68_{mid}")] == lay.index(f"face68_{mid}")


def test_mediapipe_face_table_is_pose_formats():
    holistic = pytest.importorskip("pose_format.utils.holistic")  # imports mediapipe
    flipped = getattr(holistic, "FLIPPED_FACE_POINTS", None)
    if flipped is None:
        pytest.skip("this pose-format has no FLIPPED_FACE_POINTS")
    assert list(face_mirror_table("mediapipe-face-mesh")) == list(flipped)


def _face_asymmetry(coords, conf, mirrored, m_conf, face):
    """Per frame: RMS distance (in face widths) between the face and its mirror image once the mirror's shift is
    taken out. A frontal face mirrored with the right table lies on itself; with the points left in place, on
    its reflection (the jaw's ends a face width apart)."""
    seen = (conf[:, face] > 0).all(axis=1) & (m_conf[:, face] > 0).all(axis=1)
    a, b = coords[seen][:, face, :2], mirrored[seen][:, face, :2]
    d = b - a
    d -= d.mean(axis=1, keepdims=True)
    return np.sqrt((d**2).sum(-1).mean(-1)) / np.ptp(a[..., 0], axis=1)


def test_the_mirrored_face_of_real_poses_matches_the_symmetry_table(lexicon_pose_files):
    """Real MediaPipe faces (spoken-to-signed's lexicon, refined mesh with irises) and the same poses mapped to
    COCO-WholeBody's iBUG-68 face: mirrored, each face point lands where its twin was (within 6% of the face's
    width; leaving the face's indices in place is ~46% off)."""
    from signkit.pose import load_pose

    for path in lexicon_pose_files[::120]:  # 5 poses across the languages
        pose = load_pose(path)
        for p in (pose, pose.to_layout("coco-wholebody-133")):
            face = list(get_layout(p.layout).part_indices("face"))
            m, mc = tr.mirror(p.coords, p.conf, p.layout)
            err = _face_asymmetry(p.coords, p.conf, m, mc, face)
            assert err.size > 0 and err.max() < 0.06, (path.name, p.layout, err.max())
            unmirrored_face = p.coords.copy()
            unmirrored_face[..., 0] *= -1
            assert _face_asymmetry(p.coords, p.conf, unmirrored_face, p.conf, face).min() > 0.3
        # mirroring commutes with the MediaPipe -> COCO-WholeBody mapping, point for point
        m, mc = tr.mirror(pose.coords, pose.conf, pose.layout)
        mirrored_then_mapped = type(pose)(m, mc, pose.fps, pose.layout, dict(pose.meta)).to_layout("coco-wholebody-133")
        coco = pose.to_layout("coco-wholebody-133")
        cm, cc = tr.mirror(coco.coords, coco.conf, coco.layout)
        np.testing.assert_array_equal(cm, mirrored_then_mapped.coords)
        np.testing.assert_array_equal(cc, mirrored_then_mapped.conf)


def test_the_face_table_is_what_mediapipe_sees_in_a_flipped_photo():
    """MediaPipe Holistic (refined mesh, irises included) on a real photo and on its horizontal flip: the flipped
    photo's face is the mirror of the photo's through the table, within 3% of the face's width (1.0% mean here;
    40% without the table)."""
    pytest.importorskip("mediapipe")
    from synthetic_clips import load_photo

    from signkit.pose_extract import HolisticConfig
    from signkit.pose_extract.mediapipe_backend import HolisticEstimator

    photo = np.asarray(load_photo("astronaut"))
    config = HolisticConfig(refine_face=True)
    with HolisticEstimator(config) as estimator:
        coords, conf = estimator.process(photo)
        estimator.reset()
        flipped, flipped_conf = estimator.process(np.ascontiguousarray(photo[:, ::-1]))
    face = np.array(get_layout(config.layout).part_indices("face"))
    assert len(face) == 478 and (conf[face] > 0).all() and (flipped_conf[face] > 0).all()
    m, _ = tr.mirror(coords[None], conf[None], config.layout)  # x -> -x: the flipped photo's x is width - x
    expected = m[0, face, :2] + np.array([photo.shape[1], 0], dtype=np.float32)
    width = np.ptp(coords[face, 0])
    err = np.linalg.norm(flipped[face, :2] - expected, axis=-1) / width
    assert err.max() < 0.03 and err.mean() < 0.015, (err.mean(), err.max())
