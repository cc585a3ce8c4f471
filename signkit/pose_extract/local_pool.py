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
    """Run ``todo`` on ``n`` workers until every clip has its result; on any exception stop the workers, log
    what they finished meanwhile, and raise it."""
    pool = _Pool(todo, run)
    try:
        pool.start(n)
        pool.serve()
    except BaseException:
        _stop_workers(pool.procs)
        pool.drain(timeout=0.2)  # log the clips that workers finished while the run was stopping
        raise
    finally:
        pool.close()


class _Pool:
    """The parent's side of the local engine: the task and message queues, the workers, and the clip each holds.

    ``tasks`` holds every clip, then one ``None`` per worker (its signal to exit); workers send ``("ready" |
    "start" | "frames" | "done", wid, payload)`` on ``messages``.
    """

    def __init__(self, todo: list[Clip], run: Run):
        self.ctx = mp.get_context("spawn")  # mediapipe graphs, onnxruntime sessions and threads do not survive fork
        try:
            self.tasks, self.messages = self.ctx.Queue(), self.ctx.Queue()  # starts the resource tracker: a process
        except OSError as e:
            raise ExtractError(
                f"cannot start helper processes ({e.strerror or e}); check that {sys.executable} runs for this user"
            ) from None
        self.run = run
        self.by_key = {c.key: c for c in todo}
        self.procs: dict[int, mp.process.BaseProcess] = {}
        self.current: dict[int, str | None] = {}  # the clip each worker is extracting
        self.ready: set[int] = set()  # workers that reported ready (got past their imports)
        self.startup_deaths = 0  # workers in a row that died before they were ready
        self.next_wid = 0
        for clip in todo:
            self.tasks.put(clip)

    def start(self, n: int) -> None:
        for _ in range(n):
            self.start_worker()
        for _ in range(n):
            self.tasks.put(None)

    def start_worker(self) -> None:
        wid, self.next_wid = self.next_wid, self.next_wid + 1
        run = self.run
        p = self.ctx.Process(
            target=_worker_main,
            args=(wid, self.tasks, self.messages, run.out, run.options, run.extractor, os.getpid()),
            daemon=True,
        )
        try:
            p.start()
        except OSError as e:  # the interpreter cannot be executed at all
            raise ExtractError(
                f"cannot start a worker process ({e.strerror or e}: {sys.executable}); check that this user can run it"
            ) from None
        self.procs[wid], self.current[wid] = p, None

    def serve(self) -> None:
        """Handle messages until every clip has its result, looking for dead workers about once a second."""
        last_reap = time.monotonic()
        while self.run.pending:
            if time.monotonic() - last_reap > 1.0:
                self.reap()
                last_reap = time.monotonic()
            try:
                self.handle(*self.messages.get(timeout=0.5))
            except queue.Empty:
                continue

    def handle(self, kind: str, wid: int, payload) -> None:
        if kind == "ready":
            self.ready.add(wid)
            self.startup_deaths = 0
        elif kind == "start":
            self.current[wid] = payload
        elif kind == "frames":
            self.run.emit("frames", {"frames": payload})
        elif kind == "done":
            self.current[wid] = None
            self.run.finish(payload)

    def drain(self, timeout: float) -> None:
        """Handle every message already sent (until none comes within ``timeout`` seconds)."""
        with contextlib.suppress(queue.Empty):
            while True:
                self.handle(*self.messages.get(timeout=timeout))

    def reap(self) -> None:
        """Fail the clip of each worker that died (crash, OOM kill) and start a replacement."""
        dead = [wid for wid, p in self.procs.items() if not p.is_alive()]
        if not dead:
            return
        self.drain(timeout=0.1)  # what the dead sent before dying is already in the pipe
        for wid in dead:
            self.retire(wid)
        if not self.procs:  # only if a worker died before it could say which clip it held
            for key in sorted(self.run.pending):
                error = "a worker process died before reporting this clip; rerun to retry it"
                self.run.finish(self.run.failed(self.by_key[key], error))

    def retire(self, wid: int) -> None:
        """Account for dead worker ``wid``: nothing if it exited cleanly; else fail its clip and replace it, or
        stop the run after `STARTUP_DEATHS` workers in a row died before they were ready."""
        p = self.procs.pop(wid)
        p.join()
        key = self.current.pop(wid, None)
        if p.exitcode == 0:  # read its sentinel: every message it sent has been handled
            return
        if wid not in self.ready:
            self.startup_deaths += 1
            if self.startup_deaths >= STARTUP_DEATHS:
                tail = _log_tail(worker_log_path(os.getpid(), wid))
                raise ExtractError(
                    f"{self.startup_deaths} worker processes in a row died while starting (exit code {p.exitcode}"
                    f"{': ' + tail if tail else ''}); check that {sys.executable} runs and imports signkit "
                    "for this user, or try --workers 1 to see its error"
                )
        if key is not None and key in self.run.pending:
            tail = _log_tail(worker_log_path(os.getpid(), wid))
            error = f"the worker process died (exit code {p.exitcode}) on this clip" + (f": {tail}" if tail else "")
            self.run.finish(self.run.failed(self.by_key[key], error))
        if self.run.pending:
            self.start_worker()  # takes the sentinel the dead worker never read

    def close(self) -> None:
        """Let workers that are exiting finish, stop the rest, remove the workers' log files."""
        for p in self.procs.values():
            p.join(timeout=10)
        _stop_workers(self.procs)
        for wid in range(self.next_wid):
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
