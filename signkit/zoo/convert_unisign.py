"""Uni-Sign checkpoints -> signkit's sign encoder + text model.

Uni-Sign (Li et al., ICLR 2025; github.com/ZechengLi19/Uni-Sign, ``models.py`` + ``stgcn_layers/``) saves
``{"model": state_dict}`` with these top-level names:

- ``proj_linear.{body,left,right,face_all}``, ``gcn_modules.<part>``, ``fusion_gcn_modules.<part>`` (the ST-GCN
  chains ``layer{i}_{j}.gcn.{conv,A,bn}``, ``tcn.{0,1}``, ``residual.{0,1}``), ``part_para``, ``pose_proj``:
  the pose branch, which signkit's `SignEncoder` reproduces name for name -> ``sign_encoder.<same name>``;
- ``mt5_model.*``: Hugging Face's MT5ForConditionalGeneration -> ``text_model.*``;
- RGB-pose models add ``rgb_support_backbone``, ``rgb_proj``, ``fusion_pose_rgb_linear``, ``fusion_pose_rgb_DA``
  and ``fusion_gate``: signkit is skeleton-only, so these are dropped (and listed). Dropping them changes the
  computation (the RGB branch rewrites hand features before the temporal blocks): outputs differ from the authors'.
- Geo-Sign (github.com/ed-fish/Geo-Sign, built on Uni-Sign) adds a hyperbolic branch (``hyp_proj_*``,
  ``hyp_attn_*``, ``manifold``, ``geom_loss``, ``loss_alpha_logit``, ``global_step``, ``text_pool_attn``) that
  only regularises training; its inference path is Uni-Sign's, so these are dropped (and listed) without changing
  the outputs.

`unisign_config` is the model such a checkpoint is: Uni-Sign's pose branch with its own input transform
(``uni-sign``), the mT5 sizes read from the weights, and Uni-Sign's prompt ("Translate sign language video to
{language}: " with ``</s>``, Chinese for CSL data, English otherwise), label smoothing 0.2 and evaluation
decoding (beam 4, 100 new tokens).

Uni-Sign has no SignEF, HAL or sign-text matching head, so ``signef.*``, ``hal.*`` and ``stm_head.*`` are new
(initialised fresh) when such weights are loaded into a Sigma model; the loader reports them as new keys.
Shapes are not checked here: the strict loader compares every one against the model it builds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import ZooError

if TYPE_CHECKING:
    import torch

POSE_PREFIXES = ("proj_linear.", "gcn_modules.", "fusion_gcn_modules.", "part_para", "pose_proj.")
TEXT_PREFIX = "mt5_model."
RGB_PREFIXES = ("rgb_support_backbone.", "rgb_proj.", "fusion_pose_rgb_linear.", "fusion_pose_rgb_DA.", "fusion_gate.")
HYPERBOLIC_PREFIXES = (
    "hyp_proj_",
    "hyp_attn_",
    "manifold.",
    "geom_loss.",
    "loss_alpha_logit",
    "global_step",
    "text_pool_attn.",
)
MT5_VOCAB = 250112
PROMPT = "Translate sign language video to {language}: "
NEW_IN_SIGMA = ("signef.", "hal.", "stm_head.")


@dataclass
class ConvertedCheckpoint:
    state_dict: dict[str, torch.Tensor]
    dropped: list[str] = field(default_factory=list)  # RGB and hyperbolic keys
    family: str = "uni-sign"  # "uni-sign" or "geo-sign" (hyperbolic keys present)
    rgb: bool = False  # an RGB-pose checkpoint: its RGB branch was dropped, so outputs differ from the authors'
    new_prefixes: tuple[str, ...] = NEW_IN_SIGMA
    note: str = "converted from Uni-Sign: SignEF, HAL and the STM head are not in Uni-Sign and start fresh"


def looks_like_unisign(keys) -> bool:
    """Whether state-dict keys are a Uni-Sign-family model's (its pose branch and ``mt5_model``)."""
    names = [k.removeprefix("module.") for k in keys]
    return any(k.startswith("gcn_modules.") for k in names) and any(k.startswith(TEXT_PREFIX) for k in names)


def convert_unisign(state_dict: dict[str, torch.Tensor]) -> ConvertedCheckpoint:
    """Rename a Uni-Sign state dict to signkit's names; RGB and hyperbolic keys are dropped, anything unknown is
    refused."""
    if isinstance(state_dict.get("model"), dict):  # the whole checkpoint was passed
        state_dict = state_dict["model"]
    out: dict[str, torch.Tensor] = {}
    dropped: list[str] = []
    unknown: list[str] = []
    rgb = hyperbolic = False
    for key, value in state_dict.items():
        name = key.removeprefix("module.")  # saved from a DDP-wrapped model
        if name.startswith(POSE_PREFIXES):
            out["sign_encoder." + name] = value
        elif name.startswith(TEXT_PREFIX):
            out["text_model." + name[len(TEXT_PREFIX) :]] = value
        elif name.startswith(RGB_PREFIXES):
            dropped.append(key)
            rgb = True
        elif name.startswith(HYPERBOLIC_PREFIXES):
            dropped.append(key)
            hyperbolic = True
        else:
            unknown.append(key)
    if unknown:
        shown = ", ".join(unknown[:10]) + (f", ... ({len(unknown) - 10} more)" if len(unknown) > 10 else "")
        raise ZooError(f"not a Uni-Sign checkpoint: {len(unknown)} keys signkit does not know ({shown})")
    if not any(k.startswith("sign_encoder.") for k in out) or not any(k.startswith("text_model.") for k in out):
        raise ZooError("not a Uni-Sign checkpoint: it lacks the pose branch (gcn_modules.) or the mT5 (mt5_model.)")
    note = ConvertedCheckpoint.note
    if rgb:
        note += "; RGB branch dropped: outputs differ from the authors', fine-tune before use"
    if hyperbolic:
        note += "; Geo-Sign's hyperbolic branch (training only) dropped: inference is unchanged"
    return ConvertedCheckpoint(out, sorted(dropped), "geo-sign" if hyperbolic else "uni-sign", rgb, note=note)


def _mt5_sizes(sd: dict[str, torch.Tensor]) -> dict:
    """The mT5 config of converted weights (``text_model.*``), read from their shapes."""
    from ..models.config import MT5_BASE

    t = "text_model."
    need = [
        t + "shared.weight",
        t + "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight",
        t + "encoder.block.0.layer.0.SelfAttention.q.weight",
    ]
    missing = [k for k in need if k not in sd]
    if missing:
        raise ZooError(
            f"the Uni-Sign checkpoint's mT5 lacks {', '.join(k[len(t) :] for k in missing)}; "
            "it is incomplete (download it again)"
        )

    def blocks(stack: str) -> int:
        found = {int(k.split(".")[3]) for k in sd if k.startswith(f"{t}{stack}.block.")}
        return max(found) + 1 if found else 0

    vocab, d_model = sd[t + "shared.weight"].shape
    buckets, heads = sd[need[1]].shape
    cfg = dict(MT5_BASE)
    cfg.update(
        vocab_size=int(vocab),
        d_model=int(d_model),
        num_heads=int(heads),
        relative_attention_num_buckets=int(buckets),
        d_kv=int(sd[need[2]].shape[0]) // int(heads),
        num_layers=blocks("encoder"),
        num_decoder_layers=blocks("decoder"),
    )
    ff = t + "encoder.block.0.layer.1.DenseReluDense."
    if ff + "wi_0.weight" in sd:
        cfg.update(d_ff=int(sd[ff + "wi_0.weight"].shape[0]), feed_forward_proj="gated-gelu")
    elif ff + "wi.weight" in sd:
        cfg.update(d_ff=int(sd[ff + "wi.weight"].shape[0]), feed_forward_proj="relu")
    cfg["tie_word_embeddings"] = t + "lm_head.weight" not in sd
    return cfg


def unisign_config(converted: ConvertedCheckpoint, tokenizer: str | None = None):
    """The SigmaConfig of a Uni-Sign-family checkpoint: its own input transform, prompt, sizes and defaults."""
    from ..models.config import SigmaConfig, SignEncoderConfig

    text = _mt5_sizes(converted.state_dict)
    if tokenizer is None:
        if text["vocab_size"] != MT5_VOCAB:
            raise ZooError(
                f"the checkpoint's mT5 has a vocabulary of {text['vocab_size']}, not mT5's {MT5_VOCAB}: signkit cannot "
                "tell its tokenizer; pass tokenizer=PATH (a folder with its tokenizer files) to signkit.zoo.load"
            )
        tokenizer = "google/mt5-base"
    proj = converted.state_dict.get("sign_encoder.pose_proj.weight")
    if proj is not None and proj.shape[0] != text["d_model"]:
        raise ZooError(
            f"the checkpoint's pose_proj gives {proj.shape[0]} features but its mT5 takes {text['d_model']}"
            "; it is not a Uni-Sign model signkit knows"
        )
    return SigmaConfig(
        name=f"{converted.family}-converted",
        layout="coco-wholebody-133",
        estimators=["rtmw"],  # Uni-Sign's demo/pose_extraction.py: rtmlib's Wholebody (RTMW), as signkit's rtmw
        sign_encoder=SignEncoderConfig(point_set="uni-sign", input_transform="uni-sign"),
        text_model=text,
        tokenizer=tokenizer,
        prompt=PROMPT,
        prompt_language="English",
        prompt_languages={"csl": "Chinese"},  # Uni-Sign: "Chinese" for CSL datasets, "English" for the others
        prompt_eos=True,
        max_text_tokens=50,  # Uni-Sign truncates targets to 50 tokens
        num_beams=4,
        max_new_tokens=100,
        label_smoothing=0.2,
        # SignEF (new, fresh) on the upper half as sigma-base; it only acts in sign-text matching, never on the
        # sign -> text path Uni-Sign's weights were trained for
        signef_layers=tuple(range(text["num_layers"] // 2, text["num_layers"])),
        signef_heads=text["num_heads"],
        embed_dim=256,
        num_clusters=8,
    ).validate()
