"""The run-folder layout's one owner (`signkit._run_folder`): what a complete checkpoint is, which one a reader takes,
where a run's model.json is found, for every path a user may give."""

from __future__ import annotations

from pathlib import Path

from signkit import _run_folder as rf
from signkit.zoo.exporting import default_name


def make_run(root: Path, steps: dict[int, bool], latest: int | None, best: int | None = None) -> Path:
    """A run folder: ``steps`` maps a step to whether its checkpoint is complete (weights + state.json)."""
    ckpts = rf.checkpoint_dir(root)
    ckpts.mkdir(parents=True)
    (root / rf.MODEL_JSON).write_text("{}")
    for step, complete in steps.items():
        folder = ckpts / rf.step_name(step)
        folder.mkdir()
        (folder / rf.WEIGHTS).write_bytes(b"w")
        if complete:
            (folder / rf.STATE).write_text("{}")
    for pointer, step in ((rf.LATEST, latest), (rf.BEST, best)):
        if step is not None:
            (ckpts / pointer).write_text(rf.step_name(step) + "\n")
    return root


def test_a_reader_takes_the_complete_best_else_the_complete_latest(tmp_path):
    run = make_run(tmp_path / "a", {1: True, 2: True}, latest=2, best=1)
    assert rf.checkpoint_to_read(run).name == "step-0000001"
    run = make_run(tmp_path / "b", {1: False, 2: True}, latest=2, best=1)  # best's save was cut: take latest
    assert rf.checkpoint_to_read(run).name == "step-0000002" and rf.pointed(run, rf.BEST) is None
    run = make_run(tmp_path / "c", {1: True, 2: False}, latest=2)
    assert rf.checkpoint_to_read(run) is None and not rf.is_complete(rf.checkpoint_dir(run) / "step-0000002")
    run = make_run(tmp_path / "d", {}, latest=None)
    assert rf.is_run(run) and rf.checkpoint_to_read(run) is None


def test_model_json_and_run_name_for_a_run_its_checkpoints_their_weights_and_a_loose_folder(tmp_path):
    run = make_run(tmp_path / "My Run", {3: True}, latest=3)
    step = rf.checkpoint_dir(run) / "step-0000003"
    for path in (run, step, step / rf.WEIGHTS):
        assert rf.run_of(path) == run and rf.run_file(path, rf.MODEL_JSON) == run / rf.MODEL_JSON
        assert default_name("stgcn-tiny", path) == "stgcn-tiny.my-run"
    loose = tmp_path / "loose"
    loose.mkdir()
    (loose / rf.WEIGHTS).write_bytes(b"w")
    assert rf.run_of(loose) is None and rf.run_file(loose / rf.WEIGHTS, rf.MODEL_JSON) is None
    (loose / rf.MODEL_JSON).write_text("{}")
    assert rf.run_file(loose, rf.MODEL_JSON) == rf.run_file(loose / rf.WEIGHTS, rf.MODEL_JSON) == loose / rf.MODEL_JSON


def test_the_zoo_reads_the_run_folder_without_importing_train():
    from test_shared_rules import _imports

    bad = sorted(f"{f} imports {m}" for f, m in _imports("zoo") if m.split(".")[:2] == ["signkit", "train"])
    assert not bad, bad
