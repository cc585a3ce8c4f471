"""Stage what the device machine lacks into git-ignored carry folders, each within one call's 64 MiB transfer.

The device image has torch, transformers, pyarrow, scikit-image, pillow and opencv, but not pose-format,
MediaPipe, PyAV, Ray or spoken-to-signed (whose fingerspelling lexicon is 149 MB of ``.pose``), and nothing can be
fetched there. One call carries at most 64 MiB together with the repository, so the work is split in two calls:

  .device/train     pose-format + webdataset wheels and part of the lexicon: a copy of its ``.pose`` files (every
                    sign language, round robin, until ``--lexicon-mb``) and its index.csv cut to those rows
  .device/extract   MediaPipe 0.10.14 + protobuf 4.25 wheels (MediaPipe alone is 36 MB; PyAV's 36 MB wheel does not
                    fit beside it, so the extraction benchmark reads JPEG frame folders)

Ray's wheel (79 MB) exceeds one call's limit by itself: Ray is not staged (see README.md).
Wheels come from ``--wheels-from DIR`` when it holds them, else from PyPI (``pip download``, CPython 3.12,
manylinux x86-64: the device's Python). Adds ``/.device/`` to the repository's ``.git/info/exclude`` so that a call
carries a folder only when it names it.

    python benchmarks/device/prepare.py [--lexicon-mb 48] [--wheels-from DIR]
"""

from __future__ import annotations

import argparse
import csv
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CALL_LIMIT = 64 * 2**20
TRAIN_WHEELS = ("pose-format==0.15.0", "webdataset==1.0.2", "braceexpand==0.1.7")
EXTRACT_WHEELS = ("mediapipe==0.10.14", "protobuf==4.25.9")
PLATFORMS = (
    "manylinux_2_28_x86_64",
    "manylinux_2_27_x86_64",
    "manylinux_2_17_x86_64",
    "manylinux2014_x86_64",
    "manylinux1_x86_64",
)


def lexicon_source() -> Path:
    from signkit.datasets.sources import get_source

    return get_source("fingerspelling-lexicon").default_root()


def stage_lexicon(src: Path, dest: Path, budget_bytes: int) -> dict:
    """Copy .pose files of every sign language in turn (index order) until ``budget_bytes``; index.csv cut to them."""
    index = next((src / n for n in ("index.csv", "data.csv") if (src / n).is_file()), None)
    if index is None:
        raise SystemExit(f"{src} holds no index.csv or data.csv")
    with index.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        header, rows = reader.fieldnames, list(reader)
    by_lang: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        if row["path"] not in by_lang[row["signed_language"]] and (src / row["path"]).is_file():
            by_lang[row["signed_language"]].append(row["path"])
    chosen, total, seen = [], 0, set()
    queues = [list(v) for _, v in sorted(by_lang.items())]
    while any(queues):
        for q in queues:
            while q and q[0] in seen:
                q.pop(0)
            if not q:
                continue
            size = (src / q[0]).stat().st_size
            if total + size > budget_bytes:
                q.clear()
                continue
            path = q.pop(0)
            seen.add(path)
            chosen.append(path)
            total += size
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for path in chosen:
        (dest / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src / path, dest / path)
    with (dest / "index.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=header)
        w.writeheader()
        w.writerows(r for r in rows if r["path"] in seen)
    langs = {p.split("/")[0] for p in chosen}
    every = {p for v in by_lang.values() for p in v}
    return {"files": len(chosen), "of": len(every), "bytes": total, "languages": len(langs)}


def get_wheels(specs: tuple[str, ...], dest: Path, wheels_from: Path | None) -> list[Path]:
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for spec in specs:
        name, version = spec.split("==")
        stem = f"{name.replace('-', '_')}-{version}-"
        found = sorted(wheels_from.glob(f"{stem}*.whl")) if wheels_from else []
        if not found:
            cmd = [
                sys.executable,
                "-m",
                "pip",
                "download",
                "-q",
                "--no-deps",
                "--only-binary=:all:",
                "--python-version",
                "3.12",
                "--implementation",
                "cp",
                "-d",
                str(dest),
                spec,
            ]
            for p in PLATFORMS:
                cmd += ["--platform", p]
            subprocess.run(cmd, check=True)
            found = sorted(dest.glob(f"{stem}*.whl"))
        else:
            shutil.copy2(found[0], dest / found[0].name)
            found = [dest / found[0].name]
        if not found:
            raise SystemExit(f"no wheel for {spec}")
        out.append(found[0])
    return out


def tree_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def repo_bytes() -> int:
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout.split(b"\0")
    return sum((REPO / f.decode()).stat().st_size for f in files if f and (REPO / f.decode()).is_file())


def ignore_device_folder() -> None:
    common = subprocess.run(
        ["git", "rev-parse", "--git-common-dir"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.strip()
    exclude = (REPO / common / "info" / "exclude").resolve()
    exclude.parent.mkdir(parents=True, exist_ok=True)
    text = exclude.read_text() if exclude.is_file() else ""
    if "/.device/" not in text.split():
        exclude.write_text(text + ("" if text.endswith("\n") or not text else "\n") + "/.device/\n")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dest", default=str(REPO / ".device"))
    ap.add_argument("--lexicon", help="lexicon folder (default: spoken-to-signed's copy)")
    ap.add_argument("--lexicon-mb", type=float, default=48.0, help="bytes of .pose files to stage (MB)")
    ap.add_argument("--wheels-from", help="a folder that already holds the wheels")
    ap.add_argument("--only", choices=["train", "extract"], help="stage one carry folder only")
    args = ap.parse_args(argv)
    dest = Path(args.dest)
    wheels_from = Path(args.wheels_from) if args.wheels_from else None
    if dest.resolve().is_relative_to(REPO.resolve()):
        ignore_device_folder()
    repo = repo_bytes()
    if args.only in (None, "train"):
        get_wheels(TRAIN_WHEELS, dest / "train" / "wheels", wheels_from)
        src = Path(args.lexicon) if args.lexicon else lexicon_source()
        info = stage_lexicon(src, dest / "train" / "lexicon", int(args.lexicon_mb * 1e6))
        print(
            f"lexicon: {info['files']} of {info['of']} .pose files, {info['languages']} sign "
            f"languages, {info['bytes'] / 1e6:.1f} MB",
            flush=True,
        )
    if args.only in (None, "extract"):
        get_wheels(EXTRACT_WHEELS, dest / "extract" / "wheels", wheels_from)
    for name in ("train", "extract"):
        if (dest / name).is_dir():
            size = tree_bytes(dest / name)
            total = size + repo
            verdict = "fits" if total <= CALL_LIMIT else "DOES NOT FIT"
            print(
                f"{name}: {size / 2**20:.1f} MiB + repository {repo / 2**20:.1f} MiB = {total / 2**20:.1f} MiB of "
                f"64 MiB: {verdict}"
            )
            if total > CALL_LIMIT:
                raise SystemExit(f"{dest / name} is too large for one call; lower --lexicon-mb")


if __name__ == "__main__":
    main()
