"""`inspect`: parse a release as it lies on disk and say what was found, without extracting anything."""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

from ...errors import DatasetError
from ..schema import SPLITS, SampleRecord
from ._base import skipped_error
from ._clips import split_by_media
from ._registry import get_source

MAX_LISTED = 20


def missing_error(name: str, root: Any, missing: list[SampleRecord]) -> DatasetError:
    shown = ", ".join(f"{r.key} ({r.media})" for r in missing[:5])
    more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
    return DatasetError(
        f"{name}: {len(missing)} sample(s) have no media under {root}: {shown}{more}; "
        "download them, or drop --strict to go on without them"
    )


def inspect_source(
    name: str, root: str | os.PathLike | None, subset: str | None = None, strict: bool = False
) -> dict[str, Any]:
    """What signkit reads from the release of ``name`` under ``root``: samples per split and subset, classes,
    signers, sentences, and how many samples have their video / frames / keypoint file present.

    With ``strict``, any sample whose media is missing, or any row of the release that names no usable sample,
    raises `DatasetError` (naming the first few).
    """
    source = get_source(name)
    resolved = source.resolve_root(root)
    parsed = source.parse(resolved, subset)
    if strict and parsed.skipped:
        raise skipped_error(source.name, parsed.skipped)
    records = parsed.records
    classes = source.classes(resolved, subset)
    present, missing = split_by_media(resolved, records)
    if strict and missing:
        raise missing_error(source.name, resolved, missing)
    splits = Counter(r.split for r in records)
    summary: dict[str, Any] = {
        "dataset": source.name,
        "root": str(resolved),
        "subset": subset,
        "task": source.info.task,
        "samples": len(records),
        "splits": {s: splits[s] for s in SPLITS if splits[s]},
        "subsets": {},
        "classes": len(classes),
        "signers": len({r.signer for r in records if r.signer is not None}),
        "sentences": len({r.text for r in records if r.text}),
        "gloss_vocabulary": len({g for r in records if r.gloss and r.label is None for g in r.gloss.split()}),
        "languages": sorted({r.language for r in records if r.language}),
        "media_present": len(present),
        "media_missing": len(missing),
        "missing": [{"key": r.key, "media": r.media} for r in missing[:MAX_LISTED]],
        "rows_skipped": len(parsed.skipped),
    }
    if parsed.skipped:  # rows of the release that name no usable sample
        summary["skipped"] = [f"{s.where}: {s.reason}" for s in parsed.skipped[:MAX_LISTED]]
    if subset is None:
        for sub, n in source.subset_sizes.items():
            summary["subsets"][sub] = sum(1 for r in records if r.label is not None and r.label < n)
    return summary
