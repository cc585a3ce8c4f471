"""Real MediaPipe Holistic extraction of clips rendered from real photos (no mocks)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from click.testing import CliRunner
from synthetic_clips import jitter_frames, load_photo, render_clip

from signkit import denormalize, load_pose, save_pose
from signkit.cli.main import cli
from signkit.errors import ExtractError
from signkit.pose_extract import ExtractOptions, HolisticConfig, extract, extract_clip
from signkit.pose_extract.encode import write_video
from signkit.pose_extract.mediapipe_backend import HolisticEstimator, ensure_models, model_files

pytest.importorskip("mediapipe")


@pytest.fixture(scope="module")
def astronaut_clip(tmp_path_factory):
    return render_clip(tmp_path_factory.mktemp("clips") / "astronaut.mp4", "astronaut", frames=6, seed=0)


def test_astronaut_body_and_face_found_hands_missing_shoulders_normalised(astronaut_clip, tmp_path):
    pose = extract_clip(astronaut_clip)
    assert pose.layout == "mediapipe-holistic" and pose.num_frames == 6 and pose.fps == 25
    assert pose.detected_ratio("body") == 1.0 and pose.detected_ratio("face") == 1.0
    for hand in ("left_hand", "right_hand"):  # the photo shows no hands: marked missing, never invented
        coords, conf = pose.part(hand)
        assert (conf == 0).all() and (coords == 0).all()
    (left, lc), (right, rc) = pose.point("left_shoulder"), pose.point("right_shoulder")
    assert (lc > 0.5).all() and (rc > 0.5).all()
    assert np.median(left[:, 0]) == pytest.approx(0.5, abs=0.1)  # subject's left shoulder: image right
    assert np.median(right[:, 0]) == pytest.approx(-0.5, abs=0.1)
    assert np.median(np.linalg.norm(left[:, :2] - right[:, :2], axis=1)) == pytest.approx(1.0, abs=0.02)
    mid = np.median((left + right) / 2, axis=0)
    assert np.abs(mid[:2]).max() < 0.02
    meta = pose.meta
    assert meta["frame_size"] == [512, 512] and meta["flags"] == []
    assert meta["extractor"]["name"] == "mediapipe-holistic" and meta["extractor"]["version"] == "0.10.14"
    assert len(meta["extractor"]["model_sha256"]) == 64
    # the stored normalisation maps back into the frame: shoulders inside the image
    norm = meta["normalization"]
    px = left[:, :2] * norm["scale"] + np.asarray(norm["center"][:2])
    assert ((px > 0) & (px < 512)).all()

    # deterministic: a second run gives identical output
    again = extract_clip(astronaut_clip)
    assert np.array_equal(pose.coords, again.coords) and np.array_equal(pose.conf, again.conf)
    assert pose.meta == again.meta
    assert pose.meta["source"]["absolute_path"] == os.path.abspath(astronaut_clip)  # for `show` from anywhere

    # .npz and .pose round trips
    save_pose(pose, tmp_path / "a.npz")
    loaded = load_pose(tmp_path / "a.npz")
    assert np.array_equal(loaded.coords, pose.coords) and loaded.meta == pose.meta
    save_pose(pose, tmp_path / "a.pose")
    pf = load_pose(tmp_path / "a.pose")
    assert np.array_equal(pf.conf > 0, pose.conf > 0)
    raw = extract_clip(astronaut_clip, ExtractOptions(normalize=False))
    seen = raw.conf > 0
    assert np.allclose(denormalize(pf).coords[seen], raw.coords[seen], atol=1e-2)  # the file holds image pixels
    assert pf.meta == pose.meta and np.allclose(pf.coords, pose.coords, atol=1e-5)  # signkit reads its pose back


def test_no_tracking_leak_between_clips(astronaut_clip, tmp_path):
    """A reused estimator gives each clip exactly what a fresh graph gives it (tracking never leaks)."""
    import mediapipe as mp

    other = render_clip(tmp_path / "hopper.mp4", "grace_hopper", frames=3, size=(512, 600), seed=1)
    fresh = {c: extract_clip(c) for c in (astronaut_clip, other)}
    with HolisticEstimator(HolisticConfig()) as estimator:
        reused = [(c, extract_clip(c, estimator=estimator)) for c in (astronaut_clip, other, astronaut_clip)]
    for clip, pose in reused:
        assert np.array_equal(pose.coords, fresh[clip].coords) and np.array_equal(pose.conf, fresh[clip].conf)

    # Why not pose-format's cheaper "one blank frame between videos": the visibility scores leak.
    frames = jitter_frames(load_photo("grace_hopper"), 3, (512, 600), seed=1)
    graph = mp.solutions.holistic.Holistic()
    for f in jitter_frames(load_photo("astronaut"), 3, (512, 512)):
        graph.process(f)
    graph.process(np.full((256, 256, 3), 255, np.uint8))
    after_blank = [graph.process(f).pose_landmarks.landmark[11].visibility for f in frames]
    graph.close()
    graph = mp.solutions.holistic.Holistic()
    clean = [graph.process(f).pose_landmarks.landmark[11].visibility for f in frames]
    graph.close()
    assert after_blank != clean


def test_model_complexity_without_model_is_a_clear_error(tmp_path, monkeypatch):
    config = HolisticConfig(model_complexity=2)
    with pytest.raises(ExtractError, match="--model-complexity 1"):
        ensure_models(config, modules_dir=tmp_path)
    if not model_files(config)[1].is_file():  # the heavy model is not bundled with mediapipe 0.10.14
        monkeypatch.setenv("SIGNKIT_OFFLINE", "1")
        (tmp_path / "v.mp4").write_bytes(b"not looked at: the model check comes first")
        result = CliRunner().invoke(
            cli, ["extract", str(tmp_path / "v.mp4"), "-o", str(tmp_path / "o"), "--model-complexity", "2"]
        )
        assert result.exit_code == 1 and "pose_landmark_heavy.tflite" in result.output
        assert "--model-complexity 1" in result.output and not (tmp_path / "o").exists()


def test_cli_errors_before_any_work(tmp_path):
    runner = CliRunner()
    (tmp_path / "empty").mkdir()
    result = runner.invoke(cli, ["extract", str(tmp_path / "empty"), "-o", str(tmp_path / "out")])
    assert result.exit_code == 1 and "no videos found" in result.output
    write_video(jitter_frames(load_photo("astronaut"), 1, (64, 64)), tmp_path / "v.mp4")
    (tmp_path / "file").write_text("I am a file")
    result = runner.invoke(cli, ["extract", str(tmp_path / "v.mp4"), "-o", str(tmp_path / "file")])
    assert result.exit_code == 1 and "is a file" in result.output
    assert (tmp_path / "file").read_text() == "I am a file"


def _write_vfr(path, frames, times):
    from test_extract_inputs import write_vfr

    write_vfr(path, frames, times)


@pytest.mark.slow
def test_bad_inputs_each_logged_and_the_run_goes_on(tmp_path, astronaut_clip):
    videos = tmp_path / "videos"
    videos.mkdir()
    person = jitter_frames(load_photo("astronaut"), 3, (256, 256), seed=2)
    (videos / "good.mp4").write_bytes(astronaut_clip.read_bytes())
    (videos / "zero.mp4").write_bytes(b"")
    data = astronaut_clip.read_bytes()
    (videos / "truncated.mp4").write_bytes(data[: len(data) // 2])
    (videos / "text.mp4").write_text("this is not a video\n")
    (videos / "dangling.mp4").symlink_to(tmp_path / "nowhere.mp4")
    write_video([np.full((128, 128, 3), 90, np.uint8)] * 3, videos / "empty_room.mp4")
    write_video(person[:1], videos / "one_frame.mp4")
    big = np.asarray(jitter_frames(load_photo("astronaut"), 1, (2160, 2160))[0])
    write_video([np.pad(big, ((0, 0), (840, 840), (0, 0)))], videos / "uhd.mp4")  # one 3840x2160 frame
    _write_vfr(videos / "vfr.mp4", person, [0.0, 0.04, 0.2])
    (videos / "blocked").mkdir()
    (videos / "blocked" / "clip.mp4").write_bytes(astronaut_clip.read_bytes())
    out = tmp_path / "poses"
    out.mkdir()
    (out / "blocked").write_text("a file where a folder of outputs should go")
    (out / ".stale.npz.123-abc.partial").write_bytes(b"left by a killed run")

    summary = extract([videos], out, workers=2)
    by_key = {r.key: r for r in summary.results}
    failed = {k for k, r in by_key.items() if r.status == "failed"}
    assert failed == {"zero", "truncated", "text", "dangling", "blocked/clip"}
    assert "empty file" in by_key["zero"].error and "truncated" in by_key["truncated"].error
    assert "not a readable video" in by_key["text"].error and "broken link" in by_key["dangling"].error
    assert "is a file" in by_key["blocked/clip"].error
    assert by_key["empty_room"].status == "ok" and by_key["empty_room"].flags == ["no_person"]
    empty = load_pose(out / "empty_room.npz")
    assert (empty.conf == 0).all() and empty.meta["normalization"] is None and empty.num_frames == 3
    one = load_pose(out / "one_frame.npz")
    assert one.num_frames == 1 and one.meta["normalization"] is not None
    uhd = load_pose(out / "uhd.npz")
    assert uhd.meta["frame_size"] == [3840, 2160] and uhd.detected_ratio("body") == 1.0
    vfr = load_pose(out / "vfr.npz")
    assert "variable_frame_rate" in vfr.meta["flags"] and np.allclose(vfr.meta["timestamps"], [0, 0.04, 0.2])
    assert vfr.fps == pytest.approx(10.0)
    assert not list(out.rglob("*.partial"))

    log = [json.loads(line) for line in (out / "extract-log.jsonl").read_text().splitlines()]
    assert [rec["run"] for rec in log if "run" in rec] == ["start"]  # one line per run, one per clip
    log = [rec for rec in log if "key" in rec]
    assert len(log) == 10 and {rec["key"] for rec in log} == set(by_key)
    for rec in log:
        assert {"status", "error", "frames", "seconds", "extractor"} <= set(rec)
        assert rec["extractor"]["model_sha256"] and rec["extractor"]["version"] == "0.10.14"

    # a rerun skips what is done and retries what failed (and fails again, each with a log line)
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*.npz")}
    again = extract([videos], out, workers=2)
    assert {r.key for r in again.results if r.status == "skipped"} == set(by_key) - failed
    assert {r.key for r in again.results if r.status == "failed"} == failed
    assert before == {p: p.stat().st_mtime_ns for p in out.rglob("*.npz")}
    log = [json.loads(line) for line in (out / "extract-log.jsonl").read_text().splitlines()]
    assert len(log) == 10 + 1 + len(failed) + 1  # no line per skipped clip: their count is in the run's line
    assert log[-len(failed) - 1]["skipped"] == len(by_key) - len(failed)


def test_cli_extract_frame_folder_clip_list_and_exit_status(tmp_path, astronaut_clip):
    from PIL import Image

    frames = tmp_path / "frames"
    frames.mkdir()
    for i, arr in enumerate(jitter_frames(load_photo("astronaut"), 3, (256, 256), seed=4)):
        Image.fromarray(arr).save(frames / f"{i:04d}.png")
    (tmp_path / "long.mp4").write_bytes(astronaut_clip.read_bytes())
    (tmp_path / "clips.csv").write_text(
        "path,key,start,end,unit\nlong.mp4,cut/a,0,2,frames\nlong.mp4,cut/b,0.12,,seconds\nframes,folder,,,\n"
    )
    runner = CliRunner()
    result = runner.invoke(
        cli,
        [
            "extract",
            str(tmp_path / "clips.csv"),
            "-o",
            str(tmp_path / "out"),
            "--json",
            "--workers",
            "1",
            "--frame-fps",
            "30",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output[result.output.index("{") :])
    assert summary["ok"] == 3 and summary["failed"] == 0 and summary["frames"] == 2 + 3 + 3
    assert load_pose(tmp_path / "out" / "cut" / "a.npz").num_frames == 2
    b = load_pose(tmp_path / "out" / "cut" / "b.npz")
    assert b.num_frames == 3 and b.meta["source"]["start"] == 0.12
    assert load_pose(tmp_path / "out" / "folder.npz").fps == 30

    (tmp_path / "bad.mp4").write_bytes(b"")
    result = runner.invoke(
        cli,
        [
            "extract",
            str(tmp_path / "bad.mp4"),
            str(tmp_path / "long.mp4"),
            "-o",
            str(tmp_path / "out2"),
            "--json",
            "--no-normalize",
            "--workers",
            "1",
        ],
    )
    assert result.exit_code == 1
    summary = json.loads(result.output[result.output.index("{") :])
    assert summary["ok"] == 1 and summary["failed"] == 1 and "empty file" in summary["failures"]["bad"]
    raw = load_pose(tmp_path / "out2" / "long.npz")
    assert raw.meta["normalization"] is None and raw.coords[..., 0].max() > 100  # pixels


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files without read permission")
def test_permission_denied(tmp_path):
    from signkit.errors import VideoError
    from signkit.pose_extract import Clip
    from signkit.pose_extract.decode import ClipReader

    path = tmp_path / "locked.mp4"
    write_video(jitter_frames(load_photo("astronaut"), 1, (64, 64)), path)
    path.chmod(0)
    with pytest.raises(VideoError, match="permission denied"):
        ClipReader(Clip(path, "locked"))


def _solution_arrays(frames, **holistic_kwargs):
    """What MediaPipe's own `Holistic.process()` gives, frame by frame, as (coords, conf) in pixels."""
    import mediapipe as mp

    from signkit.pose_extract.mediapipe_backend import _landmarks

    out = []
    with mp.solutions.holistic.Holistic(**holistic_kwargs) as graph:
        for f in frames:
            r, (h, w) = graph.process(f), f.shape[:2]
            parts = [
                _landmarks(r.pose_landmarks, 33, w, h, True),
                _landmarks(r.face_landmarks, 468, w, h, False),
                _landmarks(r.left_hand_landmarks, 21, w, h, False),
                _landmarks(r.right_hand_landmarks, 21, w, h, False),
            ]
            out.append((np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])))
    return out


def test_pipelined_stream_is_bit_identical_to_frame_by_frame_process():
    """`stream` feeds frames without waiting for the graph to go idle; tracking (loopback streams), smoothing and
    the no-person case must come out exactly as MediaPipe's own frame-by-frame `Holistic.process()` gives them."""
    frames = (
        jitter_frames(load_photo("astronaut"), 5, (512, 512), seed=3)
        + [np.full((240, 320, 3), 90, np.uint8)] * 2  # nobody: tracking lost, then found again
        + jitter_frames(load_photo("grace_hopper"), 4, (512, 600), seed=4)
    )
    expected = _solution_arrays(frames)
    assert sum((c[:33] > 0).any() for _, c in expected) == 9  # the person is found, the blank frames are empty

    def same(got):
        return len(got) == len(expected) and all(
            np.array_equal(a, x) and np.array_equal(b, y) for (a, b), (x, y) in zip(got, expected, strict=True)
        )

    for depth, threads in ((4, None), (1, None), (3, 1)):
        with HolisticEstimator(HolisticConfig(), depth=depth, threads=threads) as est:
            streamed = list(est.stream((f, i) for i, f in enumerate(frames)))
            assert [tag for tag, _, _ in streamed] == list(range(len(frames)))  # in order, every frame once
            assert same([(c, k) for _, c, k in streamed]) and not est.stalled
            est.reset()  # the next clip: a fresh graph, nothing tracked
            assert same([est.process(f) for f in frames])
            est.reset()
            assert same([(c, k) for _, c, k in est.stream((f, None) for f in frames)]) and not est.stalled


def test_stream_rejects_a_frame_that_is_not_rgb():
    with HolisticEstimator(HolisticConfig()) as est, pytest.raises(ExtractError, match="RGB uint8"):
        list(est.stream([(np.zeros((64, 64), np.uint8), 0)]))


def test_rerun_logs_outputs_an_interrupted_run_wrote_but_never_logged(tmp_path, astronaut_clip):
    """A run stopped between a worker's write and the parent's log line: the next run logs it, once."""
    videos, out = tmp_path / "videos", tmp_path / "out"
    videos.mkdir()
    for key in ("written", "garbled"):
        (videos / f"{key}.mp4").write_bytes(astronaut_clip.read_bytes())
    save_pose(extract_clip(videos / "written.mp4"), out / "written.npz")
    (out / "garbled.npz").write_bytes(b"not an npz")  # not ours: extracted again, not trusted

    summary = extract([videos], out, workers=1)
    assert (summary.count("skipped"), summary.count("ok")) == (1, 1)
    assert load_pose(out / "garbled.npz").num_frames == 6
    records = [json.loads(line) for line in (out / "extract-log.jsonl").read_text().splitlines()]
    ok = {r["key"]: r for r in records if r.get("status") == "ok"}
    assert set(ok) == {"written", "garbled"}
    assert ok["written"]["recovered"] and ok["written"]["frames"] == 6 and not ok["garbled"]["recovered"]

    extract([videos], out, workers=1)
    records = [json.loads(line) for line in (out / "extract-log.jsonl").read_text().splitlines()]
    assert sum(r.get("status") == "ok" for r in records) == 2  # no second recovered line
    assert [r["skipped"] for r in records if "run" in r] == [1, 2]
