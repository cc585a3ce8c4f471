"""How2Sign (Duarte et al., CVPR 2021): instructional ASL videos with English sentences.

``how2sign_realigned_{train,val,test}.csv`` are tab-separated with VIDEO_ID, VIDEO_NAME, SENTENCE_ID, SENTENCE_NAME,
START_REALIGNED, END_REALIGNED (seconds within the long video) and SENTENCE. The release offers both the long raw
videos (``{VIDEO_NAME}.mp4``) and the sentence clips already cut (``{SENTENCE_NAME}.mp4``): a clip is used whole when
present, otherwise the raw video is cut at the re-aligned times.
"""

from __future__ import annotations

import csv
from pathlib import Path

from ..schema import SampleRecord
from ._base import (
    MediaIndex,
    Source,
    SourceInfo,
    normalize_gloss,
    parse_float,
    read_dict_rows,
    record_at,
    row_error,
    safe_key,
)

SPLIT_FILES = {
    "train": "how2sign_realigned_train.csv",
    "dev": "how2sign_realigned_val.csv",
    "test": "how2sign_realigned_test.csv",
}
COLUMNS = ("VIDEO_ID", "VIDEO_NAME", "SENTENCE_ID", "SENTENCE_NAME", "START_REALIGNED", "END_REALIGNED", "SENTENCE")


class How2Sign(Source):
    info = SourceInfo(
        name="how2sign",
        title="How2Sign (American Sign Language, instructional videos)",
        task="SLT",
        sign_language="ase",
        spoken_language="en",
        classes=None,
        splits=("train", "dev", "test"),
        licence="CC BY-NC 4.0",
        url="https://how2sign.github.io/",
        files=tuple(SPLIT_FILES.values()),
        media="sentence clips {SENTENCE_NAME}.mp4, or raw videos {VIDEO_NAME}.mp4 cut at the re-aligned times",
        citation="Duarte et al., How2Sign: A Large-scale Multimodal Dataset for Continuous American Sign Language, "
        "CVPR 2021",
    )

    def _parse(self, root: Path) -> list[SampleRecord]:
        media = MediaIndex.build(root)
        records = []
        for split, name in SPLIT_FILES.items():
            path = self.find(root, name)
            for line, row in read_dict_rows(path, COLUMNS, delimiter="\t", quoting=csv.QUOTE_NONE):
                start = parse_float(row["START_REALIGNED"], path, line, "START_REALIGNED")
                end = parse_float(row["END_REALIGNED"], path, line, "END_REALIGNED")
                if end <= start:
                    raise row_error(path, line, f"END_REALIGNED {end} is not after START_REALIGNED {start}")
                text = normalize_gloss(row["SENTENCE"])
                if not text:
                    raise row_error(path, line, "empty SENTENCE")
                clip = media.find_stem(row["SENTENCE_NAME"])
                bounds: tuple[float | None, float | None] = (None, None)
                if clip is None:
                    clip = media.find_stem(row["VIDEO_NAME"]) or f"raw_videos/{row['VIDEO_NAME']}.mp4"
                    bounds = (start or None, end)
                records.append(
                    record_at(
                        path,
                        line,
                        key=safe_key(row["SENTENCE_NAME"]),
                        split=split,
                        source=self.name,
                        text=text,
                        language=self.info.sign_language,
                        media=clip,
                        start=bounds[0],
                        end=bounds[1],
                        extra={
                            "video_id": row["VIDEO_ID"],
                            "video_name": row["VIDEO_NAME"],
                            "sentence_id": row["SENTENCE_ID"],
                            "start_realigned": start,
                            "end_realigned": end,
                        },
                    )
                )
        return records
