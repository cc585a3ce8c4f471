"""CSLR, SLT and pre-training on fingerspelled words (the ``fs-words`` source), measured against trivial baselines.

Not a test: minutes of CPU. One packed ``fs-words`` dataset split ``by-sign-language`` serves both questions: its
dev split holds words never seen in training (training sign languages), its test split the held-out sign languages
(alphabets never seen). Steps, all with the same seed and recipe:

1. sign -> word retrieval (R@1/R@5 vs chance) with a randomly initialised sigma-tiny;
2. pre-train sigma-tiny from scratch with the full objective (HAL + SGT) on the training split; retrieval again;
3. fine-tune CSLR (CTC over letters) and SLT (generate the word) from scratch and from that pre-training; letter
   WER against the most-frequent-letter-sequence and empty-output baselines, exact match / chrF / BLEU;
4. the same fine-tuning from the shipped ``sigma-tiny.fs-lexicon`` (HAL + SGT on 472 of the very letter clips the
   words are composed of, every sign language's: its test numbers are not on unseen alphabets).

    signkit datasets poses fs-words -o poses/fs-words       # 40 words per sign language (20 are used below)
    signkit pack poses/fs-words -o packed/fs-words-sl --dataset fs-words --subset by-sign-language,words=20
    nice python benchmarks/fs_words_learning.py --data packed/fs-words-sl --out runs/fs-words \
        --pretrain-steps 100 --finetune-steps 120 --batch-size 8

Each stage writes OUT/stages/NAME.json when it ends (a stopped run keeps what it measured; a finished stage is not
run again); ``--stages`` runs some of them, so independent stages can run as parallel processes on a shared machine
(``pretrain,cslr_scratch,slt_scratch`` first, then ``cslr_pretrained,slt_pretrained``). OUT/results.json gathers
every finished stage; the last lines print them as a table.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import torch

from signkit._atomic import atomic_path
from signkit.train import metrics
from signkit.train.config import TrainConfig
from signkit.train.data import DatasetSource, split_glosses
from signkit.train.evaluate import evaluate
from signkit.train.run import finetune, pretrain

RECIPE = dict(model="sigma-tiny", batch_size=16, lr=2e-3, warmup_steps=10, log_every=10, progress=False, seed=0)


@torch.no_grad()
def retrieval(model: torch.nn.Module, data: str, split: str) -> dict:
    """Sign -> word R@1/R@5 (%) against chance, over the split's distinct words."""
    model.eval()
    src = DatasetSource(data, split, 32, training=False, layout=model.config.layout)  # remapped as in training
    signs, texts, langs = [], [], []
    for batch in src.batches(0):
        batch = {**batch, "pose": batch["pose"].float(), "conf": batch["conf"].float()}
        signs.append(model.embed_sign(batch))
        texts += batch["text"]
        langs += batch["language"]
    sign = torch.cat(signs)
    out = {"samples": len(texts)}
    # candidates: that sign language's words of the split ("lang"), or every word of the split ("all")
    groups = {
        "lang": [[i for i, g in enumerate(langs) if g == lang] for lang in sorted(set(langs))],
        "all": [list(range(len(texts)))],
    }
    for name, group in groups.items():
        hits = {"r1": 0.0, "r5": 0.0, "chance_r1": 0.0, "chance_r5": 0.0}
        for idx in group:
            words = sorted({texts[i] for i in idx})
            emb = model.embed_text(words)
            sim = sign[idx] @ emb.T
            target = torch.tensor([words.index(texts[i]) for i in idx])
            rank = (sim > sim[torch.arange(len(idx)), target][:, None]).sum(1)
            hits["r1"] += float((rank < 1).sum())
            hits["r5"] += float((rank < 5).sum())
            hits["chance_r1"] += len(idx) * min(1, 1 / len(words))
            hits["chance_r5"] += len(idx) * min(1, 5 / len(words))
        for k, v in hits.items():
            out[k if name == "lang" else f"{k}_all"] = round(100 * v / len(texts), 2)
    return out


def baselines(data: str, split: str) -> dict:
    """Letter WER of the most frequent training letter sequence, and of empty output (what evaluate reports)."""
    return metrics.wer_baselines(split_glosses(data, "train"), split_glosses(data, split))


def score(run: Path, data: str, split: str, task: str) -> dict:
    r = evaluate(run, data, split=split, out_dir=run / f"eval-{split}")
    m = dict(r.metrics["metrics"])
    if task == "slt":
        preds = [json.loads(line) for line in r.predictions.read_text().splitlines() if line.strip()]
        m["exact"] = round(100 * sum(p["hyp"].strip() == p["ref"].strip() for p in preds) / len(preds), 2)
        m["examples"] = [(p["ref"], p["hyp"]) for p in preds[:5]]
    else:
        preds = [json.loads(line) for line in r.predictions.read_text().splitlines() if line.strip()]
        m["examples"] = [(p["ref"], p["hyp"]) for p in preds[:5]]
    return m


STAGES = (
    "baselines_dev",
    "baselines_test",
    "retrieval_before_dev",
    "retrieval_before_test",
    "pretrain",
    "retrieval_after_dev",
    "retrieval_after_test",
    "cslr_scratch",
    "slt_scratch",
    "cslr_pretrained",
    "slt_pretrained",
    "cslr_lexicon",
    "slt_lexicon",
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="fs-words packed with --subset by-sign-language")
    ap.add_argument("--out", required=True)
    ap.add_argument("--pretrain-steps", type=int, default=150)
    ap.add_argument("--finetune-steps", type=int, default=150)
    ap.add_argument("--stages", default=",".join(STAGES), help=f"comma-separated, of {', '.join(STAGES)}")
    ap.add_argument("--batch-size", type=int, default=RECIPE["batch_size"])
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    RECIPE["batch_size"] = args.batch_size
    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    unknown = sorted(set(stages) - set(STAGES))
    if unknown:
        ap.error(f"unknown stages {unknown}; known: {', '.join(STAGES)}")
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    (out / "stages").mkdir(parents=True, exist_ok=True)

    def write(path: Path, value) -> None:
        with atomic_path(path) as tmp:
            Path(tmp).write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n")

    def timed(name, fn):
        file = out / "stages" / f"{name}.json"
        if file.is_file() or name not in stages:
            return
        t0 = time.monotonic()
        value = fn()
        value = value if isinstance(value, dict) else {"value": value}
        value["seconds"] = round(time.monotonic() - t0, 1)
        write(file, value)
        print(name, json.dumps(value, ensure_ascii=False)[:400], flush=True)

    from signkit.models import create_model
    from signkit.train.checkpoint import seed_everything
    from signkit.zoo import load

    timed("baselines_dev", lambda: baselines(args.data, "dev"))
    timed("baselines_test", lambda: baselines(args.data, "test"))
    if {"retrieval_before_dev", "retrieval_before_test"} & set(stages):
        seed_everything(0)
        init = create_model("sigma-tiny")  # the same random weights pre-training starts from (seed 0)
        timed("retrieval_before_dev", lambda: retrieval(init, args.data, "dev"))
        timed("retrieval_before_test", lambda: retrieval(init, args.data, "test"))
    pre = out / "pretrain"

    def do_pretrain():
        cfg = TrainConfig(
            task="pretrain",
            data=args.data,
            max_steps=args.pretrain_steps,
            dev_split="dev",
            eval_every=args.pretrain_steps,
            ckpt_every=args.pretrain_steps,
            **RECIPE,
        )
        r = pretrain(cfg, pre, resume=(pre / "config.json").is_file())
        return {"steps": r.state.step, "dev_loss": r.state.best_metric}

    timed("pretrain", do_pretrain)
    if {"retrieval_after_dev", "retrieval_after_test"} & set(stages):
        trained = load(str(pre), task="pretrain")
        timed("retrieval_after_dev", lambda: retrieval(trained, args.data, "dev"))
        timed("retrieval_after_test", lambda: retrieval(trained, args.data, "test"))
    for task in ("cslr", "slt"):
        for init_name in ("scratch", "pretrained", "lexicon"):
            run = out / f"{task}-{init_name}"

            def do(task=task, init_name=init_name, run=run):
                model = dict(RECIPE)
                if init_name == "pretrained":
                    model["model"] = str(pre)
                elif init_name == "lexicon":
                    model["model"] = "sigma-tiny.fs-lexicon"  # the shipped weights (their letter clips: all 19)
                cfg = TrainConfig(
                    task=task,
                    data=args.data,
                    max_steps=args.finetune_steps,
                    from_scratch=init_name == "scratch",
                    dev_split=None,
                    eval_every=args.finetune_steps,
                    ckpt_every=args.finetune_steps,
                    **model,
                )
                finetune(cfg, run, resume=(run / "config.json").is_file())
                return {"dev": score(run, args.data, "dev", task), "test": score(run, args.data, "test", task)}

            timed(f"{task}_{init_name}", do)
    res = {p.stem: json.loads(p.read_text()) for p in sorted((out / "stages").glob("*.json"))}
    write(out / "results.json", res)
    print(table(res))


def table(res: dict) -> str:
    """The finished stages, one line each (dev = unseen words, test = held-out sign languages)."""
    lines = []
    for name, r in res.items():
        if name.startswith("cslr"):
            body = " / ".join(
                f"WER {r[s]['wer']:.1f}% (empty {r[s].get('baseline_wer_empty', 100):.1f}, most "
                f"frequent {r[s].get('baseline_wer_most_frequent', float('nan')):.1f})"
                for s in ("dev", "test")
            )
        elif name.startswith("slt"):
            body = " / ".join(
                f"exact {r[s]['exact']:.1f}% chrF {r[s]['chrf']:.1f} BLEU-4 {r[s]['bleu4']:.1f}"
                for s in ("dev", "test")
            )
        elif name.startswith("retrieval"):
            body = (
                f"R@1 {r['r1']:.1f}% (chance {r['chance_r1']:.1f}) R@5 {r['r5']:.1f}% (chance {r['chance_r5']:.1f})"
                f"; all words: R@1 {r.get('r1_all', float('nan')):.1f}% (chance {r.get('chance_r1_all', 0):.1f}) "
                f"R@5 {r.get('r5_all', float('nan')):.1f}% (chance {r.get('chance_r5_all', 0):.1f})"
            )
        else:
            body = json.dumps({k: v for k, v in r.items() if k != "seconds"}, ensure_ascii=False)
        lines.append(f"{name:<22} {r.get('seconds', 0):>7.0f} s  {body}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
