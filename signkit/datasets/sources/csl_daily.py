"""CSL-Daily (Zhou et al., CVPR 2021): Chinese Sign Language sentences of daily life, glosses and Chinese text.

The release holds ``sentence_label/split_1.txt`` (``name|split``) and ``sentence_label/csl2020ct_v2.pkl``, a pickle
whose ``info`` list gives each sample's ``name``, ``label_gloss``, ``label_char``, ``label_word`` and ``signer``.
Videos are folders of JPG frames, ``sentence/frames_512x512/{name}/``. A pickle can run code when loaded, so it is
read with an unpickler that only builds plain containers and numpy scalars.
"""

from __future__ import annotations

import csv
import pickle
from pathlib import Path
from typing import Any

from ...errors import DatasetError
from .._unpickle import NUMPY_SCALARS, restricted_load
from ..schema import SampleRecord
from ._base import Source, SourceInfo, normalize_gloss, read_dict_rows, record_at, rel, row_error, signer_or_none

SPLIT_FILE = "split_1.txt"
LABELS = "csl2020ct_v2.pkl"
FRAMES = Path("sentence") / "frames_512x512"


def load_label_pickle(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            data = restricted_load(f, NUMPY_SCALARS)
    except (pickle.UnpicklingError, EOFError, ValueError) as e:
        raise DatasetError(f"{path}: not the CSL-Daily label pickle ({e}); re-download it from the release") from None
    if not isinstance(data, dict) or not isinstance(data.get("info"), list):
        raise DatasetError(f"{path}: expected a dict with an 'info' list; is this csl2020ct_v2.pkl?")
    return data


def _tokens(value: Any) -> list[str]:
    if isinstance(value, str):
        return value.split()
    return [str(v) for v in value]


class CSLDaily(Source):
    info = SourceInfo(
        name="csl-daily",
        title="CSL-Daily (Chinese Sign Language, daily-life sentences)",
        task="SLT",
        sign_language="csl",
        spoken_language="zh",
        classes=None,
        splits=("train", "dev", "test"),
        licence="research use only, by signed agreement (see the download page)",
        url="https://ustc-slr.github.io/datasets/2021_csl_daily/",
        files=(SPLIT_FILE, LABELS),
        media="sentence/frames_512x512/{name}/*.jpg (JPG frames)",
        citation="Zhou et al., Improving Sign Language Translation with Monolingual Data by Sign Back-Translation, "
        "CVPR 2021",
    )

    def _parse(self, root: Path) -> list[SampleRecord]:
        split_path = self.find(root, SPLIT_FILE)
        label_path = self.find(root, LABELS)
        info: dict[str, dict] = {}
        for i, item in enumerate(load_label_pickle(label_path)["info"]):
            if not isinstance(item, dict) or not all(k in item for k in ("name", "label_gloss", "label_char")):
                raise row_error(label_path, None, f"info[{i}] lacks name/label_gloss/label_char")
            info[str(item["name"])] = item
        release = label_path.parent.parent
        records = []
        for line, row in read_dict_rows(split_path, ("name", "split"), delimiter="|", quoting=csv.QUOTE_NONE):
            name = row["name"]
            item = info.get(name)
            if item is None:
                raise row_error(split_path, line, f"sample {name!r} has no entry in {LABELS}")
            frames = release / FRAMES / name
            if not frames.is_dir() and (release / "frames_512x512" / name).is_dir():
                frames = release / "frames_512x512" / name
            records.append(
                record_at(
                    split_path,
                    line,
                    key=name,
                    split=row["split"],
                    source=self.name,
                    gloss=normalize_gloss(" ".join(_tokens(item["label_gloss"]))) or None,
                    text=normalize_gloss("".join(_tokens(item["label_char"]))),
                    signer=signer_or_none(item.get("signer")),
                    language=self.info.sign_language,
                    media=rel(root, frames),
                    extra={"words": _tokens(item.get("label_word", []))},
                )
            )
        return records
