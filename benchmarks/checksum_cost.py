"""What the per-sample checksums cost the loader (issue 15): the same batches with and without them, paired.

Two loaders over the same samples: one reads a dataset packed with checksums (every array's XXH3-64 checked on
every read), the other a copy of its shards (their own page cache, so both are cold after an eviction) with the
checksum columns dropped from the manifest, as a dataset packed before them is read. Their batches are taken in
turn (which loader goes first alternates per round), so a shared machine's load and drift fall on both within
milliseconds of each other; the cost is the per-batch time ratio (median and interquartile range over every pair).
Whole passes, each loader on its own, swing by 10 % between identical runs on a shared VM and could not tell a 5 %
cost from none. A second loader of the checked dataset, paired the same way with the first, calibrates the method
(it must come out at 1.00x). Each path is measured with the checks in signkit's helper process (the default on
Linux) and in the reading process (elsewhere); in separate rounds the checksum function is wrapped to time what
XXH3 itself takes per batch in the reading process.

Paths: the loader with 0 and 2 DataLoader workers (local shards: each array read with ``preadv`` straight into the
batch, then hashed) and the streaming reader (the path for URLs and systems without ``preadv``). Goal (issue 15):
with / without >= 0.95x, warm and cold.

    python benchmarks/checksum_cost.py --samples 2400 --rounds 12 --batch 32 128 --write
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import load  # noqa: E402  (the same inputs and page-cache eviction as the loading benchmark)

import signkit.datasets as sd  # noqa: E402

GOAL = 0.95


def copy_without_checksums(ds_root: Path, out: Path) -> Path:
    """A copy of the dataset (shards copied, not linked: their own page cache) with the checksum columns dropped
    from its manifest, as a dataset packed before them is read."""
    import pyarrow.parquet as pq

    from signkit.datasets.manifest import SUM_COLUMNS

    (out / "shards").mkdir(parents=True)
    for shard in (ds_root / "shards").iterdir():
        shutil.copyfile(shard, out / "shards" / shard.name)
    shutil.copyfile(ds_root / "dataset.json", out / "dataset.json")
    pq.write_table(sd.read_manifest(ds_root).drop_columns(list(SUM_COLUMNS)), out / "manifest.parquet")
    return out


def shard_files(root: Path) -> list[Path]:
    return sorted((root / "shards").glob("*.tar"))


def paired_batches(a, b, files: list[Path], rounds: int, cold: bool) -> np.ndarray:
    """Seconds per batch, [pairs, 2] (a, b): both loaders iterated in lockstep, one batch each in turn, ``a`` first
    in even rounds; with ``cold``, every round starts with ``files`` dropped from the page cache."""
    pairs: list[tuple[float, float]] = []
    for r in range(rounds):
        if cold:
            load.evict(files)
        its = [iter(a), iter(b)]
        order = (0, 1) if r % 2 == 0 else (1, 0)
        while True:
            took = [0.0, 0.0]
            try:
                for i in order:
                    t0 = time.perf_counter()
                    next(its[i])
                    took[i] = time.perf_counter() - t0
            except StopIteration:
                break
            pairs.append((took[0], took[1]))
    return np.array(pairs)


@contextlib.contextmanager
def timed_checksums(spent: list[float]):
    """Wrap the checksum function every read check calls (`signkit.datasets.checksums.checksum`, also bound in
    `sample_refs`), adding the seconds spent in it to ``spent[0]``."""
    import signkit.datasets.checksums as checksums
    import signkit.datasets.sample_refs as sample_refs

    raw = checksums.checksum

    def timed(data) -> int:
        t0 = time.perf_counter()
        value = raw(data)
        spent[0] += time.perf_counter() - t0
        return value

    checksums.checksum = sample_refs.checksum = timed
    try:
        yield
    finally:
        checksums.checksum = sample_refs.checksum = raw


def hash_per_batch(loader, files: list[Path], rounds: int, cold: bool) -> np.ndarray:
    """Seconds inside XXH3 per batch of ``loader`` (a pass per round, as `paired_batches`)."""
    spent = [0.0]
    out = []
    with timed_checksums(spent):
        for _ in range(rounds):
            if cold:
                load.evict(files)
            for _batch in loader:
                out.append(spent[0])
                spent[0] = 0.0
    return np.array(out)


@contextlib.contextmanager
def streaming():
    """The streaming reader, as on a system without ``os.preadv`` (and for URLs, which stream the same way)."""
    preadv = os.preadv
    del os.preadv
    try:
        yield
    finally:
        os.preadv = preadv


@contextlib.contextmanager
def in_process():
    """Checks in the reading process, as where the helper cannot run (`signkit.datasets._check_process`)."""
    from signkit.datasets import _check_process

    pid = os.getpid()
    saved = _check_process._helpers.get(pid)
    _check_process._helpers[pid] = None
    try:
        yield
    finally:
        _check_process._helpers[pid] = saved


def measure(checked: Path, bare: Path, workers: list[int], rounds: int, batch: int = load.BATCH) -> dict:
    files = shard_files(checked) + shard_files(bare)
    paths = {f"loader, {w} workers": (w, contextlib.nullcontext) for w in workers}
    paths["streaming reader, 0 workers"] = (0, streaming)
    out: dict = {"paths": {}, "batch": batch}
    for name, (w, context) in paths.items():
        with context():

            def loader(root: Path, w=w):
                return sd.open(root, shuffle=False).loader(batch, num_workers=w)

            a, b = loader(checked), loader(bare)
            for it in (a, b):  # warm-up: page cache filled, workers and the helper started once
                sum(1 for _ in it)
            row = {}
            for cold in (False, True):
                row[cold] = {"helper": paired_batches(a, b, files, rounds, cold)}
                with in_process():
                    row[cold]["in process"] = paired_batches(a, b, files, rounds, cold)
                    row[cold]["hash"] = hash_per_batch(a, files, rounds, cold)
            out["paths"][name] = row
            if name == "loader, 0 workers":
                twin = loader(checked)
                sum(1 for _ in twin)
                out["calibration"] = paired_batches(a, twin, files, rounds, cold=False)
    return out


def _ratio(pairs: np.ndarray) -> str:
    """with / without as speed (< 1 is a cost): per-pair median [IQR]."""
    q1, med, q3 = np.percentile(pairs[:, 1] / pairs[:, 0], [25, 50, 75])
    return f"{med:.3f}x [{q1:.3f}, {q3:.3f}]"


def render(results: list[dict], samples: int, rounds: int, note: str) -> str:
    batches = " ".join(str(r["batch"]) for r in results)
    lines = [
        "## Checksum cost",
        "",
        f"`python benchmarks/checksum_cost.py --samples {samples} --rounds {rounds} --batch {batches}` on "
        f"{load.machine()}. {note}",
        "",
        f"The loading benchmark's {samples} samples (real fingerspelling poses), packed with per-array XXH3-64 "
        "checksums, against a copy of the same shards with the checksum columns dropped (read as a dataset packed "
        "before them is). The two loaders' batches are taken in turn, alternating which goes first per round; "
        f"{rounds} rounds (epochs) each; *cold*: both copies dropped from the page cache before each round. *helper*: "
        "the checks run in signkit's helper process while the next batch is read (Linux, the default); *in "
        "process*: the reading process checks each array right after reading it (off Linux, or without the "
        "helper). Ratios are with / without as speed (< 1 is a cost): the median [interquartile range] of the "
        "per-pair ratio. *XXH3 share*: the median time inside XXH3 per batch, checking in process (the checksum "
        "function timed, in separate rounds), over the median batch without checks.",
        "",
    ]
    for r in results:
        lines += _table(r)
    return "\n".join(lines)


def _table(r: dict) -> list[str]:
    pairs = len(next(iter(r["paths"].values()))[False]["helper"])
    lines = [
        f"Batches of {r['batch']} ({pairs} batch pairs per cell):",
        "",
        "| path | cache | ms per batch without checks | helper | with / without | in process | with / without "
        "| XXH3 share |",
        "|---|---|---|---|---|---|---|---|",
    ]
    worst = {"helper": 1.0, "in process": 1.0}
    for name, row in r["paths"].items():
        for cold, cache in ((False, "warm"), (True, "cold")):
            cell = row[cold]
            for how in worst:
                worst[how] = min(worst[how], float(np.median(cell[how][:, 1] / cell[how][:, 0])))
            bare = np.median(np.concatenate([cell["helper"][:, 1], cell["in process"][:, 1]]))
            lines.append(
                f"| {name} | {cache} | {bare * 1e3:.2f} | {np.median(cell['helper'][:, 0]) * 1e3:.2f} | "
                f"{_ratio(cell['helper'])} | {np.median(cell['in process'][:, 0]) * 1e3:.2f} | "
                f"{_ratio(cell['in process'])} | {np.median(cell['hash']) / bare * 100:.1f} % |"
            )
    lines += [
        "",
        f"Calibration, the loader (0 workers, warm) paired with a second loader of the same checked dataset: "
        f"{_ratio(r['calibration'])} (1.00x: the pairing itself favours neither).",
        "",
        f"Goal (issue 15): with / without >= {GOAL:.2f}x, warm and cold. Worst per-batch median, batches of "
        f"{r['batch']}: "
        + "; ".join(f"{how} {v:.3f}x ({'met' if v >= GOAL else 'not met'})" for how, v in worst.items())
        + ".",
        "",
    ]
    return lines


def write_section(text: str, path: Path = load.DOC) -> None:
    """Replace (or add) the "## Checksum cost" section of docs/benchmarks.md."""
    load.write_section(text, path, heading="## Checksum cost")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=2400)
    ap.add_argument("--rounds", type=int, default=12, help="epochs of each loader per row (batch pairs: x batches)")
    ap.add_argument("--workers", type=int, nargs="+", default=[0, 2], help="DataLoader workers to measure")
    ap.add_argument("--batch", type=int, nargs="+", default=[load.BATCH], help="batch sizes to measure")
    ap.add_argument("--dataset", type=Path, help="measure on this packed dataset (train split) instead")
    ap.add_argument("--write", action="store_true", help="write the Checksum cost section of docs/benchmarks.md")
    ap.add_argument("--note", default="", help="a sentence on the conditions (shared machine, load...)")
    args = ap.parse_args()
    torch.set_num_threads(1)  # as in DataLoader workers; a shared machine's spare threads would only add noise
    with tempfile.TemporaryDirectory(prefix="signkit-checksum-cost-") as tmp:
        work = Path(tmp)
        checked = args.dataset
        if checked is None:
            load.build_inputs(work, args.samples)
            sd.pack(work / "poses", work / "ds", workers=2)
            checked = work / "ds"
        bare = copy_without_checksums(checked, work / "ds-no-checksums")
        samples = sd.open(checked, shuffle=False).num_samples
        results = [measure(checked, bare, args.workers, args.rounds, batch) for batch in args.batch]
        text = render(results, samples, args.rounds, args.note)
    print(text)
    if args.write:
        write_section(text)


if __name__ == "__main__":
    main()
