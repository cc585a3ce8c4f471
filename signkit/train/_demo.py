"""The demo's model half (steps of `signkit.demo.STEPS`): pack the real fingerspelling lexicon of
``spoken-to-signed`` (600 MediaPipe Holistic clips, 19 sign languages), fine-tune ``sigma-tiny`` to identify the
sign language, and evaluate it on the test split against the majority-class baseline, in a few minutes on 2 CPU
cores. Each step resumes: a finished pack is reused, a finished run is not trained again.
"""

from __future__ import annotations

from typing import Any

# Small enough for a few CPU minutes, large enough to beat the majority class by a wide margin.
DEMO_TRAIN: dict[str, Any] = dict(
    task="islr",
    model="sigma-tiny",
    max_steps=60,
    batch_size=8,
    lr=2e-3,
    warmup_steps=5,
    max_frames=16,
    eval_every=30,
    ckpt_every=10,
    log_every=10,
    seed=0,
)


def pack_step(ctx) -> dict:
    from ..datasets import Benchmark, pack
    from ..datasets.sources import get_source

    out = ctx.out_dir / "packed"
    ctx.state["packed"] = out
    if (out / "dataset.json").is_file():
        return {"dataset": str(out), "reused": True}
    root = get_source("fingerspelling-lexicon").default_root()
    report = pack(root, out, labels=Benchmark("fingerspelling-lexicon", root), workers=ctx.workers or 1)
    return {"dataset": str(out), "samples": report.total, "source": "fingerspelling-lexicon (spoken-to-signed)"}


def _one_thread_unless_asked() -> None:
    """sigma-tiny is too small to gain from intra-op threads: on 2 cores, 10 demo steps took 11.5 s with one torch
    thread and 19.2 s with two (measured); one thread is also how the shipped sigma-tiny was trained."""
    import os

    import torch

    if "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(1)


def finetune_step(ctx) -> dict:
    from .config import TrainConfig
    from .run import CONFIG_JSON, finetune

    _one_thread_unless_asked()

    run = ctx.out_dir / "run"
    ctx.state["run"] = run
    config = TrainConfig(data=str(ctx.state["packed"]), **DEMO_TRAIN)
    result = finetune(config, run, resume=(run / CONFIG_JSON).is_file())
    return {"run": str(run), "steps": result.state.step, "best_dev_top1": result.state.best_metric}


def evaluate_step(ctx) -> dict:
    from .evaluate import evaluate

    result = evaluate(ctx.state["run"], ctx.state["packed"], split="test")
    m = result.metrics["metrics"]
    top1, base = m["top1"], m["majority_baseline_top1"]
    return {
        "summary": f"sign-language identification (19 classes), test top-1 {top1:.1f}% / top-5 {m['top5']:.1f}% "
        f"vs majority-class baseline {base:.1f}%",
        "top1": top1,
        "top5": m["top5"],
        "majority_baseline_top1": base,
        "samples": result.metrics["samples"],
        "metrics": str(result.metrics_file),
    }
