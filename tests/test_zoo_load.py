"""Strict loading, export -> add -> download -> load round trips, and the Uni-Sign converter.

Models are sigma-tiny (CPU, seconds). The round trip downloads over the local HTTP server of test_zoo_download.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_model
from test_zoo_download import FAST, ZooServer, zoo_env  # noqa: F401 (zoo_env is an autouse fixture)

from signkit.errors import ZooError
from signkit.models import create_model, get_config
from signkit.pose import get_layout
from signkit.zoo import add_registry, download, export, load, load_state_dict_strict, read_checkpoint
from signkit.zoo.convert_unisign import convert_unisign


def make_batch(layout: str = "mediapipe-holistic", b: int = 2, t: int = 12, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    k = get_layout(layout).num_points
    mask = torch.ones(b, t, dtype=torch.bool)
    mask[1, t - 3 :] = False
    return {"pose": torch.randn(b, t, k, 3, generator=g) * 0.5, "conf": torch.rand(b, t, k, generator=g), "mask": mask}


@pytest.fixture(scope="module")
def trained_islr() -> torch.nn.Module:
    torch.manual_seed(0)
    model = create_model("sigma-tiny", task="islr", num_classes=5)
    with torch.no_grad():  # make every tensor distinct from a fresh init, so a skipped key would show
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.01)
    return model.eval()


def write_run_like(model, folder: Path) -> Path:
    """A checkpoint as a training run leaves it: model.safetensors + a model.json saying how to rebuild it."""
    folder.mkdir(parents=True)
    save_model(model, str(folder / "model.safetensors"))
    spec = {
        "config": model.config.to_dict(),
        "task": model.task,
        "num_classes": model.num_classes,
        "classes": ["a", "b", "c", "d", "e"],
        "gloss_vocab": [],
        "language": "ase",
    }  # as signkit.train writes
    (folder / "model.json").write_text(json.dumps(spec))
    return folder / "model.safetensors"


def test_export_add_download_load_round_trip_gives_identical_outputs(trained_islr, tmp_path):
    weights = write_run_like(trained_islr, tmp_path / "run")
    server = ZooServer()
    try:
        result = export(
            weights,
            "sigma-tiny.test-islr",
            tmp_path / "out",
            url_base=server.url + "/releases",
            licence="CC-BY-4.0",
            pretrained_on="synthetic",
            command="pytest",
        )
        for path in result.folder.iterdir():
            server.files[f"/releases/sigma-tiny.test-islr/{path.name}"] = path.read_bytes()
        card = (result.folder / "README.md").read_text()
        assert "pytest" in card and result.entry.files[0].sha256 in card
        add_registry(result.registry)
        downloaded = download("sigma-tiny.test-islr", FAST)
        assert downloaded.weights.read_bytes() == result.weights.read_bytes()
        assert len(server.gets("/releases/sigma-tiny.test-islr/model.safetensors")) == 1
        model = load("sigma-tiny.test-islr", options=FAST).eval()
    finally:
        server.close()
    assert model.task == "islr" and model.num_classes == 5
    assert model.labels == {"classes": ["a", "b", "c", "d", "e"], "language": "ase"}
    assert model.load_report.new_keys == [] and model.load_report.discarded_keys == []
    batch = make_batch()
    with torch.no_grad():
        assert torch.equal(model(batch).logits, trained_islr(batch).logits)
    _, meta = read_checkpoint(result.weights)
    info = json.loads(meta["signkit"])
    assert info["config"]["name"] == "sigma-tiny" and info["task"] == "islr" and info["num_classes"] == 5
    alone = load(result.weights)  # the weights file alone carries its config and task
    assert alone.task == "islr" and alone.load_report.new_keys == []


def test_equal_weights_export_to_equal_bytes_in_any_process(tmp_path):
    """safetensors orders metadata keys per process; the exporter writes one key and stores tied tensors once."""
    code = (
        "import sys, torch; from signkit.zoo.exporting import write_weights; torch.manual_seed(0); "
        "m = torch.nn.Module(); m.a = torch.nn.Linear(4, 4); m.b = m.a; m.c = torch.nn.Linear(4, 2); "
        "write_weights(m, __import__('pathlib').Path(sys.argv[1]), {'k': 1, 'z': [1, 2], 'a': 'x'})"
    )
    for i in range(3):
        subprocess.run([sys.executable, "-c", code, str(tmp_path / f"{i}.safetensors")], check=True)
    digests = {hashlib.sha256((tmp_path / f"{i}.safetensors").read_bytes()).hexdigest() for i in range(3)}
    assert len(digests) == 1
    state, meta = read_checkpoint(tmp_path / "0.safetensors")
    assert sorted(state) == ["a.bias", "a.weight", "c.bias", "c.weight"] and json.loads(meta["signkit"])["k"] == 1


def test_new_task_head_is_reported_exactly_and_backbone_is_loaded(trained_islr, tmp_path):
    weights = write_run_like(trained_islr, tmp_path / "run")
    model = load(weights.parent, task="cslr", num_classes=9)
    report = model.load_report
    expected_new = sorted(k for k in model.state_dict() if k.startswith("head."))
    assert report.new_keys == expected_new and expected_new
    assert report.discarded_keys == sorted(k for k in trained_islr.state_dict() if k.startswith("head."))
    for key, value in trained_islr.state_dict().items():
        if not key.startswith("head."):
            assert torch.equal(model.state_dict()[key], value), key
    pre = load(weights.parent, task="pretrain")
    assert pre.task is None and pre.load_report.discarded_keys == report.discarded_keys


def test_any_other_mismatch_is_refused_with_the_keys_listed(trained_islr):
    sd = dict(trained_islr.state_dict())
    fresh = create_model("sigma-tiny", task="islr", num_classes=5)
    missing = dict(sd)
    del missing["sign_encoder.pose_proj.weight"]
    with pytest.raises(ZooError, match=r"1 missing: sign_encoder\.pose_proj\.weight"):
        load_state_dict_strict(fresh, missing)
    with pytest.raises(ZooError, match=r"1 unexpected: extra\.weight"):
        load_state_dict_strict(fresh, {**sd, "extra.weight": torch.zeros(1)})
    wrong = {**sd, "sign_encoder.part_para": torch.zeros(3)}
    with pytest.raises(ZooError, match=r"another shape: sign_encoder\.part_para \(3,\)"):
        load_state_dict_strict(fresh, wrong)
    right = "sign_encoder.proj_linear.right.weight"
    untied = {**sd, right.replace("right", "left"): sd[right] + 1}
    with pytest.raises(ZooError, match="tied in the model but different in the checkpoint"):
        load_state_dict_strict(fresh, untied)


def test_registry_entry_with_a_wrong_config_is_refused(trained_islr, tmp_path, monkeypatch):
    weights = write_run_like(trained_islr, tmp_path / "run")
    result = export(tmp_path / "run", out_dir=tmp_path / "out")
    assert result.entry.name == "sigma-tiny.run"  # default name: <arch>.<run folder>
    result = export(weights, "sigma-tiny.cfg", tmp_path / "out")
    text = result.registry.read_text()
    monkeypatch.setenv("SIGNKIT_ZOO_REGISTRY", str(result.registry))
    result.registry.write_text(text.replace('layout = "mediapipe-holistic"', 'layout = "coco-wholebody-133"'))
    with pytest.raises(ZooError, match="says layout 'coco-wholebody-133' but its config says 'mediapipe-holistic'"):
        load("sigma-tiny.cfg")
    bad = text.replace('config_file = "config.json"\n', 'config_overrides = { colour = "red" }\n')
    bad = bad.replace('arch = "sigma-tiny"', 'arch = "sigma-huge"')
    result.registry.write_text(bad)
    download_error = r"names arch 'sigma-huge', which is not a signkit config"
    with pytest.raises(ZooError, match=download_error):
        load("sigma-tiny.cfg")
    result.registry.write_text(text.replace('config_file = "config.json"\n', 'config_overrides = { colour = "red" }\n'))
    with pytest.raises(ZooError, match="has a wrong config"):
        load("sigma-tiny.cfg")


def test_pth_is_read_only_with_weights_only(tmp_path):
    good = tmp_path / "good.pth"
    torch.save({"model": {"w": torch.ones(2)}}, good)
    assert torch.equal(read_checkpoint(good)[0]["w"], torch.ones(2))
    evil = tmp_path / "evil.pth"
    torch.save({"model": {"w": torch.ones(2)}, "args": Path("/etc")}, evil)  # any non-tensor object
    with pytest.raises(ZooError, match="weights_only=True"):
        read_checkpoint(evil)
    html = tmp_path / "page.safetensors"
    html.write_bytes(b"<html>nope</html>")
    with pytest.raises(ZooError, match="not a readable safetensors"):
        read_checkpoint(html)


# ---- Uni-Sign ------------------------------------------------------------------------------------------------

# Uni-Sign's pose branch as its models.py + stgcn_layers build it: four parts with their graph sizes, a shared hand
# stream (state dicts list it under both 'left' and 'right'), K = 2 adjacency subsets (distance, max_hop 1),
# spatial chain 64 -> [64, 128, 256] (kernel (1, K): no tcn), temporal chain 3 x 256 with kernel (5, K).
UNISIGN_PARTS = {"body": 9, "left": 21, "right": 21, "face_all": 18}


def _bn(prefix: str, c: int) -> dict[str, tuple]:
    return {
        f"{prefix}.weight": (c,),
        f"{prefix}.bias": (c,),
        f"{prefix}.running_mean": (c,),
        f"{prefix}.running_var": (c,),
        f"{prefix}.num_batches_tracked": (),
    }


def unisign_pose_shapes(hidden: int = 256, text_dim: int = 768, k: int = 2) -> dict[str, tuple]:
    shapes: dict[str, tuple] = {}
    for part, v in UNISIGN_PARTS.items():
        shapes[f"proj_linear.{part}.weight"] = (64, 3)
        shapes[f"proj_linear.{part}.bias"] = (64,)
        chains = {"gcn_modules": [(64, 64), (64, 128), (128, 256)], "fusion_gcn_modules": [(256, 256)] * 3}
        for chain, blocks in chains.items():
            for j, (cin, cout) in enumerate(blocks):
                layer = f"layer{j}_0" if chain == "gcn_modules" else f"layer0_{j}"
                p = f"{chain}.{part}.{layer}"
                shapes[f"{p}.gcn.conv.weight"] = (cout * k, cin, 1, 1)
                shapes[f"{p}.gcn.conv.bias"] = (cout * k,)
                shapes[f"{p}.gcn.A"] = (k, v, v)
                shapes.update(_bn(f"{p}.gcn.bn", cout))
                if chain == "fusion_gcn_modules":
                    shapes[f"{p}.tcn.0.weight"] = (cout, cout, 5, 1)
                    shapes[f"{p}.tcn.0.bias"] = (cout,)
                    shapes.update(_bn(f"{p}.tcn.1", cout))
                if cin != cout:
                    shapes[f"{p}.residual.0.weight"] = (cout, cin, 1, 1)
                    shapes[f"{p}.residual.0.bias"] = (cout,)
                    shapes.update(_bn(f"{p}.residual.1", cout))
    shapes["part_para"] = (hidden * 4,)
    shapes["pose_proj.weight"] = (text_dim, hidden * 4)
    shapes["pose_proj.bias"] = (text_dim,)
    return shapes


def small_mt5() -> dict:
    """mT5 with mT5-Base's width (768, which Uni-Sign's pose_proj targets) but one layer and a small vocabulary."""
    cfg = get_config("sigma-base").to_dict()
    cfg["text_model"].update(vocab_size=384, num_layers=1, num_decoder_layers=1, d_ff=64)
    cfg["signef_layers"] = [0]
    cfg["tokenizer"] = "byt5"
    return cfg


def unisign_state_dict(text_sd: dict[str, torch.Tensor], rgb: bool = True) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    sd = {}
    for key, shape in unisign_pose_shapes().items():
        if key.startswith(("proj_linear.left", "gcn_modules.left", "fusion_gcn_modules.left")):
            continue
        counter = key.endswith("num_batches_tracked")
        sd[key] = torch.zeros((), dtype=torch.long) if counter else torch.randn(shape, generator=g)
    for key in [k for k in sd if ".right" in k]:
        sd[key.replace(".right", ".left")] = sd[key]  # the shared hand stream, listed twice as torch does
    for key, value in text_sd.items():
        sd["mt5_model." + key] = torch.randn(value.shape, generator=g)
    # lm_head equal to the shared embedding, so this loads into a text model that ties them (transformers 5 T5
    # does); real mT5-Base keeps them apart: see test_unisign_untied_lm_head_is_refused_not_silently_merged.
    sd["mt5_model.lm_head.weight"] = sd["mt5_model.shared.weight"]
    for key in ("encoder.embed_tokens.weight", "decoder.embed_tokens.weight"):
        sd["mt5_model." + key] = sd["mt5_model.shared.weight"]
    if rgb:
        sd["rgb_proj.weight"] = torch.randn(256, 1280, 1, 1, generator=g)
        sd["fusion_gate.0.weight"] = torch.randn(256, 512, 1, generator=g)
    return sd


def test_unisign_converter_maps_every_backbone_key_with_its_shape(tmp_path, monkeypatch):
    from signkit.models import SigmaConfig

    model = create_model(SigmaConfig.from_dict(small_mt5()), task="slt")
    text_sd = {k.removeprefix("text_model."): v for k, v in model.state_dict().items() if k.startswith("text_model.")}
    sd = unisign_state_dict(text_sd)
    converted = convert_unisign({"model": sd})
    assert converted.dropped == ["fusion_gate.0.weight", "rgb_proj.weight"]
    ours = model.state_dict()
    pose_keys = {k for k in converted.state_dict if k.startswith("sign_encoder.")}
    assert pose_keys == {"sign_encoder." + k for k in unisign_pose_shapes()}
    for key in pose_keys:
        assert key in ours, f"Uni-Sign's {key} has no counterpart in signkit's sign encoder"
        assert tuple(ours[key].shape) == tuple(converted.state_dict[key].shape), key
    # Into a Sigma model: only SignEF, HAL and the STM head are new; everything else loads strictly.
    path = tmp_path / "unisign.pth"
    torch.save({"model": sd}, path)
    (tmp_path / "reg.toml").write_text(
        'schema = 1\n[[model]]\nname = "unisign.test"\narch = "sigma-base"\nformat = "unisign"\ntask = "slt"\n'
        'config_overrides = { tokenizer = "byt5" }\n'  # its vocabulary is not mT5's: name a tokenizer
        '[[model.files]]\nname = "w.pth"\nurl = "unisign.pth"\npin = "first-download"\n'
    )
    monkeypatch.setenv("SIGNKIT_ZOO_REGISTRY", str(tmp_path / "reg.toml"))
    with pytest.warns(UserWarning, match="first download"):
        loaded = load("unisign.test")
    report = loaded.load_report
    assert report.new_keys and all(k.startswith(("signef.", "hal.", "stm_head.")) for k in report.new_keys)
    assert report.discarded_keys == ["fusion_gate.0.weight", "rgb_proj.weight"], "the RGB branch is listed"
    state = loaded.state_dict()
    assert torch.equal(
        state["sign_encoder.gcn_modules.face_all.layer2_0.gcn.A"], sd["gcn_modules.face_all.layer2_0.gcn.A"]
    )
    assert torch.equal(
        state["text_model.encoder.block.0.layer.0.SelfAttention.q.weight"],
        sd["mt5_model.encoder.block.0.layer.0.SelfAttention.q.weight"],
    )


def test_unisign_untied_lm_head_is_kept_apart_or_refused_never_merged():
    """mT5-Base keeps lm_head apart from the shared embedding. A text model that keeps them apart too loads both;
    one that ties them must refuse, never silently keep one of the two."""
    from signkit.models import SigmaConfig

    model = create_model(SigmaConfig.from_dict(small_mt5()), task="slt")
    text_sd = {k.removeprefix("text_model."): v for k, v in model.state_dict().items() if k.startswith("text_model.")}
    sd = unisign_state_dict(text_sd, rgb=False)
    sd["mt5_model.lm_head.weight"] = sd["mt5_model.shared.weight"] + 1
    converted = convert_unisign(sd)
    if model.text_model.lm_head.weight is model.text_model.shared.weight:
        with pytest.raises(ZooError, match="tied in the model but different"):
            load_state_dict_strict(model, converted.state_dict, allow_new=converted.new_prefixes)
        return
    load_state_dict_strict(model, converted.state_dict, allow_new=converted.new_prefixes)
    assert torch.equal(model.text_model.lm_head.weight, sd["mt5_model.lm_head.weight"])
    assert torch.equal(model.text_model.shared.weight, sd["mt5_model.shared.weight"])


def test_unisign_converter_refuses_foreign_checkpoints():
    with pytest.raises(ZooError, match="not a Uni-Sign checkpoint: 1 keys"):
        convert_unisign(
            {
                "gcn_modules.body.x": torch.zeros(1),
                "mt5_model.shared.weight": torch.zeros(1),
                "classifier.weight": torch.zeros(1),
            }
        )
    with pytest.raises(ZooError, match="lacks the pose branch"):
        convert_unisign({"mt5_model.shared.weight": torch.zeros(1)})


@pytest.mark.slow
def test_unisign_mapping_covers_full_size_sigma_base():
    """Paper scale: Uni-Sign's pose branch + mT5-Base (768 wide, 12 + 12 layers, 250k vocabulary) vs sigma-base."""
    model = create_model("sigma-base", task="slt")
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    text = {k.removeprefix("text_model."): s for k, s in ours.items() if k.startswith("text_model.")}
    theirs = {**unisign_pose_shapes(), **{"mt5_model." + k: s for k, s in text.items()}}
    converted = convert_unisign({k: torch.empty(s) for k, s in theirs.items()})
    mapped = {k: tuple(v.shape) for k, v in converted.state_dict.items()}
    assert {k: ours.get(k) for k in mapped} == mapped, "every converted key exists in sigma-base with its shape"
    uncovered = sorted(set(ours) - set(mapped))
    assert uncovered and all(k.startswith(converted.new_prefixes) for k in uncovered), uncovered[:5]


# ---- releases shipped inside the package (registry-driven) ----------------------------------------------------


def shipped_entries() -> list[str]:
    """Built-in released entries whose files all live inside the installed package (usable offline)."""
    from signkit.zoo.downloading import parse_origin
    from signkit.zoo.registry import BUILTIN_REGISTRY, read_registry_file

    package = BUILTIN_REGISTRY.parent.resolve()
    names = []
    for e in read_registry_file(BUILTIN_REGISTRY).values():
        sources = [parse_origin(f.url, e.base_dir) for f in e.files]
        inside = all(s.kind == "local" and Path(s.location).resolve().is_relative_to(package) for s in sources)
        if e.released and inside:
            names.append(e.name)
    return sorted(names)


def test_sigma_tiny_is_shipped_with_real_pretrained_weights():
    assert "sigma-tiny.fs-lexicon" in shipped_entries()


@pytest.mark.parametrize("name", shipped_entries())
def test_shipped_release_loads_offline_strictly_and_matches_its_card(name, monkeypatch):
    from signkit.zoo import resolve_name

    monkeypatch.setenv("SIGNKIT_OFFLINE", "1")
    entry = resolve_name(name)
    model = load(name)
    assert model.load_report.new_keys == [] and model.load_report.discarded_keys == []
    card = (entry.base_dir / entry.files[0].url).parent.joinpath("README.md").read_text()
    for spec in entry.files:
        assert spec.sha256 in card, f"the model card of {name} must list {spec.name}'s sha256"
    assert "signkit pretrain" in card and "--seed" in card, "the card must hold the exact command, seed included"
    finetune = load(name, task="islr", num_classes=3)
    assert finetune.load_report.new_keys == sorted(k for k in finetune.state_dict() if k.startswith("head."))


# sigma-tiny.fs-lexicon's unit sign embedding (first 8 of 64 values) of the first real lexicon clip, recorded when the
# weights were exported. A change here means the shipped weights or the model code changed behaviour.
SIGMA_TINY_REFERENCE = [-0.16904, -0.19838, -0.02928, 0.0253, -0.16167, -0.08972, 0.03868, -0.29716]


def test_sigma_tiny_reproduces_its_reference_embedding(monkeypatch):
    from conftest import lexicon_dir

    from signkit.pose import load_pose, normalize
    from signkit.pose.mapping import remap_arrays

    monkeypatch.setenv("SIGNKIT_OFFLINE", "1")
    pose = normalize(load_pose(sorted(lexicon_dir().rglob("*.pose"))[0]))
    coords, conf = remap_arrays(pose.coords, pose.conf, pose.layout, "mediapipe-holistic")
    batch = {
        "pose": torch.from_numpy(coords)[None].float(),
        "conf": torch.from_numpy(conf)[None].float(),
        "mask": torch.ones(1, coords.shape[0], dtype=torch.bool),
    }
    embedding = load("sigma-tiny").eval().embed_sign(batch)[0]
    assert torch.allclose(embedding[:8], torch.tensor(SIGMA_TINY_REFERENCE), atol=2e-4), embedding[:8]


# ---- loading a checkpoint file by path (issue 12, item 3; issue 15) ------------------------------------------


@pytest.fixture(scope="module")
def unisign_text_sd() -> dict[str, torch.Tensor]:
    from signkit.models import SigmaConfig

    model = create_model(SigmaConfig.from_dict(small_mt5()), task="slt")
    return {k.removeprefix("text_model."): v for k, v in model.state_dict().items() if k.startswith("text_model.")}


def test_unisign_pth_loads_by_path_with_its_own_config(tmp_path, unisign_text_sd):
    sd = unisign_state_dict(unisign_text_sd)
    path = tmp_path / "best_checkpoint.pth"
    torch.save({"model": sd}, path)
    (tmp_path / "config.json").write_text(json.dumps(get_config("sigma-base").to_dict()))  # found beside: ignored
    model = load(path, tokenizer="byt5")
    cfg = model.config
    assert model.task == "slt" and cfg.sign_encoder.input_transform == "uni-sign" and cfg.layout == "coco-wholebody-133"
    assert (cfg.text_model["vocab_size"], cfg.text_model["num_layers"]) == (384, 1), "sizes read from the weights"
    assert (cfg.num_beams, cfg.max_new_tokens, cfg.label_smoothing, cfg.prompt_eos) == (4, 100, 0.2, True)
    assert model.load_report.discarded_keys == ["fusion_gate.0.weight", "rgb_proj.weight"]
    assert "RGB branch dropped" in model.load_report.summary()
    assert torch.equal(model.state_dict()["sign_encoder.pose_proj.weight"], sd["pose_proj.weight"])


def test_geosign_hyperbolic_keys_are_dropped_and_listed(tmp_path, unisign_text_sd):
    sd = unisign_state_dict(unisign_text_sd, rgb=False)
    sd.update(
        {
            "hyp_proj_body.proj.weight": torch.zeros(8, 256),
            "manifold.isp_c": torch.zeros(()),
            "geom_loss.manifold.isp_c": torch.zeros(()),
            "loss_alpha_logit": torch.zeros(()),
            "global_step": torch.zeros((), dtype=torch.long),
        }
    )
    torch.save({"model": sd}, tmp_path / "best.pth")
    model = load(tmp_path / "best.pth", tokenizer="byt5")
    assert model.load_report.discarded_keys == sorted(
        ["hyp_proj_body.proj.weight", "manifold.isp_c", "geom_loss.manifold.isp_c", "loss_alpha_logit", "global_step"]
    )
    assert "hyperbolic" in model.load_report.summary() and model.config.name == "geo-sign-converted"


def test_unisign_pth_of_other_vocabulary_asks_for_its_tokenizer(tmp_path, unisign_text_sd):
    torch.save({"model": unisign_state_dict(unisign_text_sd)}, tmp_path / "u.pth")
    with pytest.raises(ZooError, match=r"vocabulary of 384.*pass tokenizer=PATH"):
        load(tmp_path / "u.pth")


def test_unisign_pth_with_keys_missing_or_reshaped_is_refused_listing_them(tmp_path, unisign_text_sd):
    sd = unisign_state_dict(unisign_text_sd, rgb=False)
    del sd["gcn_modules.body.layer1_0.gcn.conv.weight"]
    sd["fusion_gcn_modules.face_all.layer0_1.tcn.0.weight"] = torch.zeros(3)
    torch.save({"model": sd}, tmp_path / "u.pth")
    with pytest.raises(ZooError) as e:
        load(tmp_path / "u.pth", tokenizer="byt5")
    msg = str(e.value)
    assert "1 missing: sign_encoder.gcn_modules.body.layer1_0.gcn.conv.weight" in msg
    assert "1 with another shape: sign_encoder.fusion_gcn_modules.face_all.layer0_1.tcn.0.weight (3,)" in msg
    assert "uni-sign keys but not all" in msg and "\n" not in msg


def test_checkpoint_of_no_known_family_says_what_was_looked_for(tmp_path):
    torch.save({"state_dict": {"backbone.conv1.weight": torch.zeros(2, 2)}}, tmp_path / "resnet.pth")
    with pytest.raises(
        ZooError,
        match=r"no model family signkit knows: looked for signkit metadata.*config\.json.*"
        r"Uni-Sign/Geo-Sign keys \(gcn_modules\.\*, mt5_model\.\*\)",
    ):
        load(tmp_path / "resnet.pth")


def test_missing_checkpoint_path_says_no_such_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("model.safetensors", "runs/best.pth", str(tmp_path / "gone.pth")):
        with pytest.raises(ZooError, match=f"no such file: {name}"):
            load(name)


def test_name_that_is_both_zoo_entry_and_folder_is_refused(tmp_path, monkeypatch, trained_islr):
    monkeypatch.chdir(tmp_path)
    write_run_like(trained_islr, tmp_path / "sigma-tiny")
    with pytest.raises(
        ZooError,
        match=r"'sigma-tiny' is both a zoo entry and a folder here; say ./sigma-tiny .*"
        r"zoo:sigma-tiny",
    ):
        load("sigma-tiny")
    assert load("./sigma-tiny").task == "islr", "the explicit path is the folder"
