"""LSA64 (Ronchetti et al., 2016): 64 Argentinian signs, 10 signers, 5 repetitions each (3,200 videos).

The release has no annotation file: everything is in the video names ``{sign}_{signer}_{repetition}.mp4``
(three digits each, 1-based). Classes are the sign ids ``001``..``064`` (the sign names are on the web page, not in
the release). The release defines no split either, so signkit documents two:
- default (signer-dependent): repetitions 1-3 train, 4 dev, 5 test;
- subset ``signer-independent``: signers 1-8 train, 9 dev, 10 test.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ...errors import DatasetError
from ..schema import SampleRecord
from ._base import Source, SourceInfo, check_unique_keys

_NAME = re.compile(r"^(\d{3})_(\d{3})_(\d{3})\.(mp4|avi|mov)$", re.IGNORECASE)
NUM_SIGNS = 64
SIGNER_INDEPENDENT = "signer-independent"


class LSA64(Source):
    info = SourceInfo(
        name="lsa64",
        title="LSA64 (Argentinian Sign Language, 64 signs)",
        task="ISLR",
        sign_language="aed",
        spoken_language="es",
        classes=NUM_SIGNS,
        splits=("train", "dev", "test"),
        subsets=(SIGNER_INDEPENDENT,),
        licence="CC BY-NC-SA 4.0",
        url="https://facundoq.github.io/datasets/lsa64/",
        files=(),
        media="{sign}_{signer}_{repetition}.mp4 (e.g. 001_001_001.mp4), any folder under RAW_DIR",
        citation="Ronchetti et al., LSA64: An Argentinian Sign Language Dataset, CACIC 2016",
        notes="no official split: default = repetitions 1-3/4/5; subset signer-independent = signers 1-8/9/10",
    )

    def records(self, root: str | os.PathLike | None, subset: str | None = None) -> list[SampleRecord]:
        root = self.resolve_root(root)
        protocol = self.check_subset(subset) if subset is not None else None
        records = []
        for rel_path, sign, signer, rep in self._videos(root):
            if protocol == SIGNER_INDEPENDENT:
                split = "train" if signer <= 8 else ("dev" if signer == 9 else "test")
            else:
                split = "train" if rep <= 3 else ("dev" if rep == 4 else "test")
            records.append(
                SampleRecord(
                    key=f"{sign:03d}_{signer:03d}_{rep:03d}",
                    split=split,
                    source=self.name,
                    label=sign - 1,
                    gloss=f"{sign:03d}",
                    signer=f"{signer:03d}",
                    language=self.info.sign_language,
                    media=rel_path,
                    extra={"repetition": rep},
                )
            )
        check_unique_keys(records, self.name)
        return records

    def check_subset(self, subset: str) -> str:
        if subset.strip().lower().replace("_", "-") == SIGNER_INDEPENDENT:
            return SIGNER_INDEPENDENT
        raise DatasetError(f"lsa64 has no subset {subset!r}; its subsets: {SIGNER_INDEPENDENT}")

    def classes(self, root: str | os.PathLike | None, subset: str | None = None) -> list[str]:
        self.resolve_root(root)
        return [f"{i:03d}" for i in range(1, NUM_SIGNS + 1)]

    def _videos(self, root: Path) -> list[tuple[str, int, int, int]]:
        found = []
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for name in sorted(filenames):
                m = _NAME.match(name)
                if not m:
                    continue
                sign, signer, rep = int(m.group(1)), int(m.group(2)), int(m.group(3))
                path = Path(dirpath, name)
                if not (1 <= sign <= NUM_SIGNS and 1 <= signer <= 10 and 1 <= rep <= 5):
                    raise DatasetError(
                        f"{path}: sign/signer/repetition out of range (001-064/001-010/001-005); "
                        "is this an LSA64 video?"
                    )
                found.append((path.relative_to(root).as_posix(), sign, signer, rep))
        if not found:
            raise DatasetError(
                f"lsa64: no videos named like 001_001_001.mp4 under {root}; pass the folder you unpacked the release to"
            )
        found.sort(key=lambda v: (v[1], v[2], v[3]))
        for a, b in zip(found, found[1:], strict=False):
            if a[1:] == b[1:]:
                raise DatasetError(
                    f"lsa64: {a[0]} and {b[0]} are the same video twice (raw and cut copies?); "
                    "pass the folder of one copy as --root"
                )
        return found
