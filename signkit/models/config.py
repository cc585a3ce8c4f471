"""Sigma configurations: plain dataclasses that round-trip through JSON.

A `SigmaConfig` says everything a model needs to be built without downloading anything: the keypoint layout,
the sign-encoder sizes, the text model (a transformers T5 config dict written out in full, or a hub name whose
config sits in the local HF cache), the SignEF layers and the loss weights. `SIGMA_CONFIGS` are its named configs;
`signkit.models.get_config` / `list_configs` look names up across every model family (`signkit.models.families`).
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from ..errors import ConfigError

POINT_SETS = ("uni-sign", "full")
# Input transforms (`signkit.models.inputs`): "signkit" (shoulder-normalised coordinates, scaled) and "uni-sign"
# (Uni-Sign's load_part_kp + crop_scale, exactly: one square body box per clip, in x/W, y/H units).
INPUT_TRANSFORMS = ("signkit", "uni-sign")


@dataclass
class SignEncoderConfig:
    """The part-wise ST-GCN sign encoder (Uni-Sign's shape: 4 parts, spatial then temporal graph convolutions)."""

    point_set: str = "uni-sign"  # "uni-sign": Uni-Sign's 9 body / 21+21 hand / 18 face points; "full": every point
    input_transform: str = "signkit"  # "signkit" or "uni-sign" (see INPUT_TRANSFORMS); body_scale/part_scale: signkit
    proj_dim: int = 64  # per-point linear projection of (x, y, conf)
    spatial_channels: tuple[int, ...] = (64, 128, 256)  # one spatial-only ST-GCN block per entry
    temporal_depth: int = 3  # temporal ST-GCN blocks (kernel `temporal_kernel`) at the last spatial width
    temporal_kernel: int = 5
    share_hands: bool = True  # left and right hand streams share weights (Uni-Sign does)
    adaptive_graph: bool = True  # the adjacency is a learned parameter (initialised from the skeleton)
    detach_body_anchor: bool = True  # hands/face add the body's wrist/nose feature, detached (as Uni-Sign)
    masked_batchnorm: bool = True  # batch statistics from real frames only, so padding never changes outputs
    conf_threshold: float = 0.3  # points at or below are "not detected": all input channels zero
    body_scale: float = 1.5  # body coords (shoulder-normalised) / body_scale ~ Uni-Sign's [-1, 1] body box
    part_scale: float = 3.0  # hands (from the wrist) and face (from the nose) / part_scale ~ Uni-Sign's scale
    clip: float = 1.0  # inputs clipped to [-clip, clip] as Uni-Sign does (0 = no clipping)
    dropout: float = 0.0

    def validate(self) -> None:
        if self.input_transform not in INPUT_TRANSFORMS:
            raise ConfigError(
                f"sign_encoder.input_transform must be one of {', '.join(INPUT_TRANSFORMS)}, "
                f"got {self.input_transform!r}"
            )
        if self.input_transform == "uni-sign" and self.point_set != "uni-sign":
            raise ConfigError("sign_encoder.input_transform 'uni-sign' needs point_set 'uni-sign' (Uni-Sign's points)")
        if self.point_set not in POINT_SETS:
            raise ConfigError(f"sign_encoder.point_set must be one of {', '.join(POINT_SETS)}, got {self.point_set!r}")
        if not self.spatial_channels or self.temporal_depth < 0:
            raise ConfigError("sign_encoder needs at least one spatial block and temporal_depth >= 0")
        if self.temporal_kernel % 2 != 1:
            raise ConfigError(f"sign_encoder.temporal_kernel must be odd, got {self.temporal_kernel}")

    @property
    def part_dim(self) -> int:
        return self.spatial_channels[-1]


class ModelConfigBase:
    """What every family's config has (``name``, ``layout``, ``estimators``, ``input_transform``) and the rules on it
    that the zoo, training and inference apply to any model."""

    name: str
    layout: str
    estimators: list[str]

    def estimator_mismatch(self, data_estimators: list[str] | set[str], data: str) -> str | None:
        """One line when ``data`` came from other estimators than this model's training data (None when they
        agree or either is not recorded): keypoints of another estimator are another input distribution."""
        ours, theirs = set(self.estimators), set(data_estimators)
        if not ours or not theirs or theirs <= ours:
            return None
        return (
            f"{data} was extracted with {', '.join(sorted(theirs))}, but {self.name} was trained on poses from "
            f"{', '.join(sorted(ours))}: expect lower accuracy (re-extract with `signkit extract --estimator "
            f"{sorted(ours)[0]}`, or fine-tune on this data)"
        )


@dataclass
class SigmaConfig(ModelConfigBase):
    """Everything that defines a Sigma model (architecture, not weights)."""

    name: str = "sigma-tiny"
    layout: str = "mediapipe-holistic"
    sign_encoder: SignEncoderConfig = field(default_factory=SignEncoderConfig)
    # A transformers T5 config dict (model_type t5/mt5), or a hub name ("google/mt5-base") read from the HF cache.
    text_model: dict[str, Any] | str = field(default_factory=dict)
    tokenizer: str = "byt5"  # "byt5" (no files needed) or a hub name (loaded lazily from the HF cache)
    # The pose estimators its training data came from (`signkit.pose_extract.ESTIMATORS` names); [] = not recorded.
    estimators: list[str] = field(default_factory=list)
    # The text-encoder prompt before the sign tokens. "{language}" is filled per sample: `prompt_languages` maps the
    # sample's sign-language code (the manifest's ``language``) to a name, else `prompt_language`.
    prompt: str = "Translate sign language to text: "
    prompt_language: str = "English"
    prompt_languages: dict[str, str] = field(default_factory=dict)
    prompt_eos: bool = False  # end the prompt with the tokenizer's special tokens (</s>), as Uni-Sign does
    max_text_tokens: int = 64  # target texts are truncated to this many tokens (EOS included)
    num_beams: int = 1  # generation defaults (SLT); `predict` arguments override them
    max_new_tokens: int = 64
    length_penalty: float = 1.0
    signef_layers: tuple[int, ...] = (0, 1)  # SignEF cross-attention after these text-encoder layers
    signef_heads: int = 4
    embed_dim: int = 64  # HAL joint embedding width
    num_clusters: int = 4  # HAL local: clusters (shared prototypes) per modality
    cluster_temperature: float = 0.1  # token -> prototype assignment softmax temperature
    init_temperature: float = 0.07  # InfoNCE, learnable (logit scale clamped to <= 100)
    hard_negatives: str = "sample"  # SGT-STM negatives: "sample" (prob. ~ similarity, ALBEF) or "hardest"
    label_smoothing: float = 0.1
    loss_weights: dict[str, float] = field(
        default_factory=lambda: {"hal_global": 1.0, "hal_local": 1.0, "sgt_stm": 1.0, "sgt_lm": 1.0}
    )
    head_dropout: float = 0.1

    def validate(self) -> SigmaConfig:
        self.sign_encoder.validate()
        unknown = set(self.loss_weights) - {"hal_global", "hal_local", "sgt_stm", "sgt_lm"}
        if unknown:
            raise ConfigError(f"unknown loss weights {sorted(unknown)}; use hal_global, hal_local, sgt_stm, sgt_lm")
        if self.num_beams < 1 or self.max_new_tokens < 1:
            raise ConfigError(f"num_beams and max_new_tokens must be >= 1, got {self.num_beams}, {self.max_new_tokens}")
        if self.hard_negatives not in ("sample", "hardest"):
            raise ConfigError(f"hard_negatives must be 'sample' or 'hardest', got {self.hard_negatives!r}")
        if isinstance(self.text_model, dict) and self.text_model:
            n = self.text_model.get("num_layers")
            bad = [i for i in self.signef_layers if n is not None and not 0 <= i < n]
            if bad:
                raise ConfigError(f"signef_layers {bad} outside the text encoder's {n} layers")
        return self

    @property
    def input_transform(self) -> str:
        return self.sign_encoder.input_transform

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["sign_encoder"]["spatial_channels"] = list(self.sign_encoder.spatial_channels)
        d["signef_layers"] = list(self.signef_layers)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SigmaConfig:
        d = copy.deepcopy(d)
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ConfigError(f"unknown Sigma config keys {sorted(unknown)}")
        enc = d.pop("sign_encoder", {}) or {}
        enc_known = {f.name for f in fields(SignEncoderConfig)}
        if set(enc) - enc_known:
            raise ConfigError(f"unknown sign_encoder config keys {sorted(set(enc) - enc_known)}")
        if "spatial_channels" in enc:
            enc["spatial_channels"] = tuple(enc["spatial_channels"])
        if "signef_layers" in d:
            d["signef_layers"] = tuple(d["signef_layers"])
        return cls(sign_encoder=SignEncoderConfig(**enc), **d).validate()


# mT5-Base, written out (google/mt5-base config.json) so sigma-base builds without a download.
MT5_BASE = {
    "model_type": "mt5",
    "vocab_size": 250112,
    "d_model": 768,
    "d_kv": 64,
    "d_ff": 2048,
    "num_layers": 12,
    "num_decoder_layers": 12,
    "num_heads": 12,
    "relative_attention_num_buckets": 32,
    "relative_attention_max_distance": 128,
    "dropout_rate": 0.1,
    "layer_norm_epsilon": 1e-6,
    "initializer_factor": 1.0,
    "feed_forward_proj": "gated-gelu",
    "tie_word_embeddings": False,
    "pad_token_id": 0,
    "eos_token_id": 1,
    "decoder_start_token_id": 0,
}

# A small byte-level T5 (ByT5-style vocabulary: 3 specials + 256 bytes).
T5_TINY = {
    "model_type": "t5",
    "vocab_size": 259,
    "d_model": 128,
    "d_kv": 32,
    "d_ff": 256,
    "num_layers": 2,
    "num_decoder_layers": 2,
    "num_heads": 4,
    "relative_attention_num_buckets": 32,
    "relative_attention_max_distance": 128,
    "dropout_rate": 0.1,
    "layer_norm_epsilon": 1e-6,
    "initializer_factor": 1.0,
    "feed_forward_proj": "gated-gelu",
    "tie_word_embeddings": True,  # T5 v1.0 style: logits rescaled by d_model^-0.5, sane from a random init
    "pad_token_id": 0,
    "eos_token_id": 1,
    "decoder_start_token_id": 0,
}


def _sigma_tiny() -> SigmaConfig:
    return SigmaConfig(
        name="sigma-tiny",
        layout="mediapipe-holistic",
        sign_encoder=SignEncoderConfig(proj_dim=32, spatial_channels=(32, 64, 64), temporal_depth=2),
        text_model=copy.deepcopy(T5_TINY),
        tokenizer="byt5",
        max_text_tokens=64,
        signef_layers=(0, 1),
        signef_heads=4,
        embed_dim=64,
        num_clusters=4,
    )


def _sigma_base() -> SigmaConfig:
    return SigmaConfig(
        name="sigma-base",
        layout="coco-wholebody-133",
        sign_encoder=SignEncoderConfig(),  # Uni-Sign's sizes: 64 -> (64, 128, 256) spatial, 3 x 256 temporal
        text_model=copy.deepcopy(MT5_BASE),
        tokenizer="google/mt5-base",
        max_text_tokens=64,
        signef_layers=(6, 7, 8, 9, 10, 11),  # the upper half, as ALBEF's fusion layers
        signef_heads=12,
        embed_dim=256,
        num_clusters=8,
    )


SIGMA_CONFIGS = {"sigma-tiny": _sigma_tiny, "sigma-base": _sigma_base}
