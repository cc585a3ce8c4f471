"""Extraction scaling over a machine's cores: ``signkit extract`` at 2, 4, 8, 16 workers on the same clips, frames/s
and the ratio to linear (from the smallest worker count), and the Ray engine at the largest count on a Ray instance
started before the timing (its overhead against the local engine).

The clips are those of ``benchmarks/extract.py`` (real photos with a small affine jitter, `jitter_frames`), written
as JPEG frame folders (an input `signkit extract` takes) rather than H.264 files: PyAV's wheel and MediaPipe's do not
fit together in one transfer to the device machine (64 MiB; see benchmarks/device/README.md), and decoding is 1-3 %
of extraction (docs/benchmarks.md), so the inference that scales is the same. Each worker count runs ``--rounds``
times and its fastest round counts; the command's wall time includes its start-up (spawning and importing the
workers, a fresh graph per clip), which is what a user pays. Every output is checked identical to the first run's.

    python benchmarks/device/extract_scaling.py --out OUT [--workers 2 4 8 16] [--clips 32] [--seconds 1.2]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def render_frame_folders(root: Path, clips: int, seconds: float, size: int = 512, fps: int = 25) -> int:
    from PIL import Image

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))  # the test clips' renderer
    from synthetic_clips import jitter_frames, load_photo

    photos = {name: load_photo(name) for name in ("astronaut", "grace_hopper")}
    total = 0
    for i in range(clips):
        name = ("astronaut", "grace_hopper")[i % 2]
        folder = root / f"clip{i:03d}"
        folder.mkdir(parents=True)
        for j, frame in enumerate(jitter_frames(photos[name], round(seconds * fps), (size, size), seed=i)):
            Image.fromarray(frame).save(folder / f"{j:05d}.jpg", quality=92)
            total += 1
    return total


def same_outputs(reference: Path, other: Path) -> bool:
    files = sorted(p.relative_to(reference) for p in reference.rglob("*.npz"))
    return (
        bool(files)
        and all((reference / f).read_bytes() == (other / f).read_bytes() for f in files)
        and len(files) == len(list(other.rglob("*.npz")))
    )


def time_extract_cmd(videos: Path, out: Path, workers: int) -> float:
    cmd = [
        sys.executable,
        "-m",
        "signkit",
        "extract",
        str(videos),
        "-o",
        str(out),
        "--workers",
        str(workers),
        "-q",
        "--json",
    ]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    return seconds


def ray_overhead(videos: Path, tmp: Path, workers: int, frames: int, reference: Path) -> dict:
    import ray

    from signkit.pose_extract import extract

    t0 = time.perf_counter()
    extract([videos], tmp / "local-lib", workers=workers)
    local_s = time.perf_counter() - t0
    sigterm = signal.getsignal(signal.SIGTERM)
    t0 = time.perf_counter()
    ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    start_s = time.perf_counter() - t0
    try:
        t0 = time.perf_counter()
        extract([videos], tmp / "ray-lib", workers=workers, engine="ray")
        ray_s = time.perf_counter() - t0
    finally:
        ray.shutdown()
        signal.signal(signal.SIGTERM, sigterm)
    return {
        "workers": workers,
        "ray": ray.__version__,
        "local_lib_frames_per_s": frames / local_s,
        "ray_lib_frames_per_s": frames / ray_s,
        "ray_over_local": local_s / ray_s,
        "ray_start_s": start_s,
        "outputs_identical": same_outputs(reference, tmp / "ray-lib") and same_outputs(reference, tmp / "local-lib"),
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--workers", type=int, nargs="+", default=[2, 4, 8, 16])
    ap.add_argument("--clips", type=int, default=32, help="at least 2 per worker of the largest count")
    ap.add_argument("--seconds", type=float, default=1.2, help="of each clip, at 25 fps")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--ray", action="store_true", help="also the Ray engine at the largest worker count")
    ap.add_argument("--budget-s", type=float, default=None, help="skip worker counts started after this many seconds")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    result: dict = {"cores": os.cpu_count(), "clips": args.clips, "rows": [], "skipped": []}
    with tempfile.TemporaryDirectory(prefix="signkit-scaling-") as tmp:
        tmp = Path(tmp)
        frames = render_frame_folders(tmp / "videos", args.clips, args.seconds)
        result["frames"] = frames
        print(f"{args.clips} frame folders, {frames} frames of 512x512 JPEG; {os.cpu_count()} cores", flush=True)
        reference = None
        for n in args.workers:
            if args.budget_s is not None and time.perf_counter() - start > args.budget_s:
                result["skipped"].append({"workers": n, "why": "time budget spent"})
                continue
            best = float("inf")
            for r in range(args.rounds):
                dest = tmp / f"w{n}-{r}"
                best = min(best, time_extract_cmd(tmp / "videos", dest, n))
                reference = reference or dest
                if not same_outputs(reference, dest):
                    raise SystemExit(f"{dest}: outputs differ from {reference}")
            result["rows"].append({"workers": n, "seconds": best, "frames_per_s": frames / best})
            print(f"workers {n:3d}: {frames / best:8.1f} frames/s ({best:.1f} s)", flush=True)
        rows = result["rows"]
        if rows:
            base = rows[0]
            for r in rows:
                r["ratio_to_linear"] = r["frames_per_s"] / (base["frames_per_s"] * r["workers"] / base["workers"])
            result["ratio_to_linear_at_max"] = rows[-1]["ratio_to_linear"]
        if args.ray:
            try:
                import ray  # noqa: F401
            except ImportError:
                result["ray"] = {"skipped": "ray is not importable here (its wheel is 79 MB; see README.md)"}
            else:
                result["ray"] = ray_overhead(tmp / "videos", tmp, max(args.workers), frames, reference)
            print("ray:", result["ray"], flush=True)
    path = out / "extract_scaling.json"
    path.with_suffix(".tmp").write_text(json.dumps(result, indent=1))
    path.with_suffix(".tmp").replace(path)
    for r in result["rows"]:
        print(f"| {r['workers']} | {r['frames_per_s']:.1f} | {r['ratio_to_linear']:.2f} |")


if __name__ == "__main__":
    main()
