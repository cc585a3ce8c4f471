"""WLASL (Li et al., WACV 2020): word-level ASL, 2,000 glosses, from ``WLASL_v0.3.json``.

The JSON is a list of glosses in a fixed order, each with its instances (video_id, split, signer_id, frame_start
1-based, frame_end inclusive or -1 = to the end, bbox, fps, variation_id, source, url). The label of a gloss is its
position in the file, so WLASL100/300/1000/2000 are the first N glosses.

Media: the official ``preprocess.py`` writes ``videos/{video_id}.mp4``: YouTube instances already cut to their
frames, the others copied whole. So a ``{video_id}.mp4`` of a YouTube instance is used whole, and otherwise the
frame bounds apply (to the raw YouTube video ``{youtube_id}.mp4`` or to the non-YouTube video).
"""

from __future__ import annotations

from pathlib import Path

from ..schema import SampleRecord
from ._base import (
    MediaIndex,
    Source,
    SourceInfo,
    normalize_gloss,
    parse_int,
    read_json,
    record_at,
    row_error,
    safe_key,
    signer_or_none,
)

ANNOTATION = "WLASL_v0.3.json"
_REQUIRED = ("video_id", "split", "frame_start", "frame_end")


def _is_youtube(url: str) -> bool:
    return "youtube" in url or "youtu.be" in url


class WLASL(Source):
    info = SourceInfo(
        name="wlasl",
        title="WLASL (Word-Level American Sign Language)",
        task="ISLR",
        sign_language="ase",
        spoken_language="en",
        classes=2000,
        splits=("train", "dev", "test"),
        subsets=("WLASL100", "WLASL300", "WLASL1000", "WLASL2000"),
        licence="C-UDA (Computational Use of Data Agreement); academic, non-commercial use",
        url="https://dxli94.github.io/WLASL/",
        files=(ANNOTATION,),
        media="videos/{video_id}.mp4 (official preprocess.py) or raw_videos[_mp4]/ with frame bounds",
        citation="Li et al., Word-level Deep Sign Language Recognition from Video, WACV 2020",
    )
    subset_sizes = {"WLASL100": 100, "WLASL300": 300, "WLASL1000": 1000, "WLASL2000": 2000}

    def _entries(self, root: Path) -> tuple[Path, list]:
        path = self.find(root, ANNOTATION)
        data = read_json(path)
        if not isinstance(data, list):
            raise row_error(path, None, "expected a JSON list of {gloss, instances} entries")
        for i, entry in enumerate(data):
            if not isinstance(entry, dict) or "gloss" not in entry or not isinstance(entry.get("instances"), list):
                raise row_error(path, None, f"entry {i} is not a {{gloss, instances}} object")
        return path, data

    def _classes(self, root: Path) -> list[str]:
        _, data = self._entries(root)
        return [normalize_gloss(str(e["gloss"])) for e in data]

    def _parse(self, root: Path) -> list[SampleRecord]:
        path, data = self._entries(root)
        media = MediaIndex.build(root)
        records = []
        for label, entry in enumerate(data):
            gloss = normalize_gloss(str(entry["gloss"]))
            for j, inst in enumerate(entry["instances"]):
                where = f"entry {label} ({gloss!r}) instance {j}"
                missing = [k for k in _REQUIRED if k not in inst]
                if missing:
                    raise row_error(path, None, f"{where} lacks {missing}")
                video_id = str(inst["video_id"]).strip()
                start = parse_int(inst["frame_start"], path, None, f"{where} frame_start")
                end = parse_int(inst["frame_end"], path, None, f"{where} frame_end")
                if start < 1 or (end != -1 and end < start):
                    raise row_error(path, None, f"{where} has frames {start}..{end} (1-based, -1 = to the end)")
                url = str(inst.get("url", ""))
                bounds = (start - 1, None if end == -1 else end)  # 0-based, end exclusive
                cut = media.find(f"{video_id}.mp4", prefer=("videos",))
                if _is_youtube(url):
                    raw = media.find(f"{url[-11:]}.mp4", prefer=("raw_videos_mp4", "raw_videos"))
                    if cut is not None and "videos" in cut.split("/")[:-1]:
                        clip, bounds = cut, (None, None)  # preprocess.py already cut it to its frames
                    elif raw is not None:
                        clip = raw
                    else:
                        clip, bounds = f"videos/{video_id}.mp4", (None, None)  # expected there; missing
                else:
                    clip = cut or f"videos/{video_id}.mp4"
                records.append(
                    record_at(
                        path,
                        None,
                        where,
                        key=safe_key(video_id),
                        split=str(inst["split"]),
                        source=self.name,
                        label=label,
                        gloss=gloss,
                        signer=signer_or_none(inst.get("signer_id")),
                        language=self.info.sign_language,
                        media=clip,
                        start=None if bounds[0] in (None, 0) else float(bounds[0]),
                        end=None if bounds[1] is None else float(bounds[1]),
                        clip_unit="frames",
                        extra={
                            k: inst[k]
                            for k in (
                                "bbox",
                                "fps",
                                "variation_id",
                                "source",
                                "url",
                                "instance_id",
                                "frame_start",
                                "frame_end",
                            )
                            if k in inst
                        },
                    )
                )
        return records
