"""Sigma training-step throughput: samples/s, step time, peak memory and model FLOP utilisation (MFU), lever by lever.

sigma-base (mT5-Base text side, Uni-Sign-sized sign encoder), bf16 autocast, T frames, COCO-WholeBody input, random
weights built on the device from the config (no download: the step costs the same). Objectives:

  lm    sign-to-text language modelling alone (the model built for task ``slt``): the work of Uni-Sign's pose-only
        step, the anchor of issue 18
  full  Sigma pre-training: HAL global + local, SGT matching (3B fused pairs) + LM

FLOPs are counted, not guessed: one eager step under `torch.utils.flop_counter.FlopCounterMode` (matmuls,
convolutions, attention; forward and backward; the optimiser's elementwise work is not counted). MFU = counted
FLOPs / step time / the card's dense bf16 peak from `PEAK_BF16_TFLOPS` (datasheet), and also against a bf16 matmul
measured on the card in the same run (what the card reaches on one large GEMM).

Levers, each a switch so that they are measured one at a time against the baseline (pre-tokenised text and prompt,
eager ST-GCN, SDPA attention):

  --tokenize-per-step    host work per step as Uni-Sign does it: the prompt and 12-word targets tokenised on the
                         host and copied to the device every step. The mT5 tokenizer is not on an offline machine,
                         so the ByT5 tokenizer (no files) stands in, padded / truncated to the same length
  --compile chains       torch.compile of the ST-GCN blocks (every `STGCNChain` of the sign encoder)
  --compile encoder      torch.compile of the whole sign encoder
  --compile-mode reduce-overhead   CUDA graphs for the compiled blocks (torch.compile's cudagraph trees)
  --attn eager           T5 attention on the math path (the relative position bias added to explicit scores), as
                         in Uni-Sign's transformers; the default ``sdpa`` passes the bias as SDPA's float mask (exact:
                         the same additive term before the softmax), which runs the memory-efficient kernel
  --batch-sizes 128 256  larger batches

Usage: python benchmarks/train_step.py [--batch-sizes 16 64] [--frames 256] [--objectives lm full] [--levers]
       [--json OUT.json] [--write docs/benchmarks.md]
       python benchmarks/train_step.py --config sigma-tiny --device cpu --batch-sizes 2 --frames 16 --steps 1
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from signkit.models import create_model, get_config

# Uni-Sign's own pose-only step (its code @2c9028f, mT5-Base, bf16 autocast, fused AdamW) on an H200, 256 frames:
# samples/s by batch size (issue 18's anchor).
UNISIGN_H200 = {16: 85.9, 64: 170.6}

# Dense (no sparsity) bf16 tensor-core peak, TFLOP/s, by the name torch.cuda.get_device_name() reports. Source:
# NVIDIA's datasheets, which print the sparse figure (2x); dense is half of it. H200 SXM: 1,979 sparse -> 989.5
# (H200 Tensor Core GPU datasheet, Nov 2024); H200 NVL: 1,671 -> 835.5 (same datasheet); H100 SXM: 1,979 -> 989.5,
# H100 PCIe: 1,513 -> 756.5 (H100 datasheet); A100: 312 dense (A100 datasheet). The longest matching key wins, so
# "NVIDIA H200 NVL" is not read as the SXM part. On this workplace's H200, an 8192^3 bf16 matmul measured 769-798.
PEAK_BF16_TFLOPS = {
    "H200 NVL": 835.5,
    "H200": 989.5,
    "H100 PCIe": 756.5,
    "H100 NVL": 835.5,
    "H100": 989.5,
    "A100": 312.0,
}
PEAK_SOURCE = "NVIDIA datasheet, dense bf16 tensor-core peak (half the printed sparse figure)"

PROMPT_TOKENS = 9  # Uni-Sign's prompt length in mT5 tokens
TARGET = "the weather will be cold and windy tomorrow so wear a warm coat"  # a 12-word target


@dataclass
class StepSpec:
    """One measurement: a model config, an objective, a shape and the levers switched on."""

    objective: str = "lm"
    batch: int = 16
    frames: int = 256
    text_len: int = 24
    config: str = "sigma-base"
    device: str = "cuda"
    steps: int = 10
    warmup: int = 3
    tokenize_per_step: bool = False
    compile: str = "none"  # none | chains | encoder
    compile_mode: str = "default"  # default | reduce-overhead (CUDA graphs) | max-autotune-no-cudagraphs
    attn: str = "sdpa"  # sdpa | eager
    precision: str = "bf16"  # bf16 autocast | fp32

    @property
    def levers(self) -> str:
        on = []
        if self.tokenize_per_step:
            on.append("tokenize-per-step")
        if self.compile != "none":
            on.append(f"compile={self.compile}" + (f"({self.compile_mode})" if self.compile_mode != "default" else ""))
        if self.attn != "sdpa":
            on.append(f"attn={self.attn}")
        return ", ".join(on) or "baseline"


def _set_prompt(model, ids: torch.Tensor) -> None:
    """Put ``ids`` in the model's prompt cache (per prompt text, `SigmaModel.prompt_ids`): no tokenising per step."""
    model._prompt_ids = {model.config.prompt.format(language=model.prompt_language(None)): ids}


def peak_tflops(device_name: str) -> float | None:
    """The dense bf16 peak of a card by its reported name (longest matching key), or None when unknown."""
    hits = [k for k in PEAK_BF16_TFLOPS if k in device_name]
    return PEAK_BF16_TFLOPS[max(hits, key=len)] if hits else None


def matmul_tflops(device: torch.device, n: int = 8192, reps: int = 10) -> float:
    """bf16 TFLOP/s of an n^3 matmul on random data (mean of ``reps`` after 3 warm-ups): the card's reachable peak."""
    a, b = (torch.randn(n, n, device=device, dtype=torch.bfloat16) for _ in range(2))
    for _ in range(3):
        a @ b
    torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    for _ in range(reps):
        a @ b
    torch.cuda.synchronize(device)
    return 2 * n**3 * reps / (time.perf_counter() - t0) / 1e12


def build(spec: StepSpec, device: torch.device):
    """The model for ``spec`` with random weights, initialised directly on the device (fast for sigma-base)."""
    cfg = get_config(spec.config)
    with device:
        model = create_model(cfg, "slt" if spec.objective == "lm" else None)
    if hasattr(model.text_model, "set_attn_implementation"):
        model.text_model.set_attn_implementation(spec.attn)
    elif spec.attn != "sdpa":
        raise SystemExit(f"this transformers cannot switch T5 attention to {spec.attn!r}")
    return model


def synthetic_batch(model, spec: StepSpec, device: torch.device) -> dict:
    """Poses of typical spread, every frame real, and pre-tokenised random text ids ending in EOS."""
    k = model.sign_encoder.layout.num_points
    vocab = model.text_model.config.vocab_size
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(3, vocab, (spec.batch, spec.text_len), generator=g)
    ids[:, -1] = model.text_model.config.eos_token_id
    batch = {
        "pose": torch.randn(spec.batch, spec.frames, k, 3, generator=g) * 0.5,
        "conf": torch.ones(spec.batch, spec.frames, k),
        "mask": torch.ones(spec.batch, spec.frames, dtype=torch.bool),
        "text_ids": ids,
        "text_mask": torch.ones(spec.batch, spec.text_len, dtype=torch.bool),
    }
    return {k: v.to(device) for k, v in batch.items()}


def apply_compile(model, spec: StepSpec) -> None:
    if spec.compile == "none":
        return
    kw = {} if spec.compile_mode == "default" else {"mode": spec.compile_mode}
    enc = model.sign_encoder
    if spec.compile == "encoder":
        enc.compile(**kw)
    elif spec.compile == "chains":
        for chains in (enc.gcn_modules, enc.fusion_gcn_modules):
            for chain in {id(m): m for m in chains.values()}.values():  # the hands share one chain
                chain.compile(**kw)
    else:
        raise SystemExit(f"--compile must be none, chains or encoder, not {spec.compile!r}")


def make_step(model, batch: dict, spec: StepSpec, device: torch.device):
    cuda = device.type == "cuda"
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=cuda)
    tokenizer = None
    if spec.tokenize_per_step:
        from transformers import ByT5Tokenizer

        tokenizer = ByT5Tokenizer(extra_ids=0)
        prompt = model.config.prompt
    else:  # pre-tokenised prompt, already on the device, of Uni-Sign's length
        vocab = model.text_model.config.vocab_size
        ids = torch.randint(3, vocab, (PROMPT_TOKENS,), generator=torch.Generator().manual_seed(1))
        _set_prompt(model, ids.to(device))
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if spec.precision == "bf16" else None

    def step() -> torch.Tensor:
        b = batch
        if tokenizer is not None:  # what a per-step-tokenising loop pays on the host, every step
            p = tokenizer(prompt, add_special_tokens=False)["input_ids"][:PROMPT_TOKENS]
            _set_prompt(model, torch.tensor(p, dtype=torch.long).to(device))
            enc = tokenizer(
                [TARGET] * spec.batch,
                padding="max_length",
                truncation=True,
                max_length=spec.text_len,
                return_tensors="pt",
            )
            b = {**batch, "text_ids": enc["input_ids"].to(device), "text_mask": enc["attention_mask"].to(device).bool()}
        with autocast or contextlib.nullcontext():
            loss = model(b).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss

    return step


def measure(spec: StepSpec, matmul_peak: float | None = None) -> dict:
    """Time ``spec.steps`` steps after warm-up; FLOPs from one eager counted step before any compilation."""
    device = torch.device(spec.device)
    cuda = device.type == "cuda"
    torch.manual_seed(0)

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize(device)

    model = build(spec, device)
    batch = synthetic_batch(model, spec, device)
    step = make_step(model, batch, spec, device)
    with FlopCounterMode(display=False) as fc:
        step()
    flops = fc.get_total_flops()
    apply_compile(model, spec)
    t0 = time.perf_counter()
    # compiled code is built on its first call and CUDA graphs are recorded on the next ones: never in the timing
    for _ in range(spec.warmup if spec.compile == "none" else max(spec.warmup, 3)):
        loss = step()
    sync()
    warmup_s = time.perf_counter() - t0
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    t0 = time.perf_counter()
    for _ in range(spec.steps):
        loss = step()
    sync()
    dt = (time.perf_counter() - t0) / spec.steps
    name = torch.cuda.get_device_name(device) if cuda else f"cpu ({platform.machine()})"
    peak = peak_tflops(name) if cuda else None
    tflops = flops / dt / 1e12
    out = {
        **asdict(spec),
        "levers": spec.levers,
        "samples_per_s": spec.batch / dt,
        "step_ms": dt * 1000,
        "warmup_s": warmup_s,
        "peak_mem_gib": torch.cuda.max_memory_allocated(device) / 2**30 if cuda else None,
        "tflop_per_step": flops / 1e12,
        "achieved_tflops": tflops,
        "peak_tflops": peak,
        "mfu": tflops / peak if peak else None,
        "matmul_tflops": matmul_peak,
        "mfu_vs_matmul": tflops / matmul_peak if matmul_peak else None,
        "loss": float(loss.detach()),
        "device_name": name,
    }
    peer = UNISIGN_H200.get(spec.batch)
    on_anchor = spec.objective == "lm" and "H200" in name and spec.frames == 256 and spec.config == "sigma-base"
    out["vs_unisign"] = out["samples_per_s"] / peer if peer and on_anchor else None
    del model, batch, step
    gc.collect()
    if cuda:
        torch.cuda.empty_cache()
    if spec.compile != "none":
        torch._dynamo.reset()
    return out


def lever_plan(
    batches: list[int], frames: int, config: str, device: str, steps: int, warmup: int, text_len: int
) -> list[StepSpec]:
    """Every measurement of issue 18, most important first: the two objectives at each batch size, then each lever
    alone on the LM objective, then larger batches, then the full objective with every lever that can only help."""
    base = dict(frames=frames, config=config, device=device, steps=steps, warmup=warmup, text_len=text_len)
    plan = [StepSpec(objective=o, batch=b, **base) for o in ("lm", "full") for b in batches]
    for b in batches:
        plan += [
            StepSpec(objective="lm", batch=b, tokenize_per_step=True, **base),
            StepSpec(objective="lm", batch=b, attn="eager", **base),
            StepSpec(objective="lm", batch=b, compile="chains", **base),
        ]
    big = max(batches)
    plan += [
        StepSpec(objective="lm", batch=big, compile="encoder", **base),
        StepSpec(objective="lm", batch=big, compile="chains", compile_mode="reduce-overhead", **base),
        StepSpec(objective="lm", batch=2 * big, **base),
        StepSpec(objective="lm", batch=4 * big, **base),
        StepSpec(objective="full", batch=big, compile="chains", **base),
    ]
    return plan


def fmt_row(r: dict) -> str:
    def f(v, spec):
        return "n/a" if v is None else format(v, spec)

    return (
        f"{r['objective']:4s} b={r['batch']:<4d} {r['levers']:32s} {r['samples_per_s']:9.1f} samples/s "
        f"{r['step_ms']:8.1f} ms  peak {f(r['peak_mem_gib'], '.1f')} GiB  {r['tflop_per_step']:.3f} TFLOP/step  "
        f"MFU {f(r['mfu'], '.1%')}  vs Uni-Sign {f(r['vs_unisign'], '.2f')}"
    )


def markdown(rows: list[dict]) -> str:
    lines = [
        "| objective | batch | levers | samples/s | step ms | peak GiB | TFLOP/step (counted) | MFU | vs Uni-Sign |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        mfu = f"{r['mfu']:.1%}" if r["mfu"] is not None else "n/a"
        vs = f"{r['vs_unisign']:.2f}x" if r["vs_unisign"] else "n/a"
        mem = f"{r['peak_mem_gib']:.1f}" if r["peak_mem_gib"] is not None else "n/a"
        cells = [
            r["objective"],
            r["batch"],
            r["levers"],
            f"{r['samples_per_s']:.1f}",
            f"{r['step_ms']:.1f}",
            mem,
            f"{r['tflop_per_step']:.2f}",
            mfu,
            vs,
        ]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)


def environment() -> dict:
    import transformers

    env = {"torch": torch.__version__, "transformers": transformers.__version__, "python": platform.python_version()}
    if torch.cuda.is_available():
        env.update(
            device_name=torch.cuda.get_device_name(), cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version()
        )
    return env


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[16, 64])
    ap.add_argument("--frames", type=int, default=256)
    ap.add_argument("--objectives", nargs="+", default=["lm", "full"], choices=["lm", "full"])
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--text-len", type=int, default=24, help="target tokens (a 12-word mT5 target is ~20)")
    ap.add_argument("--tokenize-per-step", action="store_true")
    ap.add_argument(
        "--compile",
        default="none",
        nargs="?",
        const="encoder",
        choices=["none", "chains", "encoder"],
        help="torch.compile the ST-GCN blocks (chains) or the sign encoder (encoder, also bare --compile)",
    )
    ap.add_argument("--write", help="append the Markdown table (with the card and versions) to this file")
    ap.add_argument(
        "--compile-mode", default="default", choices=["default", "reduce-overhead", "max-autotune-no-cudagraphs"]
    )
    ap.add_argument("--attn", default="sdpa", choices=["sdpa", "eager"])
    ap.add_argument("--precision", default=None, choices=["bf16", "fp32"], help="default: bf16 on CUDA, fp32 on CPU")
    ap.add_argument("--levers", action="store_true", help="run the whole lever plan of issue 18 (ignores the switches)")
    ap.add_argument("--no-compile", action="store_true", help="drop the torch.compile levers from --levers")
    ap.add_argument("--budget-s", type=float, default=None, help="stop starting measurements after this many seconds")
    ap.add_argument("--json", help="write every row (and the environment) to this JSON file, after each row")
    ap.add_argument("--config", default="sigma-base", help="sigma-tiny with --device cpu is a quick smoke run")
    ap.add_argument("--device", default="cuda")
    args = ap.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("needs a CUDA GPU (or --config sigma-tiny --device cpu for a smoke run)")
    precision = args.precision or ("bf16" if args.device.startswith("cuda") else "fp32")
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    start = time.perf_counter()
    common = dict(
        frames=args.frames,
        config=args.config,
        device=args.device,
        steps=args.steps,
        warmup=args.warmup,
        text_len=args.text_len,
    )
    if args.levers:
        plan = lever_plan(args.batch_sizes, **common)
        if args.no_compile:
            plan = [s for s in plan if s.compile == "none"]
    else:
        plan = [
            StepSpec(
                objective=o,
                batch=b,
                tokenize_per_step=args.tokenize_per_step,
                compile=args.compile,
                compile_mode=args.compile_mode,
                attn=args.attn,
                **common,
            )
            for o in args.objectives
            for b in args.batch_sizes
        ]
    for s in plan:
        s.precision = precision
    mm = matmul_tflops(torch.device(args.device)) if args.device.startswith("cuda") else None
    report: dict = {
        "environment": environment(),
        "peak_source": PEAK_SOURCE,
        "matmul_tflops": mm,
        "anchor_unisign_h200": UNISIGN_H200,
        "rows": [],
        "skipped": [],
        "errors": [],
    }
    if mm:
        print(f"bf16 8192^3 matmul: {mm:.0f} TFLOP/s", flush=True)

    def save() -> None:
        if args.json:
            tmp = Path(args.json + ".tmp")
            tmp.write_text(json.dumps(report, indent=1))
            tmp.replace(args.json)

    for spec in plan:
        if args.budget_s is not None and time.perf_counter() - start > args.budget_s:
            report["skipped"].append({**asdict(spec), "levers": spec.levers, "why": "time budget spent"})
            print(f"skipped (budget): {spec.objective} b={spec.batch} {spec.levers}", flush=True)
            continue
        row = None
        try:
            row = measure(spec, mm)
        except torch.cuda.OutOfMemoryError as e:  # a too-large batch is a result, not the end of the plan
            report["errors"].append({**asdict(spec), "levers": spec.levers, "error": f"out of memory: {e}"[:300]})
            print(f"out of memory: {spec.objective} b={spec.batch} {spec.levers}", flush=True)
        if row is None:  # the failed step's tensors are free only once the exception is gone
            gc.collect()
            torch.cuda.empty_cache()
            torch._dynamo.reset()
            save()
            continue
        report["rows"].append(row)
        print(fmt_row(row), flush=True)
        save()
    save()
    if report["rows"]:
        table = markdown(report["rows"])
        print(table)
        if args.write:
            env = report["environment"]
            head = (
                f"\n### Training step: {env.get('device_name', 'cpu')}, {args.config}, {precision}, {args.frames} "
                f"frames (torch {env['torch']}, CUDA {env.get('cuda')}, transformers {env['transformers']})\n\n"
            )
            with open(args.write, "a", encoding="utf-8") as f:
                f.write(head + table + "\n")


if __name__ == "__main__":
    main()
