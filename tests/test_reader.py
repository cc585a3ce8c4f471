"""The reader: batch contract, exactly-once across ranks x workers, resampling, bucketing, and bad shards."""

from __future__ import annotations

import io
import itertools
import json
import tarfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from test_pack import write_labels_csv, write_poses

import signkit.datasets as sd
from signkit.datasets.reader import slot_ranges
from signkit.errors import DatasetError
from signkit.pose import load_pose, normalize


@pytest.fixture(scope="module")
def packed(tmp_path_factory) -> tuple[Path, Path, list[str]]:
    """23 train samples in 7 shards (3,3,3,3,3,3,2 plus dev/test), so counts divide by nothing."""
    tmp = tmp_path_factory.mktemp("reader")
    keys = write_poses(tmp / "poses", 31)
    labels = write_labels_csv(tmp / "labels.csv", keys, splits=("train", "train", "train", "dev"))
    sd.pack(tmp / "poses", tmp / "ds", labels=labels, samples_per_shard=3)
    return tmp / "ds", tmp / "poses", keys


@pytest.mark.parametrize("dtype, workers", [(None, 0), (torch.float32, 0), (torch.float16, 1), (torch.float32, 1)])
def test_batch_contract(packed, dtype, workers):
    root, poses, _ = packed
    ds = sd.open(root, split="train", shuffle=False)
    assert ds.layout == "mediapipe-holistic" and ds.classes == ["HELLO", "THANKS", "YES"] and ds.num_classes == 3
    # padding is written by the collate (main process) or comes from fresh shared memory (a worker): both are zero
    kwargs = {"dtype": dtype} if dtype is not None else {}
    batches = list(ds.loader(batch_size=5, num_workers=workers, **kwargs))
    batch = max(batches, key=lambda b: int(b["length"].max() - b["length"].min()))  # the most padding
    b, t = batch["pose"].shape[:2]
    want_dtype = dtype or torch.float16  # as stored, unless asked
    assert b == 5 and batch["pose"].dtype == want_dtype and batch["conf"].dtype == want_dtype
    assert batch["pose"].shape[2:] == (543, 3)
    assert batch["conf"].shape == (b, t, 543) and batch["mask"].dtype == torch.bool
    assert batch["length"].dtype == torch.int64 and batch["label"].dtype == torch.int64
    assert batch["mask"].sum(1).tolist() == batch["length"].tolist() and t == int(batch["length"].max())
    for i, key in enumerate(batch["key"]):
        n = int(batch["length"][i])
        assert not batch["pose"][i, n:].any() and not batch["conf"][i, n:].any()
        want = normalize(load_pose(poses / f"{key}.npz"))
        np.testing.assert_allclose(batch["pose"][i, :n].float().numpy(), want.coords, atol=2e-3, rtol=1e-3)
        np.testing.assert_allclose(batch["conf"][i, :n].float().numpy(), want.conf, atol=1e-3)
    assert set(batch["gloss"]) <= {"HELLO", "THANKS", "YES"} and batch["label"].min() >= 0
    assert batch["signer"][0] in ("s0", "s1") and batch["language"][0] == "ase" and batch["text"][0] is None


def test_unlabelled_samples_get_label_minus_one(tmp_path):
    write_poses(tmp_path / "poses", 3)
    sd.pack(tmp_path / "poses", tmp_path / "ds")
    batch = next(iter(sd.open(tmp_path / "ds").loader(4)))
    assert batch["label"].tolist() == [-1, -1, -1] and batch["gloss"] == [None, None, None]


def test_slot_ranges_partition_every_sample_once():
    for counts in ([3, 3, 2], [5], [1, 1], [4, 0, 7, 2], [10] * 7):
        for slots in (1, 2, 5, 6, 13):
            seen = Counter()
            for slot in range(slots):
                for shard, keep in slot_ranges(counts, slot, slots):
                    seen.update((shard, i) for i in keep)
            assert seen == Counter((s, i) for s, c in enumerate(counts) for i in range(c))


def _epoch_keys(root: Path, world: int, workers: int, epoch: int = 0, **kw) -> list[list[str]]:
    per_rank = []
    for rank in range(world):
        ds = sd.open(root, split="train", rank=rank, world_size=world, **kw)
        loader = ds.loader(batch_size=2, num_workers=workers)
        loader.set_epoch(epoch)
        per_rank.append([k for batch in loader for k in batch["key"]])
    return per_rank


@pytest.mark.filterwarnings("ignore:This DataLoader will create")  # 3 workers on a 2-core CI machine is the point
@pytest.mark.parametrize("per_shard", [3, 10])  # 7 uneven shards, and 3 shards for 6 slots
def test_exactly_once_across_two_ranks_and_three_workers(packed, tmp_path, per_shard):
    root, poses, _ = packed
    if per_shard != 3:
        root = tmp_path / "ds"
        sd.pack(poses, root, labels=packed[0].parent / "labels.csv", samples_per_shard=per_shard)
    train = sd.open(root, split="train")
    assert len(train.shards) == (8 if per_shard == 3 else 3)
    expected = sorted(r["key"] for r in sd.read_manifest(root).to_pylist() if r["split"] == "train")
    for shuffle in (False, True):
        ranks = _epoch_keys(root, world=2, workers=3, shuffle=shuffle)
        got = sorted(k for r in ranks for k in r)
        assert got == expected, f"every sample exactly once (shuffle={shuffle})"
        assert abs(len(ranks[0]) - len(ranks[1])) <= 1
        assert [len(r) for r in ranks] == [len(sd.open(root, rank=i, world_size=2)) for i in range(2)]
    e0 = _epoch_keys(root, world=2, workers=3, epoch=0, shuffle=True)
    e1 = _epoch_keys(root, world=2, workers=3, epoch=1, shuffle=True)
    assert e0 != e1 and sorted(sum(e1, [])) == expected
    assert _epoch_keys(root, world=2, workers=3, epoch=1, shuffle=True) == e1  # seeded: reproducible


def test_loader_moves_to_the_next_epoch_by_itself(packed):
    ds = sd.open(packed[0], split="train", seed=3)
    loader = ds.loader(batch_size=4)
    first = [k for b in loader for k in b["key"]]
    second = [k for b in loader for k in b["key"]]
    assert first != second and sorted(first) == sorted(second)


def test_persistent_workers_follow_the_epoch(packed):
    """Workers start once per loader, and each epoch read the new epoch (its shard order and shuffle) from it."""

    def keys(loader):
        return [k for b in loader for k in b["key"]]

    kept = sd.open(packed[0], split="train", seed=3).loader(batch_size=4, num_workers=2)
    epochs, pids = [], []
    for _ in range(3):
        epochs.append(keys(kept))
        pids.append([w.pid for w in kept._iterator._workers])
    fresh = []
    for epoch in range(3):
        loader = sd.open(packed[0], split="train", seed=3).loader(batch_size=4, num_workers=2)
        loader.set_epoch(epoch)
        fresh.append(keys(loader))
    assert epochs == fresh and epochs[0] != epochs[1] and pids[0] == pids[1] == pids[2]
    # a training loop that stops an epoch early (islice) gets the next epoch whole, as from a fresh loader
    kept.set_epoch(0)
    assert len(list(itertools.islice(kept, 2))) == 2
    kept.set_epoch(1)
    assert keys(kept) == fresh[1]


def test_resampled_epoch_size(packed):
    ds = sd.open(packed[0], split="train", resampled=True, epoch_size=50, rank=1, world_size=2)
    keys = [k for b in ds.loader(batch_size=4, num_workers=2) for k in b["key"]]
    assert len(keys) == 50 == len(ds)
    assert len(set(keys)) < 50  # drawn with replacement


def test_max_frames_crop_and_resample(packed):
    root = packed[0]
    full = {s["key"]: s for s in sd.open(root, split="train", shuffle=False)}
    centre = {s["key"]: s for s in sd.open(root, split="train", shuffle=False, max_frames=6)}
    resampled = {s["key"]: s for s in sd.open(root, split="train", shuffle=False, max_frames=6, crop="resample")}
    for key, s in full.items():
        t = s["pose"].shape[0]
        assert centre[key]["pose"].shape[0] == min(t, 6)
        if t > 6:
            start = (t - 6) // 2
            np.testing.assert_array_equal(centre[key]["pose"], s["pose"][start : start + 6])
            np.testing.assert_array_equal(resampled[key]["pose"][[0, -1]], s["pose"][[0, t - 1]])


def test_length_bucketing_from_the_manifest(packed):
    ds = sd.open(packed[0], split="train", shuffle=True)
    boundaries = ds.bucket_boundaries(3)
    assert len(boundaries) >= 1
    keys, mixed = [], 0
    for batch in ds.loader(batch_size=4, buckets=3):
        keys += batch["key"]
        mixed += len(set(np.searchsorted(boundaries, batch["length"].numpy(), side="right"))) > 1
    # full buckets are batches; what the buckets hold at the end (< 3 x 4 samples) is batched together, so the
    # epoch has at most one partial batch
    assert mixed <= 3 and len(keys) // 4 > mixed
    assert sorted(keys) == sorted(s["key"] for s in sd.open(packed[0], split="train", shuffle=False))


def test_augmented_training_keeps_shapes_and_masks(packed):
    ds = sd.open(packed[0], split="train", augment=sd.Augment(mirror=0.5, frame_dropout=0.2), max_frames=8)
    for batch in ds.loader(batch_size=6):
        assert batch["length"].max() <= 8
        undetected = batch["conf"] == 0
        assert not batch["pose"][undetected].any()


def _copy_dataset(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


def test_truncated_shard_is_an_error_naming_shard_and_sample(packed, tmp_path):
    root = _copy_dataset(packed[0], tmp_path / "ds")
    shard = root / "shards" / "train-000001.tar"
    data = shard.read_bytes()
    shard.write_bytes(data[: len(data) // 2])
    with pytest.raises(
        DatasetError, match=r"shard train-000001\.tar: (corrupt or truncated at sample '[^']+'|ends after)"
    ):
        list(sd.open(root, split="train", shuffle=False))


def test_corrupt_member_is_an_error_naming_it(packed, tmp_path):
    root = _copy_dataset(packed[0], tmp_path / "ds")
    shard = root / "shards" / "train-000000.tar"
    with tarfile.open(shard) as tf:
        second = [m for m in tf.getmembers() if m.name.endswith(".pose.npy")][1]
    data = bytearray(shard.read_bytes())
    data[second.offset_data : second.offset_data + 7] = b"garbage"  # in place: the shard keeps its size
    shard.write_bytes(bytes(data))
    key = second.name.removesuffix(".pose.npy")
    for samples in (sd.open(root, split="train", shuffle=False), sd.open(root, split="train", shuffle=False).loader(2)):
        with pytest.raises(DatasetError, match=rf"train-000000\.tar: sample '{key}' cannot be decoded"):
            list(samples)


def test_manifest_offsets_are_checked_against_the_shard(packed, tmp_path):
    """The loader reads where the manifest points; a manifest pointing elsewhere is caught, not read as data."""
    root = _copy_dataset(packed[0], tmp_path / "ds")
    rows = sd.read_manifest(root).to_pylist()
    a, b = (r for r in rows if r["shard"] == "train-000000.tar" and r["index"] in (0, 1))
    a["pose_offset"], b["pose_offset"] = b["pose_offset"], a["pose_offset"]
    sd.manifest.write_manifest(rows, root / "manifest.parquet")
    wrong = rf"the manifest says '{a['key']}' is at byte .* holds '{b['key']}.pose.npy'"
    with pytest.raises(DatasetError, match=wrong):
        list(sd.open(root, split="train", shuffle=False).loader(4))
    assert any("manifest offsets disagree" in p for p in sd.verify(root).problems)


def test_a_dataset_packed_without_offsets_is_read_from_its_tar_headers(packed, tmp_path):
    root = _copy_dataset(packed[0], tmp_path / "ds")
    with_offsets = [(b["key"], b["pose"].clone()) for b in sd.open(root, split="train", shuffle=False).loader(4)]
    _drop_offsets(root)
    from_headers = [(b["key"], b["pose"]) for b in sd.open(root, split="train", shuffle=False).loader(4)]
    assert [k for k, _ in from_headers] == [k for k, _ in with_offsets]
    assert all(torch.equal(x, y) for (_, x), (_, y) in zip(from_headers, with_offsets, strict=True))


def test_hostile_member_names_are_refused_and_never_written(packed, tmp_path):
    for evil in ("../escape.json", "/tmp/abs.json", "a/../../up.json"):
        root = _copy_dataset(packed[0], tmp_path / f"ds{abs(hash(evil))}")
        shard = root / "shards" / "train-000000.tar"
        with tarfile.open(shard, "a") as tf:
            info = tarfile.TarInfo(evil)
            info.size = 2
            tf.addfile(info, io.BytesIO(b"{}"))
        # the loader reads only the members the manifest names (tar pads to 10 KB records, so the shard kept its
        # size here); `verify` and a reader of the tar headers refuse the shard
        want = [r["key"] for r in sd.read_manifest(root).to_pylist() if r["split"] == "train"]
        assert [s["key"] for s in sd.open(root, split="train", shuffle=False)] == want
        assert any("hostile" in p for p in sd.verify(root).problems)
        _drop_offsets(root)
        with pytest.raises(DatasetError, match="hostile"):
            list(sd.open(root, split="train", shuffle=False))
    assert not (tmp_path / "escape.json").exists() and not Path("/tmp/abs.json").exists()
    root = _copy_dataset(packed[0], tmp_path / "dslink")
    with tarfile.open(root / "shards" / "train-000000.tar", "a") as tf:
        info = tarfile.TarInfo("x.link")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tf.addfile(info)
    _drop_offsets(root)
    with pytest.raises(DatasetError, match="not a regular file"):
        list(sd.open(root, split="train", shuffle=False))


def _drop_offsets(root: Path) -> None:
    """Make ``root`` a dataset as an older signkit packed it: the loader then reads every tar header."""
    import pyarrow.parquet as pq

    table = sd.read_manifest(root)
    pq.write_table(table.drop_columns(["pose_offset", "conf_offset"]), root / "manifest.parquet")


def test_manifest_that_disagrees_with_the_shards_is_an_error(packed, tmp_path):
    root = _copy_dataset(packed[0], tmp_path / "ds")
    meta = json.loads((root / "dataset.json").read_text())
    meta["shards"][-1]["samples"] += 1
    (root / "dataset.json").write_text(json.dumps(meta))
    name, n = meta["shards"][-1]["name"], meta["shards"][-1]["samples"]
    with pytest.raises(DatasetError, match=rf"dataset.json says {name} holds {n} samples, the manifest lists {n - 1}"):
        sd.open(root, split=meta["shards"][-1]["split"])
    root = _copy_dataset(packed[0], tmp_path / "ds2")
    rows = sd.read_manifest(root).to_pylist()
    first_train = next(r for r in rows if r["split"] == "train" and r["index"] == 0)
    first_train["key"] = "ghost"
    sd.manifest.write_manifest(rows, root / "manifest.parquet")
    with pytest.raises(DatasetError, match="manifest says 'ghost'"):
        list(sd.open(root, split="train", shuffle=False))


def test_unknown_split_and_missing_dataset(packed, tmp_path):
    with pytest.raises(DatasetError, match="has no split 'test'; its splits are dev, train"):
        sd.open(packed[0], split="test")
    with pytest.raises(DatasetError, match="signkit pack"):
        sd.open(tmp_path / "nothing")


@pytest.mark.parametrize("fmt", [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT, tarfile.USTAR_FORMAT])
def test_tar_reader_handles_long_names_in_every_posix_format(tmp_path, fmt):
    from signkit.datasets.shards import MappedShard, StreamedShard, iter_tar

    names = ["a" * 90 + "/" + "b" * 60 + ".json", "short.json", "é/ü.json"]
    if fmt == tarfile.USTAR_FORMAT:
        names = names[:2]  # ustar splits long paths into prefix + name; it has no room for non-ASCII metadata
    path = tmp_path / "x.tar"
    with tarfile.open(path, "w", format=fmt) as tf:
        for i, name in enumerate(names):
            info = tarfile.TarInfo(name)
            info.size = i + 1
            tf.addfile(info, io.BytesIO(b"x" * (i + 1)))
    want = [(n, i + 1) for i, n in enumerate(names)]
    assert [(name, size) for name, size, _ in iter_tar(MappedShard(path), "x.tar")] == want
    with open(path, "rb") as f:  # the path a URL's shard takes
        assert [(name, size) for name, size, _ in iter_tar(StreamedShard(f, path.stat().st_size), "x.tar")] == want


def test_long_keys_round_trip_and_a_bad_checksum_is_caught(tmp_path):
    deep = "/".join(["folder" * 5] * 4) + "/clip"
    from conftest import make_pose

    from signkit.pose import save_pose

    save_pose(make_pose(frames=3), tmp_path / "poses" / f"{deep}.npz")
    sd.pack(tmp_path / "poses", tmp_path / "ds")
    assert [s["key"] for s in sd.open(tmp_path / "ds")] == [deep]
    shard = next((tmp_path / "ds" / "shards").iterdir())
    data = bytearray(shard.read_bytes())
    data[1024 + 100] ^= 0x01  # inside the second header's mode field
    shard.write_bytes(bytes(data))
    with pytest.raises(DatasetError, match="checksum"):
        list(sd.open(tmp_path / "ds"))


def test_shards_are_plain_webdataset(packed):
    """Any WebDataset reader takes our shards: same samples, same arrays."""
    import webdataset as wds

    root = packed[0]
    urls = [str(p) for p in sorted((root / "shards").glob("train-*.tar"))]
    theirs = {s["__key__"]: s for s in wds.WebDataset(urls, shardshuffle=False).decode()}
    ours = {s["key"]: s for s in sd.open(root, split="train", shuffle=False)}
    assert sorted(theirs) == sorted(ours)
    key = sorted(ours)[0]
    np.testing.assert_array_equal(theirs[key]["pose.npy"], ours[key]["pose"])
    assert theirs[key]["json"]["key"] == key


def test_a_forged_member_size_is_refused_without_allocating_it(tmp_path):
    from signkit.datasets.shards import MappedShard, iter_tar

    path = tmp_path / "x.tar"
    with tarfile.open(path, "w", format=tarfile.USTAR_FORMAT) as tf:
        info = tarfile.TarInfo("a.json")
        info.size = 2
        tf.addfile(info, io.BytesIO(b"{}"))
    data = bytearray(path.read_bytes())
    data[124:136] = b"77777777777\0"  # 8 GiB
    data[148:156] = b"        "
    data[148:156] = b"%06o\0 " % sum(data[:512])
    path.write_bytes(bytes(data))
    with pytest.raises(EOFError, match="runs past the end"):
        list(iter_tar(MappedShard(path), "x.tar"))


def test_header_checksum_accepts_both_tar_variants_and_refuses_any_small_change():
    from signkit.datasets.shards import _checksum_ok

    header = bytearray(tarfile.TarInfo("é-clip.json").tobuf(tarfile.GNU_FORMAT)[:512])  # bytes > 127 in the name
    assert _checksum_ok(bytes(header))
    blanked = header[:148] + b" " * 8 + header[156:]
    signed = sum(blanked) - 256 * sum(b > 127 for b in blanked)  # what old tar writers stored
    header[148:156] = b"%06o\0 " % signed
    assert _checksum_ok(bytes(header))
    for i in (0, 100, 147, 156, 300, 511):
        for delta in (1, 128, 255):
            broken = bytearray(header)
            broken[i] = (broken[i] + delta) % 256
            assert not _checksum_ok(bytes(broken)), (i, delta)


def test_batches_kept_by_the_caller_are_never_written_over(packed):
    """Batch buffers are reused once released: a batch the caller still holds must keep its values."""
    root = packed[0]
    copies = [b["pose"].clone() for b in sd.open(root, split="train", shuffle=False).loader(3)]
    kept = list(sd.open(root, split="train", shuffle=False).loader(3))
    assert len({b["pose"].untyped_storage().data_ptr() for b in kept}) == len(kept)
    assert all(torch.equal(b["pose"], c) for b, c in zip(kept, copies, strict=True))
    views = [b["conf"][0] for b in sd.open(root, split="train", shuffle=False).loader(3)]  # a view keeps it too
    assert all(torch.equal(v, b["conf"][0]) for v, b in zip(views, kept, strict=True))


def test_without_preadv_local_shards_take_the_streaming_reader(packed, monkeypatch):
    def batches():
        return [(b["key"], b["pose"].clone(), b["conf"].clone()) for b in sd.open(packed[0], shuffle=False).loader(4)]

    direct = batches()
    monkeypatch.delattr("os.preadv")  # as on Windows
    streamed = batches()
    assert [k for k, _, _ in streamed] == [k for k, _, _ in direct]
    assert all(torch.equal(a[1], b[1]) and torch.equal(a[2], b[2]) for a, b in zip(streamed, direct, strict=True))


def test_decode_array_reads_every_header_numpy_writes_and_no_pickle():
    from signkit.datasets.shards import decode_array

    def npy(array, version=None) -> bytes:
        buf = io.BytesIO()
        np.lib.format.write_array(buf, array, version=version, allow_pickle=True)
        return buf.getvalue()

    plain = np.arange(24, dtype=np.float16).reshape(2, 4, 3)
    wide = np.zeros((1,), dtype=[(f"field{i:03d}", "<f4") for i in range(40)])  # a header longer than 256 bytes
    for data, want in [
        (npy(plain), plain),
        (npy(plain, (2, 0)), plain),
        (npy(plain.astype(">f4")), plain.astype(">f4")),
        (npy(np.zeros((0, 553), np.float16)), np.zeros((0, 553), np.float16)),
        (npy(np.asfortranarray(plain.astype(np.float32))), plain.astype(np.float32)),  # not a view: numpy reads it
        (npy(wide), wide),
    ]:
        for buffer in (data, memoryview(data)):
            got = decode_array(buffer)
            assert got.dtype == want.dtype and got.shape == want.shape
            np.testing.assert_array_equal(got, want)
    view = decode_array(memoryview(npy(plain)))
    assert not view.flags.owndata  # a view of the member's bytes, not a copy
    with pytest.raises(ValueError, match="pickle"):
        decode_array(npy(np.array([{"a": 1}], dtype=object)))
    broken = bytearray(npy(plain))
    broken[20:30] = b"not a dict"
    with pytest.raises((ValueError, SyntaxError)):
        decode_array(bytes(broken))
