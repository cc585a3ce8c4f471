"""``dataset_summary``: what a packed dataset holds, from ``dataset.json`` and the manifest alone (no shard is read)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .manifest import read_dataset_json, read_manifest


def dataset_summary(root: str | os.PathLike) -> dict[str, Any]:
    """Samples, frames, classes, signers per split, fps, layout and how often each hand is missing."""
    info = read_dataset_json(root)
    table = read_manifest(info.location).to_pydict()
    split_col = np.asarray(table["split"], dtype=object)
    frames = np.asarray(table["num_frames"], dtype=np.int64)
    left = np.asarray(table["left_hand_detected"], dtype=np.float64)
    right = np.asarray(table["right_hand_detected"], dtype=np.float64)
    splits: dict[str, Any] = {}
    for split in info.splits:
        sel = split_col == split
        f = frames[sel]
        labels = {v for v, s in zip(table["label"], sel, strict=True) if s and v is not None}
        signers = {v for v, s in zip(table["signer"], sel, strict=True) if s and v is not None}
        splits[split] = {
            "samples": int(sel.sum()),
            "shards": len(info.split_shards(split)),
            "frames": int(f.sum()),
            "frames_min_mean_max": [int(f.min()), round(float(f.mean()), 1), int(f.max())] if len(f) else None,
            "classes": len(labels),
            "signers": len(signers),
        }
    weights = frames / max(int(frames.sum()), 1)
    return {
        "path": str(info.root),
        "layout": info.layout,
        "normalization": info.normalization.get("method") if isinstance(info.normalization, dict) else None,
        "samples": int(len(frames)),
        "splits": splits,
        "classes": len(info.classes) if info.classes else 0,
        "gloss_vocab": len(info.gloss_vocab),
        "signers": len({s for s in table["signer"] if s is not None}),
        "languages": sorted({s for s in table["language"] if s is not None}),
        "fps": sorted({round(float(x), 3) for x in table["fps"]}),
        "missing_hand_ratio": {
            "left_hand": round(float(1 - (left * weights).sum()), 4),
            "right_hand": round(float(1 - (right * weights).sum()), 4),
        },
        "bytes": sum(s.bytes for s in info.shards),
        "refused_at_pack": info.raw.get("refused", 0),
        "signkit_version": info.raw.get("signkit_version"),
    }
