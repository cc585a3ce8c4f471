"""Extraction benchmark: frames/s of ``signkit extract`` vs pose-format's ``videos_to_poses`` vs the limit.

All measured in one run on the same clips: ``--clips`` (default 8) 512x512 clips of ``--seconds`` each (default
2.6 s at 25 fps, so >= 20 s of video in all), rendered from real photos (scikit-image's astronaut, matplotlib's
Grace Hopper) with a small affine jitter. Same MediaPipe settings everywhere (Holistic, model complexity 1,
confidences 0.5, no refined face).

  ours    ``signkit extract DIR -o OUT`` (default workers = the cores), wall time of the command
  peer    ``videos_to_poses --directory DIR --num-workers N`` (pose-format), wall time of the command
  limit   MediaPipe Holistic ``process()`` alone on already-decoded frames, one process, one graph, timed over the
          ``process()`` calls only, times the cores; and the same run in ``workers`` processes at once (on a shared
          machine the cores are not all free, so "times the cores" overstates what any path can reach)
  extra   the CPU ceiling: cores / process()'s CPU-seconds per frame (one process() run keeps more than one core
          busy, so "times the cores" counts some cores twice); signkit's pipelined `HolisticEstimator.stream`
          alone in one process

Each path runs ``--rounds`` times, interleaved, and its fastest round counts (the machine may be shared).
Also printed: PyAV vs OpenCV decoding speed (one process), and the cost of a fresh graph per clip.
Goal (issue 2): ours >= 1.3x peer, >= 0.85x limit. ``--write`` replaces the "Extraction" section of
docs/benchmarks.md.

``--estimator rtmw [--mode M]`` instead compares estimators on the same clips: ``signkit extract --estimator rtmw``
against ``signkit extract`` (MediaPipe), frames/s and the peak RSS of each command's process tree (the RTMW model
files must be in the cache or reachable: one command for a user who has them). ``--memory`` prints the peak RSS of
``signkit extract`` and of pose-format's ``videos_to_poses`` at the same workers, per process (issue 13's goal:
ours <= theirs); ``--baseline DIR`` adds ``signkit extract`` run from another checkout.

    python benchmarks/extract.py --write
    python benchmarks/extract.py --estimator rtmw --mode lightweight
    python benchmarks/extract.py --memory --baseline /work/main
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the test clips' renderer
from synthetic_clips import jitter_frames, load_photo  # noqa: E402

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
BIN = Path(sys.executable).parent


def render_clips(root: Path, n: int, seconds: float, size: int = 512, fps: int = 25) -> list[Path]:
    from signkit.pose_extract.encode import write_video

    photos = {name: load_photo(name) for name in ("astronaut", "grace_hopper")}
    paths = []
    for i in range(n):
        name = ("astronaut", "grace_hopper")[i % 2]
        frames = jitter_frames(photos[name], round(seconds * fps), (size, size), seed=i)
        paths.append(write_video(frames, root / f"clip{i:02d}.mp4", fps=fps))
    return paths


def decode_all(path: Path) -> list[np.ndarray]:
    import av

    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def time_cmd(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    return seconds


def decoder_speeds(path: Path, repeats: int = 3) -> dict[str, float]:
    import av
    import cv2

    def pyav() -> int:  # as signkit decodes: one reused swscale context
        reformatter = av.video.reformatter.VideoReformatter()
        with av.open(str(path)) as c:
            return sum(
                1
                for f in c.decode(video=0)
                if reformatter.reformat(f, format="rgb24", threads=1).to_ndarray() is not None
            )

    def opencv() -> int:
        cap, n = cv2.VideoCapture(str(path)), 0
        while True:
            ok, frame = cap.read()
            if not ok:
                return n
            cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            n += 1

    out = {}
    for name, fn in (("pyav", pyav), ("opencv", opencv)):
        best = 0.0
        for _ in range(repeats):
            t0 = time.perf_counter()
            n = fn()
            best = max(best, n / (time.perf_counter() - t0))
        out[name] = best
    return out


def limit_fps(clips: list[Path]) -> tuple[float, float, float]:
    """process() alone, one graph, one process: frames/s, CPU-seconds per frame (all its threads), and the extra
    seconds a fresh graph costs on its first frame."""
    import mediapipe as mp

    frames = [f for c in clips for f in decode_all(c)]
    holistic = mp.solutions.holistic.Holistic(model_complexity=1)
    holistic.process(frames[0])  # load the models outside the timing
    t0, c0 = time.perf_counter(), time.process_time()
    for f in frames:
        holistic.process(f)
    fps, cpu = len(frames) / (time.perf_counter() - t0), (time.process_time() - c0) / len(frames)
    holistic.close()
    t0 = time.perf_counter()
    fresh = mp.solutions.holistic.Holistic(model_complexity=1)
    fresh.process(frames[0])
    fresh.close()
    return fps, cpu, (time.perf_counter() - t0) - 1 / fps


def stream_fps(clips: list[Path]) -> float:
    """signkit's pipelined `HolisticEstimator.stream` alone on the same decoded frames, one process, one graph."""
    from signkit.pose_extract import HolisticConfig, HolisticEstimator

    frames = [f for c in clips for f in decode_all(c)]
    with HolisticEstimator(HolisticConfig()) as est:
        est.process(frames[0])
        est.reset()
        est.process(frames[0])  # a fresh graph, models loaded, as above
        t0 = time.perf_counter()
        n = sum(1 for _ in est.stream((f, None) for f in frames))
        return n / (time.perf_counter() - t0)


def _limit_worker(clips: list[Path], barrier, results) -> None:
    import mediapipe as mp

    frames = [f for c in clips for f in decode_all(c)]
    holistic = mp.solutions.holistic.Holistic(model_complexity=1)
    holistic.process(frames[0])
    barrier.wait()
    t0 = time.perf_counter()
    c0 = time.process_time()
    for f in frames:
        holistic.process(f)
    results.put((len(frames), time.perf_counter() - t0, time.process_time() - c0))


def parallel_limit_fps(clips: list[Path], n: int) -> tuple[float, float]:
    """process() alone in ``n`` processes at once (a shared machine gives fewer than ``n`` free cores): frames/s
    and CPU-seconds per frame (with every core busy, no thread waits spinning on an idle core)."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(n), ctx.Queue()
    procs = [ctx.Process(target=_limit_worker, args=(clips[i::n], barrier, results)) for i in range(n)]
    for p in procs:
        p.start()
    done = [results.get() for _ in procs]
    for p in procs:
        p.join()
    frames = sum(f for f, _, _ in done)
    return frames / max(s for _, s, _ in done), sum(c for _, _, c in done) / frames


def clip_arguments(description: str) -> argparse.ArgumentParser:
    """The options every extraction benchmark shares: which clips, how many workers, how many rounds."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--clips", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=2.6)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--rounds", type=int, default=2, help="interleaved repeats; the fastest of each path counts")
    return ap


def prepare_clips(folder: Path, args: argparse.Namespace) -> tuple[list[Path], int]:
    """Render the benchmark's clips into ``folder`` and count their frames (what every extraction benchmark runs)."""
    folder.mkdir()
    clips = render_clips(folder, args.clips, args.seconds)
    frames = sum(len(decode_all(c)) for c in clips)
    print(f"{len(clips)} clips, {frames} frames ({frames / 25:.1f} s at 25 fps), 512x512, workers={args.workers}")
    return clips, frames


def peak_rss_mib(cmd: list[str], env: dict | None = None) -> tuple[float, float, list[tuple[str, int]]]:
    """Run ``cmd``; (seconds, peak summed RSS in MiB of its process tree, ``(role, MiB)`` of each process at that
    peak), sampled every 50 ms from /proc (Linux). Roles: ``parent`` (the command), ``tracker`` (multiprocessing's
    resource tracker), ``worker`` (any other process of the tree: spawned or forked workers)."""

    def tree(pid: int) -> dict[int, tuple[str, int]]:
        children: dict[int, list[int]] = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
        rss, todo = {}, [pid]
        while todo:
            p = todo.pop()
            try:
                kib = next(
                    int(line.split()[1])
                    for line in Path(f"/proc/{p}/status").read_text().splitlines()
                    if line.startswith("VmRSS")
                )
                cmdline = Path(f"/proc/{p}/cmdline").read_bytes()
            except (OSError, StopIteration):
                continue
            role = "parent" if p == pid else "tracker" if b"resource_tracker" in cmdline else "worker"
            rss[p] = (role, kib)
            todo += children.get(p, [])
        return rss

    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    best: dict[int, tuple[str, int]] = {}
    while proc.poll() is None:
        now = tree(proc.pid)
        if sum(k for _, k in now.values()) > sum(k for _, k in best.values()):
            best = now
        time.sleep(0.05)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr.read()[-2000:]}")
    order = {"parent": 0, "tracker": 1, "worker": 2}
    each = sorted(((role, kib // 1024) for role, kib in best.values()), key=lambda x: (order[x[0]], x[1]))
    return seconds, sum(k for _, k in best.values()) / 1024, each


def _roles(each: list[tuple[str, int]]) -> str:
    return ", ".join(f"{role} {mib}" for role, mib in each)


def compare_estimators(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="signkit-bench-estimators-") as tmp:
        tmp = Path(tmp)
        clips, frames = prepare_clips(tmp / "videos", args)
        base = [str(BIN / "signkit"), "extract", str(tmp / "videos"), "--workers", str(args.workers), "-q"]
        rtmw = ["--estimator", "rtmw"] + (["--mode", args.mode] if args.mode else [])
        for r in range(args.rounds):
            for name, extra in (("mediapipe-holistic", []), ("rtmw", rtmw)):
                s, rss, each = peak_rss_mib([*base, "-o", str(tmp / f"{name}{r}"), *extra])
                print(
                    f"round {r + 1}: {name}: {frames / s:.1f} frames/s, peak RSS {rss:.0f} MiB ({_roles(each)})",
                    flush=True,
                )


def compare_memory(args: argparse.Namespace) -> None:
    """Peak RSS of ``signkit extract`` (this checkout; and ``--baseline`` another one) and of pose-format's
    ``videos_to_poses`` at the same workers on the same clips, ``--rounds`` times interleaved; each path's highest
    round counts."""
    here = str(Path(__file__).resolve().parents[1])
    paths = {"signkit extract": here} | (
        {f"signkit extract ({args.baseline})": str(args.baseline)} if args.baseline else {}
    )
    peaks: dict[str, tuple[float, list]] = {}
    with tempfile.TemporaryDirectory(prefix="signkit-bench-memory-") as tmp:
        tmp = Path(tmp)
        prepare_clips(tmp / "videos", args)
        for r in range(args.rounds):
            for i, (name, pythonpath) in enumerate(paths.items()):
                env = {**os.environ, "PYTHONPATH": pythonpath}
                _, rss, each = peak_rss_mib(
                    [
                        str(BIN / "signkit"),
                        "extract",
                        str(tmp / "videos"),
                        "-o",
                        str(tmp / f"ours{r}-{i}"),
                        "--workers",
                        str(args.workers),
                        "-q",
                    ],
                    env=env,
                )
                print(f"round {r + 1}: {name}: {rss:.0f} MiB ({_roles(each)})", flush=True)
                if rss > peaks.get(name, (0.0, []))[0]:
                    peaks[name] = (rss, each)
            peer_dir = tmp / f"peer{r}"  # pose-format skips videos whose .pose exists: a fresh copy per round
            shutil.copytree(tmp / "videos", peer_dir)
            _, rss, each = peak_rss_mib(
                [
                    str(BIN / "videos_to_poses"),
                    "--format",
                    "mediapipe",
                    "--directory",
                    str(peer_dir),
                    "--num-workers",
                    str(args.workers),
                    "--additional-config",
                    "model_complexity=1",
                ]
            )
            print(f"round {r + 1}: pose-format videos_to_poses: {rss:.0f} MiB ({_roles(each)})", flush=True)
            if rss > peaks.get("peer", (0.0, []))[0]:
                peaks["peer"] = (rss, each)
    peer = peaks.pop("peer")
    print(f"peak RSS, workers={args.workers}, highest of {args.rounds} rounds:")
    for name, (rss, each) in [*peaks.items(), ("pose-format videos_to_poses", peer)]:
        print(f"  {name}: {rss:.0f} MiB ({_roles(each)}); / pose-format = {rss / peer[0]:.2f}")


def main() -> None:
    ap = clip_arguments(__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help="write the Extraction section of docs/benchmarks.md")
    ap.add_argument("--estimator", default=None, help="rtmw: compare it with MediaPipe Holistic on the same clips")
    ap.add_argument("--mode", default=None, help="with --estimator rtmw: lightweight, balanced or performance")
    ap.add_argument("--memory", action="store_true", help="peak RSS of signkit extract vs pose-format")
    ap.add_argument(
        "--baseline",
        type=Path,
        default=None,
        help="with --memory: also measure signkit extract from this checkout (e.g. /work/main)",
    )
    args = ap.parse_args()
    if args.estimator:
        return compare_estimators(args)
    if args.memory:
        return compare_memory(args)

    cores = os.cpu_count() or 1
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="signkit-bench-extract-") as tmp:
        tmp = Path(tmp)
        clips, frames = prepare_clips(tmp / "videos", args)

        decoders = decoder_speeds(clips[0])
        print(f"decode (1 process): PyAV {decoders['pyav']:.0f} frames/s, OpenCV {decoders['opencv']:.0f} frames/s")

        ours_s, peer_s, one_fps, fresh_graph_s = float("inf"), float("inf"), 0.0, float("inf")
        par_fps, one_cpu, par_cpu, pipe_fps, rounds = 0.0, float("inf"), float("inf"), 0.0, []
        for r in range(args.rounds):
            ours_dir, peer_dir = tmp / f"ours{r}", tmp / f"peer{r}"
            s = time_cmd(
                [
                    str(BIN / "signkit"),
                    "extract",
                    str(tmp / "videos"),
                    "-o",
                    str(ours_dir),
                    "--workers",
                    str(args.workers),
                    "-q",
                    "--json",
                ]
            )
            assert len(list(ours_dir.glob("*.npz"))) == len(clips), "signkit did not write every clip"
            ours_s = min(ours_s, s)
            rounds.append([frames / s])
            shutil.copytree(tmp / "videos", peer_dir)
            s = time_cmd(
                [
                    str(BIN / "videos_to_poses"),
                    "--format",
                    "mediapipe",
                    "--directory",
                    str(peer_dir),
                    "--num-workers",
                    str(args.workers),
                    "--additional-config",
                    "model_complexity=1",
                ]
            )
            assert len(list(peer_dir.glob("*.pose"))) == len(clips), "pose-format did not write every clip"
            peer_s = min(peer_s, s)
            rounds[-1].append(frames / s)
            fps, cpu, graph_s = limit_fps(clips)
            one_fps, one_cpu, fresh_graph_s = max(one_fps, fps), min(one_cpu, cpu), min(fresh_graph_s, graph_s)
            fps_n, cpu_n = parallel_limit_fps(clips, args.workers)
            par_fps, par_cpu = max(par_fps, fps_n), min(par_cpu, cpu_n)
            pipe_fps = max(pipe_fps, stream_fps(clips))
            rounds[-1].append(fps)
            print(
                f"round {r + 1}: ours {rounds[-1][0]:.1f}, peer {rounds[-1][1]:.1f}, one process {fps:.1f} "
                f"({cpu * 1000:.0f} ms CPU per frame), {args.workers} processes {fps_n:.1f} ({cpu_n * 1000:.0f} "
                f"ms), one process pipelined {pipe_fps:.1f} (best so far) frames/s",
                flush=True,
            )

    load_after = os.getloadavg()[0]
    ours, peer, limit = frames / ours_s, frames / peer_s, one_fps * cores
    ceiling = cores / par_cpu  # every core busy with process()'s own work, nothing else
    lines = [
        "## Extraction",
        "",
        f"`python benchmarks/extract.py` on {platform.machine()} with {cores} cores "
        f"({platform.processor() or platform.platform()}), 1-minute load average {load_before:.1f} at the start and "
        f"{load_after:.1f} at the end (the benchmark itself keeps both cores busy), so absolute numbers "
        "move from run to run; the ratios come from one run.",
        f"{len(clips)} clips of 512x512, {frames} frames ({frames / 25:.1f} s at 25 fps), rendered from real photos; "
        f"MediaPipe Holistic 0.10.14, model complexity 1, {args.workers} workers; fastest of {args.rounds} "
        "interleaved rounds per path.",
        "",
        "| path | frames/s | ratio |",
        "|---|---:|---:|",
        f"| signkit extract (workers={args.workers}) | {ours:.1f} | 1.00 |",
        f"| pose-format videos_to_poses (--num-workers {args.workers}) | {peer:.1f} | ours = {ours / peer:.2f}x |",
        f"| limit: Holistic process() alone x {cores} cores ({one_fps:.1f} x {cores}) | {limit:.1f} | "
        f"ours = {ours / limit:.2f}x |",
        f"| process() alone in {args.workers} processes at once (measured, same load as ours) | {par_fps:.1f} | "
        f"ours = {ours / par_fps:.2f}x |",
        f"| extra: CPU ceiling, {cores} cores / process()'s {par_cpu * 1000:.0f} ms of CPU per frame | "
        f"{ceiling:.1f} | ours = {ours / ceiling:.2f}x |",
        "",
        f"Goal: >= 1.3x pose-format ({'met' if ours / peer >= 1.3 else 'not met'}), >= 0.85x the limit "
        f"({'met' if ours / limit >= 0.85 else 'not met'}).",
        f"Decoding (one process, 512x512 H.264): PyAV {decoders['pyav']:.0f} frames/s, "
        f"OpenCV {decoders['opencv']:.0f} frames/s; both are far faster than inference, so signkit uses PyAV "
        "(timestamps, seeking, clear errors) in a background thread.",
        f"A fresh Holistic graph per clip (so tracking never leaks between videos) costs {fresh_graph_s:.2f} s "
        "once per clip (model loading and first-frame detection).",
        "Per round (ours / pose-format / one process() run, frames/s): "
        + "; ".join(f"{o:.1f} / {p:.1f} / {q:.1f} ({o / p:.2f}x, {o / (q * cores):.2f}x)" for o, p, q in rounds)
        + ".",
        f"Why the limit's line is out of reach here: one process() run is not one core's work. Alone it keeps "
        f"{one_fps * one_cpu:.2f} cores busy (MediaPipe's scheduler runs the pose, face and hand stages on one "
        f"thread per core; {one_cpu * 1000:.0f} ms of CPU per frame, some of it threads waiting), so 'x {cores} "
        f"cores' counts the second core twice. With every core busy the same work costs {par_cpu * 1000:.0f} ms of "
        f"CPU per frame, so {cores} cores can do at most {ceiling:.1f} frames/s of it: {ceiling / limit:.2f}x the "
        f"limit, below the goal of 0.85x whatever the path. {args.workers} process() runs at once, nothing else, "
        f"reach {par_fps / ceiling:.2f}x that ceiling; pose-format reaches "
        f"{peer / ceiling:.2f}x, so 1.3x pose-format ({1.3 * peer:.1f} frames/s) would be {1.3 * peer / ceiling:.2f}x "
        "the ceiling.",
        f"Pipelining (`HolisticEstimator.stream`: frames fed without waiting for the graph to go idle, output "
        f"bit-identical) runs one process at {pipe_fps:.1f} frames/s, {pipe_fps / one_fps:.2f}x process(); it pays "
        "where cores would idle (fewer workers than cores, the last clips of a run); with every core busy the work "
        "per frame is the same.",
        "",
        "Reading: both paths run the same MediaPipe graph once per frame in the same number of processes, and "
        "inference is > 95 % of the work (decoding is 1-3 %), so they can differ only in start-up, decode overlap "
        "and per-clip set-up. signkit spends a new graph per clip where pose-format reuses one after a blank frame "
        "(which leaks body-visibility state between videos: see mediapipe_backend.py), and spawns its workers "
        "(pose-format forks). On a shared machine the round-to-round spread is larger than the difference.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        write_section(text)


def write_section(text: str, path: Path = DOC) -> None:
    """Replace (or add) the "## Extraction" section of docs/benchmarks.md, leaving other sections alone."""
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = path.read_text() if path.exists() else "# Benchmarks\n\n"
    pattern = re.compile(r"^## Extraction\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(doc):
        doc = pattern.sub(lambda _: text + "\n", doc)
    else:
        doc = doc.rstrip("\n") + "\n\n" + text + "\n"
    path.write_text(doc)


if __name__ == "__main__":
    main()
