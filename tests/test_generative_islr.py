"""Generative ISLR (Uni-Sign's way: the model writes the word) and evaluate's decoding defaults."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner
from conftest import make_pose
from safetensors.torch import save_model

from signkit.cli.main import cli
from signkit.datasets import SampleRecord, pack
from signkit.models import create_model, get_config
from signkit.pose import save_pose
from signkit.train import evaluate
from signkit.train.tasks import GenerativeISLRTask, LabelSpace, decoding, make_task

CLASSES = ["a lot", "book", "drink"]


class Writer:
    """A model that writes given words (what an SLT model's predict returns), recording how it was asked."""

    def __init__(self, words):
        self.words, self.calls = list(words), []

    def predict(self, batch, **decode):
        self.calls.append(decode)
        return [self.words.pop(0) for _ in batch["key"]]


def test_written_words_are_scored_per_instance_and_per_class_as_unisign_does():
    task = make_task("islr-generative", LabelSpace(CLASSES), {"beam_size": 4, "max_length": 100})
    assert isinstance(task, GenerativeISLRTask) and task.num_classes == 3
    labels = [0, 0, 0, 1, 2, 2]
    model = Writer(["a lot", " a lot ", "book", "book", "drink", "drinks"])
    batch = {"key": [f"k{i}" for i in range(6)], "label": torch.tensor(labels)}
    preds = task.predict(model, batch)
    assert model.calls == [{"beam_size": 4, "max_length": 100}]
    assert [p["pred"] for p in preds] == [0, 0, 1, 1, 2, -1] and preds[5]["hyp"] == "drinks"
    assert [p["ref"] for p in preds] == ["a lot", "a lot", "a lot", "book", "drink", "drink"]
    scores = task.score(preds)
    # P-I: 4 of 6 right; P-C: mean of 2/3 ("a lot"), 1/1 ("book"), 1/2 ("drink") -- Uni-Sign's islr_performance
    assert scores["top1"] == pytest.approx(100 * 4 / 6)
    assert scores["per_class_top1"] == pytest.approx(100 * (2 / 3 + 1 + 1 / 2) / 3)
    assert scores["samples"] == 6


def test_decoding_defaults_come_from_the_config_in_one_place():
    cfg = get_config("sigma-tiny")
    expected_beams = getattr(cfg, "num_beams", 1)
    expected_new = getattr(cfg, "max_new_tokens", None) or cfg.max_text_tokens
    assert decoding(cfg) == {"beam_size": expected_beams, "max_length": expected_new}
    assert decoding(cfg, beams=4, max_new_tokens=100) == {"beam_size": 4, "max_length": 100}


@pytest.fixture(scope="module")
def islr_data(tmp_path_factory):
    """An ISLR dataset (classes, no texts), and an SLT run (a model that writes text)."""
    root = tmp_path_factory.mktemp("gen")
    (root / "poses").mkdir()
    records = []
    for i in range(4):
        save_pose(make_pose(frames=5, seed=i), root / "poses" / f"c{i}.npz")
        records.append(SampleRecord(key=f"c{i}", split="train" if i < 2 else "test", source="t", label=i % 3))
    pack(root / "poses", root / "packed", labels=records, classes=CLASSES)
    torch.manual_seed(0)
    model = create_model("sigma-tiny", task="slt")
    run = root / "slt-run"
    run.mkdir()
    save_model(model, str(run / "model.safetensors"))
    (run / "model.json").write_text(
        json.dumps(
            {
                "config": model.config.to_dict(),
                "task": "slt",
                "num_classes": None,
                "classes": [],
                "gloss_vocab": [],
                "language": None,
            }
        )
    )
    return root / "packed", run


def test_a_text_writing_model_on_a_dataset_with_classes_is_scored_as_generative_islr(islr_data, tmp_path):
    data, run = islr_data
    out = evaluate(run, data, split="test", out_dir=tmp_path / "e", max_new_tokens=3)
    assert out.metrics["task"] == "islr-generative"
    assert set(out.metrics["metrics"]) >= {"top1", "per_class_top1", "majority_baseline_top1"}
    lines = [json.loads(line) for line in out.predictions.read_text().splitlines()]
    assert [line["ref"] for line in lines] == [CLASSES[2], CLASSES[0]] and all("hyp" in line for line in lines)
    args = [
        "evaluate",
        str(run),
        "--data",
        str(data),
        "--split",
        "test",
        "-o",
        str(tmp_path / "c"),
        "--beams",
        "2",
        "--max-new-tokens",
        "2",
        "--json",
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["task"] == "islr-generative"


def test_translations_of_chinese_sign_language_are_scored_by_character():
    """A CSL dataset's manifest says language "csl" (the sign language); its texts are Chinese and are scored at
    character level, as Uni-Sign/Geo-Sign score CSL-Daily (before: whole sentences were one token each)."""
    preds = [
        {"key": "a", "ref": "今天天气很冷。", "hyp": "今天天气冷。"},
        {"key": "b", "ref": "我很累。", "hyp": "我有点累。"},
    ]
    csl = make_task("slt", LabelSpace(language="csl")).score(preds)
    zh = make_task("slt", LabelSpace(language="zh")).score(preds)
    assert csl == zh and csl["bleu1"] > 50
