"""The RTMW estimator: parity with rtmlib, model files through the zoo's downloader, bad models, and the runner's
resume rules exercised with it (fast: generated ONNX models, no MediaPipe)."""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import subprocess
import sys
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")
pytest.importorskip("cv2")

import rtmw_models  # noqa: E402

from signkit import load_pose  # noqa: E402
from signkit.cli.main import cli  # noqa: E402
from signkit.errors import ExtractError  # noqa: E402
from signkit.pose_extract import ExtractOptions, extract  # noqa: E402
from signkit.pose_extract.rtmpose import RTMWConfig, RTMWEstimator  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / "signkit" / "assets"
REFERENCE = ROOT / "tests" / "fixtures" / "rtmw" / "rtmlib_reference.npz"


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    return rtmw_models.write_models(tmp_path_factory.mktemp("rtmw-models"))


@pytest.fixture
def options(models) -> ExtractOptions:
    return ExtractOptions(estimator=RTMWConfig(det=str(models["det"]), pose=str(models["pose"])), normalize=False)


def test_parity_with_rtmlib_on_real_frames(models):
    """rtmlib 0.0.16's Wholebody and ours on the same generated models and the same real frames (reference numbers
    written by tests/fixtures/rtmw/make_reference.py, which runs rtmlib itself)."""
    import cv2

    ref = np.load(REFERENCE)
    for name, path in models.items():
        assert rtmw_models.sha256(path) == str(ref[f"{name}_sha256"]), f"generated {name} differs from the fixture's"
    frames = rtmw_models.reference_frames(ASSETS)
    assert [hashlib.sha256(f.tobytes()).hexdigest() for f in frames] == list(ref["frame_sha256"])
    detected = ref["det_persons"] > 0
    assert detected.any() and not detected.all()  # both paths: a person box, and rtmlib's whole-image fallback
    for det, fallback in (("det", True), ("det_none", True), ("det", False)):
        est = RTMWEstimator(RTMWConfig(det=str(models[det]), pose=str(models["pose"]), whole_image_fallback=fallback))
        for i, rgb in enumerate(frames):
            found = est.infer(np.ascontiguousarray(rgb[..., ::-1]))
            if not fallback and not detected[i]:
                assert found is None
                coords, conf = est.process(rgb)
                assert (conf == 0).all() and (coords == 0).all()
                continue
            keypoints, scores = found
            dk = np.abs(keypoints - ref[f"{det}_keypoints"][i]).max()
            ds = np.abs(scores - ref[f"{det}_scores"][i]).max()
            assert dk <= 1e-3 and ds <= 1e-5, (
                f"frame {i} ({det}): keypoints off by {dk} px, scores by {ds}; OpenCV here {cv2.__version__}, "
                f"in the fixture {ref['cv2_version']} (warpAffine rounds differently between builds)"
            )
    # what the pose file gets: pixels with z = 0, conf = score clipped to [0, 1]
    coords, conf = est.process(frames[0])
    keypoints, scores = est.infer(np.ascontiguousarray(frames[0][..., ::-1]))
    assert np.allclose(coords[:, :2], keypoints) and (coords[:, 2] == 0).all()
    assert np.array_equal(conf, np.clip(scores, 0, 1).astype(np.float32)) and (scores > 1).any()


def test_extract_with_rtmw_writes_provenance(tmp_path, options, models):
    out = tmp_path / "poses"
    summary = extract([ASSETS / "astronaut.mp4"], out, options, workers=1)
    assert summary.count("ok") == 1, summary.as_dict()
    pose = load_pose(out / "astronaut.npz")
    assert pose.layout == "coco-wholebody-133" and pose.num_frames == 25
    extractor = pose.meta["extractor"]
    assert extractor["name"] == "rtmw" and extractor["version"].startswith("onnxruntime ")
    assert extractor["models"]["pose"]["sha256"] == rtmw_models.sha256(models["pose"])
    assert extractor["models"]["det"]["sha256"] == rtmw_models.sha256(models["det"])
    assert extractor["mode"] == "lightweight" and extractor["det_size"] == [416, 416]
    lines = [json.loads(line) for line in (out / "extract-log.jsonl").read_text().splitlines()]
    assert lines[0]["run"] == "start" and lines[0]["extractor"] == extractor
    assert lines[1]["extractor"] == extractor and lines[1]["source_stat"]["size"] > 0


# ---- model files: the official URLs through the zoo's downloader, tested against a local server ---------------


class _Server:
    def __init__(self, files: dict[str, bytes]):
        self.files, self.requests = files, []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's naming)
                server.requests.append(self.path)
                data = server.files.get(self.path)
                if data is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(models):
    s = _Server(
        {
            "/det.zip": rtmw_models.sdk_zip(models["det"].read_bytes(), "yolox_tiny"),
            "/pose.zip": rtmw_models.sdk_zip(models["pose"].read_bytes(), "rtmw-dw-l-m"),
            "/mirror/rtmlib-onnx/det.zip": rtmw_models.sdk_zip(models["det"].read_bytes(), "yolox_tiny"),
        }
    )
    yield s
    s.close()


def test_model_files_download_once_pinned_and_cached(server, models, tmp_path, monkeypatch):
    from signkit.zoo.downloading import ZooPinWarning

    monkeypatch.setenv("SIGNKIT_HOME", str(tmp_path / "home"))
    config = RTMWConfig(det=f"{server.url}/det.zip", pose=f"{server.url}/pose.zip")
    with pytest.warns(ZooPinWarning):
        config.prepare()
    assert sorted(server.requests) == ["/det.zip", "/pose.zip"]
    cached = tmp_path / "home" / "zoo" / "models" / "rtmlib-onnx"
    assert (cached / "pose.onnx").read_bytes() == models["pose"].read_bytes()
    meta = config.meta()
    assert meta["models"]["pose"]["sha256"] == rtmw_models.sha256(models["pose"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        RTMWConfig(det=f"{server.url}/det.zip", pose=f"{server.url}/pose.zip").build().close()
    assert len(server.requests) == 2  # cached: not fetched again

    # the pin holds: a changed upload is refused in one line
    server.files["/det.zip"] = rtmw_models.sdk_zip(models["det_none"].read_bytes(), "yolox_tiny")
    (cached / "det.zip").unlink()
    (cached / "det.onnx").unlink()
    with pytest.raises(ExtractError, match="checksum mismatch"):
        config.prepare()


def test_model_files_offline_and_mirror(server, tmp_path, monkeypatch):
    from signkit.zoo.downloading import ZooPinWarning

    monkeypatch.setenv("SIGNKIT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    config = RTMWConfig(det=f"{server.url}/det.zip", pose=f"{server.url}/pose.zip")
    missing = r"missing from the cache .*: det\.zip, pose\.zip; offline .*SIGNKIT_ZOO_MIRROR"
    with pytest.raises(ExtractError, match=missing) as e:
        config.prepare()
    assert "\n" not in str(e.value) and not server.requests
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setenv("SIGNKIT_ZOO_MIRROR", f"{server.url}/mirror")
    with pytest.warns(ZooPinWarning), pytest.raises(ExtractError, match="missing.onnx does not exist"):
        RTMWConfig(det=f"{server.url}/det.zip", pose=str(tmp_path / "missing.onnx")).prepare()
    assert server.requests == ["/mirror/rtmlib-onnx/det.zip"]


def test_corrupt_and_wrong_models_are_one_line_errors(models, tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07garbage" * 100)
    with pytest.raises(ExtractError, match=r"bad\.onnx: not a readable ONNX model"):
        RTMWEstimator(RTMWConfig(det=str(bad), pose=str(models["pose"])))
    with pytest.raises(
        ExtractError,
        match=r"pose\.onnx: not an RTMW detector model: expected inputs "
        r"\[\[1, 3, 416, 416\]\].*found inputs \[\[1, 3, 256, 192\]\]",
    ):
        RTMWEstimator(RTMWConfig(det=str(models["pose"]), pose=str(models["pose"])))
    with pytest.raises(ExtractError, match="unknown RTMW mode 'fast'; use one of lightweight, balanced, performance"):
        RTMWConfig(mode="fast")


def test_cli_estimator_options(tmp_path, models):
    runner = CliRunner()
    video = str(ASSETS / "astronaut.mp4")
    result = runner.invoke(cli, ["extract", video, "-o", str(tmp_path / "o"), "--estimator", "openpose"])
    assert result.exit_code == 1 and "unknown estimator 'openpose'; known: mediapipe-holistic, rtmw" in result.output
    result = runner.invoke(cli, ["extract", video, "-o", str(tmp_path / "o"), "--estimator", "rtmw", "--refine-face"])
    assert result.exit_code == 1 and "--refine-face is not an option of --estimator rtmw" in result.output
    result = runner.invoke(cli, ["extract", video, "-o", str(tmp_path / "o"), "--mode", "balanced"])
    assert result.exit_code == 1 and "--mode is not an option of --estimator mediapipe-holistic" in result.output
    assert RTMWConfig.preset("unisign") == RTMWConfig(mode="lightweight", whole_image_fallback=True)


def test_extracts_without_mediapipe(tmp_path, models):
    """A Python without mediapipe (what >= 3.13 users have): `mediapipe` cannot be imported in the command or in its
    workers, and `signkit extract --estimator rtmw` still works."""
    blocker = tmp_path / "block"
    (blocker / "mediapipe").mkdir(parents=True)
    (blocker / "mediapipe" / "__init__.py").write_text("raise ImportError('mediapipe is blocked in this test')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(blocker), str(ROOT), os.environ.get("PYTHONPATH", "")])}
    code = (
        "import sys, json\n"
        "from signkit.pose_extract import ExtractOptions, extract\n"
        "from signkit.pose_extract.rtmpose import RTMWConfig\n"
        f"opts = ExtractOptions(estimator=RTMWConfig(det={str(models['det'])!r}, pose={str(models['pose'])!r}))\n"
        f"s = extract([{str(ASSETS / 'astronaut.mp4')!r}], {str(tmp_path / 'out')!r}, opts, workers=1)\n"
        "assert 'mediapipe' not in sys.modules or sys.modules['mediapipe'] is None\n"
        "print(json.dumps(s.as_dict()))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout.splitlines()[-1])["ok"] == 1
    check = subprocess.run([sys.executable, "-c", "import mediapipe"], env=env, capture_output=True, text=True)
    assert "blocked in this test" in check.stderr  # the blocker works


def test_packed_dataset_lists_the_estimator_its_samples_came_from(tmp_path, options, models):
    from signkit.datasets import pack

    extract([ASSETS / "astronaut.mp4", ASSETS / "grace_hopper.mp4"], tmp_path / "poses", options, workers=1)
    labels = tmp_path / "labels.csv"
    labels.write_text("key,split,gloss\nastronaut,train,SPACE\ngrace_hopper,train,CODE\n")
    pack(tmp_path / "poses", tmp_path / "ds", labels=labels)
    meta = json.loads((tmp_path / "ds" / "dataset.json").read_text())
    [made_by] = meta["extractors"]
    assert made_by["name"] == "rtmw" and made_by["samples"] == 2
    assert made_by["model_sha256"] == load_pose(tmp_path / "poses" / "astronaut.npz").meta["extractor"]["model_sha256"]
