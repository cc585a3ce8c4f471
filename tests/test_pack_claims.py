"""What `signkit pack` claims: its exit status, `--strict`, `--json`, and what it keeps and names.

Exit status 0 only when every pose given was packed; anything not packed is listed in refused.jsonl by kind.
"""

from __future__ import annotations

import json
import shutil
import unicodedata
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from conftest import make_pose

import signkit.datasets as sd
from signkit.cli.main import cli
from signkit.datasets.sources import get_source
from signkit.pose import save_pose

FIXTURES = Path(__file__).parent / "fixtures" / "datasets"


def _poses(root: Path, keys: list[str]) -> None:
    for i, key in enumerate(keys):
        save_pose(make_pose(frames=4 + i, seed=i), root / f"{key}.npz")


def _nan_pose(path: Path) -> None:
    bad = make_pose(frames=4)
    coords = bad.coords.copy()
    coords[1, 3, 0] = np.nan
    np.savez(
        path,
        format=np.array("signkit-pose"),
        version=np.array(1),
        coords=coords,
        conf=bad.conf,
        fps=np.array(25.0),
        layout=np.array(bad.layout),
        meta=np.array(json.dumps(bad.meta)),
    )


def _labels(path: Path, rows: list[tuple[str, str]]) -> Path:
    path.write_text("key,split,gloss\n" + "".join(f"{k},train,{g}\n" for k, g in rows), encoding="utf-8")
    return path


def _listed(out: Path) -> dict[str, str]:
    return {x["key"]: x["kind"] for x in map(json.loads, (out / "refused.jsonl").read_text().splitlines())}


def _pack(*args: str):
    return CliRunner().invoke(cli, ["pack", *map(str, args)])


def test_a_refused_pose_exits_1_after_packing_the_rest(tmp_path):
    poses = tmp_path / "poses"
    _poses(poses, ["a", "b"])
    _nan_pose(poses / "bad.npz")
    labels = _labels(tmp_path / "l.csv", [("a", "HELLO"), ("b", "YES"), ("bad", "YES")])
    result = _pack(poses, "-o", tmp_path / "ds", "--labels", labels)
    assert result.exit_code == 1, result.output
    assert "1 pose file(s) refused" in result.stderr and "bad: " in result.stderr and "Traceback" not in result.output
    assert sd.open(tmp_path / "ds", split="train").num_samples == 2  # what could be packed was
    assert _listed(tmp_path / "ds") == {"bad": "refused"}
    assert json.loads((tmp_path / "ds" / "dataset.json").read_text())["refused"] == 1


def test_an_unlabelled_pose_exits_1_and_is_named(tmp_path):
    poses = tmp_path / "poses"
    _poses(poses, ["a", "b", "sub/stray"])
    labels = _labels(tmp_path / "l.csv", [("a", "HELLO"), ("b", "YES"), ("gone", "YES")])
    result = _pack(poses, "-o", tmp_path / "ds", "--labels", labels, "--json")
    assert result.exit_code == 1
    counts = json.loads(result.stdout)
    assert counts["ok"] is False and counts["packed"] == 2 and counts["unlabelled"] == 1 and counts["missing"] == 1
    assert counts["refused"] == 0 and counts["samples"] == {"train": 2} and counts["classes"] == 2
    assert _listed(tmp_path / "ds") == {"sub/stray": "unlabelled", "gone": "missing"}


def test_a_clean_pack_exits_0_and_a_missing_pose_alone_is_listed_not_fatal(tmp_path):
    poses = tmp_path / "poses"
    _poses(poses, ["a", "b"])
    labels = _labels(tmp_path / "l.csv", [("a", "HELLO"), ("b", "YES")])
    result = _pack(poses, "-o", tmp_path / "ds", "--labels", labels, "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["ok"] is True
    assert _listed(tmp_path / "ds") == {}
    labels = _labels(tmp_path / "m.csv", [("a", "HELLO"), ("b", "YES"), ("not-extracted", "YES")])
    result = _pack(poses, "-o", tmp_path / "ds2", "--labels", labels)
    assert result.exit_code == 0 and "1 labelled sample(s) have no pose file" in result.stderr
    assert _listed(tmp_path / "ds2") == {"not-extracted": "missing"}


@pytest.mark.parametrize("problem", ["refused", "unlabelled", "missing"])
def test_strict_writes_nothing(tmp_path, problem):
    poses = tmp_path / "poses"
    _poses(poses, ["a", "b"])
    rows = [("a", "HELLO"), ("b", "YES")]
    if problem == "refused":
        _nan_pose(poses / "bad.npz")
        rows.append(("bad", "YES"))
    elif problem == "unlabelled":
        _poses(poses, ["stray"])
    else:
        rows.append(("gone", "YES"))
    out = tmp_path / "new" / "deeper" / "ds"
    result = _pack(poses, "-o", out, "--labels", _labels(tmp_path / "l.csv", rows), "--strict")
    assert result.exit_code == 1 and "nothing written" in result.output and "Traceback" not in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["l.csv", "poses"]  # not even the parent folders


def test_labels_file_glosses_are_nfc_like_every_other_source(tmp_path):
    poses = tmp_path / "poses"
    _poses(poses, ["a", "b", "c"])
    nfc, nfd = unicodedata.normalize("NFC", "HÉLLO"), unicodedata.normalize("NFD", "HÉLLO")
    assert nfc != nfd
    labels = _labels(tmp_path / "l.csv", [("a", nfc), ("b", nfd), ("c", f"  {nfd}  ")])
    sd.pack(poses, tmp_path / "ds", labels=labels)
    meta = json.loads((tmp_path / "ds" / "dataset.json").read_text())
    assert meta["classes"] == [nfc]
    assert {r["gloss"] for r in pq.read_table(tmp_path / "ds" / "manifest.parquet").to_pylist()} == {nfc}
    assert {r.gloss for r in sd.read_labels(labels)} == {nfc}


def test_a_multi_word_gloss_is_one_class_unless_glosses_are_sequences(tmp_path):
    poses = tmp_path / "poses"
    _poses(poses, ["a", "b", "c"])
    labels = _labels(tmp_path / "l.csv", [("a", "thank you"), ("b", "hello"), ("c", "thank  you")])
    sd.pack(poses, tmp_path / "islr", labels=labels)
    meta = json.loads((tmp_path / "islr" / "dataset.json").read_text())
    assert meta["classes"] == ["hello", "thank you"]  # WLASL's own `thank you` is one sign
    rows = {r["key"]: r for r in pq.read_table(tmp_path / "islr" / "manifest.parquet").to_pylist()}
    assert (rows["a"]["label"], rows["c"]["label"], rows["b"]["label"]) == (1, 1, 0)
    result = _pack(poses, "-o", tmp_path / "cslr", "--labels", labels, "--gloss-sequences")
    assert result.exit_code == 0, result.output
    meta = json.loads((tmp_path / "cslr" / "dataset.json").read_text())
    assert meta["classes"] is None and meta["gloss_vocab"] == ["hello", "thank", "you"]


def test_extraction_flags_are_kept_in_the_manifest_and_the_sample(tmp_path):
    poses = tmp_path / "poses"
    flagged = make_pose(frames=6)
    flagged.meta["flags"] = ["truncated", "rotated_90"]
    save_pose(flagged, poses / "flagged.npz")
    _poses(poses, ["plain"])
    report = sd.pack(poses, tmp_path / "ds")
    assert report.ok and report.flagged == 1
    rows = {r["key"]: r for r in pq.read_table(tmp_path / "ds" / "manifest.parquet").to_pylist()}
    assert rows["flagged"]["flags"] == ["truncated", "rotated_90"] and rows["plain"]["flags"] == []
    import tarfile

    with tarfile.open(tmp_path / "ds" / "shards" / rows["flagged"]["shard"]) as tf:
        assert json.load(tf.extractfile("flagged.json"))["flags"] == ["truncated", "rotated_90"]
    assert sd.verify(tmp_path / "ds").ok


# --- a benchmark release ------------------------------------------------------------------------------------


def _msasl_with_a_zero_length_row(tmp_path: Path) -> Path:
    root = tmp_path / "msasl"
    shutil.copytree(FIXTURES / "msasl", root)
    train = json.loads((root / "MSASL_train.json").read_text())
    train.append({**train[0], "start_time": 7.0, "end_time": 7.0, "url": "https://youtu.be/zeroLength1"})
    (root / "MSASL_train.json").write_text(json.dumps(train))
    return root


def test_pack_a_release_with_a_skipped_row_and_a_subset(tmp_path, monkeypatch):
    root = _msasl_with_a_zero_length_row(tmp_path)
    poses = tmp_path / "poses"
    _poses(poses, [r.key for r in get_source("msasl").records(root)])
    result = _pack(poses, "-o", tmp_path / "ds", "--dataset", "msasl", "--root", root)
    assert result.exit_code == 0, result.output
    assert "1 row(s) of the release name no usable sample" in result.stderr and "zero length" in result.stderr
    result = _pack(poses, "-o", tmp_path / "strict", "--dataset", "msasl", "--root", root, "--strict")
    assert result.exit_code == 1 and "release row(s) skipped" in result.output and not (tmp_path / "strict").exists()
    # poses of the release's samples outside the subset are not "unlabelled": not packed, and not an error
    monkeypatch.setitem(get_source("msasl").subset_sizes, "MSASL100", 2)  # the fixture's teacher (label 2) is out
    result = _pack(
        poses, "-o", tmp_path / "sub", "--dataset", "msasl", "--root", root, "--subset", "MSASL100", "--json"
    )
    assert result.exit_code == 0, result.output
    counts = json.loads(result.stdout)
    assert (counts["packed"], counts["outside_subset"], counts["unlabelled"], counts["rows_skipped"]) == (3, 1, 0, 1)
    result = _pack(poses, "-o", tmp_path / "seq", "--dataset", "msasl", "--root", root, "--gloss-sequences")
    assert result.exit_code == 1 and "glosses are whole signs" in result.output


def test_clips_lists_the_skipped_rows_and_strict_refuses_them(tmp_path):
    from signkit.cli.main import cli

    root = _msasl_with_a_zero_length_row(tmp_path)
    runner = CliRunner()
    result = runner.invoke(
        cli, ["datasets", "clips", "msasl", "--root", str(root), "-o", str(tmp_path / "c.csv"), "--json"]
    )
    assert result.exit_code == 0, result.output
    skipped = json.loads(result.stdout)["skipped"]
    assert len(skipped) == 1 and "zero length" in skipped[0]["reason"]
    result = runner.invoke(
        cli, ["datasets", "clips", "msasl", "--root", str(root), "-o", str(tmp_path / "s.csv"), "--strict"]
    )
    assert result.exit_code == 1 and "row(s) of the release name no usable sample" in result.output
