"""Training-loop overhead: samples/s of `signkit.train.fit` against a bare step loop on the same batches (CPU or GPU).

Both train the same model (``sigma-tiny`` ISLR by default) from the same initial weights for the same number of
steps. The peer is the limit: a bare ``forward / backward / AdamW step`` loop over batches already collated in
memory. Ours reads a packed dataset through the reader, remaps the layout, schedules the learning rate, clips
gradients, logs to metrics.jsonl and writes a full checkpoint (weights, optimiser, RNG) every ``--ckpt-every``
steps. The ratio ours / bare is the cost of everything the loop adds (goal: >= 0.9).

    python benchmarks/train_loop.py [--steps 30] [--batch-size 8] [--frames 16] [--ckpt-every 10]
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from signkit.datasets import SampleRecord, pack
from signkit.models import create_model
from signkit.pose import Pose, get_layout, save_pose
from signkit.train import TrainConfig, fit, make_task
from signkit.train.checkpoint import seed_everything
from signkit.train.data import DatasetSource
from signkit.train.run import label_space


def make_dataset(root: Path, samples: int, frames: int, classes: int) -> Path:
    lay = get_layout("mediapipe-holistic")
    rng = np.random.default_rng(0)
    poses = root / "poses"
    poses.mkdir(parents=True)
    records = []
    for i in range(samples):
        coords = rng.uniform(0, 640, size=(frames, lay.num_points, 3)).astype(np.float32)
        coords[:, lay.index("left_shoulder")] = [370, 240, 0]
        coords[:, lay.index("right_shoulder")] = [270, 240, 0]
        conf = np.ones((frames, lay.num_points), np.float32)
        save_pose(Pose(coords, conf, 25.0, lay.name, {"frame_size": [640, 480]}), poses / f"s{i:04d}.npz")
        records.append(
            SampleRecord(key=f"s{i:04d}", split="train", source="bench", label=i % classes, gloss=f"C{i % classes}")
        )
    pack(poses, root / "packed", labels=records, classes=[f"C{c}" for c in range(classes)])
    return root / "packed"


def bare(model, batches, steps: int, device) -> float:
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    model.to(device).train()
    t0 = time.perf_counter()
    for i in range(steps):
        batch = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batches[i % len(batches)].items()}
        model(batch).loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="sigma-tiny")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--ckpt-every", type=int, default=10)
    args = ap.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    with tempfile.TemporaryDirectory() as tmp:
        data = make_dataset(Path(tmp), samples=args.batch_size * 8, frames=args.frames, classes=10)
        task = make_task("islr", label_space(data))
        cfg = TrainConfig(
            task="islr",
            model=args.model,
            data=str(data),
            max_steps=args.steps,
            batch_size=args.batch_size,
            dev_split=None,
            ckpt_every=args.ckpt_every,
            log_every=10,
            warmup_steps=2,
            progress=False,
        )
        src = DatasetSource(data, "train", args.batch_size, training=True, layout="mediapipe-holistic")
        batches = list(src.batches(0))
        seed_everything(0)
        model = create_model(args.model, "islr", task.num_classes)
        bare(model, batches, 2, device)  # warm-up (allocator, kernels)
        seed_everything(0)
        model = create_model(args.model, "islr", task.num_classes)
        t_bare = bare(model, batches, args.steps, device)
        seed_everything(0)
        model = create_model(args.model, "islr", task.num_classes)
        t0 = time.perf_counter()
        fit(task, model, src, cfg, Path(tmp) / "run", device=device)
        t_ours = time.perf_counter() - t0
    n = args.steps * args.batch_size
    where = (
        torch.cuda.get_device_name()
        if device.type == "cuda"
        else f"CPU ({platform.machine()}, {torch.get_num_threads()} threads)"
    )
    print(f"device: {where}; {args.model} islr, batch {args.batch_size} x {args.frames} frames, {args.steps} steps")
    print(f"bare step loop (limit): {n / t_bare:8.2f} samples/s")
    print(
        f"signkit.train.fit:      {n / t_ours:8.2f} samples/s  (reader, schedule, clipping, logs, "
        f"{args.steps // args.ckpt_every} checkpoints)"
    )
    print(f"ratio ours / bare: {t_bare / t_ours:.2f}  (goal >= 0.9)")


if __name__ == "__main__":
    main()
