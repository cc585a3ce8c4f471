"""One checksum per stored array, written into the manifest by ``pack`` and checked on every read.

The checksum is XXH3-64 (``xxhash``) of the array's data bytes as the shard stores them (the bytes after the
``.npy`` header; the header itself is checked against the manifest's shape separately). Measured against CRC32C
(``crc32c``, ``google-crc32c``), XXH32/XXH64 and ``zlib.crc32`` on real samples, XXH3 was the fastest in every
run (docs/benchmarks.md, "Sample checksums"): the check runs on every read, inside the loader's time budget, by
the loader's helper process where it can (`_check_process`).
"""

from __future__ import annotations

import xxhash

from ..errors import DatasetError

ALGORITHM = "xxh3_64"
# manifest column of each array's checksum (uint64), by member suffix
CHECKSUM_COLUMNS = {"pose.npy": "pose_xxh3", "conf.npy": "conf_xxh3"}


checksum = xxhash.xxh3_64_intdigest  # of a contiguous buffer (bytes, memoryview, a C-contiguous numpy array)


def damaged(shard: str, key: str, suffix: str) -> DatasetError:
    """The error for array ``key.suffix`` of ``shard`` whose bytes do not have the checksum recorded at pack time."""
    return DatasetError(
        f"shard {shard}: sample {key!r} is damaged ({key}.{suffix} does not match the checksum recorded when it "
        "was packed: a disk or network error); re-download or re-pack the shard (`signkit verify` checks them all)"
    )


def check(data, want: int | None, shard: str, key: str, suffix: str) -> None:
    """Raise `damaged` when ``data`` does not have checksum ``want`` (None: the dataset was packed without
    checksums, nothing to check)."""
    if want is not None and checksum(data) != want:
        raise damaged(shard, key, suffix)


def check_sample(pose, conf, key: str, pending: tuple[str, int, int]) -> None:
    """Both arrays of sample ``key`` against ``pending`` = (shard, pose checksum, conf checksum) (see `check`)."""
    shard, pose_sum, conf_sum = pending
    check(pose, pose_sum, shard, key, "pose.npy")
    check(conf, conf_sum, shard, key, "conf.npy")
