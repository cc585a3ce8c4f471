"""Drawing poses: colours per part, missing points not drawn, over the source video or fitted to a canvas."""

from __future__ import annotations

import av
import numpy as np
import pytest
from click.testing import CliRunner
from conftest import lexicon_dir
from PIL import Image

from signkit import Pose, get_layout, load_pose, normalize, save_pose
from signkit.cli.main import cli
from signkit.draw import PART_COLORS, render
from signkit.errors import PoseError
from signkit.pose_extract.encode import write_video

W, H = 160, 120


def _pose(frames: int = 4) -> Pose:
    """Shoulders, one elbow and one hand point detected; a right-hand point at (130, 20) is *not* detected."""
    lay = get_layout("mediapipe-holistic")
    coords = np.zeros((frames, lay.num_points, 3), np.float32)
    conf = np.zeros((frames, lay.num_points), np.float32)
    for name, xy in {
        "left_shoulder": (100, 60),
        "right_shoulder": (60, 60),
        "left_elbow": (110, 100),
        "left_hand_wrist": (40, 100),
    }.items():
        coords[:, lay.index(name), :2] = xy
        conf[:, lay.index(name)] = 1
    coords[:, lay.index("right_hand_wrist"), :2] = (130, 20)  # conf stays 0
    coords[:, lay.index("right_elbow"), 0] = 20 + 8 * np.arange(frames)  # moves, so no two frames are alike
    coords[:, lay.index("right_elbow"), 1] = 60
    conf[:, lay.index("right_elbow")] = 1
    return Pose(coords, conf, 25, lay.name, {"frame_size": [W, H], "normalization": None})


def _near(img: Image.Image, xy, color, tol=40) -> bool:
    arr = np.asarray(img.convert("RGB")).astype(int)
    x, y = xy
    patch = arr[max(0, y - 2) : y + 3, max(0, x - 2) : x + 3].reshape(-1, 3)
    return bool((np.abs(patch - np.asarray(color)).max(axis=1) < tol).any())


def test_png_in_image_coordinates_draws_parts_and_hides_missing_points(tmp_path):
    out = render(_pose(), tmp_path / "p.png", use_source=False)
    img = Image.open(out)
    assert img.size == (W, H)
    assert _near(img, (100, 60), PART_COLORS["body"]) and _near(img, (80, 60), PART_COLORS["body"])  # edge
    assert _near(img, (40, 100), PART_COLORS["left_hand"])
    assert not _near(img, (130, 20), PART_COLORS["right_hand"], tol=120)  # conf 0: not drawn
    assert not _near(img, (0, 0), PART_COLORS["body"])


def test_low_confidence_body_points_hidden(tmp_path):
    pose = _pose()
    pose.conf[:, pose.layout_info.index("left_elbow")] = 0.2  # a guessed point (MediaPipe visibility)
    img = Image.open(render(pose, tmp_path / "p.png", use_source=False))
    assert not _near(img, (110, 100), PART_COLORS["body"])
    img = Image.open(render(pose, tmp_path / "q.png", use_source=False, min_conf=0.1))
    assert _near(img, (110, 100), PART_COLORS["body"])


def test_over_source_video_uses_stored_normalisation(tmp_path):
    video = write_video([np.full((H, W, 3), 200, np.uint8)] * 4, tmp_path / "src.mp4")
    pose = normalize(_pose())
    pose.meta["source"] = {"path": str(video), "start": None, "end": None, "unit": "seconds"}
    save_pose(pose, tmp_path / "p.npz")
    img = Image.open(render(tmp_path / "p.npz", tmp_path / "p.png", frame=1))
    assert img.size == (W, H)
    assert _near(img, (100, 60), PART_COLORS["body"]) and _near(img, (40, 100), PART_COLORS["left_hand"])
    background = np.asarray(img)[5, 5]
    assert 100 < background.mean() < 200  # the (darkened) video frame, not a blank canvas

    mp4 = render(tmp_path / "p.npz", tmp_path / "p.mp4")
    with av.open(str(mp4)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(frames) == 4 and frames[0].shape == (H, W, 3)
    gif = Image.open(render(tmp_path / "p.npz", tmp_path / "p.gif"))
    assert gif.n_frames == 4


def test_normalised_pose_without_video_is_fitted_to_the_canvas(tmp_path):
    pose = normalize(_pose())
    img = Image.open(render(pose, tmp_path / "fit.png", use_source=False, size=200))
    assert img.size == (200, 200)
    drawn = np.argwhere(np.abs(np.asarray(img).astype(int) - 16).max(axis=2) > 30)
    (y0, x0), (y1, x1) = drawn.min(axis=0), drawn.max(axis=0)
    assert x0 >= 0 and y0 >= 0 and x1 < 200 and y1 < 200 and (x1 - x0) > 100  # fills the canvas


def test_real_fingerspelling_pose_shows_hands(tmp_path):
    path = sorted(lexicon_dir().rglob("*.pose"))[0]
    pose = load_pose(path)
    img = Image.open(render(pose, tmp_path / "fs.png", use_source=False, size=256))
    arr = np.asarray(img).reshape(-1, 3).astype(int)
    hands = [np.abs(arr - PART_COLORS[h]).max(axis=1) < 10 for h in ("left_hand", "right_hand")]
    assert max(h.sum() for h in hands) > 20


def test_errors(tmp_path):
    with pytest.raises(PoseError, match="use one of"):
        render(_pose(), tmp_path / "p.jpg")
    with pytest.raises(PoseError, match="out of range"):
        render(_pose(), tmp_path / "p.png", frame=99)


def test_cli_show(tmp_path):
    save_pose(_pose(), tmp_path / "p.npz")
    result = CliRunner().invoke(cli, ["show", str(tmp_path / "p.npz"), "-o", str(tmp_path / "p.gif")])
    assert result.exit_code == 0, result.output
    assert Image.open(tmp_path / "p.gif").n_frames == 4
    result = CliRunner().invoke(cli, ["show", str(tmp_path / "p.npz"), "-o", str(tmp_path / "p.txt")])
    assert result.exit_code == 1 and "use one of" in result.output


def test_show_finds_the_source_from_anywhere_and_warns_about_a_wrong_video(tmp_path, monkeypatch):
    """Issue 14: show resolved the source relative to where extract ran, and took a wrong --video silently."""
    (tmp_path / "videos").mkdir()
    video = write_video([np.full((H, W, 3), 200, np.uint8)] * 4, tmp_path / "videos" / "src.mp4")
    pose = normalize(_pose())
    # what extract records when it ran in tmp_path with the input `videos/`
    pose.meta["source"] = {
        "path": "videos/src.mp4",
        "absolute_path": str(video),
        "start": None,
        "end": None,
        "unit": "seconds",
    }
    save_pose(pose, tmp_path / "p.npz")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = CliRunner().invoke(cli, ["show", str(tmp_path / "p.npz"), "-o", "p.png", "--frame", "1"])
    assert result.exit_code == 0 and "warning" not in result.output, result.output
    assert 100 < np.asarray(Image.open(elsewhere / "p.png"))[5, 5].mean() < 200  # over the video, not black
    video.rename(tmp_path / "moved.mp4")  # gone: a warning, and a canvas of the source's aspect ratio
    result = CliRunner().invoke(cli, ["show", str(tmp_path / "p.npz"), "-o", "q.png"])
    assert result.exit_code == 0 and "warning: the source video" in result.output
    assert Image.open(elsewhere / "q.png").size == (W, H)
    wrong = write_video([np.zeros((64, 64, 3), np.uint8)] * 4, tmp_path / "wrong.mp4")
    result = CliRunner().invoke(cli, ["show", str(tmp_path / "p.npz"), "-o", "r.png", "--video", str(wrong)])
    assert result.exit_code == 0 and "is 64x64 but the pose was extracted from a 160x120 video" in result.output
