"""OpenASL (Shi et al., EMNLP 2022): open-domain ASL-English sentences from YouTube news and VLOGs.

``openasl-v1.0.tsv`` is tab-separated with vid, yid, start, end (``HH:MM:SS.fff`` within the YouTube video), raw-text,
tokenized-text, gloss and split. Users download the YouTube videos themselves; the official preparation script cuts
them into ``{vid}.mp4`` clips (``:`` may be replaced by ``-`` or ``_`` in the file name). A clip is used whole when
present, otherwise the raw ``{yid}.mp4`` is cut at start/end.
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
    parse_timestamp,
    read_dict_rows,
    record_at,
    row_error,
    safe_key,
)

ANNOTATION = "openasl-v1.0.tsv"
COLUMNS = ("vid", "yid", "start", "end", "raw-text", "split")


class OpenASL(Source):
    info = SourceInfo(
        name="openasl",
        title="OpenASL (open-domain ASL-English translation)",
        task="SLT",
        sign_language="ase",
        spoken_language="en",
        classes=None,
        splits=("train", "dev", "test"),
        licence="CC BY-NC-ND 4.0",
        url="https://github.com/chevalierNoir/OpenASL",
        files=(ANNOTATION,),
        media="YouTube videos you download yourself: clips {vid}.mp4, or raw {yid}.mp4 cut at start/end",
        citation="Shi et al., Open-Domain Sign Language Translation Learned from Online Video, EMNLP 2022",
    )

    def _parse(self, root: Path) -> list[SampleRecord]:
        path = self.find(root, ANNOTATION)
        media = MediaIndex.build(root)
        records = []
        for line, row in read_dict_rows(path, COLUMNS, delimiter="\t", quoting=csv.QUOTE_NONE):
            vid, yid = row["vid"], row["yid"]
            start = parse_timestamp(row["start"], path, line, "start")
            end = parse_timestamp(row["end"], path, line, "end")
            if end <= start:
                raise row_error(path, line, f"end {row['end']} is not after start {row['start']}")
            text = normalize_gloss(row["raw-text"])
            if not text:
                raise row_error(path, line, "empty raw-text")
            clip = next(
                (
                    hit
                    for c in (vid, vid.replace(":", "-"), vid.replace(":", "_"))
                    if (hit := media.find_stem(c)) is not None
                ),
                None,
            )
            bounds: tuple[float | None, float | None] = (None, None)
            if clip is None:
                clip = media.find_stem(yid) or f"raw-video/{yid}.mp4"
                bounds = (start or None, end)
            records.append(
                record_at(
                    path,
                    line,
                    key=safe_key(vid),
                    split=row["split"],
                    source=self.name,
                    gloss=normalize_gloss(row.get("gloss", "")) or None,
                    text=text,
                    language=self.info.sign_language,
                    media=clip,
                    start=bounds[0],
                    end=bounds[1],
                    extra={
                        "yid": yid,
                        "vid": vid,
                        "start_time": start,
                        "end_time": end,
                        "tokenized_text": row.get("tokenized-text", ""),
                    },
                )
            )
        return records
