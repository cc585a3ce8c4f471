"""A rerun of ``signkit extract`` with nothing to do, on a large synthetic corpus (issue 15: 10^5 logged clips must
take seconds, not one fsynced ``skipped`` line per clip).

Builds ``--clips`` (default 100000) tiny source files, one finished output per clip and the run log that a finished
run leaves (one ``ok`` line per clip with the source and output stats), then times ``extract()`` over it: nothing is
decoded and no model is loaded; what is measured is discovery, the stats, reading the log and writing the run's
line. ``--baseline DIR`` also times the same rerun with another checkout's signkit (e.g. /work/main before this
change) in a subprocess. ``--write`` replaces the "Extraction rerun" section of docs/benchmarks.md.

    python benchmarks/extract_rerun.py --baseline /work/main --write
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"

RERUN = """
import json, sys, time
from signkit.pose_extract import discover, extract
t0 = time.perf_counter()
clips = discover([sys.argv[1]])
t1 = time.perf_counter()
s = extract(clips, sys.argv[2], workers=1)
t2 = time.perf_counter()
print(json.dumps({"seconds": t2 - t0, "discover": t1 - t0, "skipped": s.count("skipped"), "ok": s.count("ok")}))
"""


def build(root: Path, n: int) -> tuple[Path, Path]:
    videos, out = root / "videos", root / "poses"
    lines = []
    for i in range(n):
        shard = f"s{i // 1000:03d}"
        (videos / shard).mkdir(parents=True, exist_ok=True)
        (out / shard).mkdir(parents=True, exist_ok=True)
        src, dst = videos / shard / f"c{i:06d}.mp4", out / shard / f"c{i:06d}.npz"
        src.write_bytes(b"v" * 64)
        dst.write_bytes(b"p" * 128)
        s, d = src.stat(), dst.stat()
        lines.append(
            json.dumps(
                {
                    "time": "2026-01-01T00:00:00+00:00",
                    "key": f"{shard}/c{i:06d}",
                    "source": str(src),
                    "output": str(dst),
                    "status": "ok",
                    "error": None,
                    "frames": 50,
                    "seconds": 2.0,
                    "flags": [],
                    "extractor": {"name": "mediapipe-holistic", "version": "0.10.14", "model_sha256": "0" * 64},
                    "recovered": False,
                    "source_stat": {
                        "size": s.st_size,
                        "mtime_ns": s.st_mtime_ns,
                        "start": None,
                        "end": None,
                        "unit": "seconds",
                    },
                    "output_stat": {"size": d.st_size, "mtime_ns": d.st_mtime_ns},
                }
            )
        )
    (out / "extract-log.jsonl").write_text("\n".join(lines) + "\n")
    return videos, out


def rerun(videos: Path, out: Path, pythonpath: str) -> dict:
    env = {**os.environ, "PYTHONPATH": pythonpath}
    proc = subprocess.run(
        [sys.executable, "-c", RERUN, str(videos), str(out)],
        env=env,
        capture_output=True,
        cwd=videos.parent,  # not the checkout: `python -c` imports from the current folder first
        text=True,
    )
    if proc.returncode != 0:
        raise SystemExit(f"rerun with PYTHONPATH={pythonpath} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=100_000)
    ap.add_argument("--baseline", type=Path, default=None, help="another signkit checkout to time the same rerun")
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    here = str(Path(__file__).resolve().parents[1])
    with tempfile.TemporaryDirectory(prefix="signkit-bench-rerun-") as tmp:
        t0 = time.perf_counter()
        videos, out = build(Path(tmp), args.clips)
        print(f"built {args.clips} clips, outputs and log lines in {time.perf_counter() - t0:.1f} s", flush=True)
        log = out / "extract-log.jsonl"
        size0 = log.stat().st_size
        ours = rerun(videos, out, here)
        ours["log_bytes_added"] = log.stat().st_size - size0
        ours2 = rerun(videos, out, here)  # warm page cache, as a second rerun would be
        print("ours:", ours, ours2, flush=True)
        base = None
        if args.baseline is not None:
            size1 = log.stat().st_size
            base = rerun(videos, out, str(args.baseline))
            base["log_bytes_added"] = log.stat().st_size - size1
            print("baseline:", base, flush=True)
    assert ours["skipped"] == args.clips and ours["ok"] == 0
    lines = [
        "## Extraction rerun",
        "",
        f"`python benchmarks/extract_rerun.py` on {platform.machine()} with {os.cpu_count()} cores, local disk: a "
        f"rerun of `extract()` over {args.clips} clips that a finished run logged (synthetic sources, outputs and "
        "log; nothing to decode), in a fresh process; seconds from the folder walk (`discover`) to the summary.",
        "",
        "| code | seconds | of which the folder walk | log bytes written |",
        "|---|---:|---:|---:|",
        f"| this branch | {ours['seconds']:.2f} (again: {ours2['seconds']:.2f}) | {ours['discover']:.2f} | "
        f"{ours['log_bytes_added']} |",
    ]
    if base is not None:
        lines.append(
            f"| before (one fsynced `skipped` line per clip, models hashed) | {base['seconds']:.2f} | "
            f"{base['discover']:.2f} | {base['log_bytes_added']} |"
        )
    lines += [
        "",
        "Goal (issue 15): seconds for 10^5 clips. The rerun stats each source and output once, reads the log once "
        '(lines without `"ok"` are not parsed) and writes one line for the run; no model file is read.',
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        doc = DOC.read_text()
        pattern = re.compile(r"^## Extraction rerun\n.*?(?=^## |\Z)", re.S | re.M)
        if pattern.search(doc):
            doc = pattern.sub(lambda _: text + "\n", doc)
        else:
            anchor = re.search(r"^## Extraction on Ray\n", doc, re.M)
            doc = doc[: anchor.start()] + text + "\n" + doc[anchor.start() :] if anchor else doc + "\n" + text + "\n"
        DOC.write_text(doc)


if __name__ == "__main__":
    main()
