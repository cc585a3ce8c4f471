"""`signkit extract --engine ray`: real MediaPipe on clips rendered from real photos, on a local 2-CPU Ray instance.

One Ray instance serves the whole module (starting one costs seconds). Outputs are compared with the local
engine's byte for byte.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from synthetic_clips import render_clip

from signkit import load_pose
from signkit.cli.main import cli
from signkit.errors import ExtractError
from signkit.pose_extract import extract
from signkit.pose_extract.output import FsspecOutput

pytest.importorskip("mediapipe")
ray = pytest.importorskip("ray")

CLIPS = 3


@pytest.fixture(scope="module")
def ray_instance():
    sigterm = signal.getsignal(signal.SIGTERM)  # ray.init replaces it
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    yield ray
    ray.shutdown()
    signal.signal(signal.SIGTERM, sigterm)


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("videos")
    for i in range(CLIPS):
        render_clip(root / f"clip{i}.mp4", ("astronaut", "grace_hopper")[i % 2], frames=6, size=(256, 256), seed=i)
    return root


@pytest.fixture(scope="module")
def local_poses(videos, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("local") / "poses"
    summary = extract([videos], out, workers=2)
    assert summary.count("ok") == CLIPS
    return out


def assert_same_outputs(local: Path, files: dict[str, Path]) -> None:
    for key, path in files.items():
        assert path.read_bytes() == (local / f"{key}.npz").read_bytes(), key


def log_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def clip_lines(path: Path) -> list[dict]:
    return [r for r in log_lines(path) if "key" in r]


def statuses(path: Path) -> list[str]:
    """Each line's status, and "start" for a run's own line."""
    return [r["status"] if "key" in r else r["run"] for r in log_lines(path)]


def comparable(record: dict) -> dict:
    return {k: v for k, v in record.items() if k not in ("time", "seconds", "output", "output_stat")}


def test_ray_engine_writes_what_the_local_engine_writes_and_resumes(ray_instance, videos, local_poses, tmp_path):
    out = tmp_path / "poses"
    events = []
    summary = extract([videos], out, workers=2, engine="ray", on_event=lambda kind, data: events.append(kind))
    assert summary.count("ok") == CLIPS and summary.count("failed") == 0 and "retry" not in events
    assert_same_outputs(local_poses, {f"clip{i}": out / f"clip{i}.npz" for i in range(CLIPS)})
    assert summary.frames == 6 * CLIPS and events.count("done") == CLIPS
    ours = sorted(clip_lines(out / "extract-log.jsonl"), key=lambda r: r["key"])
    theirs = sorted(clip_lines(local_poses / "extract-log.jsonl")[:CLIPS], key=lambda r: r["key"])
    assert [comparable(r) for r in ours] == [comparable(r) for r in theirs]
    assert [r["output"] for r in ours] == [str(out / f"clip{i}.npz") for i in range(CLIPS)]

    before = {p: p.stat().st_mtime_ns for p in out.glob("*.npz")}
    again = extract([videos], out, workers=2, engine="ray")
    assert again.count("skipped") == CLIPS and again.count("ok") == 0
    assert before == {p: p.stat().st_mtime_ns for p in out.glob("*.npz")}
    assert statuses(out / "extract-log.jsonl") == ["start"] + ["ok"] * CLIPS + ["start"]  # no line per skipped clip


def test_a_failing_video_is_retried_once_then_logged_and_the_others_finish(ray_instance, videos, local_poses, tmp_path):
    (tmp_path / "text.mp4").write_text("this is not a video\n")
    out = tmp_path / "poses"
    result = CliRunner().invoke(
        cli,
        [
            "extract",
            str(tmp_path / "text.mp4"),
            str(videos / "clip1.mp4"),
            "-o",
            str(out),
            "--engine",
            "ray",
            "--workers",
            "2",
            "--json",
        ],
    )
    assert result.exit_code == 1, result.output
    summary = json.loads(result.output[result.output.index("{") :])
    assert summary["ok"] == 1 and summary["failed"] == 1
    assert "not a readable video" in summary["failures"]["text"] and "(failed 2 times)" in summary["failures"]["text"]
    assert_same_outputs(local_poses, {"clip1": out / "clip1.npz"})
    records = clip_lines(out / "extract-log.jsonl")
    assert sorted((r["key"], r["status"]) for r in records) == [("clip1", "ok"), ("text", "failed")]


def test_url_output(ray_instance, videos, local_poses, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bucket = tmp_path / "bucket"
    url = f"file://{bucket}/poses"
    summary = extract([videos], url, workers=2, engine="ray")
    assert summary.count("ok") == CLIPS
    assert_same_outputs(local_poses, {f"clip{i}": bucket / "poses" / f"clip{i}.npz" for i in range(CLIPS)})
    assert summary.log_path.parent == tmp_path and summary.log_path.name.startswith("extract-log-file-")
    assert summary.log_url == f"{url}/extract-log.jsonl"
    remote = bucket / "poses" / "extract-log.jsonl"
    assert remote.read_text() == summary.log_path.read_text() and len(clip_lines(remote)) == CLIPS
    assert clip_lines(remote)[0]["output"].startswith(url)
    assert not [p for p in bucket.rglob("*") if p.name.endswith(".partial")]

    # a rerun redoes only what is missing and the log grows; the local engine writes URLs too
    (bucket / "poses" / "clip0.npz").unlink()
    result = CliRunner().invoke(cli, ["extract", str(videos), "-o", url, "--workers", "1", "--json"])
    assert result.exit_code == 0, result.output
    again = json.loads(result.output[result.output.index("{") :])
    assert again["skipped"] == CLIPS - 1 and again["ok"] == 1 and again["log_url"] == f"{url}/extract-log.jsonl"
    assert_same_outputs(local_poses, {"clip0": bucket / "poses" / "clip0.npz"})
    assert statuses(remote) == ["start"] + ["ok"] * CLIPS + ["start", "ok"]


def test_memory_url_output_and_log_merge(tmp_path, monkeypatch):
    import fsspec
    from conftest import make_pose

    out = FsspecOutput("memory://signkit-test/poses/")
    assert out.one_put and out.process_local and out.target("a/b") == "memory://signkit-test/poses/a/b.npz"
    out.prepare()
    pose = make_pose(frames=4)
    out.write("a/b", pose)
    out.write("c", pose)
    assert out.finished(["a/b", "c", "d"]) == {"a/b", "c"}
    fs = fsspec.filesystem("memory")
    with fs.open("/signkit-test/poses/c.npz", "rb") as f:
        (tmp_path / "c.npz").write_bytes(f.read())
    assert (load_pose(tmp_path / "c.npz").coords == pose.coords).all()

    # the log: lines the remote copy lacks are added, none twice (a crashed run's lines come with the next run)
    log = tmp_path / "log.jsonl"
    log.write_text('{"n": 1}\n{"n": 2}\n')
    assert out.publish_log(log) == "memory://signkit-test/poses/extract-log.jsonl"
    with open(log, "a") as f:
        f.write('{"n": 2}\n{"n": 3}\n')
    out.publish_log(log)
    out.publish_log(log)
    remote = fs.cat_file("/signkit-test/poses/extract-log.jsonl").decode()
    assert remote.splitlines() == ['{"n": 1}', '{"n": 2}', '{"n": 2}', '{"n": 3}']
    other = tmp_path / "other-machine.jsonl"
    other.write_text('{"n": 4}\n')
    out.publish_log(other)
    assert fs.cat_file("/signkit-test/poses/extract-log.jsonl").decode().splitlines()[-1] == '{"n": 4}'

    # workers are other processes: a memory:// output would vanish with them
    (tmp_path / "v.mp4").write_bytes(b"")
    with pytest.raises(ExtractError, match="memory://"):
        extract([tmp_path / "v.mp4"], "memory://signkit-test/x")
    with pytest.raises(ExtractError, match="is a file"):
        FsspecOutput("memory://signkit-test/poses/c.npz").prepare()


def test_cli_errors_without_ray_and_for_address_without_the_engine(tmp_path, monkeypatch):
    (tmp_path / "v.mp4").write_bytes(b"")
    runner = CliRunner()
    result = runner.invoke(cli, ["extract", str(tmp_path / "v.mp4"), "-o", str(tmp_path / "o"), "--address", "auto"])
    assert result.exit_code == 1 and "--engine ray" in result.output
    monkeypatch.setitem(sys.modules, "ray", None)
    result = runner.invoke(cli, ["extract", str(tmp_path / "v.mp4"), "-o", str(tmp_path / "o"), "--engine", "ray"])
    assert result.exit_code == 1 and "pip install 'signkit[ray]'" in result.output
    assert len(result.output.strip().splitlines()) == 1 and not (tmp_path / "o").exists()


def test_an_address_nobody_answers_fails_in_seconds_not_never():
    import socket

    from signkit.pose_extract.ray_engine import check_reachable

    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        port = listening.getsockname()[1]
        check_reachable(f"127.0.0.1:{port}")
        check_reachable(f"ray://127.0.0.1:{port}")
    with pytest.raises(ExtractError, match=rf"cannot reach the Ray cluster at 127.0.0.1:{port} .*ray start --head"):
        check_reachable(f"127.0.0.1:{port}")  # closed now: refused at once
    check_reachable("auto")  # left to Ray


def _busy_ray_workers() -> list[int]:
    """Ray workers in the middle of a clip: Ray titles a worker process by the method it runs."""
    pids = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if cmdline.read_bytes().startswith(b"ray::ClipWorker.run"):
                pids.append(int(cmdline.parent.name))
        except (OSError, ValueError):
            continue
    return pids


@pytest.mark.slow
def test_a_killed_ray_worker_loses_nothing(ray_instance, tmp_path):
    videos = tmp_path / "videos"
    for i in range(4):
        render_clip(
            videos / f"long{i}.mp4", ("astronaut", "grace_hopper")[i % 2], frames=20, size=(256, 256), seed=10 + i
        )
    reference = tmp_path / "local"
    assert extract([videos], reference, workers=2).count("ok") == 4

    out = tmp_path / "poses"
    events, outcome = [], {}

    def run() -> None:
        outcome["summary"] = extract(
            [videos], out, workers=2, engine="ray", on_event=lambda kind, data: events.append((kind, data))
        )

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 240
    killed = None
    while killed is None and thread.is_alive() and time.monotonic() < deadline:
        busy = _busy_ray_workers()
        if busy:
            time.sleep(0.5)  # into the clip: the graph is running
            if busy[0] in _busy_ray_workers():
                os.kill(busy[0], signal.SIGKILL)
                killed = busy[0]
        time.sleep(0.05)
    thread.join(timeout=300)
    assert killed is not None, "no Ray worker was seen running a clip"
    retries = [data["result"] for kind, data in events if kind == "retry"]
    assert len(retries) == 1 and "Ray worker died" in retries[0].error
    summary = outcome["summary"]
    assert summary.count("ok") == 4 and summary.count("failed") == 0
    assert_same_outputs(reference, {f"long{i}": out / f"long{i}.npz" for i in range(4)})
    assert not list(out.glob(".*.partial"))
    again = extract([videos], out, workers=2, engine="ray")
    assert again.count("skipped") == 4


def test_relative_paths_on_a_node_without_the_commands_folder_fail_clearly(tmp_path):
    from signkit.pose_extract import Clip, ExtractOptions
    from signkit.pose_extract.output import LocalOutput
    from signkit.pose_extract.ray_engine import ClipWorker

    worker = ClipWorker(LocalOutput(tmp_path / "poses"), ExtractOptions(), str(tmp_path / "not-on-this-node"))
    result = worker.run(Clip(Path("videos/a.mp4"), "a"))
    assert result.status == "failed" and "give absolute paths on a shared filesystem" in result.error
    worker = ClipWorker(LocalOutput("poses"), ExtractOptions(), str(tmp_path / "not-on-this-node"))
    assert "relative path" in worker.run(Clip(tmp_path / "a.mp4", "a")).error
    assert not (tmp_path / "poses").exists()
