"""`signkit demo`: the README's main-job command on the clips embedded in the package."""

from __future__ import annotations

import pytest

from signkit.demo import STEPS, asset_clips, run_demo


def test_embedded_clips_are_small_and_documented():
    clips = asset_clips()
    assert {c.name for c in clips} == {"astronaut.mp4", "grace_hopper.mp4"}
    assert sum(c.stat().st_size for c in clips) < 1_000_000
    readme = (clips[0].parent / "README.md").read_text()
    assert "public domain" in readme and all(c.name in readme for c in clips)
    assert [s.name for s in STEPS][:3] == ["extract", "check", "show"]


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
