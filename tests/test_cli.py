import json
import subprocess
import sys

from click.testing import CliRunner
from conftest import make_pose

import signkit
from signkit.cli.main import COMMANDS, cli
from signkit.pose import save_pose


def test_version_and_help_on_every_command():
    runner = CliRunner()
    result = runner.invoke(cli, ["--version"])
    assert result.exit_code == 0 and signkit.__version__ in result.output
    for name in COMMANDS:
        result = runner.invoke(cli, [name, "--help"])
        assert result.exit_code == 0, (name, result.output)
        assert "Example" in result.output, f"`signkit {name} --help` should show an example"


def test_info_json(tmp_path):
    save_pose(make_pose(frames=7), tmp_path / "p.npz")
    result = CliRunner().invoke(cli, ["info", str(tmp_path / "p.npz"), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["frames"] == 7 and summary["layout"] == "mediapipe-holistic"


def test_user_error_is_one_line_without_traceback(tmp_path):
    (tmp_path / "broken.npz").write_bytes(b"junk")
    proc = subprocess.run(
        [sys.executable, "-m", "signkit", "info", str(tmp_path / "broken.npz")], capture_output=True, text=True
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "broken.npz" in proc.stderr


def test_ctrl_c_in_training_says_resume(monkeypatch, tmp_path):
    """Issue 14: Ctrl-C in finetune said "rerun the same command", which is then refused without --resume."""
    import signkit.train

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(signkit.train, "finetune", interrupted)
    result = CliRunner().invoke(cli, ["finetune", "--data", str(tmp_path), "-o", str(tmp_path / "run")])
    assert result.exit_code == 130 and "with --resume" in result.output


def test_training_help_shows_the_config_defaults():
    from signkit.train import TrainConfig

    for name in ("finetune", "pretrain"):
        out = " ".join(CliRunner().invoke(cli, [name, "--help"]).output.split())
        assert f"[default: {TrainConfig.max_steps}]" in out and f"[default: {TrainConfig.lr}]" in out, out


def test_the_wlasl100_flow_packs_the_wlasl100_subset():
    """Issue 14.8: README's and `datasets --help`'s WLASL100 flow packed all 2000 classes."""
    from pathlib import Path

    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    helptext = CliRunner().invoke(cli, ["datasets", "--help"]).output
    lines = [ln for ln in (readme + helptext).splitlines() if "signkit pack" in ln and "wlasl100" in ln]
    assert len(lines) >= 2 and all("--subset WLASL100" in ln for ln in lines), lines


def test_datasets_clips_and_poses_json(tmp_path):
    from test_sources_cli import release

    raw = tmp_path / "lsa64"
    raw.mkdir()
    (raw / "001_001_001.mp4").write_bytes(b"")
    out = CliRunner().invoke(
        cli, ["datasets", "clips", "lsa64", "--root", str(raw), "-o", str(tmp_path / "c.csv"), "--json"]
    )
    assert out.exit_code == 0, out.output
    assert json.loads(out.output) == {"clip_list": str(tmp_path / "c.csv"), "rows": 1, "missing": [], "skipped": []}
    root = release(tmp_path, "asl-signs")
    args = ["datasets", "poses", "asl-signs", "--root", str(root), "-o", str(tmp_path / "poses"), "--json"]
    first, again = (json.loads(CliRunner().invoke(cli, args).output) for _ in range(2))
    assert (first["written"], first["kept"], again["written"], again["kept"]) == (3, 0, 0, 3)


def test_info_prints_words_and_tables_not_reprs(tmp_path):
    from click.testing import CliRunner
    from conftest import make_pose

    from signkit.cli.main import cli
    from signkit.datasets import SampleRecord, pack
    from signkit.pose import save_pose

    save_pose(make_pose(frames=5), tmp_path / "poses" / "a.npz")
    out = CliRunner().invoke(cli, ["info", str(tmp_path / "poses" / "a.npz")]).output
    assert "{" not in out and "detected: body" in out
    pack(
        tmp_path / "poses",
        tmp_path / "ds",
        labels=[SampleRecord(key="a", split="train", source="t", label=0)],
        classes=["x"],
    )
    out = CliRunner().invoke(cli, ["info", str(tmp_path / "ds")]).output
    assert "{" not in out and any(line.split()[:2] == ["train", "1"] for line in out.splitlines())
