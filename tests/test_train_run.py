"""finetune / evaluate / pretrain end to end: a tiny packed dataset, the real sigma-tiny, the CLI."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner
from conftest import make_pose

from signkit.cli.main import cli
from signkit.datasets import SampleRecord, pack
from signkit.errors import ConfigError, DatasetError
from signkit.pose import save_pose
from signkit.train import TrainConfig, evaluate, finetune, resolve_config
from signkit.train.checkpoint import best_checkpoint, latest_checkpoint
from signkit.train.config import parse_override
from signkit.train.tasks import CSLRTask, LabelSpace

CLASSES = ["HELLO", "THANKS", "YES"]
SPLITS = ["train"] * 8 + ["dev"] * 3 + ["test"] * 3


@pytest.fixture(scope="module")
def packed(tmp_path_factory):
    """14 short clips, 3 classes (train 8, dev 3, test 3), packed with `signkit.datasets.pack`."""
    root = tmp_path_factory.mktemp("tiny")
    poses = root / "poses"
    poses.mkdir()
    records = []
    for i, split in enumerate(SPLITS):
        key = f"clip{i:02d}"
        label = i % 3
        save_pose(make_pose(frames=4 + i % 3, seed=i), poses / f"{key}.npz")
        records.append(
            SampleRecord(
                key=key,
                split=split,
                source="test",
                label=label,
                gloss=CLASSES[label],
                text=f"say {CLASSES[label].lower()}",
                language="ase",
            )
        )
    pack(poses, root / "packed", labels=records, classes=CLASSES)
    return root / "packed"


def small(data, **kw) -> TrainConfig:
    base = dict(
        task="islr",
        model="sigma-tiny",
        data=str(data),
        max_steps=3,
        batch_size=4,
        warmup_steps=1,
        eval_every=3,
        ckpt_every=2,
        log_every=1,
        progress=False,
        max_frames=6,
    )
    base.update(kw)
    return TrainConfig(**base)


def test_finetune_then_evaluate_writes_a_loadable_run(packed, tmp_path):
    run = tmp_path / "run"
    res = finetune(small(packed), run)
    assert res.state.step == 3 and set(res.last_eval) >= {"top1", "top5", "per_class_top1"}
    assert best_checkpoint(run) is not None and latest_checkpoint(run).name == "step-0000003"
    meta = json.loads((run / "model.json").read_text())
    assert meta["task"] == "islr" and meta["classes"] == CLASSES and meta["num_classes"] == 3
    # the run loads through the zoo (as `signkit zoo export` and `evaluate` do)
    from signkit import zoo

    model = zoo.load(run)
    assert model.task == "islr"
    out = evaluate(run, packed, split="test")
    m = out.metrics["metrics"]
    assert out.metrics["samples"] == 3 and 0 <= m["top1"] <= 100
    assert m["majority_baseline_top1"] == pytest.approx(100 / 3)  # train labels are 3,3,2 of classes 0,1,2
    preds = [json.loads(x) for x in out.predictions.read_text().splitlines()]
    assert [p["key"] for p in preds] == ["clip11", "clip12", "clip13"]
    assert all(p["pred_gloss"] in CLASSES and len(p["topk"]) == 3 for p in preds)
    assert out.metrics_file == run / "eval-test" / "metrics.json"


@pytest.mark.parametrize("task, primary", [("cslr", "wer"), ("slt", "bleu4")])
def test_cslr_and_slt_finetune_and_evaluate(packed, tmp_path, task, primary):
    run = tmp_path / task
    res = finetune(small(packed, task=task, max_steps=2, eval_every=2, extra={"max_length": 8}), run)
    assert primary in res.last_eval
    out = evaluate(run, packed, split="test")
    preds = [json.loads(x) for x in out.predictions.read_text().splitlines()]
    assert len(preds) == 3 and all({"ref", "hyp"} <= set(p) for p in preds)
    assert preds[0]["ref"] == ("YES" if task == "cslr" else "say yes")  # clip11: label 11 % 3 = 2


def test_a_run_exports_as_a_zoo_entry(packed, tmp_path):
    from signkit import zoo

    finetune(small(packed, max_steps=1, dev_split=None), tmp_path / "run")
    exported = zoo.export(tmp_path / "run", "sigma-tiny.test-run", tmp_path / "export", arch="sigma-tiny")
    model = zoo.load(exported.folder)
    assert model.task == "islr" and model.num_classes == 3
    # a second export over the first is refused unless asked (it used to overwrite silently)
    args = ["zoo", "export", str(tmp_path / "run"), "--name", "sigma-tiny.test-run", "-o", str(tmp_path / "export")]
    refused = CliRunner().invoke(cli, args)
    assert refused.exit_code == 1 and "--overwrite" in refused.output
    replaced = CliRunner().invoke(cli, [*args, "--overwrite", "--json"])
    assert replaced.exit_code == 0, replaced.output
    out = json.loads(replaced.output)
    assert out["name"] == "sigma-tiny.test-run" and out["files"][0]["sha256"] == exported.entry.files[0].sha256


def test_resume_refuses_changed_options_and_new_run_refuses_used_dir(packed, tmp_path):
    run = tmp_path / "run"
    finetune(small(packed, max_steps=2, dev_split=None), run)
    with pytest.raises(ConfigError, match="lr"):
        finetune(small(packed, max_steps=2, dev_split=None, lr=1.0), run, resume=True)
    with pytest.raises(ConfigError, match="--resume"):
        finetune(small(packed, max_steps=2, dev_split=None), run)


def test_a_failed_start_does_not_block_the_corrected_command(packed, tmp_path):
    """Issue 14.6: a start that failed on a fixable option left config.json, and the fix was refused."""
    run = tmp_path / "run"
    with pytest.raises(ConfigError, match="--batch-size"):
        finetune(small(packed, batch_size=100, dev_split=None), run)
    assert (run / "config.json").is_file() and latest_checkpoint(run) is None
    res = finetune(small(packed, max_steps=1, dev_split=None), run)  # corrected, without --resume
    assert res.state.step == 1
    again = tmp_path / "again"
    with pytest.raises(ConfigError):
        finetune(small(packed, batch_size=100, dev_split=None), again)
    res = finetune(small(packed, max_steps=1, dev_split=None), again, resume=True)  # corrected, with --resume
    assert res.state.step == 1 and json.loads((again / "config.json").read_text())["batch_size"] == 4


def test_config_file_and_overrides(tmp_path):
    (tmp_path / "c.json").write_text(json.dumps({"lr": 0.001, "max_steps": 50, "task": "cslr"}))
    items = ["warmup_steps=3", "dev_split=none", "betas=[0.9,0.95]"]
    cfg = resolve_config(tmp_path / "c.json", {"max_steps": 7}, items)
    assert (cfg.lr, cfg.max_steps, cfg.warmup_steps, cfg.dev_split, cfg.task) == (0.001, 7, 3, None, "cslr")
    assert cfg.betas == (0.9, 0.95)
    with pytest.raises(ConfigError, match="unknown training option"):
        parse_override("learning_rate=1")
    with pytest.raises(ConfigError):
        TrainConfig(task="detect")


@pytest.mark.parametrize(
    "items, file, message",
    [
        (["lr=abc"], None, "lr must be a number, got 'abc'"),
        ([], {"lr": "fast"}, "lr must be a number, got 'fast'"),
        (["max_steps=2.5"], None, "max_steps must be a whole number"),
        (["tensorboard=3"], None, "tensorboard must be true or false"),
        (["dev_split=3"], None, "dev_split must be a string or none"),
        (["betas=[0.9]"], None, "betas must be two numbers"),
        ([], {"extra": [1]}, "extra must be a table"),
        ([], {"batch_size": True}, "batch_size must be a whole number"),
    ],
)
def test_every_training_option_is_type_checked(tmp_path, items, file, message):
    """Issue 14.9: `--set lr=abc` or {"lr": "fast"} in --train-config was a TypeError traceback."""
    path = None
    if file is not None:
        path = tmp_path / "c.json"
        path.write_text(json.dumps(file))
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        resolve_config(path, {}, items)


def test_numbers_of_a_config_file_take_the_option_type(tmp_path):
    cfg = resolve_config(None, {}, ["lr=1", "max_steps=1e3", "head_lr=none"])
    assert (cfg.lr, type(cfg.lr), cfg.max_steps, type(cfg.max_steps), cfg.head_lr) == (1.0, float, 1000, int, None)


def test_cli_wrong_type_is_one_line(tmp_path):
    result = CliRunner().invoke(
        cli, ["finetune", "--data", str(tmp_path), "-o", str(tmp_path / "r"), "--set", "lr=abc"], catch_exceptions=False
    )
    assert result.exit_code == 1 and result.output.strip() == "Error: training option lr must be a number, got 'abc'"


def test_cslr_targets_from_glosses():
    task = CSLRTask(LabelSpace(gloss_vocab=["A", "B", "C"]))
    assert task.num_classes == 4  # blank + 3
    batch = task.prepare({"key": ["x", "y"], "gloss": ["A C", "B"]}, training=True)
    assert batch["targets"].tolist() == [[1, 3], [2, 0]] and batch["target_lengths"].tolist() == [2, 1]
    assert task.decode([3, 0, 1]) == "C A"
    with pytest.raises(DatasetError, match="'D'"):
        task.prepare({"key": ["x"], "gloss": ["A D"]}, training=True)


def test_cli_finetune_resume_and_evaluate(packed, tmp_path):
    runner = CliRunner()
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
        "--no-progress",
        "--json",
    ]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["steps"] == 2
    again = runner.invoke(cli, args)  # same command without --resume: refused with a one-line hint
    assert again.exit_code != 0 and "--resume" in again.output
    resumed = runner.invoke(cli, [*args, "--resume"])
    assert resumed.exit_code == 0, resumed.output
    ev = runner.invoke(cli, ["evaluate", str(tmp_path / "r"), "--data", str(packed), "--split", "dev", "--json"])
    assert ev.exit_code == 0, ev.output
    assert json.loads(ev.output)["metrics"]["samples"] == 3


def test_pretrain_runs_sigma_objectives(packed, tmp_path):
    from signkit.train import pretrain

    res = pretrain(small(packed, task="pretrain", max_steps=2, eval_every=2), tmp_path / "pre")
    assert res.state.step == 2
    logged = [json.loads(x) for x in (tmp_path / "pre" / "metrics.jsonl").read_text().splitlines()]
    assert {"hal_global", "hal_local", "sgt_stm", "sgt_lm"} <= set(logged[0])
    assert "loss" in res.last_eval and torch.isfinite(torch.tensor(res.last_eval["loss"]))


def test_sigma_tiny_resume_after_crash_matches_uninterrupted(packed, tmp_path, monkeypatch):
    """Exact resume with the real model and reader (random crops, shuffling, T5 dropout)."""
    from safetensors.torch import load_file

    from signkit.train import data as data_mod

    cfg = small(packed, max_steps=4, ckpt_every=3, dev_split=None, max_frames=4)
    finetune(cfg, tmp_path / "ref")
    original = data_mod.DatasetSource.batches
    seen = {"n": 0}

    def crashing(self, epoch):
        for batch in original(self, epoch):
            seen["n"] += 1
            if seen["n"] > 3:  # after step 3 and its checkpoint (epoch 1, batch 1 of 2), before step 4
                raise KeyboardInterrupt
            yield batch

    monkeypatch.setattr(data_mod.DatasetSource, "batches", crashing)
    with pytest.raises(KeyboardInterrupt):
        finetune(cfg, tmp_path / "b")
    monkeypatch.setattr(data_mod.DatasetSource, "batches", original)
    assert latest_checkpoint(tmp_path / "b").name == "step-0000003"
    finetune(cfg, tmp_path / "b", resume=True)
    ref = load_file(str(latest_checkpoint(tmp_path / "ref") / "model.safetensors"))
    got = load_file(str(latest_checkpoint(tmp_path / "b") / "model.safetensors"))
    assert ref.keys() == got.keys()
    for k in ref:
        torch.testing.assert_close(got[k], ref[k], atol=1e-6, rtol=1e-5, msg=k)


@pytest.mark.slow
def test_cli_finetune_under_torchrun_two_processes(packed, tmp_path):
    """The same command under torchrun (2 gloo CPU processes) with the real sigma-tiny: trains, checkpoints, and the
    run evaluates. (Equality with one process is tested with a model without batch statistics in test_train_loop:
    Sigma's masked batch norm computes its statistics per rank, as DDP does without SyncBatchNorm.)"""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env["OMP_NUM_THREADS"] = "1"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "2",
        "-m",
        "signkit",
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
        "3",
        "--batch-size",
        "4",
        "--max-frames",
        "6",
        "--eval-every",
        "3",
        "--no-progress",
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert latest_checkpoint(tmp_path / "r").name == "step-0000003"
    logged = [json.loads(x) for x in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    assert [x["step"] for x in logged if x["event"] == "eval"] == [3]  # rank 0 alone writes the log
    assert evaluate(tmp_path / "r", packed, split="test").metrics["samples"] == 3


def test_finetune_starts_from_the_pretrained_release_unless_from_scratch(packed):
    from signkit import zoo
    from signkit.train.run import build_model
    from signkit.train.tasks import make_task

    task = make_task("islr", LabelSpace(CLASSES, [], "ase"))
    released = zoo.load("sigma-tiny", task="islr", num_classes=3).state_dict()
    pretrained = build_model("sigma-tiny", task).state_dict()
    scratch = build_model("sigma-tiny", task, from_scratch=True).state_dict()
    backbone = [k for k in released if not k.startswith("head.")]
    assert backbone and all(torch.equal(pretrained[k], released[k]) for k in backbone)
    assert not all(torch.equal(scratch[k], released[k]) for k in backbone)
    with pytest.raises(ConfigError, match="from-scratch"):
        build_model("sigma-tiny.fs-lexicon", task, from_scratch=True)


def test_an_interrupted_save_is_no_checkpoint_for_resume_load_or_evaluate(packed, tmp_path):
    """Issue 16: zoo.load called a checkpoint complete on its weights where resume required state.json."""
    from signkit import zoo
    from signkit.errors import ZooError

    run = tmp_path / "run"
    finetune(small(packed, max_steps=1, dev_split=None), run)
    step = latest_checkpoint(run)
    (step / "state.json").unlink()  # the weights were written, the save was cut before its state
    assert latest_checkpoint(run) is None
    with pytest.raises(ZooError, match="no complete checkpoint"):
        zoo.load(run)
    with pytest.raises(ZooError, match="incomplete checkpoint"):
        zoo.load(step)
    with pytest.raises(ZooError, match="no complete checkpoint"):
        evaluate(run, packed, split="test")
    with pytest.warns(UserWarning, match="no complete checkpoint is left: starting again from step 0"):
        res = finetune(small(packed, max_steps=1, dev_split=None), run, resume=True)  # nothing to resume
    assert res.state.step == 1 and latest_checkpoint(run) == step
    assert zoo.load(run).task == "islr"
