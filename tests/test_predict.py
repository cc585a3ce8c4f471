"""`signkit predict` / `signkit.predict`: pose files, videos (real MediaPipe), a packed split; ISLR, CSLR, SLT."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from conftest import make_pose
from safetensors.torch import save_model

import signkit
from signkit.cli.main import cli
from signkit.datasets import SampleRecord, pack
from signkit.errors import LayoutError
from signkit.inference import PredictWarning, estimator_for, predict
from signkit.models import create_model, get_config
from signkit.pose import save_pose

CLASSES = ["hello", "thanks", "yes", "no"]
GLOSSES = ["HELLO", "THANKS", "YES"]


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("SIGNKIT_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SIGNKIT_ZOO_REGISTRY", raising=False)
    monkeypatch.delenv("SIGNKIT_ZOO_MIRROR", raising=False)


def run_folder(model, folder: Path, **labels) -> Path:
    """A checkpoint as a training run leaves it (model.safetensors + model.json)."""
    folder.mkdir(parents=True)
    save_model(model, str(folder / "model.safetensors"))
    spec = {
        "config": model.config.to_dict(),
        "task": model.task,
        "num_classes": model.num_classes,
        "classes": [],
        "gloss_vocab": [],
        "language": "ase",
        **labels,
    }
    (folder / "model.json").write_text(json.dumps(spec))
    return folder


def perturbed(model):
    torch.manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model.eval()


@pytest.fixture(scope="module")
def islr_run(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    model = perturbed(create_model("sigma-tiny", task="islr", num_classes=len(CLASSES)))
    return run_folder(model, tmp_path_factory.mktemp("runs") / "islr", classes=CLASSES)


@pytest.fixture(scope="module")
def poses(tmp_path_factory) -> list[Path]:
    folder = tmp_path_factory.mktemp("poses")
    return [save_pose(make_pose(frames=6 + i, seed=i), folder / f"clip{i}.npz") for i in range(3)]


def test_islr_pose_files_give_top_k_classes_with_probabilities(islr_run, poses):
    out = predict(poses, islr_run, top_k=3)
    assert [p.key for p in out] == ["clip0", "clip1", "clip2"] and all(p.task == "islr" for p in out)
    for p in out:
        probs = [c["probability"] for c in p.classes]
        assert len(p.classes) == 3 and probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1 + 1e-6
        assert all(c["class"] == CLASSES[c["index"]] for c in p.classes) and p.flags == []
    # the same numbers as the model itself on the loader's batch of the same pose
    net = signkit.zoo.load(islr_run)
    from signkit.inference import _batch, _model_pose

    pose, _ = _model_pose(signkit.load_pose(poses[0]), net.config.layout, "x")
    idx, prob = net.eval().predict(_batch("clip0", pose, None), k=3)
    assert idx[0].tolist() == [c["index"] for c in out[0].classes]
    assert np.allclose(prob[0].numpy(), [c["probability"] for c in out[0].classes], atol=1e-6)
    assert len(signkit.predict(poses[:1], model=net)) == 1  # the top-level call, with a loaded model


def test_a_pose_file_and_the_same_pose_packed_get_the_same_answer(islr_run, poses, tmp_path):
    records = [SampleRecord(key=p.stem, split="test", source="t", label=i % len(CLASSES)) for i, p in enumerate(poses)]
    pack(poses[0].parent, tmp_path / "packed", labels=records, classes=CLASSES)
    from_files = {p.key: p.classes for p in predict(poses, islr_run)}
    from_data = {p.key: p.classes for p in predict(model=islr_run, data=tmp_path / "packed", split="test")}
    assert from_files.keys() == from_data.keys()
    for key, classes in from_files.items():  # one batch of three (padded) vs three of one: float rounding only
        assert [c["class"] for c in classes] == [c["class"] for c in from_data[key]]
        assert np.allclose([c["probability"] for c in classes], [c["probability"] for c in from_data[key]], atol=1e-5)


def test_cli_json_is_one_line_per_input_and_text_is_one_line_each(islr_run, poses):
    runner = CliRunner()
    result = runner.invoke(cli, ["predict", *map(str, poses), "--model", str(islr_run), "--json", "--top-k", "2"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.strip().splitlines()]
    assert [line["key"] for line in lines] == ["clip0", "clip1", "clip2"]
    assert all(len(line["classes"]) == 2 and line["task"] == "islr" for line in lines)
    text = runner.invoke(cli, ["predict", str(poses[0].parent), "--model", str(islr_run), "--top-k", "1"]).stdout
    assert len(text.strip().splitlines()) == 3 and text.startswith("clip0: ") and any(c in text for c in CLASSES)


def test_cslr_gives_the_gloss_sequence_and_slt_the_text(poses, tmp_path):
    torch.manual_seed(1)
    cslr = perturbed(create_model("sigma-tiny", task="cslr", num_classes=len(GLOSSES) + 1))
    run = run_folder(cslr, tmp_path / "cslr", gloss_vocab=GLOSSES)
    (p,) = predict(poses[:1], run)
    assert p.task == "cslr" and isinstance(p.glosses, list) and set(p.glosses) <= set(GLOSSES)
    net = signkit.zoo.load(run)
    from signkit.inference import _batch, _model_pose

    pose, _ = _model_pose(signkit.load_pose(poses[0]), net.config.layout, "x")
    ids = net.eval().predict(_batch("k", pose, None))[0]
    assert p.glosses == [GLOSSES[i - 1] for i in ids]
    (t,) = predict(poses[:1], "sigma-tiny", max_new_tokens=3, beams=2)
    assert t.task == "slt" and isinstance(t.text, str) and t.classes is None


def test_a_pose_without_a_person_is_answered_and_flagged(islr_run, tmp_path):
    empty = make_pose(frames=5)
    empty.conf[:] = 0
    path = save_pose(empty, tmp_path / "nobody.npz")
    with pytest.warns(PredictWarning, match="no person was detected; it is answered anyway"):
        (p,) = predict([path], islr_run)
    assert p.flags == ["no_person"] and len(p.classes) == 4
    result = CliRunner().invoke(cli, ["predict", str(path), "--model", str(islr_run)])
    assert result.exit_code == 0 and "[flagged: no_person]" in result.stdout
    assert "warning: " in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_bad_inputs_are_one_line_errors(islr_run, poses, tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    runner = CliRunner()
    for args, message in [
        ([str(tmp_path / "notes.txt")], "not a video"),
        ([str(tmp_path / "missing.npz")], "does not exist"),
        ([], "give inputs"),
        ([str(poses[0]), "--data", str(tmp_path)], "not both or neither"),
    ]:
        result = runner.invoke(cli, ["predict", *args, "--model", str(islr_run)])
        assert result.exit_code == 1 and message in result.stderr and "Traceback" not in result.output, args
        assert len(result.stderr.strip().splitlines()) == 1


def test_a_layout_the_model_cannot_take_names_both_layouts(islr_run, tmp_path, monkeypatch):
    from signkit.pose import mapping

    real = mapping.correspondence

    def no_refined(source, target):  # as for a layout signkit has no mapping for
        if source == "mediapipe-holistic-refined":
            raise LayoutError(f"no mapping from layout {source!r} to {target!r}")
        return real(source, target)

    monkeypatch.setattr(mapping, "correspondence", no_refined)
    path = save_pose(make_pose(frames=4, layout="mediapipe-holistic-refined"), tmp_path / "refined.npz")
    with pytest.raises(LayoutError) as err:
        predict([path], islr_run)
    message = str(err.value)
    assert "mediapipe-holistic-refined" in message and "(layout mediapipe-holistic)" in message


def test_every_model_layout_gets_an_estimator():
    for layout in ("mediapipe-holistic", "coco-wholebody-133"):
        name, writes = estimator_for(layout)
        assert name and writes in ("mediapipe-holistic", layout)


def test_a_coco_model_gets_rtmw_where_it_is_installed(monkeypatch):
    from signkit.pose_extract.estimators import ESTIMATORS

    monkeypatch.setattr(type(ESTIMATORS["rtmw"]), "installed", lambda self: True)
    assert estimator_for("coco-wholebody-133") == ("rtmw", "coco-wholebody-133")
    assert estimator_for("mediapipe-holistic") == ("mediapipe-holistic", "mediapipe-holistic")
    monkeypatch.setattr(type(ESTIMATORS["rtmw"]), "installed", lambda self: self.name != "rtmw")
    assert estimator_for("coco-wholebody-133") == ("mediapipe-holistic", "mediapipe-holistic")


def coco_islr_model():
    """A random sigma-tiny ISLR model (2 classes) that takes COCO-WholeBody-133 keypoints."""
    cfg = get_config("sigma-tiny")
    cfg.layout = "coco-wholebody-133"
    torch.manual_seed(0)
    model = create_model(cfg.validate(), task="islr", num_classes=2).eval()
    model.labels = {"classes": ["a", "b"]}
    return model


def test_a_video_through_rtmw_for_a_coco_model(tmp_path):
    """RTMW (generated ONNX models with the real ones' inputs and outputs) on a clip of a real photo: no warning
    that the model was trained on other keypoints, and the pose says which estimator made it."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    import rtmw_models
    from synthetic_clips import render_clip

    from signkit.pose_extract.rtmpose import RTMWConfig

    files = rtmw_models.write_models(tmp_path / "models")
    person = render_clip(tmp_path / "astronaut.mp4", "astronaut", frames=2)
    model = coco_islr_model()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = predict([person], model, top_k=2, estimator=RTMWConfig(det=str(files["det"]), pose=str(files["pose"])))
    assert not [w for w in caught if "trained on" in str(w.message)]
    assert out[0].frames == 2 and len(out[0].classes) == 2


def test_videos_are_extracted_on_the_fly_and_a_coco_model_is_warned(tmp_path, monkeypatch):
    """Real MediaPipe on a clip of a real photo and on a clip with nobody in it (black frames), where RTMW is not
    installed."""
    pytest.importorskip("mediapipe")
    from signkit.pose_extract.estimators import ESTIMATORS

    monkeypatch.setattr(type(ESTIMATORS["rtmw"]), "installed", lambda self: self.name != "rtmw")
    from synthetic_clips import render_clip

    from signkit.pose_extract.encode import write_video

    person = render_clip(tmp_path / "astronaut.mp4", "astronaut", frames=3)
    nobody = write_video([np.zeros((256, 256, 3), np.uint8)] * 3, tmp_path / "nobody.mp4", 25.0)
    model = coco_islr_model()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = predict([person, nobody], model, top_k=2)
    texts = [str(w.message) for w in caught if issubclass(w.category, PredictWarning)]
    assert sum("trained on coco-wholebody-133 keypoints" in t for t in texts) == 1, texts
    assert any("nobody.mp4: no person was detected" in t for t in texts)
    assert out[0].frames == 3 and "no_person" not in out[0].flags
    assert out[1].flags == ["no_person"] and len(out[1].classes) == 2
