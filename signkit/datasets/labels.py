"""Labels for a pack: a simple labels file (CSV or JSONL), and the stable label map derived from records.

A labels file has one row per sample with ``key`` and ``split`` and any of ``label`` (class index), ``gloss``,
``text``, ``signer``, ``language``. Benchmark parsers (``signkit.datasets.sources``) give the same records.
`normalize_gloss` is the one spelling of a gloss for every label source (labels files, parsers, records).
"""

from __future__ import annotations

import csv
import json
import os
import unicodedata
from collections.abc import Iterable
from pathlib import Path

from ..errors import DatasetError
from .schema import SampleRecord

LABEL_FIELDS = ("label", "gloss", "text", "signer", "language")


def normalize_gloss(gloss: str) -> str:
    """The one spelling of a gloss: Unicode NFC, outer blanks stripped, inner runs of blanks collapsed.

    Case is kept: it carries meaning in some annotation schemes (PHOENIX ``loc-NORD``, ``IX``). The same input
    gives the same output on every run and machine, so label maps built from it are stable.
    """
    return " ".join(unicodedata.normalize("NFC", gloss).split())


def normalize_record_glosses(records: Iterable[SampleRecord]) -> None:
    """Give every record's gloss its one spelling, in place (an all-blank gloss becomes None)."""
    for r in records:
        if r.gloss is not None:
            r.gloss = normalize_gloss(r.gloss) or None


def _clean(value) -> str | None:
    if value is None:
        return None
    value = str(value).strip()
    return value or None


def _record(row: dict, where: str, source: str) -> SampleRecord:
    if not _clean(row.get("key")):
        raise DatasetError(f"{where}: no 'key'; every row needs key and split")
    if not _clean(row.get("split")):
        raise DatasetError(f"{where}: no 'split' for key {row['key']!r}; use train, dev or test")
    label = _clean(row.get("label"))
    if label is not None:
        try:
            label = int(label)
        except ValueError:
            raise DatasetError(f"{where}: label {label!r} is not a class index; put class names in 'gloss'") from None
        if label < 0:
            raise DatasetError(f"{where}: label {label} is negative; leave it empty for an unlabelled sample")
    try:
        return SampleRecord(
            key=_clean(row["key"]),
            split=_clean(row["split"]),
            source=_clean(row.get("source")) or source,
            label=label,
            **{f: _clean(row.get(f)) for f in LABEL_FIELDS if f not in ("label", "gloss")},
            gloss=normalize_gloss(_clean(row.get("gloss")) or "") or None,
        )
    except DatasetError as e:
        raise DatasetError(f"{where}: {e}") from None


def read_labels(path: str | os.PathLike) -> list[SampleRecord]:
    """Records from a ``.csv`` (header row) or ``.jsonl`` labels file; a duplicate key is an error."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: no such labels file")
    source = f"labels:{path.name}"
    rows: list[tuple[str, dict]] = []
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            if reader.fieldnames is None or not {"key", "split"} <= set(reader.fieldnames):
                raise DatasetError(f"{path}: the CSV header must name at least 'key' and 'split'")
            rows = [(f"{path}:{i + 2}", row) for i, row in enumerate(reader)]
    elif suffix in (".jsonl", ".ndjson"):
        with open(path, encoding="utf-8") as f:
            for i, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as e:
                    raise DatasetError(f"{path}:{i}: not JSON ({e})") from None
                if not isinstance(row, dict):
                    raise DatasetError(f"{path}:{i}: each line must be a JSON object")
                rows.append((f"{path}:{i}", row))
    else:
        raise DatasetError(f"{path}: labels must be a .csv or .jsonl file")
    records: dict[str, SampleRecord] = {}
    for where, row in rows:
        rec = _record(row, where, source)
        if rec.key in records:
            raise DatasetError(f"{where}: key {rec.key!r} appears twice")
        records[rec.key] = rec
    return list(records.values())


def build_classes(records: Iterable[SampleRecord], gloss_sequences: bool = False) -> list[str] | None:
    """The label index -> gloss map, or None when the records carry no class labels.

    With ``label`` indices the map comes from the (label, gloss) pairs (a gap or a label with two glosses is an
    error). Without indices, each distinct gloss is a class (isolated signs: WLASL's ``thank you`` is one sign),
    in sorted order, and each record gets its index. Only with ``gloss_sequences`` (continuous signing: a gloss
    is a space-separated sequence of signs) are there no classes, just the vocabulary of `build_gloss_vocab`.
    """
    records = list(records)
    labelled = [r for r in records if r.label is not None]
    if labelled:
        names: dict[int, str] = {}
        for r in labelled:
            name = r.gloss if r.gloss is not None else str(r.label)
            if names.setdefault(r.label, name) != name:
                raise DatasetError(f"label {r.label} has two glosses ({names[r.label]!r}, {name!r}); fix the labels")
        size = max(names) + 1
        return [names.get(i, f"<unused-{i}>") for i in range(size)]
    glosses = [r.gloss for r in records if r.gloss is not None]
    if not glosses or gloss_sequences:
        return None
    classes = sorted(set(glosses))
    index = {g: i for i, g in enumerate(classes)}
    for r in records:
        if r.gloss is not None:
            r.label = index[r.gloss]
    return classes


def build_gloss_vocab(records: Iterable[SampleRecord]) -> list[str]:
    """Every gloss token seen (continuous recognition's CTC vocabulary, without the blank), sorted."""
    return sorted({tok for r in records if r.gloss for tok in r.gloss.split()})
