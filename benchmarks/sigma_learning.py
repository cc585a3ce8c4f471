"""Evidence of learning (not a test): sigma-tiny on the real fingerspelling lexicon that spoken-to-signed ships.

600 real MediaPipe Holistic recordings, one fingerspelled letter each, in ~21 sign languages. Languages are split
(seeded) into pre-training/fine-tuning languages and held-out languages, so nothing of the held-out signers or
their alphabets is seen before evaluation.

1. Pre-train sigma-tiny with the full Sigma objective (HAL global + local, SGT matching + LM) on the training
   languages, text = the spelled letter; print every loss term per epoch, and sign->text retrieval R@1/R@5 against
   chance on the training and the held-out languages.
2. Downstream ISLR (letter classes of the training languages): fine-tune from the pre-trained backbone and from
   scratch with the same recipe; top-1/top-5 on the held-out languages' samples whose letter is a known class.

Usage: python benchmarks/sigma_learning.py [--pretrain-epochs 20 --finetune-epochs 20] [--json out.json]
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import time
from pathlib import Path

import numpy as np
import torch

import signkit
from signkit.models import create_model, get_config

LAYOUT = "mediapipe-holistic-refined"
MAX_FRAMES = 48


def lexicon_dir() -> Path:
    import spoken_to_signed

    return Path(spoken_to_signed.__file__).parent / "assets" / "fingerspelling_lexicon"


def load_lexicon() -> list[dict]:
    root = lexicon_dir()
    samples, cache = [], {}
    with open(root / "index.csv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            path = root / row["path"]
            if not path.exists():
                continue
            if path not in cache:
                cache[path] = signkit.normalize(signkit.load_pose(path))
            pose = cache[path]
            if pose.layout != LAYOUT:
                raise SystemExit(f"{path}: expected layout {LAYOUT}, got {pose.layout}")
            # Some files hold several letters; the index gives each one's span in milliseconds.
            start = int(round(float(row["start"]) / 1000 * pose.fps))
            end = min(int(round(float(row["end"]) / 1000 * pose.fps)) or pose.num_frames, pose.num_frames)
            if end - start < 2:
                raise SystemExit(f"{path}: span {row['start']}-{row['end']} ms holds no frames")
            keep = np.arange(start, end)
            if len(keep) > MAX_FRAMES:  # a few recordings are minutes long: sample them uniformly
                keep = np.linspace(start, end - 1, MAX_FRAMES).round().astype(int)
            samples.append(
                {
                    "key": f"{path.stem}-{start}",
                    "language": row["signed_language"],
                    "text": row["words"],
                    "pose": pose.coords[keep],
                    "conf": pose.conf[keep],
                }
            )
    return samples


def collate(items: list[dict]) -> dict:
    t = max(len(s["pose"]) for s in items)
    k = items[0]["pose"].shape[1]
    pose = np.zeros((len(items), t, k, 3), np.float32)
    conf = np.zeros((len(items), t, k), np.float32)
    for i, s in enumerate(items):
        pose[i, : len(s["pose"])] = s["pose"]
        conf[i, : len(s["pose"])] = s["conf"]
    lengths = torch.tensor([len(s["pose"]) for s in items])
    return {
        "pose": torch.from_numpy(pose),
        "conf": torch.from_numpy(conf),
        "mask": torch.arange(t)[None] < lengths[:, None],
        "length": lengths,
        "text": [s["text"] for s in items],
        "key": [s["key"] for s in items],
        "label": torch.tensor([s.get("label", -1) for s in items]),
    }


def batches(samples: list[dict], size: int, rng: random.Random | None = None):
    order = list(range(len(samples)))
    if rng is not None:
        rng.shuffle(order)
    for i in range(0, len(order), size):
        chunk = [samples[j] for j in order[i : i + size]]
        if rng is None or len(chunk) > 1:
            yield collate(chunk)


def train(model, samples, epochs, lr, batch_size, seed, log) -> list[dict]:
    rng = random.Random(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    steps = epochs * ((len(samples) + batch_size - 1) // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    history = []
    for epoch in range(epochs):
        model.train()
        sums: dict[str, float] = {}
        n = 0
        t0 = time.time()
        for batch in batches(samples, batch_size, rng):
            out = model(batch)
            opt.zero_grad()
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            for k, v in {"loss": out.loss, **out.terms}.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach())
            n += 1
        row = {"epoch": epoch + 1, **{k: round(v / n, 4) for k, v in sums.items()}, "seconds": round(time.time() - t0)}
        history.append(row)
        log(row)
    return history


@torch.no_grad()
def retrieval(model, samples) -> dict:
    """Sign -> text: rank the distinct texts of ``samples`` for each sign; chance R@k = k / #texts."""
    model.eval()
    texts = sorted({s["text"] for s in samples})
    text_emb = model.embed_text(texts)
    ranks = []
    for batch in batches(samples, 64):
        sims = model.embed_sign(batch) @ text_emb.t()
        order = sims.argsort(dim=1, descending=True)
        for i, t in enumerate(batch["text"]):
            ranks.append(int((order[i] == texts.index(t)).nonzero()) + 1)
    ranks = np.array(ranks)
    u = len(texts)
    return {
        "texts": u,
        "R@1": float((ranks <= 1).mean()),
        "R@5": float((ranks <= 5).mean()),
        "chance@1": 1 / u,
        "chance@5": min(5, u) / u,
    }


@torch.no_grad()
def accuracy(model, samples) -> dict:
    model.eval()
    top1 = top5 = 0
    for batch in batches(samples, 64):
        idx, _ = model.predict(batch, k=5)
        label = batch["label"][:, None]
        top1 += int((idx[:, :1] == label).any(1).sum())
        top5 += int((idx == label).any(1).sum())
    return {"top1": top1 / len(samples), "top5": top5 / len(samples), "n": len(samples)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pretrain-epochs", type=int, default=20)
    ap.add_argument("--finetune-epochs", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--heldout-languages", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    log = lambda row: print(json.dumps(row), flush=True)

    samples = load_lexicon()
    languages = sorted({s["language"] for s in samples})
    random.Random(args.seed).shuffle(languages)
    heldout = set(languages[: args.heldout_languages])
    train_set = [s for s in samples if s["language"] not in heldout]
    test_set = [s for s in samples if s["language"] in heldout]
    log(
        {
            "samples": len(samples),
            "train": len(train_set),
            "heldout": len(test_set),
            "heldout_languages": sorted(heldout),
        }
    )

    cfg = get_config("sigma-tiny")
    cfg.layout = LAYOUT
    torch.manual_seed(args.seed)
    pre = create_model(cfg)
    results: dict = {"config": cfg.to_dict(), "args": {k: str(v) for k, v in vars(args).items()}}
    results["retrieval_before"] = {"train": retrieval(pre, train_set), "heldout": retrieval(pre, test_set)}
    log({"retrieval_before": results["retrieval_before"]})
    results["pretrain"] = train(pre, train_set, args.pretrain_epochs, args.lr, args.batch_size, args.seed, log)
    results["retrieval_after"] = {"train": retrieval(pre, train_set), "heldout": retrieval(pre, test_set)}
    log({"retrieval_after": results["retrieval_after"]})

    classes = sorted({s["text"] for s in train_set})
    for s in samples:
        s["label"] = classes.index(s["text"]) if s["text"] in classes else -1
    test_known = [s for s in test_set if s["label"] >= 0]
    results["downstream"] = {"classes": len(classes), "heldout_samples": len(test_known)}
    for name in ("pretrained", "scratch"):
        torch.manual_seed(args.seed + 1)
        model = create_model(cfg, task="islr", num_classes=len(classes))
        if name == "pretrained":
            missing, unexpected = model.load_state_dict(pre.state_dict(), strict=False)
            assert not unexpected and all(k.startswith("head.") for k in missing), (missing, unexpected)
        hist = train(model, train_set, args.finetune_epochs, args.lr, args.batch_size, args.seed, log)
        res = {
            "final_train_loss": hist[-1]["loss"],
            "train": accuracy(model, train_set),
            "heldout": accuracy(model, test_known),
        }
        results["downstream"][name] = res
        log({name: res})
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
