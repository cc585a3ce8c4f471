"""The device benchmarks of issue 18 (benchmarks/device/), checked on CPU: the peak table, the lexicon staging that
fits a device transfer, and (slow) a dry run of every step with sigma-tiny and tiny shapes."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import lexicon_dir

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO / "benchmarks" / "device"))


def test_peak_table_reads_the_longest_matching_card_name():
    from train_step import PEAK_BF16_TFLOPS, peak_tflops

    assert peak_tflops("NVIDIA H200") == PEAK_BF16_TFLOPS["H200"] == 989.5
    assert peak_tflops("NVIDIA H200 NVL") == 835.5  # not the SXM part's peak
    assert peak_tflops("NVIDIA H100 PCIe") == 756.5
    assert peak_tflops("NVIDIA GeForce RTX 4090") is None  # unknown: no MFU rather than a guessed one


def test_lever_plan_measures_each_lever_alone_against_a_baseline():
    from train_step import lever_plan

    plan = lever_plan([16, 64], 256, "sigma-base", "cuda", 10, 3, 24)
    baselines = {(s.objective, s.batch) for s in plan if s.levers == "baseline"}
    assert {("lm", 16), ("lm", 64), ("full", 16), ("full", 64)} <= baselines
    for s in plan:
        if s.objective == "lm" and s.batch in (16, 64):
            assert s.levers.count(",") == 0, f"{s.levers}: one lever at a time"
    assert {"tokenize-per-step", "attn=eager", "compile=chains"} <= {s.levers for s in plan}


def test_staged_lexicon_fits_its_budget_and_keeps_every_language_it_can(tmp_path):
    from prepare import stage_lexicon

    src = lexicon_dir()
    info = stage_lexicon(src, tmp_path / "lex", 3_000_000)
    files = sorted((tmp_path / "lex").rglob("*.pose"))
    assert len(files) == info["files"] > 0 and sum(f.stat().st_size for f in files) == info["bytes"] <= 3_000_000
    with (tmp_path / "lex" / "index.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert {r["path"] for r in rows} == {f.relative_to(tmp_path / "lex").as_posix() for f in files}
    # round robin over the languages (index rows also mirror ASL files as fsl: count the folders)
    assert info["languages"] == len({r["path"].split("/")[0] for r in rows}) >= 8
    for f in files[:3]:  # copies, byte for byte
        assert f.read_bytes() == (src / f.relative_to(tmp_path / "lex")).read_bytes()


@pytest.mark.slow
def test_dry_run_of_every_device_step(tmp_path):
    """run_all.py --dry-run: sigma-tiny on CPU, 1-2 steps, a 14-file lexicon, extraction at 1 and 2 workers."""
    pytest.importorskip("mediapipe")
    from prepare import stage_lexicon

    stage_lexicon(lexicon_dir(), tmp_path / "lex", 3_000_000)
    out = tmp_path / "out"
    cmd = [
        sys.executable,
        str(REPO / "benchmarks" / "device" / "run_all.py"),
        "--out",
        str(out),
        "--dry-run",
        "--lexicon",
        str(tmp_path / "lex"),
        "--work",
        str(tmp_path / "work"),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["steps"]) == {"env", "train_step", "train_real", "parity", "extract"}
    assert all(s["status"] in ("ok", "skipped") for s in summary["steps"].values())
    assert summary["steps"]["train_step"]["status"] == "ok"
    rows = json.loads((out / "train_step.json").read_text())["rows"]
    assert {r["levers"] for r in rows} >= {"baseline", "tokenize-per-step", "attn=eager"}
    assert all(r["tflop_per_step"] > 0 and r["samples_per_s"] > 0 for r in rows)  # FLOPs counted, not zero
    real = json.loads((out / "train_real.json").read_text())["phases"]
    assert real["pack"]["samples"] == 14
    assert real["finetune"]["loss_curve"] and real["pretrain"]["loss_curve"]
    assert real["resume"]["passed"] and real["resume"]["checkpoint_at_kill"]
    scaling = json.loads((out / "extract_scaling.json").read_text())
    assert [r["workers"] for r in scaling["rows"]] == [1, 2]
    assert "summary (" in proc.stdout
