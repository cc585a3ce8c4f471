"""Google's Kaggle ASL sets, released as MediaPipe Holistic landmarks (no videos, nothing to extract).

- ``asl-signs`` (Isolated Sign Language Recognition, 250 signs): ``train.csv`` (path, participant_id, sequence_id,
  sign), ``sign_to_prediction_index_map.json`` (sign -> label) and one parquet per sequence in long format
  (frame, row_id, type, landmark_index, x, y, z; 543 landmarks a frame).
- ``asl-fingerspelling`` (phrases): ``train.csv`` (path, file_id, sequence_id, participant_id, phrase) and parquet
  files of many sequences each in wide format (sequence_id, frame, ``x_face_0``... ``z_right_hand_20``).

Landmarks are in [0, 1] image units with NaN where MediaPipe saw nothing: signkit stores conf 0 and coordinate 0
there (never NaN), conf 1 elsewhere. Neither set has public test labels, so the labelled rows are split 80/10/10 by
a hash of the key (`hash_split`), the same on every run. The recording fps is not published; 30 is assumed and
marked in ``meta["fps_assumed"]``.
"""

from __future__ import annotations

import os
from collections.abc import Container, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ...errors import DatasetError
from ..schema import SampleRecord
from ._base import Source, SourceInfo, hash_split, normalize_gloss, read_dict_rows, read_json, record_at, rel, row_error

if TYPE_CHECKING:
    from ...pose import Pose

LAYOUT = "mediapipe-holistic"
ASSUMED_FPS = 30.0
# Kaggle's landmark type -> (first index in signkit's mediapipe-holistic layout, number of points)
PARTS = {"pose": (0, 33), "face": (33, 468), "left_hand": (501, 21), "right_hand": (522, 21)}
NUM_POINTS = 543


def _require_pyarrow():
    import pyarrow.parquet as pq

    return pq


def _to_pose(xyz: np.ndarray, source: str) -> Pose:
    """[T, 543, 3] with NaN for missing -> Pose (conf 0 and coords 0 where x or y is NaN)."""
    from ...pose import Pose

    seen = np.isfinite(xyz[..., 0]) & np.isfinite(xyz[..., 1])
    coords = np.where(seen[..., None], np.nan_to_num(xyz, nan=0.0, posinf=0.0, neginf=0.0), 0.0)
    meta = {
        "frame_size": None,
        "normalization": None,
        "coordinates": "image-normalized [0, 1]",
        "fps_assumed": True,
        "source_format": source,
    }
    return Pose(coords.astype(np.float32), seen.astype(np.float32), ASSUMED_FPS, LAYOUT, meta)


def long_parquet_to_pose(path: Path) -> Pose:
    """One asl-signs sequence (long format) as a Pose in the mediapipe-holistic layout."""
    pq = _require_pyarrow()
    try:
        table = pq.read_table(path, columns=["frame", "type", "landmark_index", "x", "y", "z"])
    except Exception as e:  # pyarrow raises several types for a damaged or foreign file
        raise DatasetError(f"{path}: cannot read as an asl-signs landmark parquet ({e})") from None
    frame = table.column("frame").to_numpy()
    kinds = np.asarray(table.column("type").to_pylist(), dtype=object)
    landmark = table.column("landmark_index").to_numpy().astype(np.int64)
    xyz = np.stack([table.column(c).to_numpy(zero_copy_only=False).astype(np.float64) for c in "xyz"], axis=-1)
    index = np.full(len(kinds), -1, dtype=np.int64)
    for kind, (offset, count) in PARTS.items():
        sel = kinds == kind
        bad = sel & ((landmark < 0) | (landmark >= count))
        if bad.any():
            raise DatasetError(f"{path}: {kind} landmark_index {landmark[bad][0]} out of range 0..{count - 1}")
        index[sel] = offset + landmark[sel]
    if (index < 0).any():
        raise DatasetError(f"{path}: unknown landmark type {kinds[index < 0][0]!r}; expected {sorted(PARTS)}")
    frames, t = np.unique(frame, return_inverse=True)
    if len(kinds) != len(frames) * NUM_POINTS:
        raise DatasetError(f"{path}: {len(kinds)} rows for {len(frames)} frames; expected {NUM_POINTS} a frame")
    out = np.full((len(frames), NUM_POINTS, 3), np.nan)
    out[t, index] = xyz
    return _to_pose(out, "kaggle-asl-signs")


def wide_columns() -> list[str]:
    """The wide parquet's landmark columns in signkit's layout order, x/y/z for each point."""
    names = []
    for kind, (_, count) in PARTS.items():
        names.extend(f"{kind}_{i}" for i in range(count))
    return names


class ASLSigns(Source):
    info = SourceInfo(
        name="asl-signs",
        title="Google Isolated Sign Language Recognition (Kaggle asl-signs)",
        task="ISLR",
        sign_language="ase",
        spoken_language="en",
        classes=250,
        splits=("train", "dev", "test"),
        licence="CC BY 4.0 (Kaggle competition data; accept the competition rules to download)",
        url="https://www.kaggle.com/competitions/asl-signs/data",
        files=("train.csv", "sign_to_prediction_index_map.json"),
        media="train_landmark_files/{participant_id}/{sequence_id}.parquet (MediaPipe landmarks, long format)",
        keypoints=True,
        notes="no public test labels: train.csv is split 80/10/10 by key hash; fps 30 assumed",
    )

    def _classes(self, root: Path) -> list[str]:
        path = self.find(root, "sign_to_prediction_index_map.json")
        mapping = read_json(path)
        if not isinstance(mapping, dict) or sorted(mapping.values()) != list(range(len(mapping))):
            raise row_error(path, None, "expected {sign: index} with indices 0..N-1")
        return [normalize_gloss(sign) for sign, _ in sorted(mapping.items(), key=lambda kv: kv[1])]

    def _parse(self, root: Path) -> list[SampleRecord]:
        classes = self._classes(root)
        label_of = {g: i for i, g in enumerate(classes)}
        path = self.find(root, "train.csv")
        records = []
        for line, row in read_dict_rows(path, ("path", "participant_id", "sequence_id", "sign")):
            sign = normalize_gloss(row["sign"])
            if sign not in label_of:
                raise row_error(path, line, f"sign {sign!r} is not in sign_to_prediction_index_map.json")
            key = f"{row['participant_id']}/{row['sequence_id']}"
            records.append(
                record_at(
                    path,
                    line,
                    key=key,
                    split=hash_split(key),
                    source=self.name,
                    label=label_of[sign],
                    gloss=sign,
                    signer=row["participant_id"] or None,
                    language=self.info.sign_language,
                    media=rel(root, path.parent / row["path"]),
                )
            )
        return records

    def poses(self, root: str | os.PathLike | None, exclude: Container[str] = ()) -> Iterator[tuple[str, Pose]]:
        root = self.resolve_root(root)
        for record in self.records(root):
            if record.key in exclude:
                continue
            file = root / record.media
            if not file.is_file():
                raise DatasetError(
                    f"asl-signs: landmark file {file} of sample {record.key} is missing; "
                    "re-download the release or list missing files with `signkit datasets inspect`"
                )
            yield record.key, long_parquet_to_pose(file)


class ASLFingerspelling(Source):
    info = SourceInfo(
        name="asl-fingerspelling",
        title="Google ASL Fingerspelling Recognition (Kaggle asl-fingerspelling)",
        task="SLT",
        sign_language="ase",
        spoken_language="en",
        classes=None,
        splits=("train", "dev", "test"),
        licence="CC BY 4.0 (Kaggle competition data; accept the competition rules to download)",
        url="https://www.kaggle.com/competitions/asl-fingerspelling/data",
        files=("train.csv",),
        media="train_landmarks/{file_id}.parquet (many sequences each, wide format x_face_0 ... z_right_hand_20)",
        keypoints=True,
        notes="phrases in text; supplemental_metadata.csv is not read; split 80/10/10 by key hash; fps 30 assumed",
    )

    def _parse(self, root: Path) -> list[SampleRecord]:
        path = self.find(root, "train.csv")
        records = []
        for line, row in read_dict_rows(path, ("path", "file_id", "sequence_id", "participant_id", "phrase")):
            phrase = normalize_gloss(row["phrase"])
            if not phrase:
                raise row_error(path, line, "empty phrase")
            key = f"{row['file_id']}/{row['sequence_id']}"
            records.append(
                record_at(
                    path,
                    line,
                    key=key,
                    split=hash_split(key),
                    source=self.name,
                    text=phrase,
                    signer=row["participant_id"] or None,
                    language=self.info.sign_language,
                    media=rel(root, path.parent / row["path"]),
                    extra={"sequence_id": int(row["sequence_id"])},
                )
            )
        return records

    def poses(self, root: str | os.PathLike | None, exclude: Container[str] = ()) -> Iterator[tuple[str, Pose]]:
        """Each parquet file is read once and cut into its sequences, in record order within the file."""
        pq = _require_pyarrow()
        root = self.resolve_root(root)
        by_file: dict[str, list[SampleRecord]] = {}
        for record in self.records(root):
            if record.key in exclude:
                continue
            by_file.setdefault(record.media, []).append(record)
        columns = [f"{axis}_{name}" for name in wide_columns() for axis in "xyz"]
        for media, records in by_file.items():
            file = root / media
            if not file.is_file():
                raise DatasetError(f"asl-fingerspelling: landmark file {file} is missing; re-download the release")
            try:
                table = pq.read_table(file, columns=["sequence_id", "frame", *columns])
            except Exception as e:  # damaged file or missing columns
                raise DatasetError(f"{file}: cannot read as an asl-fingerspelling landmark parquet ({e})") from None
            seq = table.column("sequence_id").to_numpy()
            frame = table.column("frame").to_numpy()
            values = np.stack(
                [table.column(c).to_numpy(zero_copy_only=False).astype(np.float64) for c in columns], axis=-1
            ).reshape(len(seq), NUM_POINTS, 3)
            for record in records:
                rows = np.flatnonzero(seq == record.extra["sequence_id"])
                if rows.size == 0:
                    raise DatasetError(
                        f"{file}: no rows for sequence_id {record.extra['sequence_id']} "
                        f"(sample {record.key}); the file does not match train.csv"
                    )
                rows = rows[np.argsort(frame[rows], kind="stable")]
                yield record.key, _to_pose(values[rows], "kaggle-asl-fingerspelling")
