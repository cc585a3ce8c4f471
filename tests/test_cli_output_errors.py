"""One CLI rule for outputs that cannot be written: every command that writes prints one line, never a traceback.

Issue 14.5: `-o` naming a file (or a path under a file) was a traceback from pack, show, finetune, evaluate and
`zoo export`. The tests run as root here, so a read-only folder cannot be made with chmod; the errno hints
(read-only filesystem, permission, full disk) are checked on the message function itself.
"""

from __future__ import annotations

import errno
import json
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import make_pose

from signkit.cli.main import cli, os_error_message
from signkit.datasets import SampleRecord, pack
from signkit.pose import save_pose
from signkit.zoo.registry import dumps_registry

CLASSES = ["HELLO", "THANKS", "YES"]


def write_registry(path, *models: dict):
    path.write_text(dumps_registry({"schema": 1, "model": list(models)}), encoding="utf-8")
    return path


def entry(name: str, url: str) -> dict:
    return {
        "name": name,
        "arch": "sigma-tiny",
        "files": [{"name": "model.safetensors", "url": url, "size": 3, "sha256": "0" * 64}],
    }


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """Poses, a packed dataset, a one-step run, a registry file and a file that blocks every output path."""
    root = tmp_path_factory.mktemp("outerr")
    poses = root / "poses"
    poses.mkdir()
    records = []
    for i, split in enumerate(["train"] * 4 + ["dev"] * 2):
        save_pose(make_pose(frames=5, seed=i), poses / f"c{i}.npz")
        records.append(
            SampleRecord(
                key=f"c{i}", split=split, source="t", label=i % 3, gloss=CLASSES[i % 3], text="say hi", language="ase"
            )
        )
    pack(poses, root / "packed", labels=records, classes=CLASSES)
    raw = root / "lsa64"
    raw.mkdir()
    (raw / "001_001_001.mp4").write_bytes(b"")
    (root / "blocker").write_text("a file, not a folder")
    from signkit.pose_extract.encode import write_video

    write_video([np.zeros((48, 64, 3), np.uint8)] * 2, root / "v.mp4")
    return root


def _train(kind: str, work, out: str) -> list[str]:
    model = ["--model", "sigma-tiny", "--task", "islr"] if kind == "finetune" else ["--config", "sigma-tiny"]
    return [
        kind,
        *model,
        "--data",
        str(work / "packed"),
        "-o",
        out,
        "--max-steps",
        "1",
        "--batch-size",
        "2",
        "--max-frames",
        "4",
        "--no-progress",
        "--set",
        "dev_split=none",
    ]


def _run_dir(work) -> str:
    run = work / "run"
    if not (run / "model.json").is_file():
        result = CliRunner().invoke(cli, _train("finetune", work, str(run)), catch_exceptions=False)
        assert result.exit_code == 0, result.output
    return str(run)


COMMANDS = {
    "extract": lambda w, b: ["extract", str(w / "v.mp4"), "-o", f"{b}/poses"],
    "extract --log": lambda w, b: ["extract", str(w / "v.mp4"), "-o", str(w / "p1"), "--log", f"{b}/log.jsonl"],
    "pack": lambda w, b: ["pack", str(w / "poses"), "-o", f"{b}/ds"],
    "show": lambda w, b: ["show", str(w / "poses" / "c0.npz"), "-o", f"{b}/c0.png"],
    "finetune": lambda w, b: _train("finetune", w, f"{b}/run"),
    "pretrain": lambda w, b: _train("pretrain", w, f"{b}/run"),
    "evaluate": lambda w, b: ["evaluate", _run_dir(w), "--data", str(w / "packed"), "--split", "dev", "-o", f"{b}/e"],
    "zoo export": lambda w, b: ["zoo", "export", _run_dir(w), "--arch", "sigma-tiny", "-o", b],
    "datasets clips": lambda w, b: ["datasets", "clips", "lsa64", "--root", str(w / "lsa64"), "-o", f"{b}/c.csv"],
    "datasets poses": lambda w, b: ["datasets", "poses", "fingerspelling-lexicon", "-o", f"{b}/poses"],
    "demo": lambda w, b: ["demo", "-o", f"{b}/demo"],
}


@pytest.mark.parametrize("name", list(COMMANDS))
def test_an_output_under_a_file_is_one_line_for_every_command_that_writes(name, work, tmp_path, monkeypatch):
    monkeypatch.setenv("SIGNKIT_HOME", str(tmp_path / "home"))
    args = COMMANDS[name](work, str(work / "blocker"))
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 1, result.output
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("Error: ") and "blocker" in last and "Traceback" not in result.output, result.output


@pytest.mark.parametrize("command", [["zoo", "download", "sigma-tiny.lab"], ["zoo", "add", "REG"]])
def test_an_unwritable_signkit_home_is_one_line(command, work, tmp_path, monkeypatch):
    """(The shipped sigma-tiny needs no cache at all: it is read from the package.)"""
    monkeypatch.setenv("SIGNKIT_HOME", str(work / "blocker" / "home"))
    (tmp_path / "w.safetensors").write_bytes(b"abc")
    reg = write_registry(tmp_path / "lab.toml", entry("sigma-tiny.lab", "w.safetensors"))
    if command[1] == "download":
        monkeypatch.setenv("SIGNKIT_ZOO_REGISTRY", str(reg))
    result = CliRunner().invoke(cli, [str(reg) if a == "REG" else a for a in command], catch_exceptions=False)
    assert result.exit_code == 1 and result.output.startswith("Error: "), result.output
    assert len(result.output.strip().splitlines()) == 1 and "blocker" in result.output


def test_os_error_message_names_the_path_and_the_fix():
    ro = os_error_message(OSError(errno.EROFS, "Read-only file system", "/mnt/ro/out"))
    assert (
        ro == "/mnt/ro/out: Read-only file system (read-only; choose a writable output path, or SIGNKIT_HOME "
        "for the zoo cache)"
    )
    assert "you can write" in os_error_message(PermissionError(errno.EACCES, "Permission denied", "/x"))
    assert "no space left" in os_error_message(OSError(errno.ENOSPC, "No space left on device", "/x"))
    assert os_error_message(OSError("odd\nerror")) == "odd error"
    moved = os_error_message(OSError(errno.EXDEV, "Invalid cross-device link", "/a", None, "/b"))
    assert moved == "/a -> /b: Invalid cross-device link"
    assert json.dumps(ro)  # plain text, one line


def test_a_reader_that_leaves_early_is_no_error():
    """`signkit datasets list | head -3` printed "Error: Broken pipe" (a BrokenPipeError is an OSError)."""
    command = [sys.executable, "-m", "signkit", "datasets", "list"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader is gone before the command writes its first line
    _, err = proc.communicate(timeout=120)
    assert err.decode() == "" and proc.returncode == 141
