"""`signkit zoo ...` commands: thin wrappers, one-line errors, exit status."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from click.testing import CliRunner
from test_zoo_download import PAYLOAD, entry, sha, use_registry, zoo_env  # noqa: F401 (autouse fixture)

from signkit.cli.main import cli


def run(*args: str):
    return CliRunner().invoke(cli, ["zoo", *args], catch_exceptions=False)


def test_list_info_download_path_verify_remove(monkeypatch, tmp_path):
    (tmp_path / "w.safetensors").write_bytes(PAYLOAD)
    use_registry(monkeypatch, tmp_path, entry("lab.cli", "w.safetensors", licence="MIT"))
    rows = {r["name"]: r for r in json.loads(run("list", "--json").output)}
    assert rows["lab.cli"]["cached"] is False and rows["sigma-base.paper"]["released"] is False
    assert rows["lab.cli"]["licence"] == "MIT"
    tiny = rows["sigma-tiny.fs-lexicon"]  # numbers and booleans, not display strings ("1.4M", "islr (2)")
    assert isinstance(tiny["params"], int) and tiny["num_classes"] is None and tiny["task"] == "pretrain"
    info = json.loads(run("info", "lab.cli", "--json").output)
    assert info["files"][0]["sha256"] == sha(PAYLOAD) and info["cached"] is False
    assert run("path", "lab.cli").exit_code == 1
    result = run("download", "lab.cli")
    assert result.exit_code == 0, result.output
    path = result.output.strip().splitlines()[-1]
    assert run("path", "lab.cli").output.strip() == path
    assert run("verify", "lab.cli").output.strip() == "model.safetensors: ok"
    assert {r["name"]: r for r in json.loads(run("list", "--json").output)}["lab.cli"]["cached"] is True
    assert "removed 1 file(s)" in run("remove", "lab.cli").output
    assert run("verify", "lab.cli").exit_code == 1


def test_add_layers_a_registry_for_good(tmp_path):
    from test_zoo_download import write_registry

    (tmp_path / "w.safetensors").write_bytes(PAYLOAD)
    reg = write_registry(tmp_path / "lab.toml", entry("lab.added", "w.safetensors"))
    assert "added lab.added" in run("add", str(reg)).output
    reg.unlink()  # the copy lives in $SIGNKIT_HOME, with the relative URL made absolute
    assert run("download", "lab.added").exit_code == 0


def test_list_reads_well_in_80_columns(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    lines = run("list").output.splitlines()
    assert lines and max(len(ln) for ln in lines) <= 80
    row = next(ln for ln in lines if ln.startswith("sigma-tiny.fs-lexicon"))
    assert row.split()[1:5] == ["pretrain", "-", "1.4M", "MIT"]  # nothing cut to "pretr…"


def test_add_keeps_registries_of_the_same_file_name_and_refuses_a_clash(tmp_path):
    """Issue 14.7: adding labA/lab.toml then labB/lab.toml silently replaced the first."""
    from test_zoo_download import write_registry

    for lab in ("labA", "labB"):
        (tmp_path / lab).mkdir()
        (tmp_path / lab / "w.safetensors").write_bytes(PAYLOAD)
        reg = write_registry(tmp_path / lab / "lab.toml", entry(f"{lab.lower()}.m", "w.safetensors"))
        assert run("add", str(reg)).exit_code == 0
    names = {r["name"] for r in json.loads(run("list", "--json").output)}
    assert {"laba.m", "labb.m"} <= names
    again = run("add", str(tmp_path / "labA" / "lab.toml"), "--json")  # the same file again: updates its copy
    assert again.exit_code == 0 and json.loads(again.output)["added"] == ["laba.m"]
    (tmp_path / "labC").mkdir()
    clash = write_registry(tmp_path / "labC" / "lab.toml", entry("laba.m", "/elsewhere/w.safetensors"))
    refused = CliRunner().invoke(cli, ["zoo", "add", str(clash)])
    assert refused.exit_code == 1 and "laba.m is already added by" in refused.output and "labA" in refused.output
    shadow = write_registry(tmp_path / "labC" / "lab.toml", entry("sigma-tiny.fs-lexicon", "/x/w.safetensors"))
    said = run("add", str(shadow))
    assert said.exit_code == 0 and "sigma-tiny.fs-lexicon now replaces the built-in entry" in said.output


def test_sigma_base_error_is_one_line_and_exit_1(tmp_path):
    env = {**os.environ, "SIGNKIT_HOME": str(tmp_path / "home")}
    env.pop("SIGNKIT_ZOO_REGISTRY", None)
    env.pop("SIGNKIT_ZOO_MIRROR", None)
    proc = subprocess.run(
        [sys.executable, "-m", "signkit", "zoo", "download", "sigma-base"], capture_output=True, text=True, env=env
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "have not released" in proc.stderr and "signkit pretrain --config sigma-base" in proc.stderr


def test_every_zoo_subcommand_has_an_example():
    from signkit.cli.zoo import zoo_group

    for name in zoo_group.commands:
        out = run(name, "--help").output
        assert "Example" in out, name


def test_rgb_pose_entries_carry_their_caveat_in_list_and_info():
    caveat = "RGB branch dropped: outputs differ from the authors'; fine-tune before use"
    rows = {r["name"]: r for r in json.loads(run("list", "--json").output)}
    assert rows["unisign.csl-daily-slt"]["caveat"] == caveat and rows["unisign.wlasl2000-islr"]["caveat"] == caveat
    assert not rows["geosign.csl-daily-slt"]["caveat"] and not rows["unisign.how2sign-slt"]["caveat"]
    table = run("list").output
    assert "unisign.csl-daily-slt *" in table and f"* {caveat}" in " ".join(table.split())
    assert "geosign.csl-daily-slt *" not in table
    assert caveat in run("info", "unisign.wlasl2000-islr").output
    info = json.loads(run("info", "geosign.csl-daily-slt", "--json").output)
    assert info["licence"] == "README shows an MIT badge; the repository has no LICENSE file"
    assert {(m["metric"], m["split"], m["value"]) for m in info["metrics"]} >= {
        ("BLEU-4", "test", 27.42),
        ("ROUGE-L", "test", 57.95),
    }
    assert json.loads(run("info", "unisign.how2sign-slt", "--json").output)["files"][0]["pattern"]
