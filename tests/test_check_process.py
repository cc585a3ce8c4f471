"""The checksum helper process: the loader's batches are checked there (Linux), one batch behind, never handed over
before their check; the same batches as inline checks; a helper that does not start or dies leaves the checks to
the loading process, with a warning, and still catches damage."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch
from test_integrity import _copy, _flip, _row
from test_integrity import packed as packed  # noqa: F401  (the fixture)

import signkit.datasets as sd
from signkit.datasets import _check_process
from signkit.errors import DatasetError

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the helper runs on Linux (memfd)")


@pytest.fixture
def fresh_helper(monkeypatch):
    """This process starts a new helper on first use (the module keeps one per process)."""
    monkeypatch.setattr(_check_process, "_helpers", {})
    yield
    for helper in _check_process._helpers.values():
        if helper is not None:
            helper.close()


def _batches(root, **loader):
    return list(sd.open(root, split="train", shuffle=False).loader(4, **loader))


def _inline(monkeypatch):
    monkeypatch.setitem(_check_process._helpers, os.getpid(), None)  # as off Linux


def test_the_helper_checks_the_loaders_batches_and_they_are_the_same_as_inline(packed, fresh_helper, monkeypatch):  # noqa: F811
    checked = _batches(packed)
    helper = _check_process._helpers[os.getpid()]
    assert isinstance(helper, _check_process.Helper) and helper._proc.poll() is None
    assert next(helper._jobs) == len(checked)  # one job per batch went to it
    _inline(monkeypatch)
    inline = _batches(packed)
    assert [b["key"] for b in checked] == [b["key"] for b in inline]
    for a, b in zip(checked, inline, strict=True):
        assert torch.equal(a["pose"], b["pose"]) and torch.equal(a["conf"], b["conf"])
        assert "_pending_checks" not in a  # the loader takes the checks out before handing the batch over


@pytest.mark.parametrize("member", ["pose", "conf"])
def test_a_damaged_batch_is_never_handed_over(packed, tmp_path, fresh_helper, member):  # noqa: F811
    root = _copy(packed, tmp_path / "ds")
    row = _row(root, index=1, shard="train-000001.tar")  # the 6th train sample: batch 2 of 4
    _flip(root, row, member)
    seen = []
    with pytest.raises(DatasetError, match=rf"sample '{row['key']}' is damaged \({row['key']}\.{member}\.npy"):
        for batch in sd.open(root, split="train", shuffle=False).loader(4):
            seen += batch["key"]
    assert len(seen) == 4 and row["key"] not in seen  # batch 1 came, batch 2 (the damaged one) did not
    assert isinstance(_check_process._helpers[os.getpid()], _check_process.Helper)  # the helper caught it


def test_a_helper_that_dies_leaves_the_checks_here_with_a_warning(packed, tmp_path, fresh_helper):  # noqa: F811
    want = _batches(packed)
    loader = iter(sd.open(packed, split="train", shuffle=False).loader(4))
    first = next(loader)
    helper = _check_process._helpers[os.getpid()]
    helper._proc.kill()
    helper._proc.wait()
    with pytest.warns(UserWarning, match="the checksum helper stopped"):
        rest = list(loader)
    assert [k for b in [first, *rest] for k in b["key"]] == [k for b in want for k in b["key"]]
    assert _check_process._helpers[os.getpid()] is None  # from now on, inline
    root = _copy(packed, tmp_path / "ds")
    row = _row(root)
    _flip(root, row)
    with pytest.raises(DatasetError, match=f"sample '{row['key']}' is damaged"):
        _batches(root)


def test_a_helper_that_does_not_start_leaves_the_checks_here(packed, tmp_path, fresh_helper, monkeypatch):  # noqa: F811
    def no_process(*args, **kwargs):
        raise OSError("no processes here")

    monkeypatch.setattr(_check_process.subprocess, "Popen", no_process)
    root = _copy(packed, tmp_path / "ds")
    with pytest.warns(UserWarning, match=r"the checksum helper did not start \(no processes here\)"):
        assert [b["key"] for b in _batches(root)] == [b["key"] for b in _batches(packed)]
    row = _row(root)
    _flip(root, row, "conf")
    with pytest.raises(DatasetError, match=f"sample '{row['key']}' is damaged"):
        _batches(root)


def test_streamed_batches_are_checked_by_the_helper_too(packed, tmp_path, fresh_helper, monkeypatch):  # noqa: F811
    monkeypatch.delattr("os.preadv")  # the streaming reader: samples copied into the batch, then checked there
    root = _copy(packed, tmp_path / "ds")
    assert [b["key"] for b in _batches(root)] == [b["key"] for b in _batches(packed)]
    helper = _check_process._helpers[os.getpid()]
    jobs = next(helper._jobs)
    assert jobs >= 2 * 5  # both passes' 5 batches went to the helper
    row = _row(root)
    _flip(root, row)
    with pytest.raises(DatasetError, match=f"sample '{row['key']}' is damaged"):
        _batches(root)


def test_the_checksum_cost_benchmark_runs_and_reports_every_path(packed, tmp_path):  # noqa: F811
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import checksum_cost

    bare = checksum_cost.copy_without_checksums(packed, tmp_path / "bare")
    assert not bare.joinpath("shards", "train-000000.tar").samefile(packed / "shards" / "train-000000.tar")
    result = checksum_cost.measure(packed, bare, workers=[0], rounds=2)
    text = checksum_cost.render([result], samples=19, rounds=2, note="")
    for path in ("loader, 0 workers", "streaming reader, 0 workers"):
        for cache in ("warm", "cold"):
            assert f"| {path} | {cache} |" in text
        cell = result["paths"][path][False]
        assert cell["helper"].shape == cell["in process"].shape == (2, 2)  # 19 samples: 1 batch of 32, 2 rounds
        assert (cell["helper"] > 0).all() and (cell["hash"] > 0).all()
    assert result["calibration"].shape == (2, 2) and "Goal (issue 15)" in text
