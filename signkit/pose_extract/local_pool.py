"""The ``local`` engine: worker processes on this machine, each with one estimator, reset between clips.

SIGINT / SIGTERM stop the run and keep every finished file; workers notice a dead parent (``kill -9``) and exit.
A worker that dies on a clip fails that clip only: the run goes on with a fresh worker. A worker that dies before
it could start (an interpreter it cannot run, an import that crashes) is respawned at most `STARTUP_DEATHS`
times in a row; then the run stops with the worker's exit code and the tail of its log.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import queue
import signal
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

from ..errors import ExtractError
from .clip import ExtractOptions
from .inputs import Clip
from .output import Output
from .runner import Run, default_workers, run_clip

STARTUP_DEATHS = 3  # workers in a row that die before reporting ready stop the run


class LocalEngine:
    """``workers`` spawned processes (default: the cores, at most one per clip)."""

    @staticmethod
    def check(address: str | None) -> None:
        if address is not None:
            raise ExtractError("--address is for --engine ray; add --engine ray or drop --address")

    def __init__(self, address: str | None, workers: int | None):
        self.workers = workers

    def run(self, todo: list[Clip], run: Run) -> None:
        _run_pool(todo, run, max(1, min(self.workers or default_workers(), len(todo))))

    def close(self) -> None:
        pass


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


def _worker_main(wid: int, tasks, results, out: Output, options: ExtractOptions, meta: dict, parent_pid: int) -> None:
    _die_with_parent(parent_pid)
    _quiet_native_logs(worker_log_path(parent_pid, wid))
    warnings.filterwarnings("ignore", module="google.protobuf")
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group; the parent decides
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwinds, so atomic writes remove their temp file
    results.put(("ready", wid, None))

    estimator = None  # one model per worker, reset between clips
    while True:
        clip = tasks.get()
        if clip is None:
            if estimator is not None:
                estimator.close()
            return
        results.put(("start", wid, clip.key))
        result, estimator = run_clip(clip, out, options, estimator, lambda n: results.put(("frames", wid, n)), meta)
        results.put(("done", wid, result))


def _run_pool(todo: list[Clip], run: Run, n: int) -> None:
    ctx = mp.get_context("spawn")  # mediapipe graphs, onnxruntime sessions and threads do not survive fork
    try:
        tasks, messages = ctx.Queue(), ctx.Queue()  # starts multiprocessing's resource tracker: a process too
    except OSError as e:
        raise ExtractError(f"cannot start helper processes ({e.strerror or e}); check that {sys.executable} runs "
                           "for this user") from None
    for clip in todo:
        tasks.put(clip)
    by_key = {c.key: c for c in todo}
    procs: dict[int, mp.process.BaseProcess] = {}
    current: dict[int, str | None] = {}
    ready: set[int] = set()
    startup_deaths = 0
    next_wid = 0

    def start_worker() -> None:
        nonlocal next_wid
        wid, next_wid = next_wid, next_wid + 1
        p = ctx.Process(
            target=_worker_main, args=(wid, tasks, messages, run.out, run.options, run.extractor, os.getpid()),
            daemon=True,
        )
        try:
            p.start()
        except OSError as e:  # the interpreter cannot be executed at all
            raise ExtractError(f"cannot start a worker process ({e.strerror or e}: {sys.executable}); check that "
                               "this user can run it") from None
        procs[wid], current[wid] = p, None

    for _ in range(n):
        start_worker()
    for _ in range(n):
        tasks.put(None)

    def handle(kind: str, wid: int, payload) -> None:
        nonlocal startup_deaths
        if kind == "ready":
            ready.add(wid)
            startup_deaths = 0
        elif kind == "start":
            current[wid] = payload
        elif kind == "frames":
            run.emit("frames", {"frames": payload})
        elif kind == "done":
            current[wid] = None
            run.finish(payload)

    def reap() -> None:
        """Fail the clip of a worker that died (crash, OOM kill) and start a replacement; stop the run after
        `STARTUP_DEATHS` workers in a row died before they were ready."""
        nonlocal startup_deaths
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
            if wid not in ready:
                startup_deaths += 1
                if startup_deaths >= STARTUP_DEATHS:
                    tail = _log_tail(worker_log_path(os.getpid(), wid))
                    raise ExtractError(
                        f"{startup_deaths} worker processes in a row died while starting (exit code {p.exitcode}"
                        f"{': ' + tail if tail else ''}); check that {sys.executable} runs and imports signkit "
                        "for this user, or try --workers 1 to see its error"
                    )
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
