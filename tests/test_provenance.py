"""Provenance across stages: the estimators a dataset's poses came from reach the checkpoint trained on it, and a
model warns (once) when fed poses of another estimator (issue 13, item 4)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import torch
from conftest import make_pose
from safetensors.torch import save_model

from signkit.datasets import SampleRecord, pack, read_dataset_json
from signkit.inference import PredictWarning, predict
from signkit.models import create_model, get_config
from signkit.pose import save_pose


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("SIGNKIT_HOME", str(tmp_path / "home"))


def made_by(pose, name: str):
    pose.meta["extractor"] = {"name": name, "version": "1", "model_sha256": "ab" * 32}
    return pose


@pytest.fixture
def poses(tmp_path) -> list[Path]:
    folder = tmp_path / "poses"
    folder.mkdir()
    return [
        save_pose(made_by(make_pose(frames=6, seed=i), "mediapipe-holistic"), folder / f"c{i}.npz") for i in range(4)
    ]


def rtmw_model(tmp_path: Path) -> Path:
    cfg = get_config("sigma-tiny")
    cfg.estimators = ["rtmw"]
    torch.manual_seed(0)
    model = create_model(cfg.validate(), task="islr", num_classes=2).eval()
    folder = tmp_path / "run"
    folder.mkdir()
    save_model(model, str(folder / "model.safetensors"))
    spec = {
        "config": model.config.to_dict(),
        "task": "islr",
        "num_classes": 2,
        "classes": ["a", "b"],
        "gloss_vocab": [],
        "language": None,
    }
    (folder / "model.json").write_text(json.dumps(spec))
    return folder


def test_the_dataset_names_its_estimators(tmp_path, poses):
    records = [SampleRecord(key=p.stem, split="train", source="t", label=i % 2) for i, p in enumerate(poses)]
    pack(poses[0].parent, tmp_path / "packed", labels=records, classes=["a", "b"])
    assert read_dataset_json(tmp_path / "packed").estimators == ["mediapipe-holistic"]


def test_the_mismatch_rule():
    cfg = get_config("sigma-tiny")
    assert cfg.estimator_mismatch(["rtmw"], "d") is None  # not recorded: nothing to compare
    cfg.estimators = ["rtmw"]
    assert cfg.estimator_mismatch(["rtmw"], "d") is None and cfg.estimator_mismatch([], "d") is None
    line = cfg.estimator_mismatch(["mediapipe-holistic"], "packed/x")
    assert "packed/x was extracted with mediapipe-holistic" in line and "--estimator rtmw" in line


def test_predict_warns_once_when_poses_come_from_another_estimator(tmp_path, poses):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = predict(poses, str(rtmw_model(tmp_path)), top_k=1)
    texts = [str(w.message) for w in caught if issubclass(w.category, PredictWarning)]
    assert len(out) == 4 and sum("trained on poses from rtmw" in t for t in texts) == 1, texts


def test_finetune_records_the_estimators_of_its_data(tmp_path, poses):
    from signkit.train import TrainConfig, finetune

    records = [SampleRecord(key=p.stem, split="train", source="t", label=i % 2) for i, p in enumerate(poses)]
    pack(poses[0].parent, tmp_path / "packed", labels=records, classes=["a", "b"])
    config = TrainConfig(
        model="sigma-tiny",
        data=str(tmp_path / "packed"),
        task="islr",
        batch_size=2,
        max_steps=1,
        dev_split="",
        num_workers=0,
    )
    finetune(config, tmp_path / "ft")
    spec = json.loads((tmp_path / "ft" / "model.json").read_text())
    assert spec["config"]["estimators"] == ["mediapipe-holistic"]
