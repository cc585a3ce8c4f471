"""Datasets: the sample schema, benchmark parsers (``sources``), ``pack`` into WebDataset shards, and the reader.

Torch is imported only by the reader (``open``, ``SignDataset``), which is loaded on first use, so ``signkit info``
and ``signkit pack`` stay light. ``pack`` and ``verify`` live in ``packing`` and ``verifying``.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from .labels import read_labels
from .manifest import DatasetInfo, read_dataset_json, read_manifest
from .packing import Benchmark, PackOptions, PackReport, pack
from .schema import MANIFEST_COLUMNS, SPLITS, SampleRecord, canonical_split, check_key
from .summary import dataset_summary
from .transforms import Augment
from .verifying import VerifyReport, verify

_LAZY = {
    "open": "reader",
    "SignDataset": "reader",
    "SignLoader": "reader",
    "collate": "reader",
}

if TYPE_CHECKING:  # pragma: no cover
    from .reader import SignDataset, SignLoader, collate, open


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'signkit.datasets' has no attribute {name!r}")


__all__ = [
    "MANIFEST_COLUMNS",
    "SPLITS",
    "Augment",
    "Benchmark",
    "DatasetInfo",
    "PackOptions",
    "PackReport",
    "SampleRecord",
    "SignDataset",
    "SignLoader",
    "VerifyReport",
    "canonical_split",
    "check_key",
    "collate",
    "dataset_summary",
    "open",
    "pack",
    "read_dataset_json",
    "read_labels",
    "read_manifest",
    "verify",
]
