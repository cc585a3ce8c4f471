"""Interrupting a real `signkit extract` run (kill -9, SIGINT, SIGTERM) and running it again."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from synthetic_clips import render_clip

from signkit import load_pose

pytest.importorskip("mediapipe")
pytestmark = pytest.mark.slow

N_CLIPS = 6


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("videos")
    for i in range(N_CLIPS):
        render_clip(root / f"clip{i}.mp4", ("astronaut", "grace_hopper")[i % 2], frames=20, size=(256, 256), seed=i)
    return root


def _command(videos: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "signkit", "extract", str(videos), "-o", str(out), "--workers", "2", "-q"]


def _children(pid: int) -> list[int]:
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) != pid:
            continue
        with contextlib.suppress(OSError):  # workers, not multiprocessing's resource tracker
            if b"spawn_main" in (stat.parent / "cmdline").read_bytes():
                kids.append(int(stat.parent.name))
    return kids


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _ok_lines(out: Path) -> int:
    log = out / "extract-log.jsonl"
    if not log.exists():
        return 0
    return sum(json.loads(line).get("status") == "ok" for line in log.read_text().splitlines() if line.strip())


def _start_and_wait_for_first_clip(videos: Path, out: Path) -> tuple[subprocess.Popen, list[int]]:
    proc = subprocess.Popen(
        _command(videos, out), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    deadline = time.monotonic() + 180
    workers: list[int] = []
    while _ok_lines(out) < 1:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no clip finished in 180 s"
        workers = _children(proc.pid) or workers
        time.sleep(0.2)
    workers = [w for w in _children(proc.pid) if w in workers] or _children(proc.pid)
    assert workers, "the run should have worker processes"
    return proc, workers


def _assert_finished_files_intact(out: Path) -> dict[Path, int]:
    done = {}
    for path in out.glob("*.npz"):
        pose = load_pose(path)  # every file that exists is complete
        assert pose.num_frames == 20
        done[path] = path.stat().st_mtime_ns
    return done


def _rerun_completes(videos: Path, out: Path, done_before: dict[Path, int]) -> None:
    rerun = subprocess.run(_command(videos, out), capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert sorted(p.name for p in out.glob("*.npz")) == [f"clip{i}.npz" for i in range(N_CLIPS)]
    _assert_finished_files_intact(out)
    assert {p: p.stat().st_mtime_ns for p in done_before} == done_before  # finished work was not redone
    assert not list(out.glob(".*.partial"))
    records = [json.loads(line) for line in (out / "extract-log.jsonl").read_text().splitlines()]
    assert {r["key"] for r in records if r.get("status") == "ok"} == {f"clip{i}" for i in range(N_CLIPS)}


def test_kill_9_then_rerun(videos, tmp_path):
    out = tmp_path / "poses"
    proc, workers = _start_and_wait_for_first_clip(videos, out)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 10
    while any(_alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(w) for w in workers), "workers must not outlive a killed parent"
    done = _assert_finished_files_intact(out)
    assert 1 <= len(done) < N_CLIPS
    _rerun_completes(videos, out, done)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_then_rerun(videos, tmp_path, sig):
    out = tmp_path / "poses"
    proc, workers = _start_and_wait_for_first_clip(videos, out)
    os.kill(proc.pid, sig)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert "Traceback" not in stderr and "interrupted" in stderr.strip().splitlines()[-1]
    assert not any(_alive(w) for w in workers)
    done = _assert_finished_files_intact(out)
    assert not list(out.glob(".*.partial")), "interrupted workers remove their temporary files"
    _rerun_completes(videos, out, done)


def test_a_worker_that_dies_fails_its_clip_only(videos, tmp_path):
    out = tmp_path / "poses"
    proc, workers = _start_and_wait_for_first_clip(videos, out)
    os.kill(workers[0], signal.SIGKILL)  # e.g. the OOM killer, or a crash inside MediaPipe
    proc.communicate(timeout=300)
    records = [json.loads(line) for line in (out / "extract-log.jsonl").read_text().splitlines()]
    failed = [r for r in records if r.get("status") == "failed"]
    assert len(failed) <= 1 and all("worker process died" in r["error"] for r in failed)
    assert proc.returncode == (1 if failed else 0)  # non-zero after all other clips finished
    assert len([r for r in records if r.get("status") == "ok"]) == N_CLIPS - len(failed)
    done = _assert_finished_files_intact(out)
    _rerun_completes(videos, out, done)
