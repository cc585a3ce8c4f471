"""Sigma: configs, shapes, padding invariance, gradients, losses that learn, decoding, generation, sigma-base size."""

from __future__ import annotations

import json

import pytest
import torch

from signkit.errors import ConfigError
from signkit.models import SigmaConfig, create_model, get_config, list_configs, parameter_counts
from signkit.models.alignment import HAL, gather_features
from signkit.models.heads import ctc_beam_decode, ctc_greedy_decode
from signkit.pose import get_layout

TEXTS = ["hello", "sign", "abc", "zebra"]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Small models on a shared 2-core machine run many times faster on one intra-op thread."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def quiet_tiny(**overrides) -> SigmaConfig:
    """sigma-tiny without dropout and with deterministic negatives, so two forwards can be compared exactly."""
    cfg = get_config("sigma-tiny")
    cfg.text_model["dropout_rate"] = 0.0
    cfg.head_dropout = 0.0
    cfg.hard_negatives = "hardest"
    for k, v in overrides.items():
        setattr(cfg, k, v)
    return cfg


def make_batch(b: int = 4, t: int = 12, layout: str = "mediapipe-holistic", lengths=None, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    k = get_layout(layout).num_points
    lengths = lengths or [t - (i % 3) for i in range(b)]
    mask = torch.arange(t)[None, :] < torch.tensor(lengths)[:, None]
    pose = torch.randn(b, t, k, 3, generator=g) * 0.5 * mask[..., None, None]
    conf = torch.rand(b, t, k, generator=g).clamp(min=0.5) * mask[..., None]
    return {
        "pose": pose,
        "conf": conf,
        "mask": mask,
        "length": mask.sum(1),
        "label": torch.arange(b) % 3,
        "text": TEXTS[:b] if b <= len(TEXTS) else [f"t{i}" for i in range(b)],
        "key": [f"s{i}" for i in range(b)],
    }


def pad_batch(batch: dict, t: int) -> dict:
    """The same samples with extra padded frames (garbage coordinates, conf 0, mask False)."""
    out = dict(batch)
    extra = t - batch["pose"].shape[1]
    out["pose"] = torch.cat([batch["pose"], torch.randn(batch["pose"].shape[0], extra, *batch["pose"].shape[2:])], 1)
    out["conf"] = torch.cat([batch["conf"], torch.zeros(batch["conf"].shape[0], extra, batch["conf"].shape[2])], 1)
    out["mask"] = torch.cat([batch["mask"], torch.zeros(batch["mask"].shape[0], extra, dtype=torch.bool)], 1)
    return out


def test_configs_round_trip_through_json():
    assert {"sigma-base", "sigma-tiny"} <= set(list_configs())
    for name in ["sigma-base", "sigma-tiny"]:
        cfg = get_config(name)
        again = SigmaConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
        assert again == cfg
    with pytest.raises(ConfigError, match="known configs"):
        get_config("sigma-huge")
    with pytest.raises(ConfigError, match="unknown Sigma config keys"):
        SigmaConfig.from_dict({**get_config("sigma-tiny").to_dict(), "typo": 1})


def test_create_model_rejects_bad_tasks_and_inputs():
    with pytest.raises(ConfigError, match="unknown task"):
        create_model("sigma-tiny", task="pose")
    with pytest.raises(ConfigError, match="num_classes"):
        create_model("sigma-tiny", task="islr")
    model = create_model("sigma-tiny", task="islr", num_classes=3)
    bad = make_batch(layout="coco-wholebody-133")
    with pytest.raises(ConfigError, match="index_map"):
        model(bad)


def test_sigma_tiny_is_tiny_and_only_heads_are_under_head():
    model = create_model("sigma-tiny", task="islr", num_classes=10)
    counts = parameter_counts(model)
    assert counts["total"] < 5_000_000
    head = [n for n, _ in model.named_parameters() if n.startswith("head.")]
    backbone = set(create_model("sigma-tiny").state_dict())
    assert head and all(n.startswith("head.") for n in set(model.state_dict()) - backbone)


def test_output_shapes_for_every_task():
    torch.manual_seed(0)
    batch = make_batch()
    out = create_model(quiet_tiny())(batch)
    assert set(out.terms) == {"hal_global", "hal_local", "sgt_stm", "sgt_lm"}
    assert out.loss.ndim == 0 and torch.isfinite(out.loss)
    assert out.sign_embeds.shape == out.text_embeds.shape == (4, 64)
    out = create_model("sigma-tiny", task="islr", num_classes=7)(batch)
    assert out.logits.shape == (4, 7) and "ce" in out.terms
    cslr = create_model("sigma-tiny", task="cslr", num_classes=6)
    out = cslr(
        {
            **batch,
            "targets": torch.tensor([[1, 2], [3, 0], [4, 5], [1, 0]]),
            "target_lengths": torch.tensor([2, 1, 2, 1]),
        }
    )
    assert out.logits.shape == (4, 12, 6) and out.lengths.tolist() == batch["mask"].sum(1).tolist()
    assert torch.isfinite(out.terms["ctc"])
    out = create_model("sigma-tiny", task="slt")(batch)
    assert set(out.terms) == {"sgt_lm"}


def test_coco_wholebody_input_uses_the_same_part_graphs():
    cfg = quiet_tiny(layout="coco-wholebody-133")
    model = create_model(cfg, task="islr", num_classes=3)
    assert model(make_batch(layout="coco-wholebody-133")).logits.shape == (4, 3)
    mp = create_model("sigma-tiny", task="islr", num_classes=3)
    assert {k: v.shape for k, v in model.state_dict().items()} == {k: v.shape for k, v in mp.state_dict().items()}


@pytest.mark.parametrize("train", [False, True])
def test_padding_never_changes_outputs_for_real_frames(train):
    torch.manual_seed(0)
    model = create_model(quiet_tiny(), task="islr", num_classes=5)
    model.train(train)
    batch = make_batch(lengths=[12, 9, 7, 12])
    padded = pad_batch(batch, 20)
    a, b = model(batch), model(padded)
    torch.testing.assert_close(a.logits, b.logits, atol=1e-5, rtol=1e-4)
    tok_a = model.sign_encoder(batch["pose"], batch["conf"], batch["mask"])
    tok_b = model.sign_encoder(padded["pose"], padded["conf"], padded["mask"])
    torch.testing.assert_close(tok_a, tok_b[:, :12], atol=1e-5, rtol=1e-4)
    assert tok_b[:, 12:].abs().max() == 0


def test_padding_never_changes_the_pretraining_losses():
    torch.manual_seed(0)
    model = create_model(quiet_tiny())
    batch = make_batch(lengths=[12, 9, 7, 12])
    a, b = model(batch), model(pad_batch(batch, 16))
    for k in a.terms:
        torch.testing.assert_close(a.terms[k], b.terms[k], atol=1e-5, rtol=1e-4)


def test_a_missing_hand_is_not_a_hand_at_the_origin():
    torch.manual_seed(0)
    model = create_model(quiet_tiny(), task="islr", num_classes=5).eval()
    batch = make_batch()
    left = list(get_layout("mediapipe-holistic").part_indices("left_hand"))
    batch["conf"][:, :, left] = 0
    other = {**batch, "pose": batch["pose"].clone()}
    other["pose"][:, :, left] = torch.randn_like(other["pose"][:, :, left]) * 5
    torch.testing.assert_close(model(batch).logits, model(other).logits)
    at_origin = {**batch, "conf": batch["conf"].clone(), "pose": batch["pose"].clone()}
    at_origin["pose"][:, :, left] = 0
    at_origin["conf"][:, :, left] = 1  # a detected hand collapsed to a point is different input
    assert not torch.allclose(model(batch).logits, model(at_origin).logits)


def test_gradients_reach_every_part():
    torch.manual_seed(0)
    for task, extra in [(None, {}), ("islr", {"num_classes": 3})]:
        model = create_model(quiet_tiny(), task=task, **extra)
        model(make_batch()).loss.backward()
        # A downstream classifier uses the sign encoder, the text encoder and its head (not the decoder, HAL, SGT).
        used = ("sign_encoder.", "text_model.shared", "text_model.encoder.", "head.") if task else ("",)
        silent = [
            n for n, p in model.named_parameters() if n.startswith(used) and (p.grad is None or p.grad.abs().sum() == 0)
        ]
        assert not silent, f"{task}: no gradient reaches {silent}"


def test_each_pretraining_loss_falls_when_overfitting_one_batch():
    torch.manual_seed(0)
    model = create_model(quiet_tiny())
    batch = make_batch(t=10)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    first = None
    for _ in range(60):  # with both hands in one batch-norm call, STM drops between steps 40 and 60 (0.93 -> 0.001)
        out = model(batch)
        first = first or {k: float(v.detach()) for k, v in out.terms.items()}
        opt.zero_grad()
        out.loss.backward()
        opt.step()
    last = {k: float(v.detach()) for k, v in model(batch).terms.items()}
    for k in first:
        assert last[k] < 0.7 * first[k], f"{k} did not fall: {first[k]:.3f} -> {last[k]:.3f}"


def test_slt_generates_the_text_it_was_overfitted_on():
    torch.manual_seed(0)
    model = create_model(quiet_tiny(label_smoothing=0.0), task="slt")
    batch = make_batch(t=8)
    batch["pose"] = batch["pose"] + 0.4 * torch.arange(4.0)[:, None, None, None] * batch["mask"][..., None, None]
    batch["text"] = ["help", "sign", "abc", "zebra"]  # 50 steps do not teach the byte decoder doubled letters
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(50):
        loss = model(batch).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    texts = model.eval().predict(batch, beam_size=2, max_length=8)
    assert texts == batch["text"]


def test_info_nce_of_matched_pairs_is_below_shuffled_pairs():
    torch.manual_seed(0)
    hal = HAL(dim=32, embed_dim=16, num_clusters=4, cluster_temperature=0.1, init_temperature=0.07)
    hal.text_proj.load_state_dict(hal.sign_proj.state_dict())  # one space for both, as training would make it
    sign = torch.randn(8, 10, 32)
    text = sign[:, :6] + 0.05 * torch.randn(8, 6, 32)  # each text token is close to its own sign's tokens
    sm, tm = torch.ones(8, 10, dtype=torch.bool), torch.ones(8, 6, dtype=torch.bool)
    matched = hal(sign, sm, text, tm)
    shuffled = hal(sign, sm, text[torch.roll(torch.arange(8), 1)], tm)
    assert matched["hal_global"] < shuffled["hal_global"]
    assert matched["hal_local"] < shuffled["hal_local"]
    assert gather_features(sign, text, world_size=1) == (sign, text)


def test_ctc_decoding_on_a_constructed_example():
    blank, a, b = 0, 1, 2
    # Frames: a a blank a b b -> greedy collapses to [a, a, b].
    path = [a, a, blank, a, b, b]
    lp = torch.full((1, 6, 3), -5.0)
    lp[0, torch.arange(6), torch.tensor(path)] = -0.01
    assert ctc_greedy_decode(lp, torch.tensor([6])) == [[a, a, b]]
    assert ctc_greedy_decode(lp, torch.tensor([4])) == [[a, a]]
    assert ctc_beam_decode(lp, torch.tensor([6]), beam_size=4) == [[a, a, b]]
    # Best path is "blank blank" (0.36) but the labelling [a] has probability 0.64: beam search finds it.
    lp2 = torch.log(torch.tensor([[[0.6, 0.4], [0.6, 0.4]]]))
    assert ctc_greedy_decode(lp2, torch.tensor([2])) == [[]]
    assert ctc_beam_decode(lp2, torch.tensor([2]), beam_size=3) == [[1]]


def test_predict_returns_topk_sequences_and_text():
    torch.manual_seed(0)
    batch = make_batch()
    idx, scores = create_model("sigma-tiny", task="islr", num_classes=7).eval().predict(batch, k=3)
    assert idx.shape == scores.shape == (4, 3) and bool((scores[:, :-1] >= scores[:, 1:]).all())
    seqs = create_model("sigma-tiny", task="cslr", num_classes=5).eval().predict(batch, beam_size=3)
    assert len(seqs) == 4 and all(all(1 <= s < 5 for s in q) for q in seqs)
    texts = create_model("sigma-tiny", task="slt").eval().predict(batch, beam_size=2, max_length=5)
    assert len(texts) == 4 and all(isinstance(t, str) for t in texts)


def _stgcn_block_params(cin: int, cout: int, v: int, t_kernel: int) -> int:
    n = cin * cout * 2 + cout * 2 + 2 * v * v + 2 * cout  # gcn conv (2 subsets), adjacency, bn
    if t_kernel > 1:
        n += cout * cout * t_kernel + cout + 2 * cout  # temporal conv + bn
    if cin != cout:
        n += cin * cout + cout + 2 * cout  # residual conv + bn
    return n


def test_sigma_base_builds_from_config_alone_at_paper_scale():
    with torch.device("meta"):
        model = create_model("sigma-base")
    counts = parameter_counts(model)
    # mT5-Base: untied 250112 x 768 input and output embeddings, 12 + 12 gated-GELU layers, relative biases.
    d, ff, vocab, layers = 768, 2048, 250112, 12
    enc_layer = 4 * d * d + 3 * d * ff + 2 * d
    dec_layer = 8 * d * d + 3 * d * ff + 3 * d
    mt5 = 2 * vocab * d + layers * (enc_layer + dec_layer) + 2 * 32 * 12 + 2 * d
    assert counts["text_model"] == mt5 == 582_401_280
    # Uni-Sign's pose branch: body 9, hand 21 (shared by both hands), face 18 points.
    sign = 0
    for v in (9, 21, 18):
        sign += 3 * 64 + 64
        sign += _stgcn_block_params(64, 64, v, 1) + _stgcn_block_params(64, 128, v, 1)
        sign += _stgcn_block_params(128, 256, v, 1) + 3 * _stgcn_block_params(256, 256, v, 5)
    sign += 1024 + 1024 * 768 + 768
    assert counts["sign_encoder"] == sign
    keys = model.state_dict()
    assert tuple(keys["sign_encoder.gcn_modules.left.layer0_0.gcn.A"].shape) == (2, 21, 21)
    assert tuple(keys["sign_encoder.fusion_gcn_modules.face_all.layer0_2.tcn.0.weight"].shape) == (256, 256, 5, 1)
    assert tuple(keys["sign_encoder.gcn_modules.body.layer1_0.residual.1.running_var"].shape) == (128,)
    assert tuple(keys["sign_encoder.pose_proj.weight"].shape) == (768, 1024)
    assert tuple(keys["text_model.lm_head.weight"].shape) == (vocab, d)


def test_hand_weights_are_shared_by_default():
    model = create_model("sigma-tiny")
    enc = model.sign_encoder
    assert enc.gcn_modules["left"] is enc.gcn_modules["right"]
    assert enc.proj_linear["left"].weight is enc.proj_linear["right"].weight


# ---- input transforms, prompts, generation defaults (issue 12) ------------------------------------------------


def test_a_pose_in_another_layout_is_refused_naming_both_layouts():
    model = create_model("sigma-tiny", task="islr", num_classes=3)
    with pytest.raises(ConfigError) as e:
        model(make_batch(layout="coco-wholebody-133"))
    msg = str(e.value)
    assert "takes layout mediapipe-holistic (543 points)" in msg and "(layout coco-wholebody-133)" in msg
    assert "\n" not in msg


def unisign_tiny() -> SigmaConfig:
    cfg = quiet_tiny(layout="coco-wholebody-133")
    cfg.sign_encoder.input_transform = "uni-sign"
    return cfg.validate()


def test_uni_sign_transform_is_config_and_needs_the_frame_size():
    with pytest.raises(ConfigError, match="input_transform must be one of signkit, uni-sign"):
        SigmaConfig.from_dict({**get_config("sigma-tiny").to_dict(), "sign_encoder": {"input_transform": "mine"}})
    model = create_model(unisign_tiny(), task="slt").eval()
    batch = make_batch(b=2, layout="coco-wholebody-133")
    with pytest.raises(ConfigError, match=r"needs each sample's source frame size.*re-pack"):
        model.part_inputs(batch)


def test_uni_sign_transform_box_aspect_and_point_by_point_masking():
    model = create_model(unisign_tiny(), task="slt").eval()
    batch = make_batch(b=2, t=6, layout="coco-wholebody-133", lengths=[6, 6])
    batch["conf"][:] = 0.9
    batch["conf"][0, :, 112] = 0.2  # right wrist below the threshold, fingers confident
    batch["conf"][1, :, :11] = 0.1  # too few confident body points: the whole clip is zero, as crop_scale does
    batch["frame_size"] = torch.tensor([[0.0, 0.0], [0.0, 0.0]])
    parts = model.part_inputs(batch)
    right = parts["right_hand"][0]
    assert (right[:, 0] == 0).all() and (right[:, 1:, 2] > 0).all(), "only the wrist is masked, not its fingers"
    assert all((p[1] == 0).all() for p in parts.values())
    body = parts["body"][0, ..., :2]
    assert body.abs().max() == 1.0 and torch.isclose(body.amax((0, 1)) + body.amin((0, 1)), torch.zeros(2)).any()
    # pixels of a 16:9 frame: x is rescaled by H/W, so the same image-normalised clip gives the same inputs
    pixels = dict(batch, pose=batch["pose"].clone(), frame_size=torch.tensor([[1280.0, 720.0], [1280.0, 720.0]]))
    pixels["pose"][..., 0] *= 1280 / 720
    again = model.part_inputs(pixels)
    assert all(torch.allclose(again[p], parts[p], atol=1e-5) for p in parts)


def test_prompt_language_per_sample_and_eos():
    cfg = quiet_tiny(
        prompt="to {language}: ", prompt_language="ASL", prompt_languages={"csl": "Chinese"}, prompt_eos=True
    )
    model = create_model(cfg, task="slt").eval()
    assert model.prompt_ids("csl")[-1] == model.tokenizer.eos_token_id
    assert len(model.prompt_ids("csl")) == len("to Chinese: ") + 1  # byte-level: one id per byte, then </s>
    assert len(model.prompt_ids(None)) == len("to ASL: ") + 1
    batch = make_batch(b=2)
    batch["language"] = ["csl", "ase"]
    embeds, mask = model.sign_inputs(batch)
    p = len(model.prompt_ids("csl"))
    assert embeds.shape[1] == p + batch["mask"].shape[1]
    q = len(model.prompt_ids("ase"))
    assert mask[0, :p].all() and mask[1, :q].all() and not mask[1, q:p].any(), "the shorter prompt is padded"


def test_generation_reads_its_defaults_from_the_config(monkeypatch):
    model = create_model(quiet_tiny(num_beams=3, max_new_tokens=5, length_penalty=0.5), task="slt").eval()
    seen = {}
    real = model.text_model.generate

    def spy(**kw):
        seen.update(kw)
        return real(**kw)

    monkeypatch.setattr(model.text_model, "generate", spy)
    ids = model.generate(make_batch(b=2))
    assert (seen["num_beams"], seen["max_new_tokens"], seen["length_penalty"]) == (3, 5, 0.5)
    assert ids.shape[1] <= 6
    model.predict(make_batch(b=2), beam_size=1, max_length=2)
    assert (seen["num_beams"], seen["max_new_tokens"]) == (1, 2), "explicit arguments win"
