"""Input discovery, clip lists and decoding: no MediaPipe needed."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest
from PIL import Image
from synthetic_clips import jitter_frames, load_photo

from signkit.errors import ExtractError, VideoError
from signkit.pose_extract import Clip, discover, read_clip_list
from signkit.pose_extract.decode import ClipReader, timing


def _frames(n: int, size=(64, 48)) -> list[np.ndarray]:
    return jitter_frames(load_photo("astronaut"), n, size, seed=3)


def write_vfr(path, frames, times_s):
    """An mp4 whose frames sit at the given times (variable frame rate)."""
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        s.codec_context.time_base = Fraction(1, 1000)
        for arr, t in zip(frames, times_s, strict=True):
            f = av.VideoFrame.from_ndarray(arr, format="rgb24")
            f.pts, f.time_base = round(t * 1000), Fraction(1, 1000)
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode():
            c.mux(p)


@pytest.fixture(scope="module")
def clip10(tmp_path_factory):
    from signkit.pose_extract.encode import write_video

    path = tmp_path_factory.mktemp("v") / "ten.mp4"
    return write_video(_frames(10), path, fps=10)


def test_discover_folders_frame_folders_and_keys(tmp_path, clip10):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "c.v1.mp4").write_bytes(clip10.read_bytes())
    (tmp_path / "top.MOV").write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("not a video")
    frames = tmp_path / "phoenix" / "01April_2010" / "1"
    frames.mkdir(parents=True)
    for i in range(3):
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(frames / f"images{i:04d}.png")
    clips = {c.key: c for c in discover([tmp_path])}
    assert set(clips) == {"a/b/c_v1", "top", "phoenix/01April_2010/1"}
    assert clips["phoenix/01April_2010/1"].path == frames
    # a frame folder given directly is one clip
    assert [c.key for c in discover([frames])] == ["1"]


def test_discover_errors(tmp_path):
    with pytest.raises(ExtractError, match="no videos found"):
        discover([tmp_path])
    with pytest.raises(ExtractError, match="no such file"):
        discover([tmp_path / "missing.mp4"])
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(ExtractError, match="not a video"):
        discover([tmp_path / "x.txt"])
    (tmp_path / "d1").mkdir()
    (tmp_path / "d2").mkdir()
    (tmp_path / "d1" / "same.mp4").write_bytes(b"1")
    (tmp_path / "d2" / "same.mp4").write_bytes(b"2")
    with pytest.raises(ExtractError, match="same output key 'same'"):
        discover([tmp_path / "d1", tmp_path / "d2"])


def test_clip_list(tmp_path, clip10):
    (tmp_path / "videos").mkdir()
    (tmp_path / "videos" / "long.mp4").write_bytes(clip10.read_bytes())
    csv = tmp_path / "clips.csv"
    csv.write_text(
        "path,key,start,end,unit\n"
        "videos/long.mp4,s1/first,0,0.5,seconds\n"
        "videos/long.mp4,s1/second,5,,frames\n"
        "videos/long.mp4,,,,\n"
    )
    clips = read_clip_list(csv)
    assert [c.key for c in clips] == ["s1/first", "s1/second", "videos/long"]
    assert clips[0].path == tmp_path / "videos" / "long.mp4" and clips[0].end == 0.5
    assert clips[1].unit == "frames" and clips[1].start == 5 and clips[1].end is None

    dup = tmp_path / "dup.csv"
    dup.write_text("path\nvideos/long.mp4\nvideos/long.mp4\n")
    with pytest.raises(ExtractError, match="same output key"):
        discover([dup])
    for bad, message in [
        ("file\nx.mp4\n", "'path' column"),
        ("path,start,end\nx.mp4,3,1\n", "must be after start"),
        ("path,unit\nx.mp4,minutes\n", "unit must be"),
        ("path,start\nx.mp4,abc\n", "not a number"),
        ("path,key\nx.mp4,../escape\n", "invalid output key"),
    ]:
        csv.write_text(bad)
        with pytest.raises(ExtractError, match=message):
            read_clip_list(csv)


def test_clip_bounds_seconds_and_frames(clip10):
    def times(clip):
        return [round(t, 3) for _, t in ClipReader(clip)]

    assert times(Clip(clip10, "k")) == [round(i / 10, 3) for i in range(10)]
    assert times(Clip(clip10, "k", 0.3, 0.6)) == [0.3, 0.4, 0.5]
    assert times(Clip(clip10, "k", 2, 4, "frames")) == [0.2, 0.3]
    assert times(Clip(clip10, "k", 7, None, "frames")) == [0.7, 0.8, 0.9]
    frames = [f for f, _ in ClipReader(Clip(clip10, "k", 0, 1, "frames"))]
    assert frames[0].shape == (48, 64, 3) and frames[0].dtype == np.uint8


def test_frame_folder(tmp_path):
    for i, arr in enumerate(_frames(4)):
        Image.fromarray(arr).save(tmp_path / f"{i:03d}.jpg")
    reader = ClipReader(Clip(tmp_path, "f", 1, 3, "frames"), frame_fps=25)
    assert (reader.info.width, reader.info.height, reader.info.fps) == (64, 48, 25)
    assert [round(t, 3) for _, t in reader] == [0.04, 0.08]
    Image.fromarray(np.zeros((10, 10, 3), np.uint8)).save(tmp_path / "999.png")
    with pytest.raises(VideoError, match="differs from the first frame"):
        list(ClipReader(Clip(tmp_path, "f")))


def test_variable_frame_rate_timestamps(tmp_path):
    times = [0.0, 0.04, 0.08, 0.2, 0.24, 0.5]
    write_vfr(tmp_path / "vfr.mp4", _frames(6), times)
    decoded = [t for _, t in ClipReader(Clip(tmp_path / "vfr.mp4", "v"))]
    assert np.allclose(decoded, times, atol=1e-3)
    fps, stamps = timing(decoded, 25.0)
    assert stamps is not None and np.allclose(stamps, times, atol=1e-3)
    assert fps == pytest.approx(5 / 0.5, rel=0.01)
    assert timing([i / 25 for i in range(10)], 25.0) == (25.0, None)


@pytest.mark.parametrize(
    "content, message",
    [(b"", "empty file"), (b"this is text, not a video", "not a readable video")],
)
def test_unreadable_videos(tmp_path, content, message):
    path = tmp_path / "bad.mp4"
    path.write_bytes(content)
    with pytest.raises(VideoError, match=message):
        ClipReader(Clip(path, "bad"))


def test_truncated_and_dangling(tmp_path, clip10):
    data = clip10.read_bytes()
    (tmp_path / "half.mp4").write_bytes(data[: len(data) // 2])
    with pytest.raises(VideoError, match="truncated"):
        list(ClipReader(Clip(tmp_path / "half.mp4", "h")))
    (tmp_path / "link.mp4").symlink_to(tmp_path / "gone.mp4")
    with pytest.raises(VideoError, match="broken link"):
        ClipReader(Clip(tmp_path / "link.mp4", "l"))


def test_without_mediapipe_extract_says_which_extra(tmp_path, monkeypatch):
    import importlib.util

    from signkit.errors import MissingDependencyError
    from signkit.pose_extract import extract

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mediapipe" else real(name, *a))
    (tmp_path / "v.mp4").write_bytes(b"x")
    with pytest.raises(MissingDependencyError, match=r"signkit\[mediapipe\]"):
        extract([tmp_path / "v.mp4"], tmp_path / "out")


def test_rotation_tag_is_applied(tmp_path):
    """Phone videos store frames sideways plus a display rotation; frames come out upright, as ffmpeg shows them."""
    frame = np.zeros((32, 64, 3), np.uint8)
    frame[:, :10] = 255  # a white band on the left
    path = tmp_path / "phone.mp4"
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = 64, 32, "yuv420p"
        s.set_display_rotation(90)
        for _ in range(2):
            for p in s.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    reader = ClipReader(Clip(path, "phone"))
    frames = [f for f, _ in reader]
    assert frames[0].shape == (64, 32, 3)
    assert (reader.info.width, reader.info.height, reader.info.extra["rotation"]) == (32, 64, 90)
    assert np.abs(frames[0].astype(int) - np.rot90(frame, 1)).mean() < 8


def test_discover_symlink_loops_end_and_each_real_folder_is_walked_once(tmp_path):
    """Issue 14.2: two directory loops used to hang the walk; one loop extracted a video 41 times."""
    root = tmp_path / "loop"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "one.mp4").write_bytes(b"x")
    (root / "sub" / "up").symlink_to("..")
    (root / "self").symlink_to("../loop")
    assert [c.key for c in discover([root])] == ["sub/one"]
    # a second link to a folder already walked adds nothing; a link to a folder outside the input is followed
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "two.mp4").write_bytes(b"x")
    (root / "sub" / "again").symlink_to("../sub")
    (root / "zlink").symlink_to(outside)
    assert [c.key for c in discover([root])] == ["sub/one", "zlink/two"]
