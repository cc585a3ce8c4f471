"""The shared progress display: a bar on a terminal, whole periodic lines (no carriage returns) in a log file."""

from __future__ import annotations

import io
import json

from click.testing import CliRunner
from test_train_run import packed  # noqa: F401 (fixture)

from signkit._progress import Progress, track
from signkit.cli.main import cli


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_log_file_gets_whole_lines_every_interval_and_at_the_end():
    log = io.StringIO()
    with Progress(10, desc="train", unit="step", stream=log, interval=0) as bar:
        for _ in range(3):
            bar.update(1)
        bar.set_postfix(loss="0.5")
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue() and len(lines) == 4  # 3 updates + the closing line
    assert lines[0].startswith("train: 1/10 step (10%)") and lines[-1].endswith("loss=0.5")
    quiet = io.StringIO()
    with Progress(10, stream=quiet, interval=3600) as bar:
        bar.update(5)
    assert quiet.getvalue().count("\n") == 1  # only the closing line within the interval
    off = io.StringIO()
    assert list(track(range(3), 3, enabled=False)) == [0, 1, 2]
    with Progress(10, stream=off, enabled=False) as bar:
        bar.update(5)
    assert off.getvalue() == ""


def test_a_terminal_gets_a_live_bar():
    tty = _Tty()
    with Progress(4, desc="x", stream=tty) as bar:
        bar.update(4)
    assert "\r" in tty.getvalue()


def test_finetune_output_in_a_log_has_no_carriage_returns(packed, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.setenv("SIGNKIT_PROGRESS_INTERVAL", "0")
    args = [
        "finetune",
        "--model",
        "sigma-tiny",
        "--data",
        str(packed),
        "--task",
        "islr",
        "-o",
        str(tmp_path / "r"),
        "--max-steps",
        "2",
        "--batch-size",
        "4",
        "--max-frames",
        "6",
        "--json",
    ]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0 and "\r" not in result.output, result.output
    assert "train: 2/2 step (100%)" in result.output
    assert json.loads(result.output[result.output.index("{") :])["steps"] == 2
