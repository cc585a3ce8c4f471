"""``pack``: pose files + labels -> a packed dataset folder (WebDataset shards, manifest.parquet, dataset.json).

The same inputs give byte-identical shards (samples sorted by key within each split, fixed tar metadata). The
dataset is built in a hidden temporary folder next to the destination and renamed into place only when complete,
so an interrupted pack never leaves a folder that looks like a dataset.

What could not be packed is named in ``refused.jsonl`` (one line per key, with its ``kind``): ``refused`` (the pose
is empty, non-finite, unreadable or in another layout), ``unlabelled`` (a pose file that no label row names),
``missing`` (a label row without a pose file: the releases list media that nobody has all of). The report's
``ok`` is False when anything was refused or unlabelled, and the CLI then exits non-zero after writing the rest;
``strict=True`` makes any of the three (and any release row skipped by the parser) fatal, with nothing written.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .._atomic import atomic_write_text
from ..errors import DatasetError, PoseError
from ..pose import get_layout, is_normalized, normalize
from .inputs import PICKLE_SUFFIXES, find_pose_inputs, read_pose_input
from .labels import build_classes, build_gloss_vocab, normalize_gloss, normalize_record_glosses, read_labels
from .manifest import (
    DATASET_FORMAT,
    DATASET_JSON,
    DATASET_VERSION,
    MANIFEST,
    REFUSED,
    SHARDS_DIR,
    sha256_file,
    write_manifest,
)
from .schema import SPLITS, SampleRecord, canonical_split
from .shards import ShardWriter, encode_sample, sample_checksums, shard_name

DEFAULT_SHARD_SIZE = 256 * 1000**2
_UNITS = {"": 1, "b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3, "kib": 1024, "mib": 1024**2, "gib": 1024**3}


def parse_size(size: str | int) -> int:
    """``"256MB"``, ``"1.5GiB"``, ``"500kb"`` or a number of bytes -> bytes."""
    if isinstance(size, int):
        value = size
    else:
        m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", str(size))
        if not m or m.group(2).lower() not in _UNITS:
            raise DatasetError(f"shard size {size!r} is not a size; write it like 256MB, 1GB or 500KB")
        value = int(float(m.group(1)) * _UNITS[m.group(2).lower()])
    if value <= 0:
        raise DatasetError(f"shard size must be positive, got {size!r}")
    return value


@dataclass
class PackReport:
    """What a pack did: samples and shards per split, and everything it could not pack, by kind."""

    out_dir: Path
    samples: dict[str, int]
    shards: dict[str, int]
    refused: list[tuple[str, str]] = field(default_factory=list)  # (key, why): a pose file that cannot be packed
    unlabelled: list[str] = field(default_factory=list)  # pose files that no label record names (not packed)
    missing: list[str] = field(default_factory=list)  # label records without a pose file
    outside_subset: int = 0  # pose files of the release's samples outside the chosen subset (not packed, fine)
    skipped_rows: list[str] = field(default_factory=list)  # release rows the parser skipped ("where: why")
    flagged: int = 0  # packed samples that carry extraction flags (manifest column ``flags``)
    classes: int | None = None
    layout: str = ""

    @property
    def total(self) -> int:
        return sum(self.samples.values())

    @property
    def ok(self) -> bool:
        """Every pose file given was packed: none refused, none without a label."""
        return not self.refused and not self.unlabelled

    def to_dict(self) -> dict[str, Any]:
        """Counts for ``--json`` (the keys themselves are in ``refused.jsonl``)."""
        return {
            "ok": self.ok,
            "out_dir": str(self.out_dir),
            "layout": self.layout,
            "packed": self.total,
            "samples": dict(self.samples),
            "shards": dict(self.shards),
            "classes": self.classes,
            "refused": len(self.refused),
            "unlabelled": len(self.unlabelled),
            "missing": len(self.missing),
            "outside_subset": self.outside_subset,
            "rows_skipped": len(self.skipped_rows),
            "flagged": self.flagged,
            "listed_in": str(self.out_dir / REFUSED),
        }


@dataclass(frozen=True)
class _Job:
    key: str
    path: str
    meta: dict[str, Any]
    layout: str
    convert: bool
    fps: float | None


def _prepare(job: _Job) -> tuple[str, dict[str, bytes] | None, dict[str, Any] | str]:
    """Load, check, convert and normalise one pose; returns its tar members and manifest fields, or a refusal."""
    try:
        pose = read_pose_input(job.path, job.fps)
        if pose.num_frames == 0:
            return job.key, None, f"empty pose: {job.path} has 0 frames"
        if pose.layout != job.layout:
            if not job.convert:
                raise DatasetError(
                    f"{job.path} is in layout {pose.layout}, other poses in {job.layout}; pass --layout to convert all"
                )
            pose = pose.to_layout(job.layout)
        normalized_by = "input" if is_normalized(pose) else "pack"
        if normalized_by == "pack":
            pose = normalize(pose)
    except PoseError as e:
        return job.key, None, str(e)
    meta = dict(job.meta)
    flags = [str(f) for f in pose.meta.get("flags") or []]  # extraction's: truncated, rotated_90, ...
    meta.update(
        fps=pose.fps,
        layout=pose.layout,
        frame_size=pose.meta.get("frame_size"),
        normalization=pose.meta.get("normalization"),
        normalized_by=normalized_by,
        flags=flags,
    )
    members = encode_sample(job.key, pose.coords, pose.conf, meta)
    frame = pose.meta.get("frame_size") or (None, None)
    row = {
        "frame_width": frame[0],
        "frame_height": frame[1],
        "num_frames": pose.num_frames,
        "fps": pose.fps,
        "left_hand_detected": pose.detected_ratio("left_hand"),
        "right_hand_detected": pose.detected_ratio("right_hand"),
        "normalized_by": normalized_by,
        "flags": flags,
        **sample_checksums(job.key, members),  # checked on every read
        "extractor": _extractor_id(pose.meta.get("extractor")),
    }
    return job.key, members, row


def _extractor_id(extractor: Any) -> str:
    """What made a pose (estimator name, version, model hashes) as one JSON string; "null" when the file says not."""
    if not isinstance(extractor, dict):
        return "null"
    return json.dumps({k: extractor.get(k) for k in ("name", "version", "model_sha256")}, sort_keys=True)


def _records_from_source(name: str, root: str | os.PathLike | None, subset: str | None):
    """``(parsed release, classes, glosses are sequences)`` of benchmark ``name``."""
    from .sources import get_source  # the benchmark parsers; imported only when asked for

    source = get_source(name)
    parsed = source.parse(root, subset=subset)
    return parsed, list(source.classes(root, subset=subset)), source.info.task != "ISLR"


def _source_provenance(name: str, root: str | os.PathLike | None, subset: str | None) -> dict[str, Any]:
    from .sources import get_source

    made = get_source(name).provenance(root, subset)
    return {"made": made} if made else {}


def _map(fn, jobs: list[_Job], workers: int) -> Iterator:
    if workers <= 1:
        yield from map(fn, jobs)
        return
    import multiprocessing as mp

    # fork where there is one: it needs no importable __main__ (stdin, notebooks); packing imports no torch
    method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
    with mp.get_context(method).Pool(workers) as pool:
        yield from pool.imap(fn, jobs, chunksize=8)


@dataclass(frozen=True)
class Benchmark:
    """Labels from a benchmark's raw release, read by its parser (`signkit.datasets.sources`, e.g. ``"wlasl"``)."""

    name: str
    root: str | os.PathLike | None = None
    subset: str | None = None


Labels = str | os.PathLike | Benchmark | Sequence[SampleRecord] | None


@dataclass(frozen=True)
class PackOptions:
    """How to pack. ``labels`` is the one source of labels: a labels file (CSV/JSONL), a `Benchmark`, the
    `SampleRecord`s you built, or None (every pose goes to ``split``, unlabelled). See `pack`."""

    labels: Labels = None
    classes: Sequence[str] | None = None
    split: str = "train"
    gloss_sequences: bool | None = None
    layout: str | None = None
    shard_size: str | int = DEFAULT_SHARD_SIZE
    samples_per_shard: int | None = None
    fps: float | None = None
    strict: bool = False
    overwrite: bool = False
    workers: int = 1
    progress: bool = False

    def __post_init__(self) -> None:
        labels = self.labels
        if labels is not None and not isinstance(labels, (str, os.PathLike, Benchmark)):
            if not isinstance(labels, Iterable):
                raise DatasetError(_LABELS_ARE)
            labels = tuple(labels)  # a generator is read once, here
            if not all(isinstance(r, SampleRecord) for r in labels):
                raise DatasetError(_LABELS_ARE)
            object.__setattr__(self, "labels", labels)
        parse_size(self.shard_size)
        if self.samples_per_shard is not None and self.samples_per_shard < 1:
            raise DatasetError(f"samples per shard must be at least 1, got {self.samples_per_shard}")


_LABELS_ARE = "labels are a labels file (CSV/JSONL), a Benchmark(name, root, subset) or a list of SampleRecord"


def pack(
    poses_dir: str | os.PathLike, out_dir: str | os.PathLike, options: PackOptions | None = None, **fields: Any
) -> PackReport:
    """Pack the poses under ``poses_dir`` into ``out_dir`` as ``options`` say; ``fields`` (`PackOptions` field
    names, e.g. ``labels="labels.csv"``) override them.

    Poses that are not normalised yet (``.pose`` files, Uni-Sign pickles) are normalised as at extraction; poses
    in another layout than the first are an error unless ``layout`` names the one to convert all of them to.
    Glosses get their one spelling (`normalize_gloss`). A gloss is one class (ISLR), even of several words, unless
    ``gloss_sequences`` says they are sign sequences (CSLR: a vocabulary, no classes); a benchmark's own task
    decides for a `Benchmark`. What could not be packed is in the report (``report.ok``) and ``refused.jsonl``.
    """
    opts = replace(options or PackOptions(), **fields)
    poses_dir, out_dir = Path(poses_dir), Path(out_dir)
    if out_dir.exists() and not opts.overwrite:
        raise DatasetError(f"{out_dir} already exists; choose another folder or pass --overwrite to replace it")
    found = find_pose_inputs(poses_dir)
    plan = _plan(poses_dir, found, opts)
    with _temp_folder(out_dir) as tmp:
        report, shards, normalization, extractors = _write(tmp, plan, found, opts)
        _check_written(report, opts.strict)
        meta = _dataset_meta(plan, report, shards, normalization, extractors)
        meta["manifest_sha256"] = sha256_file(tmp / MANIFEST)
        atomic_write_text(tmp / DATASET_JSON, json.dumps(meta, indent=2, ensure_ascii=False) + "\n")
        _swap_into_place(tmp, out_dir, opts.overwrite)
    report.out_dir = out_dir
    return report


@dataclass
class _Plan:
    """What is to be packed, known before any pose is read: the records, their classes and what lies outside."""

    recs: list[SampleRecord]
    classes: list[str] | None
    gloss_vocab: Any
    provenance: dict[str, Any]
    skipped_rows: list[str]
    unlabelled: list[str]
    missing: list[str]
    outside_subset: int
    layout: str
    convert: bool


def _plan(poses_dir: Path, found: dict[str, Path], opts: PackOptions) -> _Plan:
    recs, classes, outside, skipped_rows, provenance = _label_records(poses_dir, found, opts)
    if not recs:
        raise DatasetError(f"nothing to pack: no pose files under {poses_dir} (.npz, .pose, .pkl) or no label rows")
    dup = sorted(k for k, n in Counter(r.key for r in recs).items() if n > 1)
    if dup:
        raise DatasetError(f"duplicate sample keys in the labels: {dup[:5]}")
    normalize_record_glosses(recs)  # one spelling for every label source
    classes = _classes(recs, classes, opts.gloss_sequences)
    wanted = {r.key for r in recs}
    unlabelled = sorted(k for k in found if k not in wanted and k not in outside)
    missing = sorted(k for k in wanted if k not in found)
    if opts.strict:
        _check_strict(unlabelled, missing, skipped_rows)
    if opts.fps is None and any(p.suffix.lower() in PICKLE_SUFFIXES for k, p in found.items() if k in wanted):
        raise DatasetError("Uni-Sign pickles carry no frame rate; pass --fps (25 for CSL-Daily and Phoenix-2014T)")
    if opts.layout is not None:
        layout, convert = get_layout(opts.layout).name, True
    else:
        layout = _first_layout([found[r.key] for r in sorted(recs, key=lambda r: r.key) if r.key in found], opts.fps)
        convert = False
    outside_subset = sum(1 for k in found if k in outside)
    vocab = build_gloss_vocab(recs)
    return _Plan(recs, classes, vocab, provenance, skipped_rows, unlabelled, missing, outside_subset, layout, convert)


def _classes(recs: list[SampleRecord], given: list[str] | None, gloss_sequences: bool | None) -> list[str] | None:
    """The class list: the one given (checked against the records' labels) or one built from the glosses."""
    if given is None:
        return build_classes(recs, gloss_sequences=bool(gloss_sequences))
    classes = [normalize_gloss(str(c)) for c in given]
    bad = next((r for r in recs if r.label is not None and not 0 <= r.label < len(classes)), None)
    if bad is not None:
        raise DatasetError(f"sample {bad.key!r} has label {bad.label}, outside the {len(classes)} classes")
    return classes


def _check_strict(unlabelled: list[str], missing: list[str], skipped_rows: list[str]) -> None:
    problems = []
    if unlabelled:
        problems.append(f"{len(unlabelled)} pose file(s) without a label row (e.g. {unlabelled[0]})")
    if missing:
        problems.append(f"{len(missing)} labelled sample(s) without a pose file (e.g. {missing[0]})")
    if skipped_rows:
        problems.append(f"{len(skipped_rows)} release row(s) skipped ({skipped_rows[0]})")
    if problems:
        raise DatasetError(f"--strict: {'; '.join(problems)}; nothing written")


def _label_records(poses_dir: Path, found: dict[str, Path], opts: PackOptions):
    """``(records, classes or None, keys outside the subset, skipped release rows, provenance)`` from the labels."""
    provenance: dict[str, Any] = {"poses_dir": str(poses_dir.resolve())}
    labels, classes = opts.labels, None if opts.classes is None else list(opts.classes)
    if isinstance(labels, Benchmark):
        name, root, subset = labels.name, labels.root, labels.subset
        parsed, classes, sequences = _records_from_source(name, root, subset)
        if opts.gloss_sequences is not None and opts.gloss_sequences != sequences:
            what = "sign sequences (continuous)" if sequences else "whole signs (isolated)"
            raise DatasetError(f"{name}'s glosses are {what} by the release's definition; drop --gloss-sequences")
        provenance.update(dataset=name, root=str(Path(root).resolve()) if root else None, subset=subset)
        provenance.update(_source_provenance(name, root, subset))
        skipped = [f"{r.where}: {r.reason}" for r in parsed.skipped]
        return parsed.records, classes, set(parsed.outside_subset), skipped, provenance
    if isinstance(labels, (str, os.PathLike)):
        provenance["labels"] = str(Path(labels).resolve())
        return read_labels(labels), classes, set(), [], provenance
    if labels is not None:
        provenance["records"] = "given by the caller"
        return list(labels), classes, set(), [], provenance
    split = canonical_split(opts.split)
    provenance["labels"] = None
    return [SampleRecord(key=k, split=split, source="poses") for k in found], classes, set(), [], provenance


def _check_written(report: PackReport, strict: bool) -> None:
    if strict and report.refused:
        shown = "; ".join(f"{k}: {why}" for k, why in report.refused[:3])
        raise DatasetError(f"{len(report.refused)} sample(s) refused (--strict): {shown}; nothing written")
    if report.total == 0:
        shown = "; ".join(f"{k}: {why}" for k, why in report.refused[:3])
        raise DatasetError(f"every sample was refused, nothing packed: {shown}")


def _dataset_meta(plan: _Plan, report: PackReport, shards: list, normalization: dict, extractors: list) -> dict:
    """``dataset.json`` (but its ``manifest_sha256``)."""
    return {
        "format": DATASET_FORMAT,
        "version": DATASET_VERSION,
        "layout": plan.layout,
        "normalization": normalization,
        "dtype": "float16",
        "classes": plan.classes,
        "gloss_vocab": plan.gloss_vocab,
        "signkit_version": _version(),
        "provenance": plan.provenance,
        "extractors": extractors,  # what the samples' poses were extracted with, and how many each
        "splits": {s: {"samples": report.samples[s], "shards": report.shards[s]} for s in report.samples},
        "shards": shards,
        "refused": len(report.refused),
        "unlabelled": len(report.unlabelled),
        "missing": len(report.missing),
    }


@contextlib.contextmanager
def _temp_folder(out_dir: Path) -> Iterator[Path]:
    """A hidden folder next to ``out_dir`` to build the dataset in; on failure it goes, with the parents it made."""
    created = [p for p in (out_dir.parent, *out_dir.parent.parents) if not p.exists()]  # removed on failure
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    _remove_dead_temps(out_dir)
    tmp = out_dir.parent / f".{out_dir.name}.packing-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        with _writer_lock(tmp):  # taken before the folder exists, held until it is renamed into place or removed
            (tmp / SHARDS_DIR).mkdir(parents=True)
            try:
                yield tmp
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
    except BaseException:
        for folder in created:  # deepest first; only the empty folders this pack made (the lock file is gone now)
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise


def _lock_path(tmp: Path) -> Path:
    return tmp.with_name(tmp.name + ".lock")  # beside the folder, so renaming the folder never meets an open file


@contextlib.contextmanager
def _writer_lock(tmp: Path) -> Iterator[None]:
    """Hold ``tmp``'s lock for the pack's life: the kernel frees it when the writer dies, however it dies."""
    from filelock import FileLock

    lock = FileLock(_lock_path(tmp), thread_local=False)
    try:
        with lock:
            yield
    finally:
        with contextlib.suppress(OSError):
            _lock_path(tmp).unlink()


def _remove_dead_temps(out_dir: Path) -> None:
    """Delete the temporary folders of packs into ``out_dir`` whose writer is gone: their lock can be taken.

    A lock, not the pid in the name: ``os.kill(pid, 0)`` terminates the process on Windows, and a reused pid would
    keep a dead pack's folder forever.
    """
    from filelock import FileLock, Timeout

    for tmp in out_dir.parent.glob(f".{out_dir.name}.packing-*"):
        if not tmp.is_dir():
            continue
        lock = FileLock(_lock_path(tmp), thread_local=False)
        try:
            lock.acquire(timeout=0)
        except (Timeout, OSError):  # a live writer holds it (or the lock is another user's): leave the folder
            continue
        try:
            shutil.rmtree(tmp, ignore_errors=True)
        finally:
            lock.release()
            with contextlib.suppress(OSError):
                _lock_path(tmp).unlink()


def _first_layout(paths: list[Path], fps: float | None) -> str:
    """The layout of the first readable pose (unreadable ones are refused later, with the others)."""
    if not paths:
        raise DatasetError("none of the labelled keys has a pose file; check that keys are paths without suffix")
    errors = []
    for path in paths:
        try:
            return read_pose_input(path, fps).layout
        except PoseError as e:
            errors.append(str(e))
    raise DatasetError(f"no pose file could be read, e.g. {errors[0]}")


def _version() -> str:
    from .. import __version__

    return __version__


def _swap_into_place(tmp: Path, out_dir: Path, overwrite: bool) -> None:
    if out_dir.exists():
        if not overwrite:
            raise DatasetError(f"{out_dir} appeared while packing; pass --overwrite to replace it")
        old = out_dir.parent / f".{out_dir.name}.old-{uuid.uuid4().hex[:8]}"
        os.replace(out_dir, old)
        os.replace(tmp, out_dir)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, out_dir)
    with contextlib.suppress(OSError):
        fd = os.open(out_dir.parent, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)


class _Shards:
    """Writes samples, in order, into the shards of their split: a shard closes at the size or sample limit or
    where the split changes. Keeps the manifest rows, the shard list and the counts for dataset.json."""

    def __init__(self, folder: Path, report: PackReport, target_size: int, samples_per_shard: int | None) -> None:
        self.folder, self.report = folder, report
        self.target_size, self.samples_per_shard = target_size, samples_per_shard
        self.rows: list[dict[str, Any]] = []
        self.shards: list[dict[str, Any]] = []
        self.normalized = {"pack": 0, "input": 0}  # by whom: this pack or the input (extraction)
        self.extractors: dict[str, int] = {}
        self.writer: ShardWriter | None = None
        self.split = ""

    def add(self, rec: SampleRecord, members: dict[str, bytes], row: dict[str, Any]) -> None:
        """One prepared sample: its tar members and manifest fields from `_prepare`."""
        if self.writer is not None and self.split != rec.split:
            self.close_shard()
        if self.writer is None:
            self.split = rec.split
            self.writer = ShardWriter(self.folder / shard_name(rec.split, self.report.shards[rec.split]))
            self.report.shards[rec.split] += 1
        writer, key = self.writer, rec.key
        index = writer.count
        offsets = writer.write(members)
        self.normalized[row.pop("normalized_by")] += 1
        self.report.flagged += bool(row["flags"])
        extractor = row.pop("extractor")
        self.extractors[extractor] = self.extractors.get(extractor, 0) + 1
        self.rows.append(
            {
                **row,
                "key": key,
                "shard": writer.path.name,
                "split": rec.split,
                "label": rec.label,
                "gloss": rec.gloss,
                "text": rec.text,
                "signer": rec.signer,
                "language": rec.language,
                "source": rec.source,
                "index": index,
                "pose_offset": offsets[f"{key}.pose.npy"],
                "conf_offset": offsets[f"{key}.conf.npy"],
            }
        )
        self.report.samples[rec.split] += 1
        full = writer.size >= self.target_size
        if full or (self.samples_per_shard is not None and writer.count >= self.samples_per_shard):
            self.close_shard()

    def close_shard(self) -> None:
        writer = self.writer
        if writer is None:
            return
        writer.close()
        size = writer.path.stat().st_size
        sha = sha256_file(writer.path)
        entry = {"name": writer.path.name, "split": self.split, "samples": writer.count, "sha256": sha, "bytes": size}
        self.shards.append(entry)
        self.writer = None

    def normalization(self) -> dict[str, Any]:
        return {
            "method": "shoulders",
            "description": "per sample: centred on the median mid-shoulder point, divided by the median shoulder width",
            "normalized_by_pack": self.normalized["pack"],
            "normalized_at_extraction": self.normalized["input"],
        }

    def made_by(self) -> list[dict[str, Any]]:
        return [{**(json.loads(k) or {"name": None}), "samples": n} for k, n in sorted(self.extractors.items())]


def _jobs(plan: _Plan, found: dict[str, Path], order: list[str], fps: float | None) -> list[tuple[SampleRecord, _Job]]:
    """One job per labelled sample with a pose file, split by split (in `SPLITS` order), sorted by key."""
    by_split: dict[str, list[SampleRecord]] = {}
    for r in plan.recs:
        by_split.setdefault(r.split, []).append(r)
    jobs = []
    for s in order:
        for r in sorted(by_split[s], key=lambda r: r.key):
            path = found.get(r.key)
            if path is None:
                continue  # missing: listed in refused.jsonl
            meta = {f: getattr(r, f) for f in ("key", "label", "gloss", "text", "signer", "language", "source")}
            jobs.append((r, _Job(r.key, str(path), meta, plan.layout, plan.convert, fps)))
    return jobs


def _write(
    tmp: Path, plan: _Plan, found: dict[str, Path], opts: PackOptions
) -> tuple[PackReport, list[dict[str, Any]], dict[str, Any], list[dict[str, Any]]]:
    """Prepare every pose (in ``opts.workers`` processes) and write shards, manifest and refused.jsonl to ``tmp``."""
    order = [s for s in SPLITS if any(r.split == s for r in plan.recs)]
    report = PackReport(tmp, samples={s: 0 for s in order}, shards={s: 0 for s in order}, layout=plan.layout)
    report.unlabelled, report.missing, report.skipped_rows = plan.unlabelled, plan.missing, plan.skipped_rows
    report.outside_subset = plan.outside_subset
    report.classes = len(plan.classes) if plan.classes else None  # CSLR/SLT: none
    jobs = _jobs(plan, found, order, opts.fps)
    results = _map(_prepare, [j for _, j in jobs], opts.workers)
    if opts.progress:
        from .._progress import track  # a bar on a terminal, plain periodic lines in a log file

        results = track(results, total=len(jobs), desc="packing", unit="sample")
    out = _Shards(tmp / SHARDS_DIR, report, parse_size(opts.shard_size), opts.samples_per_shard)
    for (rec, _), (key, members, row) in zip(jobs, results, strict=True):
        if members is None:
            report.refused.append((key, str(row)))
        else:
            out.add(rec, members, row)
    out.close_shard()
    for s in list(report.samples):
        if report.samples[s] == 0:
            del report.samples[s], report.shards[s]
    write_manifest(out.rows, tmp / MANIFEST)
    listed = [{"key": k, "kind": "refused", "reason": why} for k, why in report.refused]
    listed += [
        {"key": k, "kind": "unlabelled", "reason": f"no label row names this pose ({found[k]})"}
        for k in report.unlabelled
    ]
    listed += [
        {"key": k, "kind": "missing", "reason": "missing pose: no pose file with this key"} for k in report.missing
    ]
    atomic_write_text(tmp / REFUSED, "".join(json.dumps(x, ensure_ascii=False) + "\n" for x in listed))
    return report, out.shards, out.normalization(), out.made_by()
