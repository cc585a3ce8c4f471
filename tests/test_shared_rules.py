"""The rules that pose_extract and datasets share, each with one owner: keys, media suffixes, the clip-list format,
what a URL is, a file's sha256 and restricted unpickling; and the placement rules (who may import whom)."""

from __future__ import annotations

import ast
import hashlib
import io
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from signkit import _clip_list, _keys
from signkit._hashing import sha256_file
from signkit._media import IMAGE_SUFFIXES, VIDEO_SUFFIXES
from signkit._urls import is_url, local_path
from signkit.datasets.location import Location
from signkit.datasets.schema import SampleRecord
from signkit.errors import DatasetError, ExtractError

PACKAGE = Path(__file__).resolve().parents[1] / "signkit"


# ---- keys -----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("relative", "key"),
    [
        ("clip01.mp4", "clip01"),
        ("signer1/clip.v2.MOV", "signer1/clip_v2"),
        ("a\\b\\c.avi", "a/b/c"),
        ("./x//y.ts", "x/y"),
        ("frames.d", "frames_d"),  # not a video suffix: kept, its dot made safe
    ],
)
def test_a_path_gives_the_key_extract_writes_and_pack_accepts(relative, key):
    from signkit.pose_extract.inputs import make_key

    assert _keys.key_of_path(relative, ExtractError) == make_key(relative) == key
    assert _keys.check_key(key, DatasetError) == key


@pytest.mark.parametrize("text", ["MS-ASL: 1.2 ", "a/b.c", "/lead/", "x y", "vid.mp4"])
def test_an_id_made_safe_is_a_valid_key(text):
    assert _keys.check_key(_keys.safe_key(text), DatasetError)


@pytest.mark.parametrize("bad", ["", "a.b", " a", "/abs", "a/../b"])
def test_invalid_keys_raise_the_callers_error(bad):
    with pytest.raises(DatasetError, match="invalid sample key"):
        _keys.check_key(bad, DatasetError)
    with pytest.raises(ExtractError, match="invalid sample key"):
        _keys.check_key(bad, ExtractError)


def test_unique_keys_raise_what_the_caller_builds_from_both_holders():
    a, b, again = (SampleRecord(key=k, split=s, source="t") for k, s in (("a", "train"), ("b", "dev"), ("a", "test")))
    with pytest.raises(DatasetError, match="a: train and test"):
        _keys.check_unique_keys([a, b, again], lambda x, y: DatasetError(f"{x.key}: {x.split} and {y.split}"))
    _keys.check_unique_keys([a, b], lambda x, y: AssertionError("no key is repeated"))


# ---- media suffixes -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", VIDEO_SUFFIXES)
def test_a_parser_finds_every_video_extract_reads(tmp_path, suffix):
    """Before one owner, the parsers' media index knew 5 of the 11 video suffixes extract reads (no .mpg, .ts...)."""
    from signkit.datasets.sources._base import MediaIndex

    (tmp_path / "videos").mkdir()
    (tmp_path / "videos" / f"clip{suffix}").write_bytes(b"")
    assert MediaIndex.build(tmp_path).find_stem("clip") == f"videos/clip{suffix}"


@pytest.mark.parametrize("suffix", IMAGE_SUFFIXES)
def test_a_frame_folder_is_one_for_extract_and_for_the_parsers(tmp_path, suffix):
    from signkit.datasets.sources import media_present
    from signkit.pose_extract.inputs import is_frame_folder

    (tmp_path / "f").mkdir()
    (tmp_path / "f" / f"000{suffix.upper()}").write_bytes(b"")
    record = SampleRecord(key="k", split="train", source="t", media="f")
    assert is_frame_folder(tmp_path / "f") and media_present(tmp_path, record)


# ---- the clip list --------------------------------------------------------------------------------------------------


def test_a_clip_list_reads_back_what_was_written(tmp_path):
    rows = [
        _clip_list.ClipRow("videos/a.b.mp4"),
        _clip_list.ClipRow("videos/long.mp4", "s1/part", 1.5, 4.25, "seconds"),
        _clip_list.ClipRow("/abs/frames", "s1/frames", 0, 10, "frames"),
        _clip_list.ClipRow("videos/tail.mp4", "tail", None, 3.0, "frames"),
    ]
    path = tmp_path / "lists" / "clips.csv"
    assert _clip_list.write_clip_list(rows, path) == 4
    assert path.read_text().splitlines()[:2] == [",".join(_clip_list.CLIP_COLUMNS), "videos/a.b.mp4,,,,"]
    got = _clip_list.read_clip_list(path)
    assert [p for p, _, _ in got] == [
        path.parent / "videos/a.b.mp4",
        path.parent / "videos/long.mp4",
        Path("/abs/frames"),
        path.parent / "videos/tail.mp4",
    ]
    assert [k for _, k, _ in got] == ["videos/a_b", "s1/part", "s1/frames", "tail"]
    assert [(r.start, r.end, r.unit) for _, _, r in got] == [
        (None, None, "seconds"),
        (1.5, 4.25, "seconds"),
        (0, 10, "frames"),
        (None, 3, "frames"),
    ]


def test_the_parsers_clip_list_is_the_one_extract_reads(tmp_path):
    from signkit.datasets.sources import write_clip_list
    from signkit.pose_extract import read_clip_list

    records = [
        SampleRecord(key="s/a", split="train", source="t", media="v/a.mp4", start=2, end=3.5),
        SampleRecord(key="s/b", split="dev", source="t", media="f/b", start=0, end=8, clip_unit="frames"),
    ]
    write_clip_list(records, tmp_path / "out" / "clips.csv", root=tmp_path / "raw")
    clips = read_clip_list(tmp_path / "out" / "clips.csv")
    assert [(c.key, c.start, c.end, c.unit) for c in clips] == [("s/a", 2, 3.5, "seconds"), ("s/b", 0, 8, "frames")]
    assert [c.path.resolve() for c in clips] == [(tmp_path / "raw" / r.media).resolve() for r in records]


# ---- URLs -----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "url", "local"),
    [
        ("s3://bucket/ds", True, None),
        ("https://host/ds", True, None),
        ("file:///data/ds", True, Path("/data/ds")),
        ("/data/ds", False, Path("/data/ds")),
        ("rel/ds", False, Path("rel/ds")),
        ("odd/name://x", False, Path("odd/name://x")),
        (Path("s3://bucket"), False, Path("s3://bucket")),  # a Path is never a URL
    ],
)
def test_one_meaning_of_url_and_of_file_urls(text, url, local):
    assert is_url(text) is url
    assert local_path(text) == local


def test_a_file_url_is_a_local_folder_for_datasets_and_an_fsspec_url_for_extract_outputs(tmp_path):
    from signkit.pose_extract.output import FsspecOutput, LocalOutput, open_output

    where = Location(f"file://{tmp_path}")
    assert not where.url and where.root == tmp_path
    assert isinstance(open_output(f"file://{tmp_path}/poses"), FsspecOutput)
    assert isinstance(open_output(tmp_path / "poses"), LocalOutput)


def test_info_reads_a_dataset_given_as_a_file_url(tmp_path):
    """Before one owner, `signkit info file:///...` took the folder for a pose file (is_url said no)."""
    import json

    from click.testing import CliRunner
    from conftest import make_pose

    from signkit.cli.main import cli
    from signkit.datasets import pack
    from signkit.pose import save_pose

    save_pose(make_pose(frames=5), tmp_path / "poses" / "a.npz")
    pack(
        tmp_path / "poses",
        tmp_path / "ds",
        labels=[SampleRecord(key="a", split="train", source="t", label=0)],
        classes=["x"],
    )
    out = CliRunner().invoke(cli, ["info", f"file://{tmp_path / 'ds'}", "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["samples"] == 1


# ---- sha256 and pickles ---------------------------------------------------------------------------------------------


def test_every_sha256_of_a_file_is_the_same_one(tmp_path):
    from signkit.datasets.manifest import sha256_file as manifest_sha
    from signkit.zoo.cache import sha256_file as zoo_sha

    data = os.urandom((1 << 22) + 123)  # more than one block
    (tmp_path / "f.bin").write_bytes(data)
    want = hashlib.sha256(data).hexdigest()
    assert sha256_file(tmp_path / "f.bin") == want == Location(tmp_path).sha256("f.bin")
    assert manifest_sha is sha256_file and zoo_sha is sha256_file


class _Evil:
    def __reduce__(self):
        return (os.system, ("true",))


def test_restricted_unpickling_builds_only_what_is_allowed():
    from signkit.datasets._unpickle import NUMPY_ARRAYS, NUMPY_SCALARS, restricted_load

    arrays = pickle.dumps({"keypoints": np.zeros((2, 3), np.float32), "n": np.int64(3)})
    assert restricted_load(io.BytesIO(arrays), NUMPY_ARRAYS)["keypoints"].shape == (2, 3)
    with pytest.raises(pickle.UnpicklingError, match="refusing to load numpy.*: scalars only"):
        restricted_load(io.BytesIO(arrays), NUMPY_SCALARS, ": scalars only")
    assert restricted_load(io.BytesIO(pickle.dumps({"n": np.int64(3), "s": ["a"]})), NUMPY_SCALARS) == {
        "n": 3,
        "s": ["a"],
    }
    with pytest.raises(pickle.UnpicklingError, match=r"refusing to load (posix|nt)\.system"):
        restricted_load(io.BytesIO(pickle.dumps(_Evil())), NUMPY_ARRAYS)


# ---- placement ------------------------------------------------------------------------------------------------------


def _imports(package: str) -> set[tuple[str, str]]:
    """``(module file, imported signkit module)`` for every import under ``signkit/<package>``, resolved."""
    found = set()
    for path in (PACKAGE / package).rglob("*.py"):
        parts = ["signkit", *path.relative_to(PACKAGE).with_suffix("").parts]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = parts[: len(parts) - node.level] if node.level else []
                name = ".".join([*base, *(node.module.split(".") if node.module else [])])
                found |= {(str(path), name)} | {(str(path), f"{name}.{a.name}") for a in node.names}
            elif isinstance(node, ast.Import):
                found |= {(str(path), a.name) for a in node.names}
    return found


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("pose_extract", ("signkit.datasets", "signkit.draw", "signkit.models")),
        ("datasets", ("signkit.pose_extract", "signkit.draw", "signkit.models")),
        (
            "models",
            (
                "signkit.datasets",
                "signkit.pose_extract",
                "signkit.zoo",
                "signkit.errors.DatasetError",
                "signkit.errors.ZooError",
            ),
        ),
    ],
)
def test_layers_import_only_what_lies_below(package, forbidden):
    bad = sorted(
        f"{Path(f).relative_to(PACKAGE)} imports {m}"
        for f, m in _imports(package)
        if any(m == x or m.startswith(x + ".") for x in forbidden)
    )
    assert not bad, bad


def test_the_test_clip_renderer_is_not_shipped():
    assert not list(PACKAGE.rglob("synthetic*.py"))
    assert not [f for f, m in _imports(".") if m.split(".")[0] in ("skimage", "matplotlib")]


def test_key_of_path_keeps_purepaths_rule_on_awkward_paths():
    """key_of_path does string work for speed (a rerun walks 10^5 files); its answers are PurePath's."""
    import random
    from pathlib import PurePath

    from signkit._keys import clean_key, key_of_path
    from signkit._media import VIDEO_SUFFIXES

    def by_purepath(text):
        rel = PurePath(text)
        rel = rel.with_suffix("") if rel.suffix.lower() in VIDEO_SUFFIXES else rel
        return clean_key(rel.as_posix(), ExtractError)

    rng = random.Random(0)
    pieces = list("ab./\\ ") + [".mp4", ".MOV", "..", "//", ".avi.mp4", "x."]
    for _ in range(20000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 8)))
        try:
            want = by_purepath(text)
        except ExtractError:
            want = ExtractError
        try:
            got = key_of_path(text, ExtractError)
        except ExtractError:
            got = ExtractError
        assert got == want, text
