"""The sign.mt fingerspelling lexicon shipped by the ``spoken-to-signed`` package: real MediaPipe Holistic ``.pose``
files of letters and short words in 19 sign languages, with an index CSV.

``index.csv`` (``data.csv`` in older copies) has path, spoken_language, signed_language, start, end, words, glosses,
priority. The package's own index mirrors the ASL rows as French Sign Language (``fsl``) for French text; the same
pose cannot be both, so signkit keeps one sample per pose file (its first row) and lists mirrors in
``extra["mirrored_as"]``. The task is sign-language identification: the label is the sign language (classes are the
sorted ISO 639-3 codes), the letters or word are in ``text``. Split 80/10/10 by a hash of the key.
With no ``--root`` the copy inside the installed ``spoken-to-signed`` package is used.
"""

from __future__ import annotations

import os
from collections.abc import Container, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from ...errors import DatasetError
from ..schema import SampleRecord
from ._base import (
    Source,
    SourceInfo,
    find_file,
    hash_split,
    normalize_gloss,
    read_dict_rows,
    row_error,
    safe_key,
)

if TYPE_CHECKING:
    from ...pose import Pose

COLUMNS = ("path", "spoken_language", "signed_language", "words")


class FingerspellingLexicon(Source):
    info = SourceInfo(
        name="fingerspelling-lexicon",
        title="sign.mt fingerspelling lexicon (spoken-to-signed package)",
        task="ISLR",
        sign_language="mul",
        spoken_language="mul",
        classes=19,
        splits=("train", "dev", "test"),
        licence="MIT (spoken-to-signed package)",
        url="https://pypi.org/project/spoken-to-signed/",
        files=("index.csv", "data.csv"),
        media="{signed_language}/{name}.pose (MediaPipe Holistic, pose-format)",
        keypoints=True,
        notes="label = the sign language (identification); letters/words in text; split 80/10/10 by key hash",
    )

    def default_root(self) -> Path | None:
        try:
            import spoken_to_signed
        except ImportError:
            raise DatasetError(
                "fingerspelling-lexicon: pass --root, or install the package that ships it: "
                "pip install spoken-to-signed"
            ) from None
        return Path(spoken_to_signed.__file__).parent / "assets" / "fingerspelling_lexicon"

    def _rows(self, root: Path) -> tuple[Path, list[tuple[int, dict[str, str]]]]:
        path = find_file(root, ("index.csv", "data.csv"), self.name)
        return path, list(read_dict_rows(path, COLUMNS))

    def _kept(self, root: Path) -> list[tuple[int, dict[str, str], list[str]]]:
        path, rows = self._rows(root)
        kept: dict[str, tuple[int, dict[str, str], list[str]]] = {}
        for line, row in rows:
            file = row["path"]
            if not file.endswith(".pose") or file.startswith("/") or ".." in file.split("/"):
                raise row_error(path, line, f"path {file!r} is not a relative .pose file")
            if not row["signed_language"]:
                raise row_error(path, line, "empty signed_language")
            if file in kept:
                mirrors = kept[file][2]
                if row["signed_language"] not in mirrors and row["signed_language"] != kept[file][1]["signed_language"]:
                    mirrors.append(row["signed_language"])
                continue
            kept[file] = (line, row, [])
        return list(kept.values())

    def _classes(self, root: Path) -> list[str]:
        return sorted({row["signed_language"] for _, row, _ in self._kept(root)})

    def _parse(self, root: Path) -> list[SampleRecord]:
        kept = self._kept(root)
        classes = sorted({row["signed_language"] for _, row, _ in kept})
        records = []
        for _, row, mirrors in kept:
            key = safe_key(row["path"][: -len(".pose")])
            extra = {k: row[k] for k in ("spoken_language", "glosses", "start", "end", "priority") if k in row}
            if mirrors:
                extra["mirrored_as"] = mirrors
            records.append(
                SampleRecord(
                    key=key,
                    split=hash_split(key),
                    source=self.name,
                    label=classes.index(row["signed_language"]),
                    gloss=row["signed_language"],
                    text=normalize_gloss(row["words"]) or None,
                    language=row["signed_language"],
                    media=row["path"],
                    extra=extra,
                )
            )
        return records

    def poses(self, root: str | os.PathLike | None, exclude: Container[str] = ()) -> Iterator[tuple[str, Pose]]:
        from ...pose import load_pose

        root = self.resolve_root(root)
        for record in self.records(root):
            if record.key in exclude:
                continue
            file = root / record.media
            if not file.is_file():
                raise DatasetError(f"fingerspelling-lexicon: {file} (sample {record.key}) is missing")
            yield record.key, load_pose(file)
