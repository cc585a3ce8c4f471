"""signkit reproduces Uni-Sign's own outputs on a Uni-Sign checkpoint and Uni-Sign pickles (issue 12, item 8).

`tests/fixtures/unisign/reference.npz` holds what Uni-Sign's own code (``models.py``, ``datasets.py`` @2c9028f,
run by ``tests/fixtures/unisign/make_reference.py``) computed on the pickles in ``fixtures/unisign/pickles`` with a
tiny mT5 checkpoint (its keys and shapes in ``keys.json``, its values seeded by ``build.fill_state``). Here signkit
takes the user's path: pack the pickles, load the ``.pth`` by path, run the model; part inputs, sign features and
teacher-forced logits must agree within 1e-3 relative, the loss too, and the generated ids exactly.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import signkit
from signkit.datasets import pack
from signkit.zoo import load

FIXTURE = Path(__file__).parent / "fixtures" / "unisign"
sys.path.insert(0, str(FIXTURE))
import build  # noqa: E402

PARTS = {"body": "body", "left_hand": "left", "right_hand": "right", "face": "face_all"}
TOL = 1e-3


def rel(a: torch.Tensor | np.ndarray, ref: np.ndarray) -> float:
    a = a.detach().float().numpy() if isinstance(a, torch.Tensor) else a
    assert a.shape == ref.shape, (a.shape, ref.shape)
    return float(np.abs(a - ref).max() / max(np.abs(ref).max(), 1e-12))


@pytest.fixture(scope="module")
def ref() -> dict[str, np.ndarray]:
    with np.load(FIXTURE / "reference.npz") as f:
        return {k: f[k] for k in f.files}


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    spec = json.loads((FIXTURE / "keys.json").read_text())
    path = build.write_checkpoint(tmp_path_factory.mktemp("ckpt") / "best_checkpoint.pth", spec)
    return load(path, tokenizer=str(FIXTURE / "tokenizer")).eval()


def packed(tmp: Path, poses: Path) -> Path:
    labels = tmp / "labels.jsonl"
    build.write_labels(labels)
    pack(poses, tmp / "packed", labels=labels, fps=25)
    return tmp / "packed"


def batches_of(root: Path, size: int = 1) -> list[dict]:
    return list(signkit.datasets.open(root, split="test").loader(batch_size=size))


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """The stored pickles, packed as a user would (``signkit pack POSES --labels FILE --fps 25``)."""
    return packed(tmp_path_factory.mktemp("pickles"), FIXTURE / "pickles")


@pytest.fixture(scope="module")
def batches(dataset) -> dict[str, dict]:
    return {b["key"][0]: b for b in batches_of(dataset)}


def test_loaded_by_path_as_unisign(model):
    cfg = model.config
    assert cfg.sign_encoder.input_transform == "uni-sign" and cfg.prompt_eos and cfg.label_smoothing == 0.2
    assert (cfg.num_beams, cfg.max_new_tokens) == (4, 100)
    assert model.task == "slt" and not model.load_report.discarded_keys


def test_prompt_ids(model, ref):
    assert model.prompt_ids("csl").tolist() == ref["prompt_ids/Chinese"].tolist()  # CSL data: "... to Chinese: "
    assert model.prompt_ids("ase").tolist() == ref["prompt_ids/English"].tolist()
    assert ref["prompt_ids/English"][-1] == model.tokenizer.eos_token_id


@pytest.mark.parametrize("clip", [c[0] for c in build.CLIPS])
def test_parity(model, batches, ref, clip):
    batch = batches[clip]
    with torch.no_grad():
        parts = model.part_inputs(batch)
        for part, theirs in PARTS.items():
            assert rel(parts[part][0], ref[f"{clip}/part/{theirs}"]) <= TOL, part
        assert rel(model.sign_features(batch)[0], ref[f"{clip}/features"]) <= TOL
        logits, loss = model.text_logits(batch)
    assert rel(logits[0], ref[f"{clip}/logits"]) <= TOL
    assert abs(float(loss) - float(ref[f"{clip}/loss"])) <= TOL * float(ref[f"{clip}/loss"])
    assert model.tokenize([batch["text"][0]])[0][0].tolist() == ref[f"{clip}/target_ids"].tolist()
    assert model.generate(batch, num_beams=1)[0].tolist() == ref[f"{clip}/greedy_ids"].tolist()
    assert model.generate(batch)[0].tolist() == ref[f"{clip}/beam4_ids"].tolist()  # defaults: beam 4, 100 tokens


def test_batched_equals_alone(model, dataset, ref):
    """Masked padding: a clip's features in a padded batch are Uni-Sign's batch-of-one features (Uni-Sign's own
    batching, which repeats the last frame, moves them; the fixture records by how much)."""
    (batch,) = batches_of(dataset, len(build.CLIPS))
    with torch.no_grad():
        feats = model.sign_features(batch)
        beams = model.generate(batch)  # as `signkit evaluate` decodes: one padded batch
    for i, key in enumerate(batch["key"]):
        t = int(batch["length"][i])
        assert rel(feats[i, :t], ref[f"{key}/features"]) <= TOL
        theirs = ref[f"{key}/beam4_ids"].tolist()
        assert beams[i, : len(theirs)].tolist() == theirs and not beams[i, len(theirs) :].any()
    assert float(ref["batched_feature_shift"]) > 10 * TOL


def test_pixel_coordinates_with_frame_size(model, ref, tmp_path):
    """The same clips extracted in pixels (frame size stored) give the same part inputs: the aspect is undone."""
    from signkit.datasets.inputs import load_unisign_pickle

    poses = tmp_path / "poses"
    poses.mkdir()
    for name, (w, h), *_ in build.CLIPS:
        pose = load_unisign_pickle(FIXTURE / "pickles" / f"{name}.pkl", fps=25)
        pose.coords[..., 0] *= w
        pose.coords[..., 1] *= h
        pose.meta["frame_size"] = [w, h]
        signkit.save_pose(pose, poses / f"{name}.npz")
    frames = {name: list(frame) for name, frame, *_ in build.CLIPS}
    for batch in batches_of(packed(tmp_path, poses)):
        clip = batch["key"][0]
        assert batch["frame_size"][0].tolist() == frames[clip]
        with torch.no_grad():
            parts = model.part_inputs(batch)
        for part, theirs in PARTS.items():
            assert rel(parts[part][0], ref[f"{clip}/part/{theirs}"]) <= TOL, (clip, part)
