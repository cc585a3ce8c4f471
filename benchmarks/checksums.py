"""Which checksum for per-sample integrity: CRC32C and xxHash candidates against ``zlib.crc32``, on real samples.

The arrays are those the shards store for the 600 fingerspelling poses of spoken-to-signed (float16 pose [T,K,3]
and conf [T,K]), each checksummed on its own as the loader does after reading it. Candidates: ``zlib.crc32`` (the
baseline, in the standard library), ``crc32c`` and ``google-crc32c`` (CRC32C, hardware-accelerated), ``xxhash``
(XXH32, XXH64, XXH3-64). A candidate whose package is not installed is listed as such.

    pip install crc32c google-crc32c xxhash && python benchmarks/checksums.py --write

Writes the "Sample checksums" section of docs/benchmarks.md with ``--write``.
"""

from __future__ import annotations

import argparse
import re
import time
import zlib
from pathlib import Path

import numpy as np

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"


def candidates() -> dict[str, object]:
    out: dict[str, object] = {"zlib.crc32": zlib.crc32}
    try:
        import crc32c

        out["crc32c.crc32c (CRC32C)"] = crc32c.crc32c
    except ImportError:
        out["crc32c.crc32c (CRC32C)"] = None
    try:
        import google_crc32c

        out[f"google_crc32c.value (CRC32C, {google_crc32c.implementation})"] = google_crc32c.value
    except ImportError:
        out["google_crc32c.value (CRC32C)"] = None
    try:
        import xxhash

        out["xxhash.xxh32_intdigest"] = xxhash.xxh32_intdigest
        out["xxhash.xxh64_intdigest"] = xxhash.xxh64_intdigest
        out["xxhash.xxh3_64_intdigest (chosen)"] = xxhash.xxh3_64_intdigest
    except ImportError:
        out["xxhash (XXH32/XXH64/XXH3)"] = None
    return out


def sample_arrays() -> list[np.ndarray]:
    from load import lexicon_files

    import signkit

    arrays = []
    for f in lexicon_files():
        p = signkit.normalize(signkit.load_pose(f))
        arrays += [np.ascontiguousarray(p.coords.astype(np.float16)), np.ascontiguousarray(p.conf.astype(np.float16))]
    return arrays


def measure(arrays: list[np.ndarray], repeats: int) -> dict[str, tuple[float, float] | None]:
    """(GB/s, µs per sample) for every candidate: best of ``repeats`` passes over all arrays."""
    total = sum(a.nbytes for a in arrays)
    views = [a.tobytes() for a in arrays]  # bytes: every candidate takes them
    out: dict[str, tuple[float, float] | None] = {}
    for name, fn in candidates().items():
        if fn is None:
            out[name] = None
            continue
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            for v in views:
                fn(v)
            best = min(best, time.perf_counter() - t0)
        out[name] = (total / best / 1e9, best / (len(arrays) / 2) * 1e6)
    return out


def render(arrays: list[np.ndarray], results: dict, note: str) -> str:
    from load import machine

    sizes = [a.nbytes for a in arrays]
    lines = [
        "## Sample checksums",
        "",
        f"`python benchmarks/checksums.py` on {machine()}. {note}",
        "",
        f"{len(arrays) // 2} real samples (the fingerspelling poses of spoken-to-signed as signkit stores them: "
        f"float16 pose and conf, {min(sizes) / 1e3:.1f} to {max(sizes) / 1e3:.0f} kB per array, "
        f"{sum(sizes) / 1e6:.0f} MB in all), each array checksummed on its own; best of the passes.",
        "",
        "| candidate | GB/s | µs per sample (pose + conf) | vs zlib.crc32 |",
        "|---|---|---|---|",
    ]
    base = results["zlib.crc32"][0]
    for name, r in results.items():
        if r is None:
            lines.append(f"| {name} | not installed | | |")
        else:
            lines.append(f"| {name} | {r[0]:.1f} | {r[1]:.2f} | {r[0] / base:.1f}x |")
    lines += ["", "signkit records XXH3-64 per array in the manifest (`pose_xxh3`, `conf_xxh3`): the fastest here.", ""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--note", default="")
    args = ap.parse_args()
    arrays = sample_arrays()
    text = render(arrays, measure(arrays, args.repeats), args.note)
    print(text)
    if args.write:
        doc = DOC.read_text() if DOC.exists() else "# Benchmarks\n\n"
        section = re.compile(r"^## Sample checksums\n.*?(?=^## |\Z)", re.S | re.M)
        if section.search(doc):
            doc = section.sub(lambda _: text + "\n", doc)
        else:
            doc = doc.rstrip("\n") + "\n\n" + text + "\n"
        DOC.write_text(doc)


if __name__ == "__main__":
    main()
