"""A Uni-Sign-family pre-training checkpoint (as `geosign.csl-news-pretrain` is) starts `finetune --task islr|cslr|slt`
like any entry."""

from __future__ import annotations

import warnings

import pytest
import torch
from conftest import make_pose
from test_zoo_download import write_registry, zoo_env  # noqa: F401 (autouse fixture)
from test_zoo_load import small_mt5, unisign_state_dict

from signkit.datasets import SampleRecord, pack
from signkit.models import SigmaConfig, create_model
from signkit.pose import save_pose
from signkit.train import TrainConfig, finetune
from signkit.zoo import load


@pytest.fixture
def pretrain_entry(tmp_path, monkeypatch) -> tuple[str, dict]:
    """A pose-only Uni-Sign-shaped pre-training .pth (small mT5) behind a registry entry like the built-in one."""
    cfg = small_mt5()
    model = create_model(SigmaConfig.from_dict(cfg), task="slt")
    text_sd = {k.removeprefix("text_model."): v for k, v in model.state_dict().items() if k.startswith("text_model.")}
    sd = unisign_state_dict(text_sd, rgb=False)
    torch.save({"model": sd}, tmp_path / "pretraining.pth")
    overrides = {"tokenizer": "byt5", "text_model": cfg["text_model"], "signef_layers": [0]}  # the small mT5's
    entry = {
        "name": "geosign.test-pretrain",
        "arch": "sigma-base",
        "format": "unisign",
        "task": "pretrain",
        "layout": "coco-wholebody-133",
        "config_overrides": overrides,
        "files": [{"name": "pretraining.pth", "url": "pretraining.pth", "pin": "first-download"}],
    }
    monkeypatch.setenv("SIGNKIT_ZOO_REGISTRY", str(write_registry(tmp_path / "reg.toml", entry)))
    return "geosign.test-pretrain", sd


@pytest.fixture
def packed(tmp_path):
    (tmp_path / "poses").mkdir()
    records = []
    for i in range(6):
        save_pose(make_pose(frames=6, seed=i), tmp_path / "poses" / f"c{i}.npz")
        records.append(
            SampleRecord(
                key=f"c{i}",
                split="train" if i < 4 else "test",
                source="t",
                label=i % 2,
                gloss=["A", "B"][i % 2],
                text=["a", "b"][i % 2],
            )
        )
    pack(tmp_path / "poses", tmp_path / "packed", labels=records, classes=["A", "B"])
    return tmp_path / "packed"


@pytest.mark.parametrize("task", ["islr", "cslr", "slt"])
def test_finetune_starts_from_the_pose_only_pretraining_checkpoint(pretrain_entry, packed, tmp_path, task):
    name, sd = pretrain_entry
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the first-download pin warning
        start = load(name, task=task, num_classes={"islr": 2, "cslr": 3}.get(task))
    report = start.load_report
    assert all(k.startswith(("head.", "signef.", "hal.", "stm_head.")) for k in report.new_keys), report.summary()
    assert any(k.startswith("sign_encoder.gcn_modules.") for k in report.loaded)
    assert any(k.startswith("text_model.encoder.") for k in report.loaded)
    config = TrainConfig(
        task=task,
        model=name,
        data=str(packed),
        max_steps=1,
        batch_size=2,
        warmup_steps=0,
        eval_every=1,
        ckpt_every=1,
        log_every=1,
        progress=False,
        max_frames=6,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = finetune(config, tmp_path / "run")
    assert (tmp_path / "run" / "model.json").is_file() and result is not None
    state = start.state_dict()  # the backbone is the checkpoint's, tensor for tensor
    for ours, theirs in [
        ("sign_encoder.proj_linear.body.weight", "proj_linear.body.weight"),
        (
            "text_model.encoder.block.0.layer.0.SelfAttention.q.weight",
            "mt5_model.encoder.block.0.layer.0.SelfAttention.q.weight",
        ),
    ]:
        assert torch.equal(state[ours], sd[theirs]), ours
