"""Nothing corrupt is read silently: per-sample checksums (local, streamed, over HTTP), members no manifest row names,
dataset.json checked against the manifest and the shards, and the epoch's batches whatever the worker count."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import textwrap
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import torch
from click.testing import CliRunner
from test_pack import write_labels_csv, write_poses

import signkit.datasets as sd
from signkit.cli.main import cli
from signkit.datasets.manifest import SUM_COLUMNS
from signkit.datasets.sample_refs import npy_header
from signkit.errors import DatasetError
from signkit.pose import get_layout


@pytest.fixture(scope="module")
def packed(tmp_path_factory) -> Path:
    """19 train and 6 dev samples, 4 per shard."""
    tmp = tmp_path_factory.mktemp("integrity")
    keys = write_poses(tmp / "poses", 25)
    labels = write_labels_csv(tmp / "labels.csv", keys, splits=("train", "train", "train", "dev"))
    sd.pack(tmp / "poses", tmp / "site" / "ds", labels=labels, samples_per_shard=4)
    return tmp / "site" / "ds"


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _row(root: Path, index: int = 1, shard: str = "train-000001.tar") -> dict:
    return next(r for r in sd.read_manifest(root).to_pylist() if r["shard"] == shard and r["index"] == index)


def _flip(root: Path, row: dict, member: str = "pose", at_frame: int = 0) -> None:
    """Flip one bit of a sample's array data (after its .npy header), in place: the shard keeps its size."""
    points = get_layout(sd.read_dataset_json(root).layout).num_points
    shape = (row["num_frames"], points, 3) if member == "pose" else (row["num_frames"], points)
    per_frame = int(np.prod(shape[1:])) * 2
    pos = row[f"{member}_offset"] + len(npy_header(shape)) + at_frame * per_frame + 5
    path = root / "shards" / row["shard"]
    data = bytearray(path.read_bytes())
    data[pos] ^= 0x10
    path.write_bytes(bytes(data))


def _all(root, loader: dict | None = None, **kwargs) -> list[str]:
    batches = sd.open(root, split="train", shuffle=False, **kwargs).loader(4, **(loader or {}))
    return [k for b in batches for k in b["key"]]


def test_every_array_has_a_checksum_in_the_manifest(packed):
    table = sd.read_manifest(packed)
    for column in SUM_COLUMNS:
        assert str(table.schema.field(column).type) == "uint64" and table[column].null_count == 0
    assert len(set(table["pose_xxh3"].to_pylist())) == table.num_rows  # distinct samples, distinct sums


@pytest.mark.parametrize("member", ["pose", "conf"])
def test_a_flipped_byte_is_an_error_naming_shard_and_sample_local(packed, tmp_path, member, monkeypatch):
    root = _copy(packed, tmp_path / "ds")
    row = _row(root)
    _flip(root, row, member)
    key = row["key"]
    want = rf"shard {row['shard']}: sample '{key}' is damaged \({key}\.{member}\.npy .*re-download or re-pack"
    with pytest.raises(DatasetError, match=want):  # the loader: preadv into the batch
        _all(root)
    with pytest.raises(DatasetError, match=want):  # the dataset's own samples
        list(sd.open(root, split="train", shuffle=False))
    with pytest.raises(DatasetError, match=want):  # a temporal window reads the whole array to check it
        _all(root, max_frames=2, crop="center")
    monkeypatch.delattr("os.preadv")  # the streaming reader (Windows): checked in the batch, after the copy
    with pytest.raises(DatasetError, match=want):
        _all(root)
    with pytest.raises(DatasetError, match=want):  # the dataset's own samples: checked before they are yielded
        list(sd.open(root, split="train", shuffle=False))
    with pytest.raises(DatasetError, match=want):  # converted into a float32 batch: checked as stored, first
        _all(root, loader={"dtype": torch.float32})
    with pytest.raises(DatasetError, match=want):  # cropped or augmented: checked before either
        _all(root, max_frames=2, crop="center")
    with pytest.raises(DatasetError, match=want):
        _all(root, augment=True)
    with pytest.raises(DatasetError, match=want):  # a worker pads the batch and checks it there
        _all(root, loader={"num_workers": 1})


def test_a_flipped_byte_outside_the_cropped_window_is_still_caught(packed, tmp_path):
    root = _copy(packed, tmp_path / "ds")
    row = _row(root)
    assert row["num_frames"] > 3
    _flip(root, row, "pose", at_frame=row["num_frames"] - 1)  # the last frame; a center crop of 2 never shows it
    with pytest.raises(DatasetError, match=f"sample '{row['key']}' is damaged"):
        _all(root, max_frames=2, crop="center")


def test_a_flipped_byte_through_http_is_an_error_naming_the_sample(packed, tmp_path):
    pytest.importorskip("aiohttp")
    from test_remote_dataset import FileServer

    root = _copy(packed, tmp_path / "site" / "ds")
    row = _row(root)
    _flip(root, row, "pose")
    server = FileServer(tmp_path / "site")
    try:
        with pytest.raises(DatasetError, match=rf"shard {row['shard']}: sample '{row['key']}' is damaged"):
            _all(f"{server.url}/ds")
        problems = sd.verify(f"{server.url}/ds").problems
    finally:
        server.close()
    assert any(f"1 samples fail their checksum ('{row['key']}')" in p for p in problems)


def test_verify_names_the_damaged_sample(packed, tmp_path):
    root = _copy(packed, tmp_path / "ds")
    assert sd.verify(root).ok and sd.verify(root).sample_checksums
    row = _row(root)
    _flip(root, row, "conf")
    problems = sd.verify(root).problems
    assert any(f"shards/{row['shard']}: 1 samples fail their checksum ('{row['key']}')" in p for p in problems)


def test_a_dataset_packed_without_checksums_loads_and_verify_says_so(packed, tmp_path):
    root = _copy(packed, tmp_path / "ds")
    before = [(b["key"], b["pose"].clone()) for b in sd.open(root, shuffle=False).loader(4)]
    pq.write_table(sd.read_manifest(root).drop_columns(list(SUM_COLUMNS)), root / "manifest.parquet")
    after = [(b["key"], b["pose"]) for b in sd.open(root, shuffle=False).loader(4)]
    assert [k for k, _ in after] == [k for k, _ in before]
    assert all(torch.equal(x, y) for (_, x), (_, y) in zip(after, before, strict=True))
    report = sd.verify(root)
    assert not report.sample_checksums and any("lacks sample checksums" in n for n in report.notes)
    result = CliRunner().invoke(cli, ["verify", str(root), "--json"])
    assert json.loads(result.output)["sample_checksums"] is False


def _append_into_padding(root: Path) -> tuple[str, str]:
    """Append a member after the last sample of a shard whose tar padding has room for it, so the shard keeps its
    size (tar pads archives to 10 KB records); returns the shard and the member's name."""
    for shard in sorted((root / "shards").glob("train-*.tar")):
        before = shard.read_bytes()
        table = sd.read_manifest(root)
        last = table.filter(pc.equal(table["shard"], shard.name))["key"].to_pylist()[-1]
        name = f"{last}.evil.json"
        with tarfile.open(shard, "a") as tf:
            info = tarfile.TarInfo(name)
            info.size = 2
            tf.addfile(info, io.BytesIO(b"{}"))
        if shard.stat().st_size == len(before):
            return shard.name, name
        shard.write_bytes(before)
    raise AssertionError("no shard had room in its padding")


def test_members_the_manifest_does_not_name_are_never_read_and_verify_names_them(packed, tmp_path, monkeypatch):
    pytest.importorskip("aiohttp")
    from test_remote_dataset import FileServer

    root = _copy(packed, tmp_path / "site" / "ds")
    want = _all(packed)
    shard, name = _append_into_padding(root)
    assert _all(root) == want  # preadv at the manifest's offsets
    server = FileServer(tmp_path / "site")
    try:
        assert _all(f"{server.url}/ds") == want  # streamed: reading stops after the last listed sample
    finally:
        server.close()
    with monkeypatch.context() as m:
        m.delattr("os.preadv")
        assert _all(root) == want
    problems = sd.verify(root).problems
    assert any(f"shards/{shard}: holds 1 members the manifest does not name ({name})" in p for p in problems)


def _edit_json(root: Path, edit) -> None:
    meta = json.loads((root / "dataset.json").read_text())
    edit(meta)
    (root / "dataset.json").write_text(json.dumps(meta))


@pytest.mark.parametrize(
    "edit, opening, verifying",
    [
        (lambda m: m["classes"].reverse(), "gloss is not dataset.json's classes\\[label\\]", "classes[label]"),
        (lambda m: m["splits"]["train"].update(samples=3), "split 'train' has 3 samples, shards 19", "has 3 samples"),
        (lambda m: m.update(dtype="float32"), "dtype 'float32'", "dtype 'float32'"),
        (lambda m: m.update(layout="coco-wholebody-133"), "layout coco-wholebody-133 \\(133 points", "holds float16"),
        (lambda m: m["normalization"].update(normalized_by_pack=0), None, "normalized_by_pack"),
    ],
    ids=["reversed-classes", "split-count", "dtype", "layout", "normalisation"],
)
def test_an_edited_dataset_json_is_caught(packed, tmp_path, edit, opening, verifying):
    root = _copy(packed, tmp_path / "ds")
    _edit_json(root, edit)
    if opening is not None:
        with pytest.raises(DatasetError, match=opening):
            sd.open(root, split="train")
    else:
        sd.open(root, split="train")  # what opening cannot see cheaply, verify does
    report = sd.verify(root)
    assert not report.ok and any(verifying in p for p in report.problems), report.problems


def test_open_with_split_none(packed, tmp_path):
    assert sd.open(packed, split=None).split == "train"
    with pytest.raises(DatasetError, match="unknown split"):
        sd.canonical_split(None)


@pytest.mark.parametrize("buckets", [None, 3])
def test_the_epoch_does_not_depend_on_the_worker_count(tmp_path, buckets):
    keys = write_poses(tmp_path / "poses", 23)
    sd.pack(
        tmp_path / "poses",
        tmp_path / "ds",
        labels=write_labels_csv(tmp_path / "l.csv", keys, ("train",)),
        samples_per_shard=5,
    )
    for drop_last in (True, False):
        epochs = {}
        for workers in (0, 1, 2):
            loader = sd.open(tmp_path / "ds", shuffle=True).loader(4, workers, drop_last=drop_last, buckets=buckets)
            sizes = sorted(len(b["key"]) for b in loader)
            assert len(loader) == len(sizes)
            epochs[workers] = sizes
        want = [4] * 5 if drop_last else [3] + [4] * 5  # 23 = 5 x 4 + 3: at most one partial batch, dropped if asked
        assert all(sizes == want for sizes in epochs.values()), epochs


def test_a_split_smaller_than_a_batch_gives_no_batches_with_drop_last_only(tmp_path):
    keys = write_poses(tmp_path / "poses", 5)
    sd.pack(tmp_path / "poses", tmp_path / "ds", labels=write_labels_csv(tmp_path / "l.csv", keys, ("train",)))
    ds = sd.open(tmp_path / "ds")
    assert len(ds.loader(8, 2)) == 1 and [len(b["key"]) for b in ds.loader(8, 2)] == [5]
    assert len(ds.loader(8, 2, drop_last=True)) == 0


def test_off_linux_code_paths_without_madvise_preadv_or_fcntl(packed, monkeypatch, tmp_path):
    """What Windows lacks (``mmap.madvise``, ``os.preadv``, ``fcntl``), removed here: loading, verify and the zoo
    cache's lock still work. (The calls are guarded or portable; a real Windows run is not made here.)"""
    import mmap

    want = _all(packed)
    monkeypatch.delattr(mmap, "MADV_SEQUENTIAL")  # (mmap.mmap.madvise cannot be removed; the guard asks for both)
    monkeypatch.delattr("os.preadv")
    assert _all(packed) == want and sd.verify(packed).ok
    # the zoo cache imports without fcntl (filelock picks msvcrt on Windows)
    code = textwrap.dedent(
        """
        import sys
        sys.modules["fcntl"] = None
        import signkit.zoo.cache as cache
        assert "fcntl" not in vars(cache)
        print("ok")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.stdout.strip() == "ok", out.stderr


def test_the_zoo_lock_excludes_another_process_and_times_out(tmp_path, monkeypatch):
    from signkit.errors import ZooError
    from signkit.zoo.cache import file_lock

    monkeypatch.setenv("SIGNKIT_HOME", str(tmp_path / "home"))
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\nfrom signkit.zoo.cache import file_lock\n"
            "with file_lock('m/f'):\n    print('held', flush=True)\n    sys.stdin.read()\n",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(ZooError, match="gave up waiting"), file_lock("m/f", timeout=0.3):
            pass
    finally:
        holder.kill()  # the kernel releases a dead holder's lock
        holder.wait()
    with file_lock("m/f", timeout=5):
        pass
