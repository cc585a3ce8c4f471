"""Benchmark parsers: each official release, read as distributed, turned into `SampleRecord`s (one schema).

    >>> from signkit.datasets.sources import get_source, write_clip_list
    >>> wlasl = get_source("wlasl")
    >>> records = wlasl.records("raw/WLASL", subset="WLASL100")   # keys unique, stable order
    >>> classes = wlasl.classes("raw/WLASL", subset="WLASL100")   # label index -> gloss
    >>> write_clip_list(records, "clips.csv", root="raw/WLASL")    # for `signkit extract clips.csv -o poses/`

Keypoint releases (``asl-signs``, ``asl-fingerspelling``, ``fingerspelling-lexicon``) also give
``source.poses(root) -> Iterator[(key, Pose)]`` so that nothing is extracted.
"""

from ._base import Source, SourceInfo, hash_split, normalize_gloss
from ._clips import CLIP_COLUMNS, media_present, split_by_media, write_clip_list
from ._export import write_poses
from ._inspect import inspect_source, missing_error
from ._registry import get_source, list_sources

__all__ = [
    "CLIP_COLUMNS",
    "Source",
    "SourceInfo",
    "get_source",
    "hash_split",
    "inspect_source",
    "list_sources",
    "media_present",
    "missing_error",
    "normalize_gloss",
    "split_by_media",
    "write_clip_list",
    "write_poses",
]
