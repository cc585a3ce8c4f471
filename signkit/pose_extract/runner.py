"""The resumable runner behind ``signkit extract``: what every engine shares, and the local engine.

`extract` discovers clips, skips finished outputs (an existing output is complete: it appeared atomically),
hands the rest to an engine, and alone writes the JSONL run log (one line per clip, flushed at once). Engines
run `run_clip` (one Holistic graph per worker, reset per clip; atomic output) in their workers:

- ``local``: ``workers`` spawned processes on this machine. SIGINT / SIGTERM stop the run and keep every finished
  file; workers notice a dead parent (``kill -9``) and exit. A worker that dies on a clip fails that clip only:
  the run goes on with a fresh worker.
- ``ray``: Ray actors over a cluster (`signkit.pose_extract.ray_engine`); a failed clip is retried once.
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

from ..errors import ExtractError, SignkitError
from .clip import ExtractOptions, extract_clip
from .inputs import Clip, discover
from .mediapipe_backend import HolisticEstimator, ensure_models, extractor_meta
from .output import LOG_NAME, OUTPUT_SUFFIX, Output, open_output

ENGINES = ("local", "ray")

__all__ = ["ENGINES", "LOG_NAME", "OUTPUT_SUFFIX", "ClipResult", "ExtractSummary", "Run", "extract", "run_clip"]


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
    recovered: bool = False  # logged by a later run: the run that wrote the output stopped before logging it


@dataclass
class ExtractSummary:
    results: list[ClipResult]
    seconds: float
    log_path: Path
    log_url: str | None = None  # where the log was uploaded, for a URL output

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
        out = {
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
        if self.log_url:
            out["log_url"] = self.log_url
        return out


class RunLog:
    """Append-only JSONL, one flushed line per clip, written by the parent only."""

    def __init__(self, path: Path, interrupts: _Interrupts | None = None):
        self.path = path
        self._interrupts = interrupts
        try:
            self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed by close()
        except OSError as e:
            raise ExtractError(f"cannot write the run log {path} ({e.strerror}); give another --log") from None

    def write(self, result: ClipResult) -> None:
        line = {"time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), **asdict(result)}
        with self._interrupts.deferred() if self._interrupts else contextlib.nullcontext():
            self._file.write(json.dumps(line, ensure_ascii=False) + "\n")
            self._file.flush()
            os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()


@dataclass
class Run:
    """What an engine needs from the runner: the outputs, the settings, and `finish` for each clip's result."""

    out: Output
    options: ExtractOptions
    extractor: dict
    log: RunLog
    emit: Callable[[str, dict], None]
    results: list[ClipResult] = field(default_factory=list)
    pending: set[str] = field(default_factory=set)

    def finish(self, result: ClipResult) -> None:
        """Record a clip's final result: once per clip, one log line, one ``done`` event."""
        if result.key not in self.pending:
            return
        result.extractor = self.extractor
        self.pending.discard(result.key)
        self.results.append(result)
        self.log.write(result)
        self.emit("done", {"result": result})

    def failed(self, clip: Clip, error: str) -> ClipResult:
        return ClipResult(clip.key, str(clip.path), self.out.target(clip.key), "failed", error=error)


def run_clip(
    clip: Clip,
    out: Output,
    options: ExtractOptions,
    estimator: HolisticEstimator | None = None,
    on_frames: Callable[[int], None] | None = None,
) -> tuple[ClipResult, HolisticEstimator | None]:
    """Extract one clip and write its output: the per-clip work of every engine's workers.

    Takes the worker's estimator (or None: one is built) and returns the one to use for the next clip (None after
    an unexpected error: the graph may be in any state). Errors fail this clip only and end up in the result.
    """
    t0 = time.monotonic()
    frames = 0

    def progress(n: int) -> None:
        nonlocal frames
        frames += n
        if on_frames is not None:
            on_frames(n)

    result = ClipResult(clip.key, str(clip.path), out.target(clip.key), "failed")
    try:
        out.check(clip.key)
        estimator = estimator or HolisticEstimator(options.holistic)
        pose = extract_clip(clip, options, on_frames=progress, estimator=estimator)
        out.write(clip.key, pose)
        result.status, result.frames = "ok", pose.num_frames
        result.flags = list(pose.meta.get("flags", []))
    except SignkitError as e:
        result.error = str(e)
    except Exception as e:  # an unexpected library error: fail this clip, keep the run going
        result.error = f"{type(e).__name__}: {e}"
        if estimator is not None:  # start the next clip on a new graph
            estimator.close()
            estimator = None
    result.seconds = round(time.monotonic() - t0, 3)
    result.frames = result.frames or frames
    return result, estimator


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


def _worker_main(wid: int, tasks, results, out: Output, options: ExtractOptions, parent_pid: int) -> None:
    _die_with_parent(parent_pid)
    _quiet_native_logs(worker_log_path(parent_pid, wid))
    warnings.filterwarnings("ignore", module="google.protobuf")
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group; the parent decides
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwinds, so atomic writes remove their temp file

    estimator = None  # one graph per worker, reset between clips
    while True:
        clip = tasks.get()
        if clip is None:
            if estimator is not None:
                estimator.close()
            return
        results.put(("start", wid, clip.key))
        result, estimator = run_clip(clip, out, options, estimator, lambda n: results.put(("frames", wid, n)))
        results.put(("done", wid, result))


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


def extract(
    inputs: Iterable[str | os.PathLike] | list[Clip],
    out_dir: str | os.PathLike,
    options: ExtractOptions | None = None,
    workers: int | None = None,
    overwrite: bool = False,
    on_event: Callable[[str, dict], None] | None = None,
    engine: str = "local",
    address: str | None = None,
    log_path: str | os.PathLike | None = None,
) -> ExtractSummary:
    """Extract every clip of ``inputs`` into ``out_dir/{key}.npz``; resumable.

    ``out_dir`` is a folder or an fsspec URL (``s3://bucket/poses``; see `signkit.pose_extract.output`).
    ``engine="local"`` runs ``workers`` processes here (default: the cores); ``engine="ray"`` runs Ray actors on
    the cluster at ``address`` (default: a Ray instance started here with ``workers`` CPUs; ``"auto"`` or
    ``host:port`` joins a running cluster), ``workers`` of them (default: the cluster's CPUs).
    The run log goes to ``log_path`` (default: ``out_dir/extract-log.jsonl``, or for a URL a local file in the
    current folder, merged into ``URL/extract-log.jsonl`` when the run ends).
    ``on_event(kind, data)`` receives ``plan`` (totals), ``frames``, ``done`` (a `ClipResult`) for progress
    display. Failed clips are logged and counted, never raised; errors that stop the whole run (bad output
    folder, no videos, missing MediaPipe model, missing Ray) raise `SignkitError` before any work starts.
    """
    if engine not in ENGINES:
        raise ExtractError(f"unknown engine {engine!r}; use one of {', '.join(ENGINES)}")
    if engine == "ray":
        from .ray_engine import require_ray

        require_ray()
    elif address is not None:
        raise ExtractError("--address is for --engine ray; add --engine ray or drop --address")
    options = options or ExtractOptions()
    emit = on_event or (lambda kind, data: None)
    items = list(inputs)
    clips = items if items and all(isinstance(c, Clip) for c in items) else discover(items)
    ensure_models(options.holistic)  # also raises MissingDependencyError without mediapipe (not imported here)
    out = open_output(out_dir)
    if getattr(out, "process_local", False):
        raise ExtractError(f"{out_dir}: memory:// lives in one process and the workers are other processes; "
                           "give a folder or a shared URL")
    out.prepare()
    interrupts = _Interrupts()
    log = RunLog(Path(log_path) if log_path is not None else out.default_log(), interrupts)
    run = Run(out, options, extractor_meta(options.holistic), log, emit)
    t0 = time.monotonic()
    done = set() if overwrite else out.finished([c.key for c in clips])
    unlogged = done - _logged_ok(log.path, out)
    todo: list[Clip] = []
    for clip in clips:
        if clip.key in unlogged and not _log_recovered(clip, run):
            done.discard(clip.key)
        if clip.key in done:
            result = ClipResult(clip.key, str(clip.path), out.target(clip.key), "skipped", extractor=run.extractor)
            run.results.append(result)
            log.write(result)
        else:
            todo.append(clip)
    run.pending = {c.key for c in todo}
    log_url, cluster = None, None
    try:
        if todo and engine == "ray":
            from .ray_engine import RayEngine

            cluster = RayEngine(address, workers)  # before the handlers: ray.init installs its own SIGTERM handler
        emit("plan", {"total": len(clips), "todo": len(todo), "skipped": len(clips) - len(todo)})
        if cluster is not None:
            with interrupts.installed():
                cluster.run(todo, run)
        elif todo:
            with interrupts.installed():
                _run_pool(todo, run, max(1, min(workers or default_workers(), len(todo))))
    finally:
        if cluster is not None:
            cluster.close()
        log.close()
        log_url = _publish_log(out, log.path)
    return ExtractSummary(run.results, time.monotonic() - t0, log.path, log_url)


def _logged_ok(log: Path, out: Output) -> set[str]:
    """Keys that earlier runs logged as ok, in this log or (URL output) the published one."""
    lines = log.read_text(encoding="utf-8").splitlines() if log.is_file() else []
    keys = set()
    for line in lines + out.published_log_lines():
        with contextlib.suppress(ValueError, TypeError, KeyError):  # a line cut short by a power cut
            record = json.loads(line)
            if record["status"] == "ok":
                keys.add(record["key"])
    return keys


def _log_recovered(clip: Clip, run: Run) -> bool:
    """Log the output of a run that was stopped between writing it and logging it; False if it cannot be read."""
    try:
        pose = run.out.read(clip.key)
    except Exception:  # not written by an interrupted run of ours: extract it again
        return False
    run.log.write(ClipResult(clip.key, str(clip.path), run.out.target(clip.key), "ok", frames=pose.num_frames,
                             flags=list(pose.meta.get("flags", [])), extractor=pose.meta.get("extractor"),
                             recovered=True))
    return True


def _publish_log(out: Output, log: Path) -> str | None:
    """Upload a URL output's log; a failure during another exception is left to the next run (lines stay local)."""
    failing = sys.exc_info()[0] is not None
    try:
        return out.publish_log(log)
    except Exception as e:
        if failing:
            return None
        raise ExtractError(f"the run log is kept in {log}, but uploading it to {out.url} failed ({e}); "
                           "the next run uploads it") from None


def _run_pool(todo: list[Clip], run: Run, n: int) -> None:
    ctx = mp.get_context("spawn")  # mediapipe graphs and threads do not survive fork
    tasks, messages = ctx.Queue(), ctx.Queue()
    for clip in todo:
        tasks.put(clip)
    by_key = {c.key: c for c in todo}
    procs: dict[int, mp.process.BaseProcess] = {}
    current: dict[int, str | None] = {}
    next_wid = 0

    def start_worker() -> None:
        nonlocal next_wid
        wid, next_wid = next_wid, next_wid + 1
        p = ctx.Process(
            target=_worker_main, args=(wid, tasks, messages, run.out, run.options, os.getpid()), daemon=True
        )
        p.start()
        procs[wid], current[wid] = p, None

    for _ in range(n):
        start_worker()
    for _ in range(n):
        tasks.put(None)

    def handle(kind: str, wid: int, payload) -> None:
        if kind == "start":
            current[wid] = payload
        elif kind == "frames":
            run.emit("frames", {"frames": payload})
        elif kind == "done":
            current[wid] = None
            run.finish(payload)

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
            if key is not None and key in run.pending:
                tail = _log_tail(worker_log_path(os.getpid(), wid))
                error = f"the worker process died (exit code {p.exitcode}) on this clip" + (f": {tail}" if tail else "")
                run.finish(run.failed(by_key[key], error))
            if run.pending:
                start_worker()  # takes the sentinel the dead worker never read
        if not procs:  # only if a worker died before it could say which clip it held
            for key in sorted(run.pending):
                error = "a worker process died before reporting this clip; rerun to retry it"
                run.finish(run.failed(by_key[key], error))

    last_reap = time.monotonic()
    try:
        while run.pending:
            if time.monotonic() - last_reap > 1.0:
                reap()
                last_reap = time.monotonic()
            try:
                handle(*messages.get(timeout=0.5))
            except queue.Empty:
                continue
    except BaseException:
        _stop_workers(procs)
        with contextlib.suppress(queue.Empty):  # log the clips that workers finished while the run was stopping
            while True:
                handle(*messages.get(timeout=0.2))
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
