"""Benchmark parsers: each official format's fixture gives the expected standard records; bad input is an error
that names its file and line."""

from __future__ import annotations

import importlib.util
import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

from signkit.datasets.schema import SPLITS, SampleRecord
from signkit.datasets.sources import get_source, hash_split, inspect_source, list_sources, normalize_gloss
from signkit.datasets.sources._base import TASKS, skipped_error
from signkit.errors import DatasetError
from signkit.pose import get_layout

FIXTURES = Path(__file__).parent / "fixtures" / "datasets"
ALL = (
    "asl-fingerspelling",
    "asl-signs",
    "autsl",
    "csl-daily",
    "fingerspelling-lexicon",
    "fs-words",
    "how2sign",
    "lsa64",
    "msasl",
    "openasl",
    "phoenix2014",
    "phoenix2014t",
    "wlasl",
)


def _binary_fixtures():
    spec = importlib.util.spec_from_file_location("make_binary_fixtures", FIXTURES / "make_binary_fixtures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def release(tmp_path: Path, name: str) -> Path:
    """A writable copy of a fixture release (tests add media to it); Kaggle sets get their parquets."""
    root = tmp_path / name
    if name == "lsa64":
        root.mkdir()
        for sign, signer, rep in [(1, 1, 1), (1, 1, 4), (1, 9, 5), (2, 10, 2), (64, 3, 3)]:
            (root / "all_cut").mkdir(exist_ok=True)
            (root / "all_cut" / f"{sign:03d}_{signer:03d}_{rep:03d}.mp4").write_bytes(b"")
        return root
    shutil.copytree(FIXTURES / name, root, ignore=shutil.ignore_patterns("*.parquet"))
    if name == "asl-signs":
        _binary_fixtures().asl_signs(root)
    if name == "asl-fingerspelling":
        _binary_fixtures().asl_fingerspelling(root)
    return root


def touch(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")


def by_key(records: list[SampleRecord]) -> dict[str, SampleRecord]:
    return {r.key: r for r in records}


# --- the registry -------------------------------------------------------------------------------------------


def test_registry_lists_every_source():
    assert tuple(list_sources()) == ALL


@pytest.mark.parametrize("name", ALL)
def test_registry_entry_is_complete(name):
    info = get_source(name).info
    assert info.name == name and info.task in TASKS
    assert len(info.sign_language) == 3 and info.spoken_language
    assert info.licence and info.url.startswith("https://") and info.media
    assert set(info.splits) <= set(SPLITS)
    assert (info.classes is None) == (info.task != "ISLR")


@pytest.mark.parametrize("name", [n for n in ALL if n not in ("fingerspelling-lexicon", "fs-words")])  # tested apart
def test_every_source_parses_its_fixture_stably(tmp_path, name):
    source = get_source(name)
    root = release(tmp_path, name)
    first, second = source.records(root), source.records(root)
    assert first == second and len(first) >= 3
    parsed = source.parse(root)  # what pack reads: the same records, and here no skipped rows
    assert parsed.records == first and parsed.skipped == [] and parsed.outside_subset == []
    assert len({r.key for r in first}) == len(first)
    assert all(r.source == name and r.split in source.info.splits for r in first)
    assert source.classes(root) == source.classes(root)
    if source.info.task == "ISLR":
        classes = source.classes(root)
        assert all(r.label is not None and classes[r.label] == r.gloss for r in first)
    else:
        assert all(r.label is None and (r.text or r.gloss) for r in first)


def test_unknown_dataset_lists_the_known_ones():
    with pytest.raises(DatasetError, match="known datasets: asl-fingerspelling, asl-signs, autsl"):
        get_source("wlasl3000")
    assert get_source("WLASL").name == "wlasl" and get_source("csl_daily").name == "csl-daily"


def test_normalize_gloss_is_nfc_and_collapses_blanks():
    decomposed = "gu\u0308le  gu\u0308le "
    assert normalize_gloss(decomposed) == "güle güle" and normalize_gloss("loc-NORD") == "loc-NORD"


def test_hash_split_is_deterministic_and_roughly_80_10_10():
    keys = [f"k{i}" for i in range(5000)]
    splits = [hash_split(k) for k in keys]
    assert splits == [hash_split(k) for k in keys]
    share = {s: splits.count(s) / len(keys) for s in SPLITS}
    assert 0.77 < share["train"] < 0.83 and 0.08 < share["dev"] < 0.12 and 0.08 < share["test"] < 0.12


# --- WLASL --------------------------------------------------------------------------------------------------


def test_wlasl_records_follow_the_json(tmp_path):
    root = release(tmp_path, "wlasl")
    source = get_source("wlasl")
    assert source.classes(root) == ["book", "drink", "computer"]
    recs = by_key(source.records(root))
    assert list(recs) == ["69241", "06307", "07069", "69302", "17710", "12328"]  # file order
    whole = recs["69241"]  # frame_start 1, frame_end -1: the whole video
    assert (whole.split, whole.label, whole.gloss, whole.signer) == ("train", 0, "book", "118")
    assert (whole.start, whole.end, whole.clip_unit, whole.media) == (None, None, "frames", "videos/69241.mp4")
    assert recs["06307"].split == "dev" and recs["12328"].label == 2
    missing_signer = recs["07069"]  # no signer_id; frames 12..57 (1-based, inclusive) -> [11, 57)
    assert missing_signer.signer is None and (missing_signer.start, missing_signer.end) == (11, 57)
    assert recs["06307"].extra["bbox"] == [190, 25, 489, 370] and recs["06307"].extra["fps"] == 25


def test_wlasl_youtube_instances_cut_from_raw_or_taken_precut(tmp_path):
    root = release(tmp_path, "wlasl")
    source = get_source("wlasl")
    touch(root / "raw_videos_mp4" / "0UsjUE-TXns.mp4")  # one raw video holds two instances
    recs = by_key(source.records(root))
    assert (recs["06307"].media, recs["06307"].start, recs["06307"].end) == (
        "raw_videos_mp4/0UsjUE-TXns.mp4",
        1000,
        1090,
    )
    assert (recs["17710"].media, recs["17710"].start, recs["17710"].end) == ("raw_videos_mp4/0UsjUE-TXns.mp4", 179, 240)
    touch(root / "videos" / "06307.mp4")  # preprocess.py output: already cut
    recs = by_key(source.records(root))
    assert (recs["06307"].media, recs["06307"].start, recs["06307"].end) == ("videos/06307.mp4", None, None)


def test_wlasl_subsets_are_the_first_n_glosses(tmp_path, monkeypatch):
    root = release(tmp_path, "wlasl")
    source = get_source("wlasl")
    assert len(source.records(root, subset="WLASL100")) == 6 and source.records(root, "100") == source.records(root)
    monkeypatch.setitem(type(source).subset_sizes, "WLASL100", 2)
    sub = source.records(root, subset="wlasl100")
    assert {r.gloss for r in sub} == {"book", "drink"} and source.classes(root, "WLASL100") == ["book", "drink"]
    with pytest.raises(DatasetError, match="subsets: WLASL100, WLASL300"):
        source.records(root, subset="WLASL50")


# --- MS-ASL -------------------------------------------------------------------------------------------------


def test_msasl_records(tmp_path):
    root = release(tmp_path, "msasl")
    touch(root / "downloads" / "FbEp8LmbP8M.mp4")
    recs = by_key(get_source("msasl").records(root))
    assert list(recs) == [
        "train/00000_FbEp8LmbP8M",
        "train/00001_-1bSfd6MvwY",
        "dev/00000_Xk9-vd0Z9aU",
        "test/00000_FbEp8LmbP8M",
    ]
    hello = recs["train/00000_FbEp8LmbP8M"]
    assert (hello.label, hello.gloss, hello.signer, hello.start, hello.end) == (0, "hello", "0", None, 1.802)
    assert hello.media == "downloads/FbEp8LmbP8M.mp4" and hello.clip_unit == "seconds"
    assert recs["train/00001_-1bSfd6MvwY"].extra["org_text"] == "Nice, nice to meet you"
    assert recs["dev/00000_Xk9-vd0Z9aU"].signer is None  # signer_id -1
    assert recs["dev/00000_Xk9-vd0Z9aU"].media == "videos/Xk9-vd0Z9aU.mp4"  # expected, not present


def test_msasl_zero_length_rows_are_skipped_and_listed(tmp_path):
    root = release(tmp_path, "msasl")
    train = json.loads((root / "MSASL_train.json").read_text())
    train.append({**train[0], "start_time": 7.0, "end_time": 7.0, "url": "https://youtu.be/zeroLength1"})
    (root / "MSASL_train.json").write_text(json.dumps(train))
    source = get_source("msasl")
    parsed = source.parse(root)
    assert [r.key for r in parsed.records] == [
        "train/00000_FbEp8LmbP8M",
        "train/00001_-1bSfd6MvwY",
        "dev/00000_Xk9-vd0Z9aU",
        "test/00000_FbEp8LmbP8M",
    ]
    assert [(s.key, s.reason) for s in parsed.skipped] == [
        ("train/00002_zeroLength1", "zero length: ends at 7.0s, starts at 7.0s")
    ]
    assert "MSASL_train.json: sample 2" in parsed.skipped[0].where
    assert source.records(root) == parsed.records
    assert "1 row(s) of the release name no usable sample" in str(skipped_error("msasl", parsed.skipped))
    summary = inspect_source("msasl", root)
    assert summary["rows_skipped"] == 1 and "zero length" in summary["skipped"][0]
    with pytest.raises(DatasetError, match="zero length"):
        inspect_source("msasl", root, strict=True)


def test_a_subset_names_the_keys_it_leaves_out(tmp_path, monkeypatch):
    root = release(tmp_path, "msasl")
    source = get_source("msasl")
    monkeypatch.setitem(type(source).subset_sizes, "MSASL100", 2)
    parsed = source.parse(root, subset="MSASL100")
    assert parsed.records == source.records(root, subset="MSASL100") and parsed.outside_subset == [
        "dev/00000_Xk9-vd0Z9aU"
    ]


# --- AUTSL --------------------------------------------------------------------------------------------------


def test_autsl_records_with_unicode_glosses_and_quoted_commas(tmp_path):
    root = release(tmp_path, "autsl")
    touch(root / "train" / "signer0_sample1_color.mp4")
    source = get_source("autsl")
    assert source.classes(root) == ["abla", "teşekkür", "çiçek", "güle güle"]
    recs = by_key(source.records(root))
    first = recs["train/signer0_sample1"]
    assert (first.label, first.gloss, first.signer, first.split) == (1, "teşekkür", "0", "train")
    assert first.extra["gloss_en"] == "thank you, thanks" and first.media == "train/signer0_sample1_color.mp4"
    assert recs["dev/signer5_sample7"].media == "val/signer5_sample7_color.mp4"
    assert recs["test/signer34_sample40"].split == "test"


# --- LSA64 --------------------------------------------------------------------------------------------------


def test_lsa64_names_and_both_split_protocols(tmp_path):
    root = release(tmp_path, "lsa64")
    source = get_source("lsa64")
    recs = by_key(source.records(root))
    assert [r.split for r in recs.values()] == ["train", "dev", "test", "train", "train"]
    assert recs["064_003_003"].label == 63 and recs["064_003_003"].signer == "003"
    assert recs["001_001_001"].media == "all_cut/001_001_001.mp4"
    independent = source.records(root, subset="signer-independent")
    assert [r.split for r in independent] == ["train", "train", "dev", "test", "train"]
    assert len(source.classes(root)) == 64
    (root / "all").mkdir()
    (root / "all" / "002_010_002.mp4").write_bytes(b"")
    with pytest.raises(DatasetError, match="same video twice"):
        source.records(root)
    (root / "all" / "002_010_002.mp4").unlink()
    (root / "001_011_001.mp4").write_bytes(b"")
    with pytest.raises(DatasetError, match="001_011_001.mp4: sign/signer/repetition out of range"):
        source.records(root)


# --- PHOENIX ------------------------------------------------------------------------------------------------


def test_phoenix2014_records_and_frame_folders(tmp_path):
    root = release(tmp_path, "phoenix2014")
    recs = by_key(get_source("phoenix2014").records(root))
    first = recs["train/01April_2010_Thursday_heute_default-0"]
    assert first.gloss.startswith("__ON__ LIEB ZUSCHAUER") and first.signer == "Signer04" and first.label is None
    assert first.media == (
        "phoenix-2014-multisigner/features/fullFrame-210x260px/train/01April_2010_Thursday_heute_default-0/1"
    )
    assert recs["train/01April_2010_Thursday_heute_default-1"].gloss == "__ON__ DEUTSCHLAND ÜBERWIEGEND SONNE __OFF__"
    with pytest.raises(DatasetError, match="no train.SI5.corpus.csv"):
        get_source("phoenix2014").records(root, subset="SI5")


def test_phoenix2014t_records_with_umlauts(tmp_path):
    root = release(tmp_path, "phoenix2014t")
    frames = (
        root / "PHOENIX-2014-T-release-v3/PHOENIX-2014-T/features/fullFrame-210x260px/train/"
        "11August_2010_Wednesday_tagesschau-2"
    )
    frames.mkdir(parents=True)
    recs = by_key(get_source("phoenix2014t").records(root))
    first = recs["train/11August_2010_Wednesday_tagesschau-2"]
    assert first.text == "tiefer luftdruck bestimmt in den nächsten tagen unser wetter"
    assert first.gloss == "DRUCK TIEF KOMMEN" and first.signer == "Signer08"
    assert first.media.endswith("train/11August_2010_Wednesday_tagesschau-2")  # 2014-T: no /1 level
    assert recs["dev/01April_2011_Friday_tagesschau-6"].text.startswith("im südwesten wird es später wärmer")


# --- CSL-Daily ----------------------------------------------------------------------------------------------


def test_csl_daily_records_with_chinese_text(tmp_path):
    root = release(tmp_path, "csl-daily")
    recs = by_key(get_source("csl-daily").records(root))
    first = recs["S000000_P0000_T00"]
    assert (first.text, first.gloss, first.signer, first.split) == ("你好。", "你 好", "0", "train")
    assert first.media == "sentence/frames_512x512/S000000_P0000_T00" and first.language == "csl"
    assert recs["S000001_P0008_T00"].text == "今天天气很好。" and recs["S000002_P0003_T00"].split == "dev"


def test_csl_daily_pickle_that_runs_code_is_refused(tmp_path):
    root = release(tmp_path, "csl-daily")

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    (root / "sentence_label" / "csl2020ct_v2.pkl").write_bytes(pickle.dumps({"info": [Evil()]}))
    with pytest.raises(DatasetError, match="refusing to load builtins.print"):
        get_source("csl-daily").records(root)


# --- How2Sign and OpenASL -----------------------------------------------------------------------------------


def test_how2sign_clips_whole_or_cut_from_raw(tmp_path):
    root = release(tmp_path, "how2sign")
    source = get_source("how2sign")
    recs = by_key(source.records(root))
    first = recs["--7E2sU6zP4_10-5-rgb_front"]
    assert first.text == 'And I call them decorative elements because "they\'re" not necessary, but they help.'
    assert (first.media, first.start, first.end) == ("raw_videos/--7E2sU6zP4-5-rgb_front.mp4", 129.06, 142.48)
    touch(root / "train_raw_videos" / "raw_videos" / "--7E2sU6zP4-5-rgb_front.mp4")
    touch(root / "train_rgb_front_clips" / "raw_videos" / "--7E2sU6zP4_11-5-rgb_front.mp4")
    recs = by_key(source.records(root))
    assert recs["--7E2sU6zP4_10-5-rgb_front"].media == "train_raw_videos/raw_videos/--7E2sU6zP4-5-rgb_front.mp4"
    clip = recs["--7E2sU6zP4_11-5-rgb_front"]
    assert clip.media.endswith("--7E2sU6zP4_11-5-rgb_front.mp4") and (clip.start, clip.end) == (None, None)
    assert recs["-fZc293MpJk_0-1-rgb_front"].split == "dev" and recs["-fZc293MpJk_0-1-rgb_front"].end == 4.5


def test_openasl_timestamps_keys_and_clips(tmp_path):
    root = release(tmp_path, "openasl")
    touch(root / "clips" / "_0fO5ETSwyg-00-01-02.000-00-01-05.500.mp4")  # ':' replaced by '-' in the file name
    recs = get_source("openasl").records(root)
    first, second, third = recs
    assert first.key == "_0fO5ETSwyg-00_00_22_600-00_00_27_133"
    assert (first.start, first.end, first.media) == (22.6, 27.133, "raw-video/_0fO5ETSwyg.mp4")
    assert first.text == 'The weather today: "sunny", warm.' and first.gloss is None
    assert second.split == "dev" and second.media == "clips/_0fO5ETSwyg-00-01-02.000-00-01-05.500.mp4"
    assert (second.start, second.end) == (None, None)
    assert third.gloss == "THANK-YOU" and third.start is None and third.end == 3.25


# --- Kaggle keypoint sets -----------------------------------------------------------------------------------


def test_kaggle_part_offsets_match_the_layout():
    from signkit.datasets.sources.kaggle_asl import PARTS

    layout = get_layout("mediapipe-holistic")
    for kind, part in (("pose", "body"), ("face", "face"), ("left_hand", "left_hand"), ("right_hand", "right_hand")):
        indices = layout.part_indices(part)
        assert (indices[0], len(indices)) == PARTS[kind]


def test_asl_signs_records_and_poses(tmp_path):
    import pyarrow.parquet as pq

    root = release(tmp_path, "asl-signs")
    source = get_source("asl-signs")
    assert source.classes(root) == ["TV", "blow", "wait"]
    recs = source.records(root)
    assert [(r.key, r.label, r.gloss, r.signer) for r in recs] == [
        ("26734/1000035562", 1, "blow", "26734"),
        ("26734/1000106739", 2, "wait", "26734"),
        ("28656/1000210073", 0, "TV", "28656"),
    ]
    poses = dict(source.poses(root))
    assert list(poses) == [r.key for r in recs]
    pose = poses["26734/1000035562"]
    assert pose.layout == "mediapipe-holistic" and pose.coords.shape == (3, 543, 3) and pose.fps == 30
    assert np.isfinite(pose.coords).all()
    lh = list(get_layout("mediapipe-holistic").part_indices("left_hand"))
    assert (pose.conf[0, lh] == 0).all() and (pose.coords[0, lh] == 0).all() and (pose.conf[1, lh] == 1).all()
    table = pq.read_table(root / recs[0].media).to_pylist()
    row = next(r for r in table if r["frame"] == 21 and r["type"] == "right_hand" and r["landmark_index"] == 4)
    i = get_layout("mediapipe-holistic").part_indices("right_hand")[4]
    assert np.allclose(pose.coords[1, i], [row["x"], row["y"], row["z"]])
    assert dict(source.poses(root, exclude={"26734/1000035562"})).keys() == {"26734/1000106739", "28656/1000210073"}


def test_asl_fingerspelling_records_and_poses(tmp_path):
    root = release(tmp_path, "asl-fingerspelling")
    source = get_source("asl-fingerspelling")
    recs = source.records(root)
    assert [(r.key, r.text) for r in recs] == [
        ("5414471/1816796431", "3 creekhouse"),
        ("5414471/1816825349", "scales/kuhaylah"),
        ("5414471/1816909464", "1383 william lanier"),
    ]
    poses = dict(source.poses(root))
    assert [p.num_frames for p in poses.values()] == [4, 3, 5]
    rh = list(get_layout("mediapipe-holistic").part_indices("right_hand"))
    first = poses["5414471/1816796431"]
    assert (first.conf[0, rh] == 0).all() and (first.conf[1:, rh] == 1).all() and np.isfinite(first.coords).all()


# --- bad input ----------------------------------------------------------------------------------------------


def test_malformed_csv_row_names_file_and_line(tmp_path):
    root = release(tmp_path, "autsl")
    (root / "train_labels.csv").write_text("signer0_sample1,1\nsigner0_sample2,three\n")
    with pytest.raises(DatasetError, match=r"train_labels.csv:2: class id must be an integer, got 'three'"):
        get_source("autsl").records(root)
    (root / "train_labels.csv").write_text("signer0_sample1,1\nsigner0_sample2,99\n")
    with pytest.raises(DatasetError, match=r"train_labels.csv:2: class id 99 not in"):
        get_source("autsl").records(root)


def test_malformed_json_names_file_and_line(tmp_path):
    root = release(tmp_path, "wlasl")
    text = (root / "WLASL_v0.3.json").read_text()
    (root / "WLASL_v0.3.json").write_text(text.replace('"split": "val",', '"split": "val"', 1))
    with pytest.raises(DatasetError, match=r"WLASL_v0.3.json:\d+: invalid JSON"):
        get_source("wlasl").records(root)


def test_malformed_pipe_row_and_header(tmp_path):
    root = release(tmp_path, "phoenix2014t")
    path = next(root.rglob("PHOENIX-2014-T.dev.corpus.csv"))
    path.write_text(path.read_text() + "broken|row\n")
    with pytest.raises(DatasetError, match=r"PHOENIX-2014-T.dev.corpus.csv:3: 2 field\(s\), the header has 7"):
        get_source("phoenix2014t").records(root)
    path.write_text("name|video|orth\n")
    with pytest.raises(DatasetError, match=r"dev.corpus.csv:1: header .* lacks column\(s\)"):
        get_source("phoenix2014t").records(root)


def test_missing_annotation_and_missing_root(tmp_path):
    with pytest.raises(DatasetError, match="no WLASL_v0.3.json under"):
        get_source("wlasl").records(tmp_path)
    with pytest.raises(DatasetError, match="does not exist"):
        get_source("wlasl").records(tmp_path / "nowhere")


def test_duplicate_keys_are_an_error(tmp_path):
    root = release(tmp_path, "csl-daily")
    split = root / "sentence_label" / "split_1.txt"
    split.write_text(split.read_text() + "S000000_P0000_T00|test\n")
    with pytest.raises(DatasetError, match="two samples share the key 'S000000_P0000_T00'"):
        get_source("csl-daily").records(root)


def test_unknown_split_names_file_and_line(tmp_path):
    root = release(tmp_path, "csl-daily")
    split = root / "sentence_label" / "split_1.txt"
    split.write_text(split.read_text().replace("S000002_P0003_T00|dev", "S000002_P0003_T00|holdout"))
    with pytest.raises(DatasetError, match=r"split_1.txt:4: unknown split 'holdout'"):
        get_source("csl-daily").records(root)
    root = release(tmp_path, "wlasl")
    path = root / "WLASL_v0.3.json"
    path.write_text(path.read_text().replace('"split": "test"', '"split": "eval"', 1))
    with pytest.raises(DatasetError, match=r"WLASL_v0.3.json: entry 0 \('book'\) instance 2: unknown split 'eval'"):
        get_source("wlasl").records(root)
