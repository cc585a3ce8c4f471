"""``signkit extract --engine ray``: the runner's clips spread over Ray actors, on one machine or a cluster.

The driver (the process that runs ``signkit extract``) plans the run, writes the run log and decides retries, as
the local engine's parent does (`signkit.pose_extract.runner.extract`); each actor is a worker that keeps one
estimator, reset for every clip (`runner.run_clip`), and writes outputs itself. Actors read inputs and write
outputs by path, so on a cluster both must be on a filesystem every node mounts at the same path (or outputs at
an fsspec URL). A clip that fails, or whose actor dies (OOM kill, node loss), is queued once more; a second failure
is logged. ``ray`` is imported only here, and only when this engine runs.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import threading
import warnings
from collections import deque

from ..errors import ExtractError, MissingDependencyError
from .clip import ExtractOptions
from .inputs import Clip
from .output import LocalOutput, Output
from .runner import ClipResult, Run, run_clip

ATTEMPTS = 2  # a failed clip is tried once more, then logged as failed


def require_ray():
    try:
        import ray
    except ImportError:
        raise MissingDependencyError("ray", "ray") from None
    return ray


class ClipWorker:
    """A Ray actor's state: the output, the settings and one estimator (reset for every clip)."""

    def __init__(self, out: Output, options: ExtractOptions, cwd: str, meta: dict | None = None):
        warnings.filterwarnings("ignore", module="google.protobuf")
        self.cwd = cwd if os.path.isdir(cwd) else None
        if self.cwd:  # relative inputs and outputs mean what they meant where the command ran
            os.chdir(self.cwd)
        self.out, self.options, self.estimator, self.meta = out, options, None, meta

    def run(self, clip: Clip) -> ClipResult:
        local_out = isinstance(self.out, LocalOutput)
        if self.cwd is None and (not clip.path.is_absolute() or (local_out and not self.out.root.is_absolute())):
            return ClipResult(
                clip.key,
                str(clip.path),
                self.out.target(clip.key),
                "failed",
                error=(
                    f"{clip.path}: a relative path, on a node without the folder the command ran in; "
                    "give absolute paths on a shared filesystem"
                ),
            )
        result, self.estimator = run_clip(clip, self.out, self.options, self.estimator, meta=self.meta)
        return result


def check_reachable(address: str, timeout: float = 10.0) -> None:
    """Fail fast on a ``host:port`` (or ``ray://host:port``) that nobody answers: ``ray.init`` would retry it for
    ever, printing a warning every few seconds. ``auto`` and other forms are left to Ray."""
    host, sep, port = address.split("://", 1)[-1].rpartition(":")
    if not sep or not port.isdigit() or not host:
        return
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except OSError as e:
        raise ExtractError(
            f"cannot reach the Ray cluster at {address} ({e.strerror or e}); start one with `ray start --head` there"
            " or give the address it printed"
        ) from None


class RayEngine:
    """The ``ray`` engine: a connection to Ray that runs clips on actors.

    ``address`` None (and no ``RAY_ADDRESS``): start a local instance with ``workers`` CPUs, shut down by `close`;
    ``"auto"`` or ``host:port``: join a running cluster. If this process already called ``ray.init``, that
    connection is used (and left open). ``workers`` is capped at the cluster's CPUs when the run starts.
    """

    @staticmethod
    def check(address: str | None) -> None:
        require_ray()

    def __init__(self, address: str | None, workers: int | None):
        ray = require_ray()
        self.ray = ray
        self.started = False
        self._sigterm = signal.getsignal(signal.SIGTERM)  # ray.init replaces it; restored by close()
        if not ray.is_initialized():
            settings = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.WARNING}
            address = address or os.environ.get("RAY_ADDRESS") or None  # as `ray.init` itself reads it
            if address is not None:
                check_reachable(address)
            try:
                if address is None:
                    ray.init(num_cpus=workers or os.cpu_count() or 1, **settings)
                else:
                    ray.init(address=address, **settings)
            except (ConnectionError, ValueError, RuntimeError) as e:
                raise ExtractError(
                    f"cannot connect to the Ray cluster at {address} ({str(e).splitlines()[0]}); "
                    "start one with `ray start --head` or give its address"
                ) from None
            self.started = True
        cpus = int(ray.cluster_resources().get("CPU", 0))
        if cpus < 1:
            self.close()
            raise ExtractError("the Ray cluster has no CPUs for extraction workers; add nodes or CPUs")
        self.workers = min(workers or cpus, cpus)

    def close(self) -> None:
        if self.started:
            self.ray.shutdown()
            self.started = False
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self._sigterm)

    def run(self, todo: list[Clip], run: Run) -> None:
        """Run every clip of ``todo`` on up to ``workers`` actors (one clip in flight each), then stop them."""
        ray = self.ray
        actor_class = ray.remote(num_cpus=1, max_restarts=0)(ClipWorker)
        cwd = os.getcwd()

        def new_actor():
            return actor_class.remote(run.out, run.options, cwd, run.extractor)

        queued = deque((clip, 1) for clip in todo)
        idle = [new_actor() for _ in range(min(self.workers, len(todo)))]
        actors = list(idle)
        in_flight: dict = {}  # ObjectRef -> (actor, clip, attempt)
        try:
            while queued or in_flight:
                while idle and queued:
                    actor = idle.pop()
                    clip, attempt = queued.popleft()
                    in_flight[actor.run.remote(clip)] = (actor, clip, attempt)
                ready, _ = ray.wait(list(in_flight), num_returns=1, timeout=0.5)
                for ref in ready:
                    actor, clip, attempt = in_flight.pop(ref)
                    try:
                        result = ray.get(ref)
                        idle.append(actor)
                    except ray.exceptions.RayActorError as e:  # the worker process died: a fresh one takes over
                        with contextlib.suppress(Exception):
                            ray.kill(actor)
                        actors.remove(actor)
                        actors.append(new_actor())
                        idle.append(actors[-1])
                        result = run.failed(clip, f"the Ray worker died on this clip ({_first_line(e)})")
                    except ray.exceptions.RayError as e:  # e.g. the object was lost with its node
                        idle.append(actor)
                        result = run.failed(clip, f"Ray could not run this clip ({_first_line(e)})")
                    run.emit("frames", {"frames": result.frames})
                    if result.status == "failed" and attempt < ATTEMPTS:
                        queued.append((clip, attempt + 1))  # at the back: most likely another worker takes it
                        run.emit("retry", {"result": result})
                    else:
                        if result.status == "failed" and attempt > 1:
                            result.error = f"{result.error} (failed {attempt} times)"
                        run.finish(result)
        finally:
            for actor in actors:
                with contextlib.suppress(Exception):
                    ray.kill(actor)


def _first_line(error: Exception) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return f"{type(error).__name__}: {lines[0] if lines else ''}"[:300]
