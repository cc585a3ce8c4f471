"""The resumable parallel runner behind ``signkit extract``.

The parent process discovers clips, skips finished outputs (an existing output is complete: it appeared by an
atomic rename), hands the rest to ``workers`` processes, and alone writes the JSONL run log (one line per clip,
flushed at once). Each worker builds its own Holistic graph per clip and writes its output atomically. SIGINT /
SIGTERM stop the run and keep every finished file; workers notice a dead parent (``kill -9``) and exit. A worker
that dies on a clip fails that clip only: the run goes on with a fresh worker.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import multiprocessing as mp
import os
import queue
import signal
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .._atomic import remove_stale_partials
from ..errors import ExtractError, SignkitError
from .clip import ExtractOptions, extract_clip
from .inputs import Clip, discover
from .mediapipe_backend import ensure_models, extractor_meta

LOG_NAME = "extract-log.jsonl"
OUTPUT_SUFFIX = ".npz"


@dataclass
class ClipResult:
    """One line of the run log."""

    key: str
    source: str
    output: str
    status: str  # ok | failed | skipped
    error: str | None = None
    frames: int = 0
    seconds: float = 0.0
    flags: list[str] = field(default_factory=list)
    extractor: dict | None = None


@dataclass
class ExtractSummary:
    results: list[ClipResult]
    seconds: float
    log_path: Path

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.results)

    @property
    def flagged(self) -> list[ClipResult]:
        return [r for r in self.results if r.status == "ok" and r.flags]

    @property
    def frames(self) -> int:
        return sum(r.frames for r in self.results if r.status == "ok")

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict:
        return {
            "ok": self.count("ok"),
            "skipped": self.count("skipped"),
            "failed": self.count("failed"),
            "flagged": len(self.flagged),
            "frames": self.frames,
            "seconds": round(self.seconds, 3),
            "frames_per_second": round(self.fps, 2),
            "log": str(self.log_path),
            "failures": {r.key: r.error for r in self.results if r.status == "failed"},
            "flags": {r.key: r.flags for r in self.flagged},
        }


def output_path(out_dir: Path, clip: Clip) -> Path:
    return out_dir / f"{clip.key}{OUTPUT_SUFFIX}"


class RunLog:
    """Append-only JSONL, one flushed line per clip, written by the parent only."""

    def __init__(self, path: Path, interrupts: _Interrupts | None = None):
        self.path = path
        self._interrupts = interrupts
        self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed by close()

    def write(self, result: ClipResult) -> None:
        line = {"time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), **asdict(result)}
        with self._interrupts.deferred() if self._interrupts else contextlib.nullcontext():
            self._file.write(json.dumps(line, ensure_ascii=False) + "\n")
            self._file.flush()
            os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()


# ---------------------------------------------------------------- worker side


def _die_with_parent(parent_pid: int) -> None:
    """Exit soon after the parent is gone (kill -9): Linux death signal where available, else a watchdog thread."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent_pid:
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def worker_log_path(parent_pid: int, wid: int) -> Path:
    return Path(tempfile.gettempdir()) / f"signkit-extract-{parent_pid}-{wid}.log"


def _quiet_native_logs(path: Path) -> None:
    """MediaPipe's C++ logs (dozens of lines per graph) go to a file; the parent shows its tail if a worker dies."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(fd, 2)
        os.close(fd)
        sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115 - lives as long as the worker


def _log_tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    useful = [line for line in text if not line.startswith(("W0000", "I0000", "INFO:", "WARNING: All log"))]
    return " | ".join(useful[-lines:])


def _worker_main(wid: int, tasks, results, out_dir: str, options: ExtractOptions, parent_pid: int) -> None:
    _die_with_parent(parent_pid)
    _quiet_native_logs(worker_log_path(parent_pid, wid))
    warnings.filterwarnings("ignore", module="google.protobuf")
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group; the parent decides
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwinds, so atomic writes remove their temp file
    from ..pose import save_pose
    from .mediapipe_backend import HolisticEstimator

    estimator = None  # one graph per worker, reset between clips
    while True:
        clip = tasks.get()
        if clip is None:
            if estimator is not None:
                estimator.close()
            return
        results.put(("start", wid, clip.key))
        t0 = time.monotonic()
        frames = 0

        def progress(n: int) -> None:
            nonlocal frames
            frames += n
            results.put(("frames", wid, n))

        out = output_path(Path(out_dir), clip)
        result = ClipResult(clip.key, str(clip.path), str(out), "failed")
        try:
            _check_output_parent(out, Path(out_dir))
            estimator = estimator or HolisticEstimator(options.holistic)
            pose = extract_clip(clip, options, on_frames=progress, estimator=estimator)
            save_pose(pose, out)
            result.status, result.frames = "ok", pose.num_frames
            result.flags = list(pose.meta.get("flags", []))
        except SignkitError as e:
            result.error = str(e)
        except Exception as e:  # an unexpected library error: fail this clip, keep the run going
            result.error = f"{type(e).__name__}: {e}"
            if estimator is not None:  # the graph may be in any state: start the next clip on a new one
                estimator.close()
                estimator = None
        result.seconds = round(time.monotonic() - t0, 3)
        result.frames = result.frames or frames
        results.put(("done", wid, result))


def _check_output_parent(out: Path, root: Path) -> None:
    parent = out.parent
    while parent != root and not parent.exists():
        parent = parent.parent
    if parent.exists() and not parent.is_dir():
        raise ExtractError(f"cannot write {out}: {parent} is a file; move it away or give the clip another key")
    if out.is_dir():
        raise ExtractError(f"cannot write {out}: it is a folder; move it away or give the clip another key")


# ---------------------------------------------------------------- parent side


class _Stop(Exception):
    pass


class _Interrupts:
    """SIGINT and SIGTERM raise KeyboardInterrupt in the parent, but never in the middle of a log line."""

    def __init__(self) -> None:
        self.critical = False
        self.pending = False

    def handler(self, signum, frame) -> None:
        if self.critical:
            self.pending = True
            return
        raise KeyboardInterrupt

    @contextlib.contextmanager
    def installed(self):
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        old = {sig: signal.signal(sig, self.handler) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, h in old.items():
                signal.signal(sig, h)

    @contextlib.contextmanager
    def deferred(self):
        self.critical = True
        try:
            yield
        finally:
            self.critical = False
            if self.pending:
                self.pending = False
                raise KeyboardInterrupt


def default_workers() -> int:
    return os.cpu_count() or 1


def prepare_output_dir(out_dir: str | os.PathLike) -> Path:
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ExtractError(f"output {out} is a file; give a folder for the pose files (-o POSES_DIR)")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ExtractError(f"cannot create output folder {out} ({e.strerror})") from None
    remove_stale_partials(out)
    return out


def extract(
    inputs: Iterable[str | os.PathLike] | list[Clip],
    out_dir: str | os.PathLike,
    options: ExtractOptions | None = None,
    workers: int | None = None,
    overwrite: bool = False,
    on_event: Callable[[str, dict], None] | None = None,
) -> ExtractSummary:
    """Extract every clip of ``inputs`` into ``out_dir/{key}.npz`` with ``workers`` processes; resumable.

    ``on_event(kind, data)`` receives ``plan`` (totals), ``frames``, ``done`` (a `ClipResult`) for progress
    display. Failed clips are logged and counted, never raised; errors that stop the whole run (bad output
    folder, no videos, missing MediaPipe model) raise `SignkitError` before any work starts.
    """
    options = options or ExtractOptions()
    emit = on_event or (lambda kind, data: None)
    items = list(inputs)
    clips = items if items and all(isinstance(c, Clip) for c in items) else discover(items)
    ensure_models(options.holistic)  # also raises MissingDependencyError without mediapipe (not imported here)
    extractor = extractor_meta(options.holistic)
    out = prepare_output_dir(out_dir)
    interrupts = _Interrupts()
    log = RunLog(out / LOG_NAME, interrupts)
    t0 = time.monotonic()
    results: list[ClipResult] = []
    todo: list[Clip] = []
    for clip in clips:
        target = output_path(out, clip)
        if not overwrite and target.is_file():
            results.append(ClipResult(clip.key, str(clip.path), str(target), "skipped", extractor=extractor))
            log.write(results[-1])
        else:
            todo.append(clip)
    emit("plan", {"total": len(clips), "todo": len(todo), "skipped": len(clips) - len(todo)})
    try:
        if todo:
            n = max(1, min(workers or default_workers(), len(todo)))
            with interrupts.installed():
                _run_pool(todo, out, options, n, extractor, log, results, emit)
    finally:
        log.close()
    return ExtractSummary(results, time.monotonic() - t0, out / LOG_NAME)


def _run_pool(todo, out, options, n, extractor, log, results, emit) -> None:
    ctx = mp.get_context("spawn")  # mediapipe graphs and threads do not survive fork
    tasks, messages = ctx.Queue(), ctx.Queue()
    for clip in todo:
        tasks.put(clip)
    by_key = {c.key: c for c in todo}
    remaining = set(by_key)
    procs: dict[int, mp.process.BaseProcess] = {}
    current: dict[int, str | None] = {}
    next_wid = 0

    def start_worker() -> None:
        nonlocal next_wid
        wid, next_wid = next_wid, next_wid + 1
        p = ctx.Process(
            target=_worker_main, args=(wid, tasks, messages, str(out), options, os.getpid()), daemon=True
        )
        p.start()
        procs[wid], current[wid] = p, None

    def finish(result: ClipResult) -> None:
        if result.key not in remaining:
            return
        result.extractor = extractor
        remaining.discard(result.key)
        results.append(result)
        log.write(result)
        emit("done", {"result": result})

    for _ in range(n):
        start_worker()
    for _ in range(n):
        tasks.put(None)
    def handle(kind: str, wid: int, payload) -> None:
        if kind == "start":
            current[wid] = payload
        elif kind == "frames":
            emit("frames", {"frames": payload})
        elif kind == "done":
            current[wid] = None
            finish(payload)

    def reap() -> None:
        """Fail the clip of a worker that died (crash, OOM kill) and start a replacement."""
        dead = [wid for wid, p in procs.items() if not p.is_alive()]
        if not dead:
            return
        with contextlib.suppress(queue.Empty):
            while True:  # what the dead sent before dying is already in the pipe
                handle(*messages.get(timeout=0.1))
        for wid in dead:
            p = procs.pop(wid)
            p.join()
            key = current.pop(wid, None)
            if p.exitcode == 0:  # read its sentinel: every message it sent has been handled
                continue
            if key is not None and key in remaining:
                clip = by_key[key]
                tail = _log_tail(worker_log_path(os.getpid(), wid))
                error = f"the worker process died (exit code {p.exitcode}) on this clip" + (f": {tail}" if tail else "")
                finish(ClipResult(key, str(clip.path), str(output_path(out, clip)), "failed", error=error))
            if remaining:
                start_worker()  # takes the sentinel the dead worker never read
        if not procs:  # only if a worker died before it could say which clip it held
            for key in sorted(remaining):
                clip = by_key[key]
                finish(ClipResult(key, str(clip.path), str(output_path(out, clip)), "failed",
                                  error="a worker process died before reporting this clip; rerun to retry it"))

    last_reap = time.monotonic()
    try:
        while remaining:
            if time.monotonic() - last_reap > 1.0:
                reap()
                last_reap = time.monotonic()
            try:
                handle(*messages.get(timeout=0.5))
            except queue.Empty:
                continue
    except BaseException:
        _stop_workers(procs)
        raise
    finally:
        for p in procs.values():
            p.join(timeout=10)
        _stop_workers(procs)
        for wid in range(next_wid):
            with contextlib.suppress(OSError):
                worker_log_path(os.getpid(), wid).unlink()


def _stop_workers(procs: dict) -> None:
    for p in procs.values():
        if p.is_alive():
            p.terminate()  # SIGTERM: the worker unwinds and its partial file is removed
    deadline = time.monotonic() + 5
    for p in procs.values():
        p.join(timeout=max(0.0, deadline - time.monotonic()))
        if p.is_alive():
            p.kill()
            p.join()
