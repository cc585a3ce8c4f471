"""RWTH-PHOENIX-Weather 2014 (CSLR) and 2014-T (SLT): German weather forecasts in DGS.

2014: ``annotations/manual/{train,dev,test}.corpus.csv`` with ``id|folder|signer|annotation`` (the signer-independent
release has ``{split}.SI5.corpus.csv``: subset ``SI5``). 2014-T: ``PHOENIX-2014-T.{train,dev,test}.corpus.csv`` with
``name|video|start|end|speaker|orth|translation``. Videos are folders of PNG frames at 25 fps under
``features/fullFrame-210x260px/{split}/``: the ``folder``/``video`` column (``NAME/1/*.png``) names them. The
2014-T release keeps the frames directly in ``{split}/NAME/``, so that folder is used when ``NAME/1`` is absent.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from ...errors import DatasetError
from ..schema import SampleRecord
from ._base import Source, SourceInfo, check_unique_keys, normalize_gloss, read_dict_rows, record_at, rel, row_error

FRAMES = Path("features") / "fullFrame-210x260px"
_SPLITS = ("train", "dev", "test")
FPS = 25


def _frame_dir(pattern: str, path: Path, line: int) -> str:
    folder = pattern.strip()
    for tail in ("/*.png", "*.png", "/*"):
        if folder.endswith(tail):
            folder = folder[: -len(tail)]
            break
    if not folder or folder.startswith("/") or ".." in folder.split("/"):
        raise row_error(path, line, f"frame folder {pattern!r} is not a relative NAME/1/*.png pattern")
    return folder


class Phoenix2014(Source):
    info = SourceInfo(
        name="phoenix2014",
        title="RWTH-PHOENIX-Weather 2014 (multi-signer)",
        task="CSLR",
        sign_language="gsg",
        spoken_language="de",
        classes=None,
        splits=_SPLITS,
        subsets=("SI5",),
        licence="CC BY-NC-SA 3.0 (research use; see the download page)",
        url="https://www-i6.informatik.rwth-aachen.de/~koller/RWTH-PHOENIX/",
        files=tuple(f"{s}.corpus.csv" for s in _SPLITS),
        media="features/fullFrame-210x260px/{split}/{id}/1/*.png (PNG frames, 25 fps)",
        citation="Koller et al., Continuous sign language recognition: Towards large vocabulary statistical "
        "recognition systems handling multiple signers, CVIU 2015",
    )

    def check_subset(self, subset: str) -> str:
        if subset.strip().upper() == "SI5":
            return "SI5"
        raise DatasetError(f"phoenix2014 has no subset {subset!r}; its subsets: SI5 (signer-independent release)")

    def records(self, root: str | os.PathLike | None, subset: str | None = None) -> list[SampleRecord]:
        root = self.resolve_root(root)
        infix = f".{self.check_subset(subset)}" if subset is not None else ""
        records = []
        for split in _SPLITS:
            path = self.find(root, f"{split}{infix}.corpus.csv")
            release = path.parent.parent.parent
            for line, row in read_dict_rows(
                path, ("id", "folder", "signer", "annotation"), delimiter="|", quoting=csv.QUOTE_NONE
            ):
                gloss = normalize_gloss(row["annotation"])
                if not gloss:
                    raise row_error(path, line, f"sample {row['id']!r} has an empty annotation")
                folder = _frame_dir(row["folder"], path, line)
                records.append(
                    record_at(
                        path,
                        line,
                        key=f"{split}/{row['id']}",
                        split=split,
                        source=self.name,
                        gloss=gloss,
                        signer=row["signer"] or None,
                        language=self.info.sign_language,
                        media=rel(root, release / FRAMES / split / folder),
                        extra={"fps": FPS},
                    )
                )
        check_unique_keys(records, self.name)
        return records

    def classes(self, root: str | os.PathLike | None, subset: str | None = None) -> list[str]:
        self.resolve_root(root)
        return []


class Phoenix2014T(Source):
    info = SourceInfo(
        name="phoenix2014t",
        title="RWTH-PHOENIX-Weather 2014-T (translation)",
        task="SLT",
        sign_language="gsg",
        spoken_language="de",
        classes=None,
        splits=_SPLITS,
        licence="CC BY-NC-SA 3.0 (research use; see the download page)",
        url="https://www-i6.informatik.rwth-aachen.de/~koller/RWTH-PHOENIX-2014-T/",
        files=tuple(f"PHOENIX-2014-T.{s}.corpus.csv" for s in _SPLITS),
        media="features/fullFrame-210x260px/{split}/{name}/*.png (PNG frames, 25 fps)",
        citation="Camgoz et al., Neural Sign Language Translation, CVPR 2018",
    )

    def _parse(self, root: Path) -> list[SampleRecord]:
        records = []
        for split in _SPLITS:
            path = self.find(root, f"PHOENIX-2014-T.{split}.corpus.csv")
            release = path.parent.parent.parent
            columns = ("name", "video", "start", "end", "speaker", "orth", "translation")
            for line, row in read_dict_rows(path, columns, delimiter="|", quoting=csv.QUOTE_NONE):
                name = row["name"]
                folder = _frame_dir(row["video"], path, line)
                frames = release / FRAMES / split / folder
                if not frames.is_dir():  # 2014-T keeps the frames in {split}/NAME/, not NAME/1/
                    frames = release / FRAMES / split / name
                text = normalize_gloss(row["translation"])
                if not text:
                    raise row_error(path, line, f"sample {name!r} has an empty translation")
                records.append(
                    record_at(
                        path,
                        line,
                        key=f"{split}/{name}",
                        split=split,
                        source=self.name,
                        gloss=normalize_gloss(row["orth"]) or None,
                        text=text,
                        signer=row["speaker"] or None,
                        language=self.info.sign_language,
                        media=rel(root, frames),
                        extra={"fps": FPS},
                    )
                )
        return records
