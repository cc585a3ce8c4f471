"""MS-ASL (Joze & Koller, BMVC 2019): 1,000 ASL signs cut from YouTube videos.

``MSASL_{train,val,test}.json`` list samples (label, clean_text, signer_id, url, start_time, end_time, fps, box,
width, height...); ``MSASL_classes.json`` names the 1,000 labels in label order. MS-ASL100/200/500/1000 are the
samples whose label is below N. The release ships no videos: users download the YouTube videos themselves, so a
video is looked up by its YouTube id (``{id}.mp4`` anywhere under RAW_DIR) and cut by start/end time (seconds).
A few rows of the release end where (or before) they start: they name no clip, so they are skipped and listed
(`Source.parse`), not fatal to the whole release (``strict`` refuses them).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlparse

from ..schema import SampleRecord
from ._base import (
    MediaIndex,
    Parsed,
    SkippedRow,
    Source,
    SourceInfo,
    normalize_gloss,
    parse_float,
    parse_int,
    read_json,
    record_at,
    row_error,
    safe_key,
    signer_or_none,
)

CLASSES = "MSASL_classes.json"
SPLIT_FILES = {"train": "MSASL_train.json", "dev": "MSASL_val.json", "test": "MSASL_test.json"}


def youtube_id(url: str) -> str | None:
    """The 11-character id of a YouTube URL (``watch?v=``, ``youtu.be/``, ``/embed/``)."""
    parsed = urlparse(url if "//" in url else "https://" + url)
    if "v" in parse_qs(parsed.query):
        return parse_qs(parsed.query)["v"][0]
    tail = parsed.path.rstrip("/").split("/")[-1]
    return tail or None


class MSASL(Source):
    info = SourceInfo(
        name="msasl",
        title="MS-ASL (Microsoft American Sign Language)",
        task="ISLR",
        sign_language="ase",
        spoken_language="en",
        classes=1000,
        splits=("train", "dev", "test"),
        subsets=("MSASL100", "MSASL200", "MSASL500", "MSASL1000"),
        licence="Microsoft Research data licence: non-commercial research use (see the download page)",
        url="https://www.microsoft.com/en-us/research/project/ms-asl/",
        files=(CLASSES, *SPLIT_FILES.values()),
        media="YouTube videos you download yourself, named {youtube_id}.mp4 anywhere under RAW_DIR",
        citation="Joze & Koller, MS-ASL: A Large-Scale Data Set and Benchmark for Understanding ASL, BMVC 2019",
    )
    subset_sizes = {"MSASL100": 100, "MSASL200": 200, "MSASL500": 500, "MSASL1000": 1000}

    def _classes(self, root: Path) -> list[str]:
        path = self.find(root, CLASSES)
        data = read_json(path)
        if not isinstance(data, list) or not all(isinstance(c, str) for c in data):
            raise row_error(path, None, "expected a JSON list of class names")
        return [normalize_gloss(c) for c in data]

    def _parse(self, root: Path) -> Parsed:
        classes = self._classes(root)
        media = MediaIndex.build(root)
        records: list[SampleRecord] = []
        skipped: list[SkippedRow] = []
        for split, name in SPLIT_FILES.items():
            path = self.find(root, name)
            data = read_json(path)
            if not isinstance(data, list):
                raise row_error(path, None, "expected a JSON list of samples")
            for i, s in enumerate(data):
                where = f"sample {i}"
                missing = [k for k in ("label", "url", "start_time", "end_time") if k not in s]
                if missing:
                    raise row_error(path, None, f"{where} lacks {missing}")
                label = parse_int(s["label"], path, None, f"{where} label")
                if not 0 <= label < len(classes):
                    raise row_error(path, None, f"{where} has label {label}; {CLASSES} names {len(classes)} classes")
                yt = youtube_id(str(s["url"]))
                if not yt:
                    raise row_error(path, None, f"{where} has no YouTube id in url {s['url']!r}")
                start = parse_float(s["start_time"], path, None, f"{where} start_time")
                end = parse_float(s["end_time"], path, None, f"{where} end_time")
                key = f"{split}/{i:05d}_{safe_key(yt)}"
                if end <= start:
                    length = "zero length" if end == start else "negative length"
                    skipped.append(SkippedRow(f"{path}: {where}", key, f"{length}: ends at {end}s, starts at {start}s"))
                    continue
                records.append(
                    record_at(
                        path,
                        None,
                        where,
                        key=key,
                        split=split,
                        source=self.name,
                        label=label,
                        gloss=classes[label],
                        signer=signer_or_none(s.get("signer_id")),
                        language=self.info.sign_language,
                        media=media.find_stem(yt) or f"videos/{yt}.mp4",
                        start=start or None,
                        end=end,
                        clip_unit="seconds",
                        extra={
                            k: s[k]
                            for k in ("clean_text", "org_text", "fps", "box", "width", "height", "url", "start", "end")
                            if k in s
                        },
                    )
                )
        return Parsed(records, skipped)
