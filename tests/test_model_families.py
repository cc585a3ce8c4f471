"""The model family table: a second architecture (the plain ST-GCN classifier) trained, reloaded and exported as
sigma-tiny is, through the same zoo / train / evaluate code."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner
from test_train_run import packed, small  # noqa: F401 (packed is a fixture)

from signkit import zoo
from signkit.cli.main import cli
from signkit.errors import ConfigError, ZooError
from signkit.models import (
    FAMILIES,
    SigmaConfig,
    STGCNClassifier,
    STGCNClassifierConfig,
    config_from_dict,
    config_to_dict,
    create_model,
    get_config,
    list_configs,
)
from signkit.train import evaluate, finetune
from signkit.train.checkpoint import latest_checkpoint


def batch(n: int = 3, t: int = 6, seed: int = 0) -> dict:
    """Shoulder-normalised-scale random poses in the MediaPipe Holistic layout, as the loader hands them over."""
    g = torch.Generator().manual_seed(seed)
    return {
        "pose": torch.randn(n, t, 543, 3, generator=g).half(),
        "conf": (0.5 + 0.5 * torch.rand(n, t, 543, generator=g)).half(),
        "mask": torch.ones(n, t, dtype=torch.bool),
        "label": torch.arange(n) % 3,
        "key": [f"k{i}" for i in range(n)],
    }


@pytest.mark.parametrize("name", list_configs())
def test_every_named_config_round_trips_through_json_with_its_family(name):
    cfg = get_config(name)
    data = json.loads(json.dumps(config_to_dict(cfg)))
    assert data["family"] in FAMILIES and config_from_dict(data) == cfg


def test_a_config_written_before_families_is_sigma_and_an_unknown_family_is_refused():
    legacy = get_config("sigma-tiny").to_dict()
    assert "family" not in legacy and isinstance(config_from_dict(legacy), SigmaConfig)
    with pytest.raises(ConfigError, match="unknown model family 'signbert'"):
        config_from_dict({**legacy, "family": "signbert"})
    with pytest.raises(ConfigError, match="unknown ST-GCN classifier config keys"):
        config_from_dict({"family": "stgcn-classifier", "text_model": {}})


@pytest.mark.parametrize("task", ["slt", "cslr", None])
def test_a_task_the_family_does_not_do_is_one_line(task):
    with pytest.raises(ConfigError) as e:
        create_model("stgcn-tiny", task, 4 if task == "cslr" else None)
    assert "\n" not in str(e.value) and "does islr only" in str(e.value) and "sigma" in str(e.value)


def test_stgcn_classifier_heads_and_padding():
    model = create_model("stgcn-tiny", "islr", 3).eval()
    assert isinstance(model, STGCNClassifier) and all(k.startswith(("stgcn.", "head.")) for k in model.state_dict())
    b = batch()
    with torch.no_grad():
        out = model(b)
        padded = {
            **b,
            "pose": torch.cat([b["pose"], torch.randn(3, 4, *b["pose"].shape[2:]).half()], 1),
            "conf": torch.cat([b["conf"], torch.ones(3, 4, b["conf"].shape[2]).half()], 1),
            "mask": torch.cat([b["mask"], torch.zeros(3, 4, dtype=torch.bool)], 1),
        }
        assert out.logits.shape == (3, 3) and out.loss > 0
        assert (model(padded).logits - out.logits).abs().max() < 1e-5  # padding never changes a real frame's output
    with pytest.raises(ConfigError, match="layout mediapipe-holistic"):
        model({**b, "pose": b["pose"][:, :, :133], "conf": b["conf"][:, :, :133]})
    with pytest.raises(ConfigError, match="temporal_kernel must be odd"):
        STGCNClassifierConfig(temporal_kernel=4).validate()


def test_stgcn_classifier_trains_reloads_evaluates_and_exports_to_identical_logits(packed, tmp_path):  # noqa: F811
    run = tmp_path / "run"
    cfg = small(
        packed,
        model="stgcn-tiny",
        from_scratch=True,
        max_steps=12,
        batch_size=8,
        lr=3e-3,
        eval_every=6,
        ckpt_every=6,
        warmup_steps=1,
    )
    res = finetune(cfg, run)
    assert res.state.step == 12 and latest_checkpoint(run).name == "step-0000012"
    losses = [
        json.loads(line)["loss"]
        for line in (run / "metrics.jsonl").read_text().splitlines()
        if "loss" in json.loads(line) and "top1" not in json.loads(line)
    ]
    assert len(losses) == 12 and sum(losses[-3:]) < sum(losses[:3]), losses
    meta = json.loads((run / "model.json").read_text())
    assert meta["config"]["family"] == "stgcn-classifier" and meta["num_classes"] == 3

    loaded = zoo.load(latest_checkpoint(run)).eval()
    assert isinstance(loaded, STGCNClassifier) and loaded.labels["classes"] == ["HELLO", "THANKS", "YES"]
    assert not loaded.load_report.new_keys and not loaded.load_report.discarded_keys
    relabelled = zoo.load(run, task="islr", num_classes=5).load_report  # another class list: a new head only
    assert relabelled.new_keys == ["head.fc.bias", "head.fc.weight", "head.norm.bias", "head.norm.weight"]
    exported = zoo.export(latest_checkpoint(run), None, tmp_path / "export")
    assert exported.entry.name == "stgcn-tiny.run" and exported.entry.arch == "stgcn-tiny"
    again = zoo.load(exported.folder).eval()
    b = batch(seed=7)
    with torch.no_grad():
        diff = (loaded(b).logits - again(b).logits).abs().max().item()
    assert diff == 0.0  # the export holds the same weights, bit for bit

    out = evaluate(latest_checkpoint(run), packed, split="test", out_dir=tmp_path / "eval")
    assert out.metrics["task"] == "islr" and out.metrics["samples"] == 3
    preds = [json.loads(x) for x in out.predictions.read_text().splitlines()]
    from signkit.train.data import DatasetSource

    source = DatasetSource(packed, "test", 16, training=False, max_frames=6, layout=loaded.config.layout)
    with torch.no_grad():
        probs = torch.cat([loaded(b).logits.float().softmax(-1) for b in source.batches(0)])
    assert [p["scores"][0] for p in preds] == pytest.approx(probs.max(-1).values.tolist(), abs=1e-6)
    from signkit import predict

    answers = predict(model=latest_checkpoint(run), data=packed, split="test", top_k=2)
    assert [a.classes[0]["probability"] for a in answers] == pytest.approx(probs.max(-1).values.tolist(), abs=1e-6)

    # a finetune of the ST-GCN run for another task is refused in one line, by the CLI too
    with pytest.raises(ZooError, match="does islr only, not task slt"):
        finetune(small(packed, model=str(run), task="slt"), tmp_path / "slt")
    r = CliRunner().invoke(
        cli,
        [
            "finetune",
            "--model",
            "stgcn-tiny",
            "--from-scratch",
            "--task",
            "slt",
            "--data",
            str(packed),
            "-o",
            str(tmp_path / "slt2"),
        ],
    )
    assert r.exit_code != 0 and "does islr only" in r.output and "Traceback" not in r.output
