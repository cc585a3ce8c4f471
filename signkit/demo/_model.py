"""The demo's model half, in a few CPU minutes. ISLR: pack the real fingerspelling lexicon of ``spoken-to-signed``
(600 MediaPipe Holistic clips, 19 sign languages), fine-tune the shipped ``sigma-tiny`` to identify the sign
language, and evaluate it on the test split against the majority class. CSLR: compose fingerspelled words from the
same letter clips (the ``fs-words`` source), fine-tune ``sigma-tiny`` with CTC over letters for about a minute, and
score the letter WER on words never seen in training against the trivial answers. Each step resumes: finished pose
files and packs are reused, a finished run is not trained again. Torch is imported only when a step runs.
"""

from __future__ import annotations

from typing import Any

from ._context import DemoContext

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

# American fingerspelling (26 letter clips): words of 3-5 letters from wordfreq's English list, split by word.
DEMO_WORDS = "by-word,languages=ase,words=80,max_letters=5"
DEMO_CSLR: dict[str, Any] = dict(
    task="cslr",
    model="sigma-tiny",
    max_steps=100,
    batch_size=8,
    lr=2e-3,
    warmup_steps=5,
    dev_split=None,
    eval_every=100,
    ckpt_every=20,
    log_every=10,
    seed=0,
)


def pack_step(ctx: DemoContext) -> dict:
    from ..datasets import Benchmark, pack
    from ..datasets.sources import get_source

    out = ctx.packed
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


def _train(config: dict[str, Any], data, run) -> Any:
    from ..train.config import TrainConfig
    from ..train.run import CONFIG_JSON, finetune

    _one_thread_unless_asked()
    return finetune(TrainConfig(data=str(data), **config), run, resume=(run / CONFIG_JSON).is_file())


def finetune_step(ctx: DemoContext) -> dict:
    result = _train(DEMO_TRAIN, ctx.packed, ctx.run)
    return {"run": str(ctx.run), "steps": result.state.step, "best_dev_top1": result.state.best_metric}


def evaluate_step(ctx: DemoContext) -> dict:
    from ..train.evaluate import evaluate

    result = evaluate(ctx.run, ctx.packed, split="test")
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


def words_step(ctx: DemoContext) -> dict:
    """Compose the fingerspelled words (resumable: composed words are kept) and pack them."""
    from ..datasets import Benchmark, pack
    from ..datasets.sources import write_poses

    written, kept = write_poses("fs-words", None, ctx.word_poses, subset=DEMO_WORDS)
    out = ctx.words_packed
    if (out / "dataset.json").is_file():
        return {"dataset": str(out), "reused": True}
    report = pack(ctx.word_poses, out, labels=Benchmark("fs-words", subset=DEMO_WORDS), workers=ctx.workers or 1)
    return {"dataset": str(out), "words": report.total, "composed": written, "source": f"fs-words {DEMO_WORDS}"}


def cslr_step(ctx: DemoContext) -> dict:
    """Fine-tune CSLR (CTC over letters) and score letter WER on the test split's unseen words."""
    from ..train.evaluate import evaluate

    result = _train(DEMO_CSLR, ctx.words_packed, ctx.cslr_run)
    ev = evaluate(ctx.cslr_run, ctx.words_packed, split="test")
    m = ev.metrics["metrics"]
    wer, empty, top = m["wer"], m["baseline_wer_empty"], m["baseline_wer_most_frequent"]
    return {
        "summary": f"fingerspelling recognition (CTC over letters, {result.state.step} steps), letter WER on "
        f"{ev.metrics['samples']} unseen words {wer:.1f}% vs {empty:.1f}% for empty output and {top:.1f}% for the "
        "most frequent training word",
        "wer": wer,
        "baseline_wer_empty": empty,
        "baseline_wer_most_frequent": top,
        "samples": ev.metrics["samples"],
        "metrics": str(ev.metrics_file),
    }
