"""A worker process imports only what it uses (issue 13: workers' memory), with MediaPipe's results unchanged.

The worker's work runs in a fresh interpreter, as a spawned worker runs it: the modules spawn imports (the CLI's
main module and `signkit.pose_extract.local_pool`), then `run_clip` on a real clip. What it imported is compared
with a deny list, and its pose with the one this process gets from a fully imported ``mediapipe``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from synthetic_clips import render_clip

from signkit import load_pose
from signkit.pose_extract import extract_clip
from signkit.pose_extract.inputs import Clip

pytest.importorskip("mediapipe")

ROOT = Path(__file__).resolve().parents[1]

# What a worker never needs: the training stack, other estimators' runtimes, the CLI's display, and the parts of
# mediapipe around the graph bindings (its solutions and tasks APIs import matplotlib, cv2 and sounddevice).
NOT_IN_A_WORKER = (
    "torch",
    "pyarrow",
    "datasets",
    "rich",
    "onnxruntime",
    "matplotlib",
    "cv2",
    "sounddevice",
    "PIL",
    "signkit.zoo",
    "signkit.models",
    "signkit.datasets",
    "signkit.train",
    "signkit.pose_extract.rtmpose",
    "mediapipe.python.solutions",
    "mediapipe.tasks",
)

WORKER = """
import json, sys
from pathlib import Path
import signkit.cli.main  # what spawn re-imports: the `signkit` script's main module
from signkit.pose_extract.local_pool import _worker_main  # the worker's entry point
from signkit.pose_extract.clip import ExtractOptions
from signkit.pose_extract.inputs import Clip
from signkit.pose_extract.output import LocalOutput
from signkit.pose_extract.runner import run_clip

result, estimator = run_clip(Clip(Path(sys.argv[1]), "clip"), LocalOutput(sys.argv[2]), ExtractOptions())
if estimator is not None:
    estimator.close()
modules = sorted(sys.modules)
sys.path.insert(0, "tests")
from test_extract_lean import dropped_options
dropped = dropped_options()
import mediapipe as mp  # the package still works in full for code that asks for more than the graph
print(json.dumps({"status": result.status, "error": result.error, "modules": modules, "dropped": dropped,
                  "version": mp.__version__, "holistic": hasattr(mp.solutions.holistic, "Holistic")}))
"""


def dropped_options() -> list[str]:
    """The calculators of the Holistic graph whose options Python cannot read (their proto is not registered):
    MediaPipe's C++ side receives the graph without them."""
    from google.protobuf.unknown_fields import UnknownFieldSet

    from signkit.pose_extract.mediapipe_backend import HolisticConfig, _graph_config, require_mediapipe

    require_mediapipe()
    from mediapipe.framework import calculator_pb2

    graph = calculator_pb2.CalculatorGraphConfig.FromString(_graph_config(HolisticConfig(), None))
    return sorted({n.calculator for n in graph.node if n.HasField("options") and len(UnknownFieldSet(n.options))})


def test_a_worker_imports_only_the_graph_and_gets_mediapipes_own_landmarks(tmp_path):
    clip = render_clip(tmp_path / "astronaut.mp4", "astronaut", frames=4, seed=2)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", WORKER, str(clip), str(tmp_path / "out")],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    worker = json.loads(proc.stdout.strip().splitlines()[-1])
    assert worker["status"] == "ok", worker["error"]
    loaded = set(worker["modules"])
    assert [m for m in NOT_IN_A_WORKER if m in loaded] == []
    assert "mediapipe.python._framework_bindings" in loaded  # it did run the graph
    assert worker["version"] == "0.10.14" and worker["holistic"]

    import mediapipe as mp

    assert mp.solutions.holistic  # this process: the whole package, as `mp.solutions.holistic` users have it
    assert worker["dropped"] == dropped_options()  # the graph reaches C++ with the same options both ways
    reference = extract_clip(Clip(clip, "clip"))
    got = load_pose(tmp_path / "out" / "clip.npz")
    assert np.array_equal(got.coords, reference.coords) and np.array_equal(got.conf, reference.conf)


HEAP = """
import os, threading
from signkit.pose_extract._heap import release_freed_memory

def rss():
    return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmRSS")) // 1024

kept = []
def fill():  # as a graph's threads do: small blocks in a thread's own arena, freed when the clip is done
    blocks = [bytearray(32 * 1024) for _ in range(6000)]
    kept.append(blocks[-1])  # a live block above the freed ones: free() alone cannot shrink the heap
    del blocks
thread = threading.Thread(target=fill)
thread.start()
thread.join()
before = rss()
print(release_freed_memory(), before, rss())
"""


@pytest.mark.skipif(
    not Path("/proc/self/status").exists() or not os.confstr("CS_GNU_LIBC_VERSION"), reason="glibc on Linux"
)
def test_freed_memory_goes_back_to_the_os():
    proc = subprocess.run(
        [sys.executable, "-c", HEAP],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    trimmed, before, after = proc.stdout.split()
    assert trimmed == "True" and int(before) - int(after) > 100, proc.stdout  # ~190 MiB were freed


def test_every_clip_gives_its_memory_back(tmp_path, monkeypatch):
    from signkit.pose_extract import runner
    from signkit.pose_extract.clip import ExtractOptions
    from signkit.pose_extract.output import LocalOutput

    calls = []
    monkeypatch.setattr(runner, "release_freed_memory", lambda: calls.append(1))
    result, _ = runner.run_clip(Clip(tmp_path / "missing.mp4", "missing"), LocalOutput(tmp_path), ExtractOptions())
    assert result.status == "failed" and calls == [1]  # after a failed clip too


def test_a_new_graph_starts_on_the_memory_the_old_one_freed(monkeypatch):
    """`reset` closes the used graph and returns its pages before the next one is built (a worker's peak: one
    graph's worth, not two)."""
    from synthetic_clips import jitter_frames, load_photo

    from signkit.pose_extract import mediapipe_backend as mb

    events = []
    monkeypatch.setattr(mb, "release_freed_memory", lambda: events.append("released"))
    with mb.HolisticEstimator(mb.HolisticConfig()) as estimator:
        estimator.reset()  # an unused graph is kept: nothing freed
        estimator.process(jitter_frames(load_photo("astronaut"), 1, (128, 128))[0])
        old = estimator._graph
        monkeypatch.setattr(
            mb.HolisticEstimator,
            "_new_graph",
            lambda self, new=mb.HolisticEstimator._new_graph: events.append("built") or new(self),
        )
        estimator.reset()
        assert estimator._graph is not old and events == ["released", "built"]


OTHER_RELEASE = """
import sys
from signkit.pose_extract import mediapipe_backend as mb
mb._installed_release = lambda: "0.10.99"
mb.require_mediapipe()
print("solutions" in sys.modules["mediapipe"].__dict__, "mediapipe.python.solutions" in sys.modules)
"""


def test_another_mediapipe_release_gets_the_full_import():
    """The lean import's proto list belongs to one release: any other must not run with options silently dropped."""
    proc = subprocess.run(
        [sys.executable, "-c", OTHER_RELEASE],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["True", "True"]
