"""The resumable runner behind ``signkit extract``: what every engine shares.

`extract` discovers clips, takes the output's lock, skips finished outputs, hands the rest to an engine, and
alone writes the JSONL run log (one flushed line per extracted clip, one line per run). Engines run `run_clip`
(one estimator per worker, reset per clip; atomic output) in their workers; they are picked by name from
`ENGINES` and imported only when used, so this module imports neither (no import cycle):

- ``local``: worker processes on this machine (`signkit.pose_extract.local_pool`).
- ``ray``: Ray actors over a cluster (`signkit.pose_extract.ray_engine`); a failed clip is retried once.

A finished clip is skipped only while it matches its log line: same source (size, mtime, bounds:
`signkit.pose_extract.source`) and same output (size, mtime). A different source under the same key, or an
output changed since (truncated, overwritten), is extracted again and said so (``redo`` event).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import filelock

from ..errors import ExtractError, SignkitError
from ._heap import release_freed_memory
from .clip import ExtractOptions, extract_clip
from .estimators import Estimator
from .inputs import Clip, discover
from .output import LOG_NAME, OUTPUT_SUFFIX, Output, open_output
from .source import fingerprint, same_source

# engine name -> "module:class"; a class has check(address) (before any work), __init__(address, workers),
# run(todo, run) and close()
ENGINES = {
    "local": "signkit.pose_extract.local_pool:LocalEngine",
    "ray": "signkit.pose_extract.ray_engine:RayEngine",
}

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
    source_stat: dict | None = None  # what the output was made from (`signkit.pose_extract.source.fingerprint`)
    output_stat: dict | None = None  # the output as written (size, and mtime for a folder)


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


class RunLog:
    """Append-only JSONL, one flushed and fsynced line per clip extracted (and one per run), written by the parent
    only. Skipped clips get no line: a rerun with nothing to do writes one line, not one per clip."""

    def __init__(self, path: Path, interrupts: _Interrupts | None = None):
        self.path = path
        self._interrupts = interrupts
        try:
            self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed by close()
        except OSError as e:
            raise ExtractError(f"cannot write the run log {path} ({e.strerror}); give another --log") from None

    def write(self, result: ClipResult) -> None:
        self.write_line(asdict(result))

    def write_line(self, record: dict) -> None:
        line = {"time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), **record}
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
    estimator: Estimator | None = None,
    on_frames: Callable[[int], None] | None = None,
    meta: dict | None = None,
) -> tuple[ClipResult, Estimator | None]:
    """Extract one clip and write its output: the per-clip work of every engine's workers.

    Takes the worker's estimator (or None: one is built from ``options.estimator``) and returns the one to use for
    the next clip (None after an unexpected error: the model may be in any state). ``meta`` is the run's
    estimator description (computed once by the parent). Errors fail this clip only and end up in the result.
    """
    t0 = time.monotonic()
    frames = 0

    def progress(n: int) -> None:
        nonlocal frames
        frames += n
        if on_frames is not None:
            on_frames(n)

    result = ClipResult(clip.key, str(clip.path), out.target(clip.key), "failed", source_stat=fingerprint(clip))
    try:
        out.check(clip.key)
        estimator = estimator or options.estimator.build()
        pose = extract_clip(clip, options, on_frames=progress, estimator=estimator, meta=meta)
        result.output_stat = out.write(clip.key, pose)
        result.status, result.frames = "ok", pose.num_frames
        result.flags = list(pose.meta.get("flags", []))
    except SignkitError as e:
        result.error = str(e)
    except Exception as e:  # an unexpected library error: fail this clip, keep the run going
        result.error = f"{type(e).__name__}: {e}"
        if estimator is not None:  # start the next clip on a new model
            estimator.close()
            estimator = None
    result.seconds = round(time.monotonic() - t0, 3)
    result.frames = result.frames or frames
    release_freed_memory()  # the clip's buffers and the previous graph: a worker stays one clip's size
    return result, estimator


def default_workers() -> int:
    return os.cpu_count() or 1


def engine_class(name: str) -> type:
    """The engine class of ``name``, imported now (only the engine that runs is ever imported)."""
    if name not in ENGINES:
        raise ExtractError(f"unknown engine {name!r}; use one of {', '.join(ENGINES)}")
    module, cls = ENGINES[name].split(":")
    return getattr(importlib.import_module(module), cls)


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
    ``options.estimator`` picks the estimator (`signkit.pose_extract.estimators`; default MediaPipe Holistic).
    ``engine="local"`` runs ``workers`` processes here (default: the cores); ``engine="ray"`` runs Ray actors on
    the cluster at ``address`` (default: a Ray instance started here with ``workers`` CPUs; ``"auto"`` or
    ``host:port`` joins a running cluster), ``workers`` of them (default: the cluster's CPUs).
    The run log goes to ``log_path`` (default: ``out_dir/extract-log.jsonl``, or for a URL a local file in the
    current folder, merged into ``URL/extract-log.jsonl`` when the run ends).
    ``on_event(kind, data)`` receives ``waiting`` (another run holds the output's lock), ``redo`` (a finished
    clip whose source or output changed), ``plan`` (totals), ``frames``, ``done`` (a `ClipResult`) for progress
    display. Failed clips are logged and counted, never raised; errors that stop the whole run (bad output
    folder, no videos, missing model, missing Ray, workers that cannot start) raise `SignkitError`.
    """
    engine_cls = engine_class(engine)
    engine_cls.check(address)
    options = options or ExtractOptions()
    emit = on_event or (lambda kind, data: None)
    items = list(inputs)
    clips = items if items and all(isinstance(c, Clip) for c in items) else discover(items)
    out = open_output(out_dir)
    if getattr(out, "process_local", False):
        raise ExtractError(
            f"{out_dir}: memory:// lives in one process and the workers are other processes; "
            "give a folder or a shared URL"
        )
    if not out.exists():  # nothing can be finished: check the models before creating anything
        options.estimator.prepare()
    out.prepare()
    log_file = Path(log_path) if log_path is not None else out.default_log()
    with _output_lock(log_file, emit):
        return _extract_locked(clips, out, options, workers, overwrite, emit, engine_cls, address, log_file)


def _extract_locked(clips, out, options, workers, overwrite, emit, engine_cls, address, log_file) -> ExtractSummary:
    out.remove_partials()  # only now: a concurrent run's partial files are its work in progress
    interrupts = _Interrupts()
    log = RunLog(log_file, interrupts)
    t0 = time.monotonic()
    try:
        todo, skipped = _plan(clips, out, log, overwrite, emit, options.estimator.name)
        extractor = None
        if todo:  # the model files are checked (and hashed) once, and only when there is work
            options.estimator.prepare()
            extractor = options.estimator.meta()
        run = Run(out, options, extractor or {"name": options.estimator.name}, log, emit)
        run.results = [ClipResult(c.key, str(c.path), out.target(c.key), "skipped") for c in skipped]
        run.pending = {c.key for c in todo}
        log.write_line({"run": "start", "todo": len(todo), "skipped": len(skipped), "extractor": run.extractor})
    except BaseException:
        log.close()
        raise
    log_url, cluster = None, None
    try:
        if todo:
            cluster = engine_cls(address, workers)  # before the handlers: ray.init installs its own SIGTERM handler
        emit("plan", {"total": len(clips), "todo": len(todo), "skipped": len(skipped)})
        if cluster is not None:
            with interrupts.installed():
                cluster.run(todo, run)
    finally:
        if cluster is not None:
            cluster.close()
        log.close()
        log_url = _publish_log(out, log.path)
    return ExtractSummary(run.results, time.monotonic() - t0, log.path, log_url)


def _plan(
    clips: list[Clip], out: Output, log: RunLog, overwrite: bool, emit, estimator: str
) -> tuple[list[Clip], list[Clip]]:
    """Split the clips into (to extract, finished). A finished clip matches its log line (source and output) or
    is an unlogged output of an interrupted run (logged now, if it reads as a pose of the same source)."""
    if overwrite:
        return list(clips), []
    present = out.finished_stats([c.key for c in clips])
    logged = _logged_ok(log.path, out) if present else {}
    _check_same_estimator(logged, estimator, log.path)
    todo, skipped = [], []
    for clip in clips:
        stat = present.get(clip.key)
        if stat is None:
            todo.append(clip)
            continue
        record = logged.get(clip.key)
        if record is None:
            why = _log_recovered(clip, out, log)
        elif not same_source(record.get("source_stat"), clip):
            why = "its source changed since it was extracted"
        elif not _same_output(record.get("output_stat"), stat):
            why = "its output file changed since it was written (damaged or replaced)"
        else:
            why = None
        if why is None:
            skipped.append(clip)
        else:
            emit("redo", {"key": clip.key, "reason": why})
            todo.append(clip)
    return todo, skipped


def _check_same_estimator(logged: dict[str, dict], name: str, log: Path) -> None:
    """One output folder holds one estimator's poses: resuming with another would mix layouts silently."""
    for record in logged.values():
        other = (record.get("extractor") or {}).get("name")
        if other and other != name:
            raise ExtractError(
                f"{log.parent} holds poses extracted with {other} (see {log.name}); this run uses "
                f"{name}: give another -o, or --overwrite to redo them with {name}"
            )


def _same_output(logged: dict | None, now: dict) -> bool:
    if not logged:
        return True  # logged before output stats were kept
    return all(logged[k] == now[k] for k in logged if k in now)


def _logged_ok(log: Path, out: Output) -> dict[str, dict]:
    """The last ``ok`` line of each key that earlier runs logged, in this log or (URL output) the published one."""
    records: dict[str, dict] = {}
    for line in _log_lines(log, out):
        if '"ok"' not in line:  # cheap filter: 10^5 lines parse in a fraction of a second
            continue
        with contextlib.suppress(ValueError, TypeError, KeyError):  # a line cut short by a power cut
            record = json.loads(line)
            if record.get("status") == "ok":
                records[record["key"]] = record
    return records


def _log_lines(log: Path, out: Output) -> Iterator[str]:
    yield from out.published_log_lines()
    if log.is_file():
        with open(log, encoding="utf-8", errors="replace") as f:
            yield from f


def _log_recovered(clip: Clip, out: Output, log: RunLog) -> str | None:
    """Log the output of a run that was stopped between writing it and logging it; None when it was, else why not
    (it cannot be read, or it was made from another source)."""
    try:
        pose = out.read(clip.key)
    except Exception:  # not written by an interrupted run of ours: extract it again
        return "its output cannot be read as a pose file"
    source = pose.meta.get("source") or {}
    if not same_source({k: source[k] for k in ("size", "mtime_ns") if k in source}, clip):
        return "its output was made from another source"
    log.write(
        ClipResult(
            clip.key,
            str(clip.path),
            out.target(clip.key),
            "ok",
            frames=pose.num_frames,
            flags=list(pose.meta.get("flags", [])),
            extractor=pose.meta.get("extractor"),
            recovered=True,
            source_stat=fingerprint(clip),
            output_stat=out.finished_stats([clip.key]).get(clip.key),
        )
    )
    return None


@contextlib.contextmanager
def _output_lock(log_file: Path, emit) -> Iterator[None]:
    """One run at a time per output (per run log): a second run waits, then finds the work done and skips it.

    A `filelock` on ``<log>.lock`` (flock on Linux/macOS, msvcrt on Windows): the OS drops it when its holder dies."""
    path = log_file.with_name(log_file.name + ".lock")
    lock = filelock.FileLock(path)
    try:
        try:
            lock.acquire(blocking=False)
        except filelock.Timeout:
            emit("waiting", {"lock": str(path)})
            lock.acquire()
    except OSError as e:
        raise ExtractError(f"cannot write the lock file {path} ({e.strerror}); give another --log") from None
    try:
        yield
    finally:
        lock.release()


def _publish_log(out: Output, log: Path) -> str | None:
    """Upload a URL output's log; a failure during another exception is left to the next run (lines stay local)."""
    failing = sys.exc_info()[0] is not None
    try:
        return out.publish_log(log)
    except Exception as e:
        if failing:
            return None
        raise ExtractError(
            f"the run log is kept in {log}, but uploading it to {out.url} failed ({e}); the next run uploads it"
        ) from None
