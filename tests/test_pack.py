"""`signkit pack`: labels, shards, manifest, determinism, atomicity, refusals, pickles, verify and info."""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from conftest import lexicon_dir, make_pose

import signkit.datasets as sd
from signkit.cli.main import cli
from signkit.datasets.packing import parse_size
from signkit.errors import DatasetError, PoseError
from signkit.pose import save_pose

GLOSSES = ["HELLO", "THANKS", "YES"]


def write_poses(root: Path, n: int, *, layout: str = "mediapipe-holistic", base_frames: int = 5) -> list[str]:
    """``n`` synthetic poses of varied length (5..) as .npz; returns their keys (some in a sub-folder)."""
    keys = []
    for i in range(n):
        key = f"clip{i:03d}" if i % 4 else f"sub/clip{i:03d}"
        save_pose(make_pose(frames=base_frames + (i * 7) % 11, layout=layout, seed=i), root / f"{key}.npz")
        keys.append(key)
    return keys


def write_labels_csv(path: Path, keys: list[str], splits=("train", "train", "dev", "test")) -> Path:
    lines = ["key,split,gloss,signer,language"]
    for i, k in enumerate(keys):
        lines.append(f"{k},{splits[i % len(splits)]},{GLOSSES[i % 3]},s{i % 2},ase")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def labelled(tmp_path):
    poses = tmp_path / "poses"
    keys = write_poses(poses, 12)
    labels = write_labels_csv(tmp_path / "labels.csv", keys)
    return poses, labels, keys


def test_pack_with_labels_writes_shards_manifest_and_dataset_json(tmp_path, labelled):
    poses, labels, keys = labelled
    out = tmp_path / "ds"
    report = sd.pack(poses, out, labels=labels, samples_per_shard=2)
    assert report.samples == {"train": 6, "dev": 3, "test": 3} and not report.refused
    meta = json.loads((out / "dataset.json").read_text())
    assert meta["layout"] == "mediapipe-holistic" and meta["classes"] == GLOSSES
    assert meta["normalization"]["normalized_by_pack"] == 12
    names = sorted(p.name for p in (out / "shards").iterdir())
    assert names == ["dev-000000.tar", "dev-000001.tar", "test-000000.tar", "test-000001.tar"] + [
        f"train-{i:06d}.tar" for i in range(3)
    ]
    for s in meta["shards"]:
        data = (out / "shards" / s["name"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == s["sha256"] and len(data) == s["bytes"]
    table = pq.read_table(out / "manifest.parquet")
    assert table.column_names[:11] == list(sd.MANIFEST_COLUMNS)
    rows = table.to_pylist()
    assert sorted(r["key"] for r in rows) == sorted(keys)
    by_key = {r["key"]: r for r in rows}
    assert by_key["sub/clip000"]["gloss"] == "HELLO" and by_key["sub/clip000"]["label"] == 0
    assert by_key["clip001"]["num_frames"] == 12 and by_key["clip001"]["split"] == "train"
    # a shard member holds the normalised pose as float16, its conf, and the sample's labels
    with tarfile.open(out / "shards" / by_key["clip001"]["shard"]) as tf:
        names = tf.getnames()
        assert "clip001.pose.npy" in names and "clip001.conf.npy" in names and "clip001.json" in names
        sample_meta = json.load(tf.extractfile("clip001.json"))
        arr = np.load(io.BytesIO(tf.extractfile("clip001.pose.npy").read()))
        assert all(m.mtime == 0 and m.uid == 0 and m.mode == 0o644 for m in tf.getmembers())
    assert sample_meta["gloss"] == "THANKS" and sample_meta["normalization"]["method"] == "shoulders"
    assert arr.dtype == np.float16 and arr.shape == (12, 543, 3)
    assert sd.verify(out).ok


def test_same_input_gives_byte_identical_shards(tmp_path, labelled):
    poses, labels, _ = labelled
    a = sd.pack(poses, tmp_path / "a", labels=labels, shard_size="20KB")
    b = sd.pack(poses, tmp_path / "b", labels=labels, shard_size="20KB", workers=2)
    shards_a = sorted((tmp_path / "a" / "shards").iterdir())
    assert len(shards_a) > 3 and a.shards == b.shards
    for p in shards_a:
        assert p.read_bytes() == (tmp_path / "b" / "shards" / p.name).read_bytes()
    assert (
        json.loads((tmp_path / "a/dataset.json").read_text())["shards"]
        == json.loads((tmp_path / "b/dataset.json").read_text())["shards"]
    )


def test_interrupted_pack_leaves_no_dataset_and_keeps_the_old_one(tmp_path, labelled, monkeypatch):
    poses, labels, _ = labelled
    out = tmp_path / "ds"
    from signkit.datasets import shards as shards_mod

    calls = {"n": 0}
    real_write = shards_mod.ShardWriter.write

    def dying_write(self, members):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return real_write(self, members)

    monkeypatch.setattr(shards_mod.ShardWriter, "write", dying_write)
    with pytest.raises(KeyboardInterrupt):
        sd.pack(poses, out, labels=labels)
    assert not out.exists() and _no_temp(tmp_path)
    monkeypatch.setattr(shards_mod.ShardWriter, "write", real_write)
    sd.pack(poses, out, labels=labels)
    before = (out / "dataset.json").read_bytes()
    with pytest.raises(DatasetError, match="already exists"):
        sd.pack(poses, out, labels=labels)
    calls["n"] = 0
    monkeypatch.setattr(shards_mod.ShardWriter, "write", dying_write)
    with pytest.raises(KeyboardInterrupt):
        sd.pack(poses, out, labels=labels, overwrite=True)
    assert (out / "dataset.json").read_bytes() == before and sd.verify(out).ok and _no_temp(tmp_path)


def _no_temp(folder: Path) -> bool:
    return not [p for p in folder.iterdir() if p.name.startswith(".")]


def test_bad_samples_are_refused_and_named(tmp_path):
    poses = tmp_path / "poses"
    keys = write_poses(poses, 4)
    empty = make_pose(frames=3)
    empty.coords, empty.conf = empty.coords[:0], empty.conf[:0]
    save_pose(empty, poses / "empty.npz")
    bad = make_pose(frames=4)
    coords = bad.coords.copy()
    coords[1, 3, 0] = np.nan
    np.savez(
        poses / "nan.npz",
        format=np.array("signkit-pose"),
        version=np.array(1),
        coords=coords,
        conf=bad.conf,
        fps=np.array(25.0),
        layout=np.array(bad.layout),
        meta=np.array(json.dumps(bad.meta)),
    )
    (poses / "junk.npz").write_bytes(b"not a zip")
    labels = write_labels_csv(tmp_path / "l.csv", [*keys, "empty", "nan", "junk", "missing"], splits=("train",))
    report = sd.pack(poses, tmp_path / "ds", labels=labels)
    refused = dict(report.refused)
    assert sorted(refused) == ["empty", "junk", "nan"] and report.missing == ["missing"]
    assert "0 frames" in refused["empty"] and "NaN" in refused["nan"]
    assert report.samples == {"train": 4}
    lines = [json.loads(x) for x in (tmp_path / "ds" / "refused.jsonl").read_text().splitlines()]
    assert {x["key"]: x["kind"] for x in lines} == {**dict.fromkeys(refused, "refused"), "missing": "missing"}
    with pytest.raises(DatasetError, match=r"--strict: 1 labelled sample\(s\) without a pose file"):
        sd.pack(poses, tmp_path / "strict", labels=labels, strict=True)
    assert not (tmp_path / "strict").exists() and _no_temp(tmp_path)


def test_unlabelled_pack_puts_every_pose_in_one_split(tmp_path):
    keys = write_poses(tmp_path / "poses", 3)
    report = sd.pack(tmp_path / "poses", tmp_path / "ds", split="val")
    assert report.samples == {"dev": 3}
    rows = pq.read_table(tmp_path / "ds" / "manifest.parquet").to_pylist()
    assert sorted(r["key"] for r in rows) == sorted(keys) and {r["label"] for r in rows} == {None}


def test_labels_jsonl_with_indices_and_text(tmp_path):
    keys = write_poses(tmp_path / "poses", 4)
    rows = [
        {"key": k, "split": "train", "label": i % 2, "gloss": ["A", "B"][i % 2], "text": f"t {i}"}
        for i, k in enumerate(keys)
    ]
    (tmp_path / "l.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    sd.pack(tmp_path / "poses", tmp_path / "ds", labels=tmp_path / "l.jsonl")
    meta = json.loads((tmp_path / "ds" / "dataset.json").read_text())
    assert meta["classes"] == ["A", "B"] and meta["gloss_vocab"] == ["A", "B"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"key": "clip001", "split": "train", "label": "x"}) + "\n")
    with pytest.raises(DatasetError, match="bad.jsonl:1: label 'x'"):
        sd.read_labels(bad)


def test_continuous_glosses_give_a_vocabulary_not_classes(tmp_path):
    keys = write_poses(tmp_path / "poses", 3)
    lines = ["key,split,gloss,text"] + [f"{k},train,HELLO YOU {i},hello you" for i, k in enumerate(keys)]
    (tmp_path / "l.csv").write_text("\n".join(lines))
    sd.pack(tmp_path / "poses", tmp_path / "ds", labels=tmp_path / "l.csv", gloss_sequences=True)
    meta = json.loads((tmp_path / "ds" / "dataset.json").read_text())
    assert meta["classes"] is None and meta["gloss_vocab"] == ["0", "1", "2", "HELLO", "YOU"]


def _unisign_pickle(path: Path, frames: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    kp = rng.uniform(0, 500, size=(frames, 1, 133, 2)).astype(np.float32)
    kp[:, 0, 5] = [300, 200]  # left shoulder (COCO index 5)
    kp[:, 0, 6] = [200, 200]  # right shoulder
    scores = rng.uniform(0.5, 1, size=(frames, 1, 133)).astype(np.float32)
    with open(path, "wb") as f:
        pickle.dump({"keypoints": kp, "scores": scores}, f)


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_unisign_pickles_pack_normalised_and_hostile_pickles_never_run(tmp_path, monkeypatch):
    poses = tmp_path / "poses"
    poses.mkdir()
    for i in range(3):
        _unisign_pickle(poses / f"v{i}.pkl", 6 + i, i)
    with pytest.raises(DatasetError, match="--fps"):
        sd.pack(poses, tmp_path / "ds", split="train")
    report = sd.pack(poses, tmp_path / "ds", fps=25)
    assert report.layout == "coco-wholebody-133" and report.samples == {"train": 3}
    ds = sd.open(tmp_path / "ds", split="train", shuffle=False)
    sample = next(iter(ds))
    lay = ds.info.layout
    from signkit.pose import get_layout

    left = get_layout(lay).index("left_shoulder")
    assert np.allclose(sample["pose"][:, left, :2], [0.5, 0.0], atol=1e-2)  # centred, shoulder width 1
    monkeypatch.chdir(tmp_path)
    with open(poses / "evil.pkl", "wb") as f:
        pickle.dump({"keypoints": _Evil(), "scores": 0}, f)
    report = sd.pack(poses, tmp_path / "ds2", fps=25)
    assert "evil" in dict(report.refused) and "refusing to load posix.system" in dict(report.refused)["evil"]
    assert not (tmp_path / "pwned").exists()
    with pytest.raises(PoseError, match="refusing"):
        from signkit.datasets.inputs import load_unisign_pickle

        load_unisign_pickle(poses / "evil.pkl", 25)


def test_mixed_layouts_are_an_error_unless_converted(tmp_path):
    poses = tmp_path / "poses"
    save_pose(make_pose(frames=4, seed=1), poses / "a.npz")
    save_pose(make_pose(frames=4, layout="coco-wholebody-133", seed=2), poses / "b.npz")
    with pytest.raises(DatasetError, match="pass --layout"):
        sd.pack(poses, tmp_path / "ds")
    assert not (tmp_path / "ds").exists()
    report = sd.pack(poses, tmp_path / "ds", layout="coco-wholebody-133")
    assert report.layout == "coco-wholebody-133" and report.total == 2


def test_real_pose_format_files_pack_and_verify(tmp_path, lexicon_pose_files):
    poses = tmp_path / "poses"
    poses.mkdir()
    for f in lexicon_pose_files[:5]:
        shutil.copy(f, poses / f.name)
    report = sd.pack(poses, tmp_path / "ds")
    assert report.total == 5 and report.layout.startswith("mediapipe-holistic")
    summary = sd.dataset_summary(tmp_path / "ds")
    assert summary["samples"] == 5 and summary["fps"] == [25.0]
    assert 0 <= summary["missing_hand_ratio"]["left_hand"] <= 1
    assert lexicon_dir().is_dir()


def test_verify_names_corrupt_shards_and_manifest_mismatches(tmp_path, labelled):
    poses, labels, _ = labelled
    out = tmp_path / "ds"
    sd.pack(poses, out, labels=labels, samples_per_shard=3)
    shard = out / "shards" / "train-000000.tar"
    data = bytearray(shard.read_bytes())
    data[2000] ^= 0xFF
    shard.write_bytes(bytes(data))
    report = sd.verify(out)
    assert not report.ok and any("train-000000.tar: sha256 mismatch" in p for p in report.problems)
    result = CliRunner().invoke(cli, ["verify", str(out)])
    assert result.exit_code == 1 and "train-000000.tar" in result.output
    # a manifest that names a sample the shard does not hold
    out2 = tmp_path / "ds2"
    sd.pack(poses, out2, labels=labels, samples_per_shard=3)
    table = pq.read_table(out2 / "manifest.parquet").to_pylist()
    table[0]["key"] = "ghost"
    sd.manifest.write_manifest(table, out2 / "manifest.parquet")
    problems = sd.verify(out2).problems
    assert any("manifest.parquet: sha256" in p for p in problems)
    assert any("manifest disagrees with the shard" in p and "ghost" in p for p in problems)
    (out2 / "shards" / "train-000009.tar").write_bytes(b"")
    assert any("train-000009.tar: not listed" in p for p in sd.verify(out2).problems)


def test_cli_pack_info_verify(tmp_path, labelled):
    poses, labels, _ = labelled
    runner = CliRunner()
    out = tmp_path / "ds"
    result = runner.invoke(cli, ["pack", str(poses), "-o", str(out), "--labels", str(labels), "--shard-size", "1MB"])
    assert result.exit_code == 0, result.output
    assert "packed 12 samples" in result.output
    result = runner.invoke(cli, ["info", str(out), "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["splits"]["train"]["samples"] == 6 and info["classes"] == 3 and info["signers"] == 2
    assert info["layout"] == "mediapipe-holistic" and info["languages"] == ["ase"]
    result = runner.invoke(cli, ["verify", str(out)])
    assert result.exit_code == 0 and "ok: 3 shards, 12 samples" in result.output
    result = runner.invoke(cli, ["pack", str(poses), "-o", str(out)])
    assert result.exit_code == 1 and "already exists" in result.output


def test_parse_size_and_bad_options(tmp_path):
    assert parse_size("256MB") == 256_000_000 and parse_size("1.5KiB") == 1536 and parse_size(10) == 10
    with pytest.raises(DatasetError, match="like 256MB"):
        parse_size("big")
    with pytest.raises(DatasetError, match="no pose files"):
        (tmp_path / "empty").mkdir()
        sd.pack(tmp_path / "empty", tmp_path / "ds")


def test_cli_takes_poses_as_option_and_refuses_both(tmp_path, labelled):
    poses, labels, _ = labelled
    runner = CliRunner()
    result = runner.invoke(cli, ["pack", "--poses", str(poses), "-o", str(tmp_path / "ds"), "--labels", str(labels)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(cli, ["pack", str(poses), "--poses", str(poses), "-o", str(tmp_path / "ds2")])
    assert result.exit_code == 2 and "once" in result.output


_WRITER = """
import sys, time
from pathlib import Path
from signkit.datasets.packing import _temp_folder
with _temp_folder(Path(sys.argv[1])) as tmp:
    print(tmp, flush=True)
    time.sleep(600)
"""


def _start_writer(out_dir: Path) -> tuple[subprocess.Popen, Path]:
    """A pack writer in another process, stopped inside its temporary folder; returns it and the folder."""
    env = {**os.environ, "PYTHONPATH": str(Path(sd.__file__).parents[2])}
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(out_dir)], stdout=subprocess.PIPE, text=True, env=env)
    return proc, Path(proc.stdout.readline().strip())


def test_a_killed_pack_leaves_a_hidden_temp_that_the_next_pack_removes(tmp_path, labelled, monkeypatch):
    poses, labels, _ = labelled
    live, live_tmp = _start_writer(tmp_path / "ds")
    dead, dead_tmp = _start_writer(tmp_path / "ds")
    dead.kill()  # SIGKILL: no cleanup ran, its folder and lock file stay behind
    dead.wait()
    reused = tmp_path / f".ds.packing-{os.getpid()}-cafecafe"  # a killed pack whose pid now names a live process
    (reused / "shards").mkdir(parents=True)
    try:
        assert live_tmp.is_dir() and dead_tmp.is_dir()
        with monkeypatch.context() as m:
            m.setattr(os, "kill", lambda *a: pytest.fail("os.kill(pid, 0) terminates the process on Windows"))
            sd.pack(poses, tmp_path / "ds", labels=labels)
        assert live_tmp.is_dir() and not dead_tmp.exists() and not reused.exists()
        assert not dead_tmp.with_name(dead_tmp.name + ".lock").exists()
    finally:
        live.kill()
        live.wait()
        live.stdout.close()
        dead.stdout.close()


def test_options_take_one_source_of_labels_of_a_checked_kind(tmp_path, labelled):
    poses, labels, keys = labelled
    with pytest.raises(DatasetError, match="labels are a labels file"):
        sd.PackOptions(labels=42)
    with pytest.raises(DatasetError, match="labels are a labels file"):
        sd.PackOptions(labels=[{"key": "a", "split": "train"}])  # dicts, not SampleRecord
    with pytest.raises(DatasetError, match="like 256MB"):
        sd.PackOptions(shard_size="big")
    with pytest.raises(DatasetError, match="at least 1"):
        sd.PackOptions(samples_per_shard=0)
    records = (sd.SampleRecord(key=k, split="train", source="t", gloss="A") for k in keys)  # a generator is read once
    options = sd.PackOptions(labels=records, samples_per_shard=5)
    a = sd.pack(poses, tmp_path / "a", options)
    b = sd.pack(poses, tmp_path / "b", options, samples_per_shard=12)  # a field overrides the options
    assert a.shards == {"train": 3} and b.shards == {"train": 1} and a.total == b.total == 12
    with pytest.raises(TypeError):
        sd.pack(poses, tmp_path / "c", dataset="msasl")  # the old separate inputs are gone: labels=Benchmark(...)


def test_cli_refuses_two_sources_of_labels_and_a_root_without_dataset(tmp_path, labelled):
    poses, labels, _ = labelled
    runner = CliRunner()
    both = ["--labels", str(labels), "--dataset", "msasl", "--root", str(tmp_path)]
    result = runner.invoke(cli, ["pack", str(poses), "-o", str(tmp_path / "ds"), *both])
    assert result.exit_code == 2 and "one source of labels" in result.output and not (tmp_path / "ds").exists()
    result = runner.invoke(cli, ["pack", str(poses), "-o", str(tmp_path / "ds"), "--root", str(tmp_path)])
    assert result.exit_code == 2 and "add --dataset" in result.output and not (tmp_path / "ds").exists()
