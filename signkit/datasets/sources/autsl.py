"""AUTSL (Sincan & Keles, IEEE Access 2020): 226 Turkish signs, 43 signers, RGB-D videos.

Labels are ``train_labels.csv``, ``validation_labels.csv`` and ``test_labels.csv`` without header
(``signer0_sample1,125``); ``SignList_ClassId_TR_EN.csv`` names the classes (``ClassId,TR,EN``). Videos are
``{sample}_color.mp4`` (and ``_depth.mp4``, unused) in ``train/``, ``val/`` and ``test/``. The validation and test
labels were published after the ChaLearn 2021 challenge; a copy without them has a train split only.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..schema import SampleRecord
from ._base import (
    MediaIndex,
    Source,
    SourceInfo,
    find_optional,
    normalize_gloss,
    parse_int,
    read_rows,
    record_at,
    row_error,
)

CLASS_FILE = "SignList_ClassId_TR_EN.csv"
LABEL_FILES = {"train": "train_labels.csv", "dev": "validation_labels.csv", "test": "test_labels.csv"}
VIDEO_DIRS = {"train": "train", "dev": "val", "test": "test"}
_SAMPLE = re.compile(r"^signer(\d+)_sample(\d+)$")


class AUTSL(Source):
    info = SourceInfo(
        name="autsl",
        title="AUTSL (Ankara University Turkish Sign Language)",
        task="ISLR",
        sign_language="tsm",
        spoken_language="tr",
        classes=226,
        splits=("train", "dev", "test"),
        licence="academic research only, by request (see the download page)",
        url="https://cvml.ankara.edu.tr/datasets/",
        files=(CLASS_FILE, *LABEL_FILES.values()),
        media="{train,val,test}/signerX_sampleY_color.mp4",
        citation="Sincan & Keles, AUTSL: A Large Scale Multi-Modal Turkish Sign Language Dataset, IEEE Access 2020",
    )

    def _class_rows(self, root: Path) -> list[tuple[str, str]]:
        path = self.find(root, CLASS_FILE)
        rows = list(read_rows(path, header=("ClassId", "TR", "EN")))
        out = []
        for i, (line, fields) in enumerate(rows):
            if parse_int(fields[0], path, line, "ClassId") != i:
                raise row_error(path, line, f"ClassId {fields[0]} out of order (expected {i})")
            out.append((normalize_gloss(fields[1]), normalize_gloss(fields[2])))
        return out

    def _classes(self, root: Path) -> list[str]:
        return [tr for tr, _ in self._class_rows(root)]

    def _parse(self, root: Path) -> list[SampleRecord]:
        classes = self._class_rows(root)
        media = MediaIndex.build(root)
        records = []
        for split, name in LABEL_FILES.items():
            path = self.find(root, name) if split == "train" else find_optional(root, name)
            if path is None:
                continue
            for line, fields in read_rows(path, min_fields=2):
                sample = fields[0]
                match = _SAMPLE.match(sample)
                if not match:
                    raise row_error(path, line, f"sample name {sample!r} is not signerX_sampleY")
                label = parse_int(fields[1], path, line, "class id")
                if not 0 <= label < len(classes):
                    raise row_error(path, line, f"class id {label} not in {CLASS_FILE} (0..{len(classes) - 1})")
                video = f"{sample}_color.mp4"
                records.append(
                    record_at(
                        path,
                        line,
                        key=f"{split}/{sample}",
                        split=split,
                        source=self.name,
                        label=label,
                        gloss=classes[label][0],
                        signer=match.group(1),
                        language=self.info.sign_language,
                        media=media.find(video, prefer=(VIDEO_DIRS[split],)) or f"{VIDEO_DIRS[split]}/{video}",
                        extra={"gloss_en": classes[label][1]},
                    )
                )
        return records
