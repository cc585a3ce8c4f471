"""`signkit demo`: the README's main-job command on the clips embedded in the package."""

from __future__ import annotations

import subprocess
import sys

import pytest

from signkit.demo import STEPS, asset_clips, run_demo


def test_embedded_clips_are_small_and_documented():
    clips = asset_clips()
    assert {c.name for c in clips} == {"astronaut.mp4", "grace_hopper.mp4"}
    assert sum(c.stat().st_size for c in clips) < 1_000_000
    readme = (clips[0].parent / "README.md").read_text()
    assert "public domain" in readme and all(c.name in readme for c in clips)
    assert [s.name for s in STEPS] == ["extract", "check", "show", "pack", "finetune", "evaluate", "words", "cslr"]


def test_importing_the_demo_does_not_import_torch():
    code = "import sys, signkit.demo; sys.exit(1 if 'torch' in sys.modules else 0)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0, "import signkit.demo pulled in torch"


@pytest.mark.slow
def test_demo_runs_end_to_end(tmp_path):
    pytest.importorskip("mediapipe")
    lines = []
    results = run_demo(tmp_path, echo=lines.append)
    assert results["extract"]["ok"] == 2
    for clip in ("astronaut", "grace_hopper"):
        assert results["check"]["detected"][clip]["body"] == 1.0
        assert (tmp_path / "show" / f"{clip}.mp4").stat().st_size > 0
    assert len(lines) == len(STEPS)
    again = run_demo(tmp_path, echo=lines.append)  # rerunning resumes: nothing is extracted twice
    assert again["extract"]["skipped"] == 2


def test_each_step_prints_one_readable_line():
    from signkit.demo import describe

    line = describe("check", {"detected": {"astronaut": {"body": 1.0, "face": 0.25}}, "seconds": 0.013})
    assert line == "check     detected (astronaut (body 1.0, face 0.25)) (0.0 s)"
    summary = "test top-1 28.8% vs majority-class baseline 3.4%"
    assert describe("evaluate", {"summary": summary, "top1": 28.8, "seconds": 1.23}) == f"evaluate  {summary} (1.2 s)"


@pytest.mark.slow
def test_demo_model_steps_beat_the_majority_class(tmp_path):
    """The demo's ISLR half on the real fingerspelling lexicon (19 sign languages)."""
    pytest.importorskip("spoken_to_signed")
    from signkit.demo import DemoContext, _model

    ctx = DemoContext(tmp_path)
    assert _model.pack_step(ctx)["samples"] == 600
    assert _model.finetune_step(ctx)["steps"] == _model.DEMO_TRAIN["max_steps"]
    result = _model.evaluate_step(ctx)
    assert result["top1"] > 2 * result["majority_baseline_top1"], result["summary"]
    assert _model.finetune_step(ctx)["steps"] == _model.DEMO_TRAIN["max_steps"]  # rerun: resumes, trains nothing


@pytest.mark.slow
def test_demo_cslr_step_beats_empty_output_on_unseen_words(tmp_path):
    """The demo's CSLR half: fingerspelled words composed from the real letter clips, letter WER on unseen words."""
    pytest.importorskip("spoken_to_signed")
    pytest.importorskip("wordfreq")
    from signkit.demo import DemoContext, _model

    ctx = DemoContext(tmp_path)
    words = _model.words_step(ctx)
    assert words["words"] == 80 and words["composed"] == 80
    result = _model.cslr_step(ctx)
    assert result["baseline_wer_empty"] == 100.0 and result["baseline_wer_most_frequent"] > 50.0
    floor = min(result["baseline_wer_empty"], result["baseline_wer_most_frequent"])
    assert result["wer"] < 0.5 * floor, result["summary"]  # measured: 15.4 % vs 89.7 % (most frequent word)
    assert _model.words_step(ctx)["reused"]  # rerun: nothing composed or packed again
