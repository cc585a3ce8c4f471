"""Sigma training-step throughput on a GPU: samples/s, peak memory and model FLOP utilisation (MFU).

sigma-base (mT5-Base text side, Uni-Sign-sized sign encoder), bf16 autocast, T frames, COCO-WholeBody input,
random weights (the step costs the same). Objectives: ``lm`` (sign-to-text language modelling alone: the shape
Uni-Sign trains, and the one its peer number is for) and ``full`` (HAL global + local, SGT matching + LM).
Text is pre-tokenised (random ids of typical length, as the mT5 tokenizer is not on an offline machine) and
every input is on the GPU before timing: no per-step host work.

The peer: Uni-Sign's own pose-only step (its code, mT5-Base, bf16) measured 86 samples/s at batch 16 x 256
frames and 171 at batch 64 on an H200; ratios against it are printed only on an H200.

Usage: python benchmarks/train_step.py [--batch-sizes 16 64] [--frames 256] [--objectives lm full]
       [--compile] [--write docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from signkit.models import create_model, get_config

UNISIGN_H200 = {16: 86.0, 64: 171.0}  # samples/s, Uni-Sign pose-only, mT5-Base, bf16, 256 frames
BF16_PEAK_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0}  # dense bf16 tensor-core peak


def synthetic_batch(model, b: int, t: int, text_len: int, device) -> dict:
    k = model.sign_encoder.layout.num_points
    vocab = model.text_model.config.vocab_size
    ids = torch.randint(3, vocab, (b, text_len), device=device)
    ids[:, -1] = model.text_model.config.eos_token_id
    return {
        "pose": torch.randn(b, t, k, 3, device=device) * 0.5,
        "conf": torch.ones(b, t, k, device=device),
        "mask": torch.ones(b, t, dtype=torch.bool, device=device),
        "text_ids": ids,
        "text_mask": torch.ones(b, text_len, dtype=torch.bool, device=device),
    }


def lm_step_loss(model, batch):
    enc, enc_mask, _, _ = model.encode_sign_tokens(batch)
    return model._lm(enc, enc_mask, batch["text_ids"], batch["text_mask"])


def measure(objective: str, b: int, t: int, steps: int, warmup: int, compile_encoder: bool, text_len: int,
            config: str = "sigma-base", device_name: str = "cuda") -> dict:  # fmt: skip
    device = torch.device(device_name)
    cuda = device.type == "cuda"
    torch.manual_seed(0)
    model = create_model(get_config(config)).to(device)
    vocab = model.text_model.config.vocab_size
    model._prompt_ids = torch.randint(3, vocab, (9,), device=device)  # a prompt of Uni-Sign's length, pre-tokenised
    if compile_encoder:
        model.sign_encoder.compile()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
    batch = synthetic_batch(model, b, t, text_len, device)

    def sync():
        if cuda:
            torch.cuda.synchronize()

    def step():
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cuda):
            loss = lm_step_loss(model, batch) if objective == "lm" else model(batch).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    for _ in range(warmup):
        step()
    sync()
    with FlopCounterMode(display=False) as fc:
        step()
    flops = fc.get_total_flops()
    sync()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    sync()
    dt = (time.perf_counter() - t0) / steps
    name = torch.cuda.get_device_name() if cuda else "cpu"
    peak = next((v for k, v in BF16_PEAK_TFLOPS.items() if k in name), None)
    return {
        "objective": objective,
        "batch": b,
        "frames": t,
        "compiled_sign_encoder": compile_encoder,
        "samples_per_s": b / dt,
        "step_ms": dt * 1000,
        "peak_mem_gib": torch.cuda.max_memory_allocated() / 2**30 if cuda else float("nan"),
        "tflops_per_step": flops / 1e12,
        "mfu": (flops / dt / 1e12 / peak) if peak else None,
        "device": name,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[16, 64])
    ap.add_argument("--frames", type=int, default=256)
    ap.add_argument("--objectives", nargs="+", default=["lm", "full"], choices=["lm", "full"])
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--text-len", type=int, default=24)
    ap.add_argument("--compile", action="store_true", help="torch.compile the sign encoder")
    ap.add_argument("--write", help="append a Markdown table to this file (docs/benchmarks.md)")
    ap.add_argument("--config", default="sigma-base", help="sigma-tiny with --device cpu is a quick smoke run")
    ap.add_argument("--device", default="cuda")
    args = ap.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("needs a CUDA GPU (or --config sigma-tiny --device cpu for a smoke run)")
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    rows = []
    for objective in args.objectives:
        for b in args.batch_sizes:
            r = measure(objective, b, args.frames, args.steps, args.warmup, args.compile, args.text_len,
                        args.config, args.device)  # fmt: skip
            peer = UNISIGN_H200.get(b) if objective == "lm" and "H200" in r["device"] and args.frames == 256 else None
            r["vs_unisign"] = r["samples_per_s"] / peer if peer else None
            rows.append(r)
            print({k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()}, flush=True)
            if args.device == "cuda":
                torch.cuda.empty_cache()
    if args.write:
        lines = [
            "",
            f"## Sigma training step ({rows[0]['device']}, {args.config}, bf16, {args.frames} frames)",
            "",
            "| objective | batch | compiled encoder | samples/s | step ms | peak GiB | TFLOP/step | MFU "
            "| vs Uni-Sign |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for r in rows:
            mfu = f"{r['mfu']:.1%}" if r["mfu"] is not None else "n/a"
            vs = f"{r['vs_unisign']:.2f}x" if r["vs_unisign"] else "n/a"
            cells = [r["objective"], r["batch"], r["compiled_sign_encoder"], f"{r['samples_per_s']:.1f}",
                     f"{r['step_ms']:.1f}", f"{r['peak_mem_gib']:.1f}", f"{r['tflops_per_step']:.2f}", mfu, vs]
            lines.append("| " + " | ".join(str(c) for c in cells) + " |")
        with open(args.write, "a", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
