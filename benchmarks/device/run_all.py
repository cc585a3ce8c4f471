"""Every measurement of issue 18 in one run, in order, each step with its own time budget, JSON to ``--out``.

Steps (each a child process, killed at its budget; a step whose tools are missing is skipped with the reason):

  env          nvidia-smi, torch / CUDA / transformers versions, cores                         -> env.json
  train_step   benchmarks/train_step.py --levers: sigma-base, bf16, T=256, batch 16 and 64, LM-only and full
               objective, then each lever alone                                                -> train_step.json
  train_real   benchmarks/device/train_real.py: pack the fingerspelling lexicon, fine-tune and pre-train sigma-base
               for ``--real-steps`` steps (samples/s, peak memory, loss curve), kill-and-resume check
                                                                                               -> train_real.json
  parity       tests/test_unisign_parity.py (issue 12's fixture) on the device with SIGNKIT_TEST_DEVICE=cuda and
               SIGNKIT_TEST_AUTOCAST=bf16 in its environment; skipped when the test file is absent -> parity.json
  extract      benchmarks/device/extract_scaling.py at 2/4/8/16 workers (+ Ray at 16 when importable)
                                                                                       -> extract_scaling.json
Every step's output goes to ``run_all.log``; ``summary.json`` holds each step's status, seconds and headline
numbers, and a summary is printed at the end. The whole run stops itself by ``--budget-s`` (default 540 s, inside
the device tool's 600 s per command; a dry run's budgets are wide, as a shared CPU is slow): a step that cannot get
its minimum time is skipped, not started.

    python benchmarks/device/run_all.py --out "$OUT" [--steps env train_step ...] [--lexicon DIR]
    python benchmarks/device/run_all.py --out /tmp/o --dry-run     (CPU: sigma-tiny, tiny shapes, 1-2 steps)

On the device machine, start it through ``benchmarks/device/run.sh`` (installs the carried wheels); see README.md.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "benchmarks"
STEPS = ("env", "train_step", "train_real", "parity", "extract")
PARITY_TEST = REPO / "tests" / "test_unisign_parity.py"


@dataclass
class Step:
    name: str
    budget_s: float  # the step is killed at this many seconds
    min_s: float  # not started with less than this left in the whole run
    cmd: list[str] = field(default_factory=list)
    needs: tuple[str, ...] = ()  # importable modules, else skipped
    output: str | None = None  # the JSON file the step writes under --out
    skip: str | None = None  # a reason known before the run


def plan(args) -> list[Step]:
    py, out = sys.executable, str(args.out)
    work = str(args.work)
    dry = args.dry_run
    device = "cpu" if dry else "cuda"
    ts = [py, str(BENCH / "train_step.py"), "--levers", "--json", f"{out}/train_step.json", "--device", device]
    if dry:
        ts += [
            "--config",
            "sigma-tiny",
            "--batch-sizes",
            "2",
            "--frames",
            "8",
            "--steps",
            "1",
            "--warmup",
            "0",
            "--text-len",
            "8",
            "--no-compile",
        ]
    else:
        ts += ["--batch-sizes", "16", "64", "--frames", "256", "--steps", "10", "--warmup", "3"]
    tr = [py, str(BENCH / "device" / "train_real.py"), "--out", out, "--work", f"{work}/train_real", "--device", device]
    if args.lexicon:
        tr += ["--lexicon", str(args.lexicon)]
    if dry:
        tr += [
            "--config",
            "sigma-tiny",
            "--steps",
            "2",
            "--resume-steps",
            "3",
            "--batch-size",
            "2",
            "--max-frames",
            "8",
            "--num-workers",
            "0",
            "--pack-workers",
            "1",
            "--log-every",
            "1",
        ]
    else:
        tr += [
            "--config",
            "sigma-base",
            "--steps",
            str(args.real_steps),
            "--resume-steps",
            "20",
            "--batch-size",
            "16",
            "--max-frames",
            "128",
        ]
    ex = [py, str(BENCH / "device" / "extract_scaling.py"), "--out", out]
    ex += (
        ["--workers", "1", "2", "--clips", "2", "--seconds", "0.2"]
        if dry
        else ["--workers", "2", "4", "8", "16", "--clips", "32", "--seconds", "1.6"]
    )
    if args.ray:
        ex.append("--ray")
    par = [
        py,
        "-m",
        "pytest",
        str(PARITY_TEST),
        "-q",
        "-rA",
        "-p",
        "no:cacheprovider",
        "--junitxml",
        f"{work}/parity.xml",
    ]
    steps = [
        Step("env", 30, 5),
        Step("train_step", 300 if dry else 200, 30, ts, ("torch", "transformers"), "train_step.json"),
        Step("train_real", 600 if dry else 190, 60, tr, ("torch", "pose_format"), "train_real.json"),
        Step(
            "parity",
            120 if dry else 50,
            20,
            par,
            ("torch", "pytest"),
            "parity.json",
            None if PARITY_TEST.is_file() else f"{PARITY_TEST.relative_to(REPO)} does not exist yet (issue 12)",
        ),
        Step("extract", 300 if dry else 180, 60, ex, ("mediapipe",), "extract_scaling.json"),
    ]
    for s in steps:
        if s.name == "train_step" and not dry:
            s.cmd += ["--budget-s", str(s.budget_s - 40)]  # stop starting measurements; the last one then finishes
        if s.name == "extract":
            s.cmd += ["--budget-s", str(s.budget_s * 0.6)]
    return [s for s in steps if s.name in args.steps]


def environment() -> dict:
    env: dict = {"python": sys.version.split()[0], "cores": os.cpu_count(), "executable": sys.executable}
    try:
        import torch

        env.update(torch=torch.__version__, cuda=torch.version.cuda, cuda_available=torch.cuda.is_available())
        if torch.cuda.is_available():
            p = torch.cuda.get_device_properties(0)
            env.update(
                device_name=p.name,
                memory_gib=p.total_memory / 2**30,
                sms=p.multi_processor_count,
                cudnn=torch.backends.cudnn.version(),
            )
    except ImportError as e:
        env["torch"] = f"not importable: {e}"
    from importlib.metadata import PackageNotFoundError, version

    for dist, mod in (
        ("transformers", "transformers"),
        ("mediapipe", "mediapipe"),
        ("pose-format", "pose_format"),
        ("ray", "ray"),
        ("numpy", "numpy"),
        ("protobuf", "google.protobuf"),
    ):
        try:
            env[dist] = version(dist) if importlib.util.find_spec(mod) else "not importable"
        except (PackageNotFoundError, ModuleNotFoundError):
            env[dist] = "not installed"
    if shutil.which("nvidia-smi"):
        q = subprocess.run(
            [
                "nvidia-smi",
                "--query-gpu=name,driver_version,memory.total,clocks.max.sm,power.limit",
                "--format=csv,noheader",
            ],
            capture_output=True,
            text=True,
        )
        env["nvidia_smi"] = q.stdout.strip() or q.stderr.strip()
    return env


def missing(mods: tuple[str, ...]) -> list[str]:
    return [m for m in mods if importlib.util.find_spec(m) is None]


def run_step(step: Step, timeout: float, log, env: dict) -> tuple[str, float, str]:
    """Run ``step.cmd`` in its own process group; kill the group at ``timeout``. (status, seconds, tail)."""
    t0 = time.perf_counter()
    log.write(f"\n===== {step.name}: {' '.join(step.cmd)} (budget {timeout:.0f} s)\n")
    log.flush()
    proc = subprocess.Popen(
        step.cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO, env=env, start_new_session=True
    )
    tail: list[str] = []
    deadline = t0 + timeout
    timed_out = False
    import selectors

    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    while True:
        left = deadline - time.perf_counter()
        if left <= 0:
            timed_out = True
            os.killpg(proc.pid, signal.SIGKILL)
            break
        if not sel.select(timeout=min(left, 1.0)):
            if proc.poll() is not None:
                break
            continue
        line = proc.stdout.readline()
        if not line:
            break
        log.write(line)
        log.flush()
        print(f"[{step.name}] {line}", end="", flush=True)
        tail = (tail + [line])[-20:]
    proc.wait()
    with_children_gone(proc.pid)
    seconds = time.perf_counter() - t0
    if timed_out:
        return "timed out (killed at its budget)", seconds, "".join(tail)
    return ("ok" if proc.returncode == 0 else f"failed (exit {proc.returncode})"), seconds, "".join(tail)


def with_children_gone(pgid: int) -> None:
    """Kill what the step left running in its process group (worker processes, a Ray instance)."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def headline(name: str, out: Path) -> dict:
    """The few numbers of a step's JSON that the summary prints."""
    try:
        if name == "train_step":
            d = json.loads((out / "train_step.json").read_text())
            return {
                "rows": [
                    {
                        k: r[k]
                        for k in (
                            "objective",
                            "batch",
                            "levers",
                            "samples_per_s",
                            "step_ms",
                            "peak_mem_gib",
                            "mfu",
                            "vs_unisign",
                        )
                    }
                    for r in d["rows"]
                ],
                "skipped": len(d["skipped"]),
                "errors": len(d["errors"]),
            }
        if name == "train_real":
            d = json.loads((out / "train_real.json").read_text())["phases"]
            h = {}
            for p, r in d.items():
                keep = (
                    "samples",
                    "seconds",
                    "samples_per_s_overall",
                    "samples_per_s_median_window",
                    "peak_mem_gib",
                    "loss_first",
                    "loss_last",
                    "max_abs_diff_resumed_vs_straight",
                    "max_abs_diff_two_straight_runs",
                    "atol",
                    "passed",
                )
                h[p] = {k: r[k] for k in keep if k in r}
            return h
        if name == "extract":
            d = json.loads((out / "extract_scaling.json").read_text())
            return {"rows": d["rows"], "ray": d.get("ray")}
        if name in ("env", "parity"):
            return json.loads((out / f"{name}.json").read_text())
    except (OSError, ValueError, KeyError) as e:
        return {"error": f"no results: {e}"}
    return {}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.environ.get("OUT"), help="results folder (default: $OUT)")
    ap.add_argument("--work", default=None, help="scratch folder (default: a temporary folder outside --out)")
    ap.add_argument("--steps", nargs="+", default=list(STEPS), choices=STEPS)
    ap.add_argument("--lexicon", help="lexicon folder (index.csv + .pose); default: spoken-to-signed's copy")
    ap.add_argument("--real-steps", type=int, default=200, help="steps of the sigma-base fine-tune and pre-train")
    ap.add_argument("--ray", action="store_true", help="also the Ray engine at 16 workers (needs ray importable)")
    ap.add_argument(
        "--budget-s",
        type=float,
        default=None,
        help="the whole run stops by this many seconds (default 540; 1500 for a dry run on a shared CPU)",
    )
    ap.add_argument("--dry-run", action="store_true", help="CPU, sigma-tiny, tiny shapes, 1-2 steps: tests the script")
    args = ap.parse_args(argv)
    if not args.out:
        raise SystemExit("give --out (or set $OUT)")
    args.out = Path(args.out)
    if args.budget_s is None:
        args.budget_s = 1500.0 if args.dry_run else 540.0
    args.out.mkdir(parents=True, exist_ok=True)
    import tempfile

    args.work = Path(args.work or tempfile.mkdtemp(prefix="signkit-device-"))
    start = time.perf_counter()
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": os.pathsep.join(
            [str(REPO)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
        ),
    }
    if args.dry_run:
        env.setdefault("OMP_NUM_THREADS", "1")
    summary: dict = {"dry_run": args.dry_run, "budget_s": args.budget_s, "steps": {}}
    log = (args.out / "run_all.log").open("a", encoding="utf-8")

    def save() -> None:
        tmp = args.out / "summary.json.tmp"
        tmp.write_text(json.dumps(summary, indent=1, default=str))
        tmp.replace(args.out / "summary.json")

    for step in plan(args):
        left = args.budget_s - (time.perf_counter() - start)
        if step.name == "env":
            (args.out / "env.json").write_text(json.dumps(environment(), indent=1))
            summary["steps"]["env"] = {"status": "ok", "result": headline("env", args.out)}
            print("env:", summary["steps"]["env"]["result"], flush=True)
            save()
            continue
        gone = missing(step.needs)
        reason = step.skip or (f"not importable here: {', '.join(gone)}" if gone else None)
        if reason is None and left < step.min_s:
            reason = f"only {left:.0f} s left of the run's {args.budget_s:.0f} s (needs {step.min_s:.0f})"
        if reason:
            summary["steps"][step.name] = {"status": "skipped", "why": reason}
            print(f"{step.name}: skipped: {reason}", flush=True)
            save()
            continue
        step_env = env
        if step.name == "parity":
            step_env = {
                **env,
                "SIGNKIT_TEST_DEVICE": "cpu" if args.dry_run else "cuda",
                "SIGNKIT_TEST_AUTOCAST": "none" if args.dry_run else "bf16",
            }
        status, seconds, tail = run_step(step, min(step.budget_s, left), log, step_env)
        if step.name == "parity":
            (args.out / "parity.json").write_text(
                json.dumps(
                    {
                        "status": status,
                        "seconds": seconds,
                        "env": {k: step_env[k] for k in step_env if k.startswith("SIGNKIT_TEST_")},
                        "note": (
                            "the bf16 numbers mean something only where the test reads SIGNKIT_TEST_DEVICE/AUTOCAST"
                        ),
                        "pytest_tail": tail[-3000:],
                    },
                    indent=1,
                )
            )
        summary["steps"][step.name] = {
            "status": status,
            "seconds": round(seconds, 1),
            "result": headline(step.name, args.out),
        }
        if status != "ok":
            summary["steps"][step.name]["tail"] = tail[-2000:]
        save()
    summary["seconds"] = round(time.perf_counter() - start, 1)
    save()
    log.close()
    print_summary(summary)
    return 0 if all(s["status"] in ("ok", "skipped") for s in summary["steps"].values()) else 1


def print_summary(summary: dict) -> None:
    print(f"\n===== summary ({summary['seconds']} s of {summary['budget_s']:.0f}; dry run: {summary['dry_run']})")
    for name, s in summary["steps"].items():
        print(
            f"{name:11s} {s['status']}"
            + (f" ({s['seconds']} s)" if "seconds" in s else "")
            + (f": {s['why']}" if "why" in s else "")
        )
        res = s.get("result") or {}
        if name == "train_step":
            for r in res.get("rows", []):
                mfu = f"{r['mfu']:.1%}" if r.get("mfu") is not None else "n/a"
                vs = f"{r['vs_unisign']:.2f}x" if r.get("vs_unisign") else "n/a"
                print(
                    f"    {r['objective']:4s} b={r['batch']:<4d} {r['levers']:34s} {r['samples_per_s']:8.1f} "
                    f"samples/s  {r['step_ms']:7.1f} ms  MFU {mfu}  vs Uni-Sign {vs}"
                )
        elif name in ("train_real", "extract"):
            for k, v in (
                res.items() if name == "train_real" else [("scaling", res.get("rows")), ("ray", res.get("ray"))]
            ):
                print(f"    {k}: {v}")


if __name__ == "__main__":
    sys.exit(main())
