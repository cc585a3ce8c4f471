"""`signkit datasets` commands, clip lists, keypoint export, and the end-to-end test on real data: the fingerspelling
lexicon that `spoken-to-signed` ships, parsed, loaded and packed via `--dataset`."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import lexicon_dir
from test_sources import release, touch

from signkit.cli.main import cli
from signkit.datasets.schema import SampleRecord
from signkit.datasets.sources import get_source, inspect_source, list_sources, write_clip_list, write_poses
from signkit.errors import DatasetError
from signkit.pose import load_pose


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


# --- clip lists -----------------------------------------------------------------------------------------------


def read_clips(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_clip_list_rows_are_relative_to_the_csv(tmp_path):
    root = release(tmp_path, "wlasl")
    touch(root / "raw_videos_mp4" / "0UsjUE-TXns.mp4")
    records = get_source("wlasl").records(root)
    out = tmp_path / "lists" / "clips.csv"
    assert write_clip_list(records, out, root=root) == 6
    rows = {r["key"]: r for r in read_clips(out)}
    assert list(read_clips(out)[0]) == ["path", "key", "start", "end", "unit"]
    assert rows["06307"] == {
        "path": "../wlasl/raw_videos_mp4/0UsjUE-TXns.mp4",
        "key": "06307",
        "start": "1000",
        "end": "1090",
        "unit": "frames",
    }
    assert rows["69241"] == {"path": "../wlasl/videos/69241.mp4", "key": "69241", "start": "", "end": "", "unit": ""}
    assert (out.parent / rows["06307"]["path"]).resolve() == (root / "raw_videos_mp4" / "0UsjUE-TXns.mp4").resolve()
    write_clip_list(records, out, root=root, absolute=True)
    assert Path(read_clips(out)[0]["path"]).is_absolute()


def test_clip_list_seconds_and_key_collisions(tmp_path):
    root = release(tmp_path, "how2sign")
    out = tmp_path / "clips.csv"
    write_clip_list(get_source("how2sign").records(root), out, root=root)
    first = read_clips(out)[0]
    assert (first["start"], first["end"], first["unit"]) == ("129.06", "142.48", "seconds")
    twice = [SampleRecord(key="a/b", split="train", source="x", media="v.mp4")] * 2
    with pytest.raises(DatasetError, match="two clips share the key 'a/b'"):
        write_clip_list(twice, out, root=root)
    assert read_clips(out)[0] == first  # the failed write left the earlier file as it was


def test_clip_list_is_what_signkit_extract_reads(tmp_path):
    from signkit.pose_extract.inputs import read_clip_list

    root = release(tmp_path, "wlasl")
    touch(root / "raw_videos_mp4" / "0UsjUE-TXns.mp4")
    records = get_source("wlasl").records(root)
    out = tmp_path / "clips.csv"
    write_clip_list(records, out, root=root)
    clips = {c.key: c for c in read_clip_list(out)}
    assert list(clips) == [r.key for r in records]
    cut = clips["06307"]
    assert (cut.start, cut.end, cut.unit) == (1000, 1090, "frames")
    assert Path(cut.path).resolve() == (root / "raw_videos_mp4" / "0UsjUE-TXns.mp4").resolve()
    assert (clips["69241"].start, clips["69241"].end) == (None, None)


# --- CLI ------------------------------------------------------------------------------------------------------


def test_cli_list_shows_every_dataset():
    result = run("datasets", "list")
    assert result.exit_code == 0
    for name in list_sources():
        assert name in result.output
    assert "WLASL100" in result.output and "https://dxli94.github.io/WLASL/" in result.output
    entries = json.loads(run("datasets", "list", "--json").output)
    assert [e["name"] for e in entries] == list_sources()
    wlasl = next(e for e in entries if e["name"] == "wlasl")
    assert wlasl["task"] == "ISLR" and wlasl["sign_language"] == "ase" and wlasl["classes"] == 2000


def test_cli_inspect_json(tmp_path):
    root = release(tmp_path, "wlasl")
    touch(root / "videos" / "69241.mp4")
    result = run("datasets", "inspect", "wlasl", "--root", str(root), "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["dataset"] == "wlasl" and summary["splits"] == {"train": 3, "dev": 1, "test": 2}
    assert (summary["classes"], summary["signers"], summary["media_present"], summary["media_missing"]) == (3, 4, 1, 5)
    assert summary["subsets"]["WLASL100"] == 6
    assert {"key": "06307", "media": "videos/06307.mp4"} in summary["missing"]
    text = run("datasets", "inspect", "wlasl", "--root", str(root)).output
    assert "media_missing: 5" in text and "no media for 5 sample(s):\n" in text and "  06307  videos/06307.mp4" in text
    lines = text.splitlines()
    assert any(ln.split() == ["split", "samples"] for ln in lines) and any(ln.split() == ["dev", "1"] for ln in lines)
    assert any(ln.split() == ["WLASL100", "6"] for ln in lines)  # the subsets table
    assert "{" not in text and "[" not in text and "'" not in text  # no Python reprs


def test_cli_inspect_frame_folders(tmp_path):
    root = release(tmp_path, "phoenix2014")
    frames = next(root.rglob("manual")).parent.parent / "features/fullFrame-210x260px/train"
    folder = frames / "01April_2010_Thursday_heute_default-0" / "1"
    folder.mkdir(parents=True)
    (folder / "01April_2010_Thursday_heute.avi_pid0_fn000000-0.png").write_bytes(b"")
    (frames / "01April_2010_Thursday_heute_default-1" / "1").mkdir(parents=True)  # an empty folder is no video
    summary = inspect_source("phoenix2014", root)
    assert (summary["media_present"], summary["media_missing"]) == (1, 3)
    assert summary["gloss_vocabulary"] > 10 and summary["signers"] == 4


def test_cli_strict_fails_on_missing_media(tmp_path):
    root = release(tmp_path, "autsl")
    result = CliRunner().invoke(cli, ["datasets", "inspect", "autsl", "--root", str(root), "--strict"])
    assert result.exit_code == 1
    assert "5 sample(s) have no media" in result.output and "train/signer0_sample1" in result.output
    assert "Traceback" not in result.output


def test_cli_clips_writes_present_and_lists_missing(tmp_path):
    root = release(tmp_path, "autsl")
    touch(root / "train" / "signer0_sample1_color.mp4")
    out = tmp_path / "clips.csv"
    result = CliRunner().invoke(cli, ["datasets", "clips", "autsl", "--root", str(root), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert [r["key"] for r in read_clips(out)] == ["train/signer0_sample1"]
    assert "wrote 1 clip(s)" in result.output and "missing: dev/signer5_sample7" in result.output
    strict = CliRunner().invoke(cli, ["datasets", "clips", "autsl", "--root", str(root), "-o", str(out), "--strict"])
    assert strict.exit_code == 1 and "have no media" in strict.output


def test_cli_unknown_dataset(tmp_path):
    result = CliRunner().invoke(cli, ["datasets", "inspect", "wlasl3000", "--root", str(tmp_path)])
    assert result.exit_code == 1 and "known datasets:" in result.output and "wlasl" in result.output


def test_keypoint_export_is_resumable(tmp_path):
    root = release(tmp_path, "asl-signs")
    out = tmp_path / "poses"
    result = run("datasets", "poses", "asl-signs", "--root", str(root), "-o", str(out))
    assert result.exit_code == 0 and "wrote 3 pose file(s)" in result.output
    pose = load_pose(out / "26734" / "1000035562.npz")
    assert pose.coords.shape == (3, 543, 3) and pose.meta["fps_assumed"] is True
    (out / "28656" / "1000210073.npz").unlink()
    assert write_poses("asl-signs", root, out) == (1, 2)
    with pytest.raises(DatasetError, match="ships videos"):
        write_poses("wlasl", root, out)


def test_video_sources_have_no_poses(tmp_path):
    with pytest.raises(DatasetError, match="signkit datasets clips wlasl"):
        next(get_source("wlasl").poses(tmp_path))


# --- real data: the spoken-to-signed fingerspelling lexicon ---------------------------------------------------


def test_lexicon_records_on_real_data():
    source = get_source("fingerspelling-lexicon")
    records = source.records(None)
    assert records == source.records(lexicon_dir())
    assert len(records) == 600 and len({r.key for r in records}) == 600
    languages = Counter(r.language for r in records)
    assert len(languages) == 19 and languages["ase"] == 26 and languages["svk"] == 44
    classes = source.classes(None)
    assert classes == sorted(languages)
    assert all(classes[r.label] == r.language == r.gloss for r in records)
    splits = Counter(r.split for r in records)
    assert splits["train"] > 400 and splits["dev"] > 30 and splits["test"] > 30
    umlaut = [r for r in records if r.language == "gsg" and r.text == "ä"]
    assert len(umlaut) == 1 and umlaut[0].extra["spoken_language"] == "de"
    assert any(r.language == "jos" and r.text == "ب" for r in records)
    ase = [r for r in records if r.language == "ase"]
    assert all(r.extra["mirrored_as"] == ["fsl"] for r in ase)  # the index mirrors ASL as fsl: kept once


def test_lexicon_every_pose_loads():
    source = get_source("fingerspelling-lexicon")
    count = 0
    for _key, pose in source.poses(None):
        assert pose.layout.startswith("mediapipe-holistic") and pose.num_frames > 0 and pose.fps > 0
        count += 1
    assert count == 600
    summary = inspect_source("fingerspelling-lexicon", None)
    assert (summary["media_present"], summary["media_missing"], summary["classes"]) == (600, 0, 19)


def test_pack_the_lexicon_via_dataset(tmp_path):
    from signkit.datasets import Benchmark, pack

    root = lexicon_dir()
    report = pack(root, tmp_path / "packed", labels=Benchmark("fingerspelling-lexicon", root))
    assert report.total == 600 and not report.refused
    meta = json.loads((tmp_path / "packed" / "dataset.json").read_text())
    assert meta["classes"] == get_source("fingerspelling-lexicon").classes(root)
    assert meta["provenance"]["dataset"] == "fingerspelling-lexicon"
    import pyarrow.parquet as pq

    manifest = pq.read_table(tmp_path / "packed" / "manifest.parquet").to_pylist()
    assert len(manifest) == 600 and len({m["language"] for m in manifest}) == 19
    expected = {r.key: r for r in get_source("fingerspelling-lexicon").records(root)}
    assert all(m["split"] == expected[m["key"]].split and m["label"] == expected[m["key"]].label for m in manifest)


def test_pack_a_keypoint_release_via_dataset(tmp_path):
    from signkit.datasets import Benchmark, pack

    root = release(tmp_path, "asl-signs")
    write_poses("asl-signs", root, tmp_path / "poses")
    report = pack(tmp_path / "poses", tmp_path / "packed", labels=Benchmark("asl-signs", root))
    assert report.total == 3 and not report.refused
    meta = json.loads((tmp_path / "packed" / "dataset.json").read_text())
    assert meta["classes"] == ["TV", "blow", "wait"] and meta["layout"] == "mediapipe-holistic"
    import pyarrow.parquet as pq

    rows = {m["key"]: m for m in pq.read_table(tmp_path / "packed" / "manifest.parquet").to_pylist()}
    assert (rows["28656/1000210073"]["label"], rows["28656/1000210073"]["gloss"]) == (0, "TV")
    assert rows["26734/1000035562"]["signer"] == "26734" and rows["26734/1000035562"]["num_frames"] == 3


def test_cli_inspect_text_says_when_the_lists_are_cut(capsys):
    from signkit.cli.datasets import _print_inspection

    summary = {"dataset": "x", "root": "/r", "subset": None, "task": "ISLR", "samples": 30, "splits": {"train": 30}}
    summary.update(subsets={}, classes=2, languages=["ase", "bfi"], media_present=0, media_missing=30)
    summary.update(missing=[{"key": f"k{i}", "media": f"v/{i}.mp4"} for i in range(2)], rows_skipped=1)
    summary.update(skipped=["a.csv:3: no video id"])
    _print_inspection(summary)
    text = capsys.readouterr().out
    assert "languages: ase, bfi" in text and "subset: -" in text and "subsets" not in text
    assert "no media for 30 sample(s), the first 2:\n  k0  v/0.mp4\n  k1  v/1.mp4\n" in text
    assert "1 release row(s) skipped:\n  a.csv:3: no video id\n" in text
