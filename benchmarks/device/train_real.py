"""sigma-base through the real training loop on a real packed dataset: pack, fine-tune, pre-train, kill and resume.

The data: the sign.mt fingerspelling lexicon that ``spoken-to-signed`` ships (real MediaPipe Holistic ``.pose``
files, index.csv), or a copy of part of it (``--lexicon DIR``, as `prepare.py` stages it for the device), packed here
with `signkit.datasets.pack` (timed). The loader remaps MediaPipe Holistic to sigma-base's COCO-WholeBody-133 by
point names (points without a counterpart get confidence 0).

  finetune   ISLR (which of the lexicon's sign languages), ``--steps`` optimiser steps of `signkit.train.fit`:
             reader, schedule, clipping, logging and a final full checkpoint included
  pretrain   Sigma's objectives (HAL + SGT), the same loop. The text side must tokenise the letters/words of each
             sample on the host every step; the mT5 tokenizer is not on an offline machine, so this run uses
             sigma-base with the ByT5 tokenizer (no files; byte ids 0-258 lie inside mT5's vocabulary, so every
             shape is sigma-base's; targets are longer in bytes than in mT5 pieces)
  resume     the fine-tune in child processes: run A straight through, run A' again (the run-to-run noise floor),
             run B killed with SIGKILL mid-run (after a checkpoint, between two later ones), then resumed to the
             end. Pass: max |B - A| over every weight <= ``--resume-atol`` (default 1e-5: bf16 autocast, fp32 master
             weights; resume replays the data position and every RNG, so the only difference left is the GPU's
             non-deterministic reductions, which A' vs A measures)

Each phase writes its results to ``--out``/train_real.json as it finishes (atomic), with samples/s, peak memory and
the loss curve (metrics.jsonl's train events).

    python benchmarks/device/train_real.py --out OUT [--lexicon DIR] [--steps 200] [--batch-size 16]
    python benchmarks/device/train_real.py --out /tmp/o --config sigma-tiny --steps 2 --batch-size 2 ... (CPU smoke)
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve()


def lexicon_root(arg: str | None) -> Path:
    if arg:
        return Path(arg)
    from signkit.datasets.sources import get_source

    return get_source("fingerspelling-lexicon").default_root()


def write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, default=str))
    tmp.replace(path)


def do_pack(root: Path, out: Path, workers: int) -> dict:
    from signkit.datasets import Benchmark, pack

    t0 = time.perf_counter()
    report = pack(root, out, labels=Benchmark("fingerspelling-lexicon", root), workers=workers)
    seconds = time.perf_counter() - t0
    nbytes = sum(p.stat().st_size for p in root.rglob("*.pose"))
    return {
        "samples": report.total,
        "seconds": seconds,
        "input_mb": nbytes / 1e6,
        "input_mb_per_s": nbytes / 1e6 / seconds,
        "workers": workers,
        "lexicon": str(root),
    }


def model_config(name: str, task: str):
    from signkit.models import get_config

    cfg = get_config(name)
    if task == "pretrain" and cfg.tokenizer != "byt5":
        cfg.tokenizer = "byt5"  # the hub tokenizer is not on an offline machine (see the module docstring)
    return cfg


def build(name: str, task_name: str, packed: Path, device: torch.device):
    from signkit.models import create_model
    from signkit.train import make_task
    from signkit.train.run import label_space

    task = make_task(task_name, label_space(packed))
    cfg = model_config(name, task_name)
    with device:
        model = create_model(
            cfg, None if task_name == "pretrain" else task_name, task.num_classes if task_name == "islr" else None
        )
    return task, model


def train_config(args, task_name: str, packed: Path, steps: int, ckpt_every: int):
    from signkit.train import TrainConfig

    return TrainConfig(
        task=task_name,
        model=args.config,
        from_scratch=True,
        data=str(packed),
        max_steps=steps,
        batch_size=args.batch_size,
        lr=args.lr,
        warmup_steps=min(20, steps // 5),
        dev_split=None,
        max_frames=args.max_frames,
        num_workers=args.num_workers,
        ckpt_every=ckpt_every,
        log_every=args.log_every,
        keep_last=1,
        progress=False,
        seed=0,
    )


class KillAfter:
    """A batch source that SIGKILLs its own process after ``n`` batches: a crash the loop cannot clean up after."""

    def __init__(self, source, n: int):
        self.source, self.n, self.count = source, n, 0

    def batches(self, epoch: int):
        for batch in self.source.batches(epoch):
            self.count += 1
            if self.n and self.count > self.n:
                os.kill(os.getpid(), signal.SIGKILL)
            yield batch


def run_fit(
    args,
    task_name: str,
    packed: Path,
    run_dir: Path,
    steps: int,
    ckpt_every: int,
    device: torch.device,
    kill_after: int = 0,
    resume: bool = False,
) -> dict:
    from signkit.train import fit
    from signkit.train.checkpoint import seed_everything
    from signkit.train.data import DatasetSource

    seed_everything(0)
    task, model = build(args.config, task_name, packed, device)
    cfg = train_config(args, task_name, packed, steps, ckpt_every)
    src = DatasetSource(
        packed,
        "train",
        args.batch_size,
        training=True,
        seed=0,
        max_frames=args.max_frames,
        num_workers=args.num_workers,
        layout=model.config.layout,
    )
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    t0 = time.perf_counter()
    fit(task, model, KillAfter(src, kill_after) if kill_after else src, cfg, run_dir, resume=resume, device=device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - t0
    events = [json.loads(ln) for ln in (run_dir / "metrics.jsonl").read_text().splitlines() if ln.strip()]
    curve = [
        {k: e.get(k) for k in ("step", "loss", "lr", "samples_per_s", "grad_norm")}
        for e in events
        if e.get("event") == "train"
    ]
    rates = sorted(e["samples_per_s"] for e in curve[1:] if e.get("samples_per_s"))  # the first window warms up
    out = {
        "task": task_name,
        "config": args.config,
        "tokenizer": model.config.tokenizer,
        "steps": steps,
        "batch_size": args.batch_size,
        "max_frames": args.max_frames,
        "seconds": seconds,
        "samples_per_s_overall": steps * args.batch_size / seconds,
        "samples_per_s_median_window": rates[len(rates) // 2] if rates else None,
        "peak_mem_gib": torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None,
        "loss_first": curve[0]["loss"] if curve else None,
        "loss_last": curve[-1]["loss"] if curve else None,
        "loss_curve": curve,
        "train_samples": src.ds.num_samples,
    }
    del model
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return out


def final_weights(run_dir: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    from signkit.train.checkpoint import latest_checkpoint

    ckpt = latest_checkpoint(run_dir)
    if ckpt is None:
        raise SystemExit(f"{run_dir} holds no checkpoint")
    return load_file(str(Path(ckpt) / "model.safetensors"))


def max_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> tuple[float, int, str]:
    if a.keys() != b.keys():
        raise SystemExit("the two runs' checkpoints hold different tensors")
    worst, name, differing = 0.0, "", 0
    for k in a:
        d = (a[k].double() - b[k].double()).abs().max().item() if a[k].numel() else 0.0
        differing += d > 0
        if d > worst:
            worst, name = d, k
    return worst, differing, name


def child_cmd(args, run_dir: Path, kill_after: int, resume: bool) -> list[str]:
    cmd = [
        sys.executable,
        str(HERE),
        "--child",
        str(run_dir),
        "--kill-after",
        str(kill_after),
        "--out",
        args.out,
        "--packed",
        args.packed,
        "--config",
        args.config,
        "--batch-size",
        str(args.batch_size),
        "--lr",
        str(args.lr),
        "--max-frames",
        str(args.max_frames),
        "--num-workers",
        str(args.num_workers),
        "--device",
        args.device,
        "--resume-steps",
        str(args.resume_steps),
        "--log-every",
        str(args.log_every),
    ]
    return cmd + (["--resume"] if resume else [])


def resume_ckpt_every(steps: int) -> int:
    """Two checkpoints per run (sigma-base's weights + optimiser are several GB each: few writes)."""
    return max(1, steps // 2)


def resume_check(args, packed: Path, work: Path) -> dict:
    steps, every = args.resume_steps, resume_ckpt_every(args.resume_steps)
    kill_after = every + max(1, every // 3)  # after the first checkpoint, before the last
    env = {**os.environ, "CUBLAS_WORKSPACE_CONFIG": ":4096:8"}
    runs = {"A": work / "resume-A", "A2": work / "resume-A2", "B": work / "resume-B"}
    t0 = time.perf_counter()
    for name in ("A", "A2"):
        subprocess.run(child_cmd(args, runs[name], 0, False), check=True, env=env)
    killed = subprocess.run(child_cmd(args, runs["B"], kill_after, False), env=env)
    if killed.returncode != -signal.SIGKILL:
        raise SystemExit(f"run B was to be killed after {kill_after} batches but exited with {killed.returncode}")
    from signkit.train.checkpoint import latest_checkpoint

    at_kill = latest_checkpoint(runs["B"])
    subprocess.run(child_cmd(args, runs["B"], 0, True), check=True, env=env)
    a, a2, b = (final_weights(runs[k]) for k in ("A", "A2", "B"))
    noise, noise_n, _ = max_diff(a, a2)
    diff, diff_n, worst = max_diff(a, b)
    return {
        "task": "islr",
        "steps": steps,
        "ckpt_every": every,
        "killed_after_batches": kill_after,
        "checkpoint_at_kill": Path(at_kill).name if at_kill else None,
        "max_abs_diff_resumed_vs_straight": diff,
        "tensors_differing": diff_n,
        "worst_tensor": worst,
        "max_abs_diff_two_straight_runs": noise,
        "tensors_differing_two_straight_runs": noise_n,
        "tensors": len(a),
        "atol": args.resume_atol,
        "passed": diff <= args.resume_atol,
        # where the GPU's non-deterministic reductions alone exceed atol, this says whether resuming added anything
        "within_two_straight_runs_noise": diff <= 2 * noise if noise > 0 else diff == 0,
        "seconds": time.perf_counter() - t0,
        "deterministic_algorithms": True,
    }


def child(args) -> None:
    """One fine-tune run of the resume check (deterministic algorithms where torch has them)."""
    torch.use_deterministic_algorithms(True, warn_only=True)
    device = torch.device(args.device)
    steps = args.resume_steps
    run_fit(
        args,
        "islr",
        Path(args.packed),
        Path(args.child),
        steps,
        resume_ckpt_every(steps),
        device,
        kill_after=args.kill_after,
        resume=args.resume,
    )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="folder for train_real.json")
    ap.add_argument("--work", help="scratch folder for the pack and the runs (default: OUT/../train_real_work)")
    ap.add_argument("--lexicon", help="lexicon folder (index.csv + .pose files); default: spoken-to-signed's copy")
    ap.add_argument("--packed", help="an already packed dataset (skips the pack phase)")
    ap.add_argument(
        "--phases",
        nargs="+",
        default=["pack", "finetune", "pretrain", "resume"],
        choices=["pack", "finetune", "pretrain", "resume"],
    )
    ap.add_argument("--config", default="sigma-base")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--steps", type=int, default=200, help="optimiser steps of the fine-tune and the pre-train")
    ap.add_argument("--resume-steps", type=int, default=30, help="steps of each run of the resume check")
    ap.add_argument("--resume-atol", type=float, default=1e-5)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--max-frames", type=int, default=128)
    ap.add_argument("--num-workers", type=int, default=2)
    ap.add_argument("--pack-workers", type=int, default=min(8, os.cpu_count() or 1))
    ap.add_argument("--log-every", type=int, default=10)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--kill-after", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--resume", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        return child(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(args.work) if args.work else out.parent / "train_real_work"
    work.mkdir(parents=True, exist_ok=True)
    device = torch.device(args.device)
    result: dict = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "torch": torch.__version__,
        "phases": {},
    }
    path = out / "train_real.json"
    packed = Path(args.packed) if args.packed else work / "packed"
    if "pack" in args.phases and not args.packed:
        result["phases"]["pack"] = do_pack(lexicon_root(args.lexicon), packed, args.pack_workers)
        write_json(path, result)
        print("pack:", {k: v for k, v in result["phases"]["pack"].items()}, flush=True)
    args.packed = str(packed)
    for phase, task_name in (("finetune", "islr"), ("pretrain", "pretrain")):
        if phase in args.phases:
            r = run_fit(args, task_name, packed, work / f"run-{phase}", args.steps, args.steps, device)
            result["phases"][phase] = r
            write_json(path, result)
            print(
                f"{phase}: {r['samples_per_s_overall']:.1f} samples/s overall, median window "
                f"{r['samples_per_s_median_window']}, peak {r['peak_mem_gib']} GiB, loss {r['loss_first']} -> "
                f"{r['loss_last']}",
                flush=True,
            )
    if "resume" in args.phases:
        r = resume_check(args, packed, work)
        result["phases"]["resume"] = r
        write_json(path, result)
        print(
            f"resume: max |resumed - straight| {r['max_abs_diff_resumed_vs_straight']:.3g} "
            f"(two straight runs: {r['max_abs_diff_two_straight_runs']:.3g}), atol {r['atol']}: "
            f"{'passed' if r['passed'] else 'FAILED'}",
            flush=True,
        )


if __name__ == "__main__":
    main()
