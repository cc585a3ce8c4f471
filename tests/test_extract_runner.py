"""The runner's resume and safety rules (issues 14 and 15), run fast with the RTMW estimator on generated models."""

from __future__ import annotations

import fcntl
import json
import multiprocessing.spawn
import os
import shutil
import sys
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

import rtmw_models  # noqa: E402

from signkit import load_pose  # noqa: E402
from signkit.errors import ExtractError  # noqa: E402
from signkit.pose_extract import Clip, ExtractOptions, HolisticConfig, extract  # noqa: E402
from signkit.pose_extract.rtmpose import RTMWConfig  # noqa: E402

ASSETS = Path(__file__).resolve().parents[1] / "signkit" / "assets"


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    return rtmw_models.write_models(tmp_path_factory.mktemp("rtmw-models"))


@pytest.fixture
def options(models) -> ExtractOptions:
    return ExtractOptions(estimator=RTMWConfig(det=str(models["det"]), pose=str(models["pose"])), normalize=False)


def _lines(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_a_different_source_under_the_same_key_is_redone(tmp_path, options):
    """extract A/ -o out, then B/ -o out with another clip.mp4: B's clip is extracted, not skipped as A's."""
    (tmp_path / "A").mkdir()
    (tmp_path / "B").mkdir()
    shutil.copy(ASSETS / "astronaut.mp4", tmp_path / "A" / "clip.mp4")
    shutil.copy(ASSETS / "grace_hopper.mp4", tmp_path / "B" / "clip.mp4")
    out = tmp_path / "out"
    assert extract([tmp_path / "A"], out, options, workers=1).count("ok") == 1
    first = load_pose(out / "clip.npz")
    events = []
    again = extract([tmp_path / "B"], out, options, workers=1, on_event=lambda k, d: events.append((k, d)))
    assert again.count("ok") == 1 and again.count("skipped") == 0
    assert ("redo", {"key": "clip", "reason": "its source changed since it was extracted"}) in events
    second = load_pose(out / "clip.npz")
    assert second.meta["frame_size"] == [384, 450] != first.meta["frame_size"]
    # the same source again: skipped
    assert extract([tmp_path / "B"], out, options, workers=1).count("skipped") == 1


def test_a_damaged_output_is_redone_not_skipped(tmp_path, options):
    out = tmp_path / "out"
    extract([ASSETS / "astronaut.mp4"], out, options, workers=1)
    target = out / "astronaut.npz"
    target.write_bytes(target.read_bytes()[:-100])  # truncated by a full disk, a bad copy...
    events = []
    again = extract([ASSETS / "astronaut.mp4"], out, options, workers=1, on_event=lambda k, d: events.append(k))
    assert again.count("ok") == 1 and "redo" in events
    assert load_pose(target).num_frames == 25


def test_rerun_with_nothing_to_do_writes_one_line_and_never_touches_the_models(tmp_path, options, monkeypatch):
    out = tmp_path / "out"
    extract([ASSETS / "astronaut.mp4", ASSETS / "grace_hopper.mp4"], out, options, workers=1)
    before = len(_lines(out / "extract-log.jsonl"))

    def refuse(self):
        raise AssertionError("the models were read although every clip was finished")

    monkeypatch.setattr(RTMWConfig, "prepare", refuse)
    monkeypatch.setattr(RTMWConfig, "meta", refuse)
    again = extract([ASSETS / "astronaut.mp4", ASSETS / "grace_hopper.mp4"], out, options, workers=1)
    assert again.count("skipped") == 2
    lines = _lines(out / "extract-log.jsonl")
    assert len(lines) == before + 1 and lines[-1]["run"] == "start" and lines[-1]["skipped"] == 2


def test_another_estimator_on_the_same_output_is_refused(tmp_path, options):
    out = tmp_path / "out"
    extract([ASSETS / "astronaut.mp4"], out, options, workers=1)
    with pytest.raises(ExtractError, match="holds poses extracted with rtmw.*uses mediapipe-holistic"):
        extract([ASSETS / "astronaut.mp4"], out, ExtractOptions(estimator=HolisticConfig()), workers=1)


def test_clip_range_past_the_end_is_flagged_truncated(tmp_path, options):
    video = ASSETS / "astronaut.mp4"  # 25 frames at 25 fps
    clips = [
        Clip(video, "past", 10, 60, "frames"),
        Clip(video, "in", 0, 10, "frames"),
        Clip(video, "secs", 0.4, 5.0, "seconds"),
    ]
    summary = extract(clips, tmp_path / "out", options, workers=1)
    by_key = {r.key: r for r in summary.results}
    assert by_key["past"].status == "ok" and by_key["past"].frames == 15 and "truncated" in by_key["past"].flags
    assert by_key["secs"].flags == ["truncated"]
    assert by_key["in"].frames == 10 and by_key["in"].flags == []


def test_a_still_image_named_mp4_is_refused(tmp_path, options):
    import numpy as np
    from PIL import Image

    Image.fromarray(np.full((64, 48, 3), 128, np.uint8)).save(tmp_path / "photo.jpg")
    shutil.copy(tmp_path / "photo.jpg", tmp_path / "photo.mp4")
    summary = extract([tmp_path / "photo.mp4"], tmp_path / "out", options, workers=1)
    [result] = summary.results
    assert result.status == "failed" and "a still image (jpeg_pipe), not a video" in result.error


def test_a_second_run_on_the_same_output_waits_then_skips(tmp_path, options):
    out = tmp_path / "out"
    out.mkdir()
    holder = open(out / "extract-log.jsonl.lock", "a+")  # noqa: SIM115 - another run holding the lock
    fcntl.flock(holder.fileno(), fcntl.LOCK_EX)
    events, results = [], []
    thread = threading.Thread(
        target=lambda: results.append(
            extract([ASSETS / "astronaut.mp4"], out, options, workers=1, on_event=lambda k, d: events.append(k))
        )
    )
    thread.start()
    deadline = time.monotonic() + 30
    while "waiting" not in events and time.monotonic() < deadline:
        time.sleep(0.05)
    assert events == ["waiting"] and not (out / "astronaut.npz").exists()
    holder.close()  # the other run ends
    thread.join(timeout=120)
    assert results and results[0].count("ok") == 1


def test_workers_that_die_at_start_up_stop_the_run(tmp_path, options, monkeypatch):
    """A worker interpreter that cannot start (seen: unreadable to the user) is not respawned for ever."""
    fake = tmp_path / "python"
    fake.write_text(
        f'#!/bin/sh\ncase "$*" in *spawn_main*) echo \'cannot run\' >&2; exit 3;; esac\nexec {sys.executable} "$@"\n'
    )  # workers die; multiprocessing's resource tracker runs
    fake.chmod(0o755)
    monkeypatch.setattr(multiprocessing.spawn, "_python_exe", os.fsencode(fake))
    t0 = time.monotonic()
    with pytest.raises(ExtractError, match=r"3 worker processes in a row died while starting \(exit code 3"):
        extract([ASSETS / "astronaut.mp4", ASSETS / "grace_hopper.mp4"], tmp_path / "out", options, workers=2)
    assert time.monotonic() - t0 < 30


# ---- MediaPipe's model download (issue 15) --------------------------------------------------------------------


@pytest.fixture
def heavy_missing():
    pytest.importorskip("mediapipe")
    from signkit.pose_extract.mediapipe_backend import model_files

    config = HolisticConfig(model_complexity=2)
    if model_files(config)[1].is_file():
        pytest.skip("the heavy pose model is already on disk")
    return config


@pytest.mark.parametrize("variable", ["HF_HUB_OFFLINE", "SIGNKIT_OFFLINE"])
def test_either_offline_variable_alone_stops_the_mediapipe_download(heavy_missing, monkeypatch, variable):
    from mediapipe.python.solutions import download_utils

    from signkit.pose_extract.mediapipe_backend import ensure_models

    calls = []
    monkeypatch.setattr(download_utils, "download_oss_model", lambda path: calls.append(path))
    monkeypatch.delenv("SIGNKIT_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv(variable, "ON")  # the zoo's accepted values, any case
    with pytest.raises(ExtractError, match="offline mode .* forbids downloading it"):
        ensure_models(heavy_missing)
    assert calls == []


def test_the_mediapipe_download_error_reaches_the_message(heavy_missing, monkeypatch):
    from mediapipe.python.solutions import download_utils

    from signkit.pose_extract.mediapipe_backend import ensure_models

    def fail(path):
        raise ConnectionError("HTTP 403 from storage.googleapis.com")

    monkeypatch.setattr(download_utils, "download_oss_model", fail)
    monkeypatch.delenv("SIGNKIT_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    with pytest.raises(ExtractError, match=r"the download failed: ConnectionError: HTTP 403 from storage"):
        ensure_models(heavy_missing)


@pytest.mark.parametrize("name", sorted(__import__("signkit.pose_extract", fromlist=["ESTIMATORS"]).ESTIMATORS))
def test_every_estimator_row_is_a_picklable_config_of_its_layout(name):
    """The table drives the CLI and the runner: each row's config exists, carries the row's name and layout, and
    travels to workers (pickle) and back unchanged; importing it imports no model library."""
    import pickle
    import subprocess

    from signkit.pose.layouts import get_layout
    from signkit.pose_extract.estimators import ESTIMATORS, estimator_config

    config = estimator_config(name)
    assert config.name == name and config.layout == ESTIMATORS[name].layout
    get_layout(config.layout)
    assert pickle.loads(pickle.dumps(config)) == config
    code = (
        f"import sys; from signkit.pose_extract.estimators import estimator_config; estimator_config({name!r}); "
        "heavy = {'mediapipe', 'onnxruntime', 'cv2', 'torch'} & set(sys.modules); assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[1])
