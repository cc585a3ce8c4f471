"""Memory of a 10⁶-row manifest: RSS of the main process and of each DataLoader worker, this signkit against another.

A synthetic dataset of ``--rows`` samples (keys, signers, glosses of 2,000 classes and a sentence of text per
sample, as an SLT corpus has) in shards of ``--per-shard``; ``dataset.json`` and the manifest list every shard,
but only the shards the measured batches read are written (real tar files, packed by `ShardWriter`), so the
benchmark needs little disk. Each measurement runs in a fresh interpreter: open the train split, start a loader
with ``--workers`` workers, read ``--batches`` batches from each, then read ``/proc/PID/smaps_rollup`` of the main
process and of each worker: RSS, and USS (its private pages: what the process costs beyond what it shares).

    python benchmarks/manifest_rss.py --before /tmp/old-signkit --write   # --before: a checkout to compare with

Writes the "Manifest memory" section of docs/benchmarks.md with ``--write``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
BATCH = 32


def build(root: Path, rows: int, per_shard: int, workers: int, batches: int) -> None:
    """The synthetic dataset: the shards read by the measured batches are real, the others only listed."""
    import numpy as np

    from signkit.datasets.manifest import write_manifest
    from signkit.datasets.reader import slot_ranges
    from signkit.datasets.shards import ShardWriter, encode_sample, sample_checksums, shard_name

    rng = np.random.default_rng(0)
    layout, points, frames = "coco-wholebody-133", 133, 8
    classes = [f"GLOSS{i:04d}" for i in range(2000)]
    words = ["the", "sign", "for", "hello", "today", "weather", "is", "cold", "in", "the", "north", "again"]
    n_shards = -(-rows // per_shard)
    counts = [min(per_shard, rows - i * per_shard) for i in range(n_shards)]
    needed = set()
    for slot in range(max(workers, 1)):
        ranges = slot_ranges(counts, slot, max(workers, 1), BATCH)
        want = batches * BATCH
        for shard, keep in ranges:
            needed.add(shard)
            want -= len(keep)
            if want <= 0:
                break
    (root / "shards").mkdir(parents=True)
    table_rows, shards = [], []
    i = 0
    for s, count in enumerate(counts):
        name = shard_name("train", s)
        writer = ShardWriter(root / "shards" / name) if s in needed else None
        for index in range(count):
            key = f"clip{i:07d}"
            label = int(rng.integers(0, len(classes)))
            row = {
                "key": key,
                "shard": name,
                "split": "train",
                "num_frames": frames,
                "fps": 25.0,
                "label": label,
                "gloss": classes[label],
                "text": " ".join(rng.choice(words, 8)),
                "signer": f"signer{i % 300}",
                "language": "ase",
                "source": "synthetic",
                "index": index,
                "left_hand_detected": 1.0,
                "right_hand_detected": 1.0,
                "pose_offset": 0,
                "conf_offset": 0,
            }
            if writer is not None:
                coords = rng.standard_normal((frames, points, 3)).astype(np.float32)
                members = encode_sample(key, coords, np.ones((frames, points), np.float32), {"key": key})
                offsets = writer.write(members)
                row.update(pose_offset=offsets[f"{key}.pose.npy"], conf_offset=offsets[f"{key}.conf.npy"])
                row.update(sample_checksums(key, members))
            else:
                row.update(pose_xxh3=0, conf_xxh3=0)
            table_rows.append(row)
            i += 1
        size = 0
        if writer is not None:
            writer.close()
            size = writer.path.stat().st_size
        shards.append({"name": name, "split": "train", "samples": count, "sha256": "", "bytes": size})
    write_manifest(table_rows, root / "manifest.parquet")
    meta = {
        "format": "signkit-dataset",
        "version": 1,
        "layout": layout,
        "normalization": {"method": "shoulders"},
        "dtype": "float16",
        "classes": classes,
        "gloss_vocab": [],
        "splits": {"train": {"samples": rows, "shards": n_shards}},
        "shards": shards,
    }
    (root / "dataset.json").write_text(json.dumps(meta))


def _memory(pid: int | str) -> dict[str, float]:
    """RSS, PSS and USS (private clean + dirty) of a process, in MB."""
    text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    kb = {m[1]: int(m[2]) for m in re.finditer(r"^(\w+):\s+(\d+) kB", text, re.M)}
    return {"rss": kb["Rss"] / 1024, "pss": kb["Pss"] / 1024, "uss": (kb["Private_Clean"] + kb["Private_Dirty"]) / 1024}


def measure(root: str, workers: int, batches: int) -> dict:
    """In this (fresh) interpreter: open, iterate, read the memory of this process and its workers."""
    import time

    import torch

    import signkit.datasets as sd

    torch.set_num_threads(1)
    base = _memory("self")
    t0 = time.perf_counter()
    ds = sd.open(root, split="train", shuffle=False)
    open_s = time.perf_counter() - t0
    opened = _memory("self")
    loader = ds.loader(BATCH, num_workers=workers)
    it = iter(loader)
    for _ in range(batches * max(workers, 1)):
        next(it)
    children = []
    for task in Path("/proc/self/task").iterdir():
        children += (task / "children").read_text().split()
    out = {
        "signkit": str(Path(sd.__file__).parents[1]),
        "open_s": open_s,
        "base": base,
        "opened": opened,
        "main": _memory("self"),
        "workers": [_memory(pid) for pid in children],
    }
    del it
    return out


def run_in(pythonpath: str, root: Path, workers: int, batches: int) -> dict:
    code = (
        f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import manifest_rss, json; "
        f"print(json.dumps(manifest_rss.measure({str(root)!r}, {workers}, {batches})))"
    )
    env = {**os.environ, "PYTHONPATH": pythonpath}
    # cwd: the dataset's folder, so `python -c` (whose sys.path starts with the cwd) imports signkit from PYTHONPATH
    cmd = [sys.executable, "-c", code]
    out = subprocess.run(cmd, env=env, cwd=root, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def render(rows: int, per_shard: int, results: dict[str, dict], note: str) -> str:
    from load import machine

    lines = [
        "## Manifest memory",
        "",
        f"`python benchmarks/manifest_rss.py --rows {rows}` on {machine()}. {note}",
        "",
        f"A synthetic train split of {rows} samples in shards of {per_shard} (key, signer, a gloss of 2,000 classes "
        "and an 8-word sentence per row); each signkit opens it in a fresh interpreter and reads a few batches with "
        "a DataLoader (fork). MB; USS = the process's private pages (what it costs beyond what it shares with the "
        "main process); *open* = `signkit.datasets.open` alone.",
        "",
        "| signkit (imported from) | open (s) | main RSS after open | main RSS after reading | main USS "
        "| worker RSS | worker USS |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        grow = r["opened"]["rss"] - r["base"]["rss"]
        w_rss = "/".join(f"{w['rss']:.0f}" for w in r["workers"]) or "-"
        w_uss = "/".join(f"{w['uss']:.0f}" for w in r["workers"]) or "-"
        lines.append(
            f"| {name} (`{r['signkit']}`) | {r['open_s']:.2f} | {r['opened']['rss']:.0f} (+{grow:.0f} for the "
            "manifest) | "
            f"{r['main']['rss']:.0f} | {r['main']['uss']:.0f} | {w_rss} | {w_uss} |"
        )
    lines.append("")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--per-shard", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batches", type=int, default=20, help="batches read per worker before measuring")
    ap.add_argument("--before", help="a signkit checkout (its repository root) to measure against this one")
    ap.add_argument("--write", action="store_true", help="write the Manifest memory section of docs/benchmarks.md")
    ap.add_argument("--note", default="")
    args = ap.parse_args()
    here = str(Path(__file__).resolve().parents[1])
    with tempfile.TemporaryDirectory(prefix="signkit-rss-") as tmp:
        root = Path(tmp) / "ds"
        build(root, args.rows, args.per_shard, args.workers, args.batches)
        results = {}
        if args.before:
            results["before (lists per column)"] = run_in(args.before, root, args.workers, args.batches)
        results["this (Arrow/numpy per shard)"] = run_in(here, root, args.workers, args.batches)
    text = render(args.rows, args.per_shard, results, args.note)
    print(text)
    if args.write:
        doc = DOC.read_text() if DOC.exists() else "# Benchmarks\n\n"
        section = re.compile(r"^## Manifest memory\n.*?(?=^## |\Z)", re.S | re.M)
        if section.search(doc):
            doc = section.sub(lambda _: text + "\n", doc)
        else:
            doc = doc.rstrip("\n") + "\n\n" + text + "\n"
        DOC.write_text(doc)


if __name__ == "__main__":
    main()
