"""The text side: a T5-family encoder-decoder built from a config dict, and its tokenizer.

Building never downloads. A config dict (sigma-tiny's small T5, sigma-base's mT5-Base written out in full) builds
randomly initialised weights; pre-trained weights come later from a checkpoint (`signkit.zoo`) or, when online,
from the Hugging Face cache. The ``byt5`` tokenizer needs no files (3 specials + 256 bytes); a hub tokenizer
(``google/mt5-base``) is loaded lazily, on first use, from the HF cache.
"""

from __future__ import annotations

import copy
from typing import Any

from ..errors import ConfigError, ModelError


def t5_config(spec: dict[str, Any] | str):
    """A transformers `T5Config` (or `MT5Config`) from a dict, or from a hub name found in the local cache."""
    from transformers import AutoConfig, MT5Config, T5Config

    if isinstance(spec, str):
        try:
            return AutoConfig.from_pretrained(spec, local_files_only=True)
        except OSError as e:
            raise ModelError(
                f"text model config {spec!r} is not in the Hugging Face cache; write the T5 config out in the Sigma "
                f"config's text_model (as sigma-base does) or download it once with huggingface_hub ({e})"
            ) from None
    d = copy.deepcopy(spec)
    model_type = d.pop("model_type", "t5")
    if model_type not in ("t5", "mt5"):
        raise ConfigError(f"text_model.model_type must be 't5' or 'mt5', got {model_type!r}")
    return (MT5Config if model_type == "mt5" else T5Config)(**d)


def build_text_model(spec: dict[str, Any] | str):
    """A randomly initialised T5 encoder-decoder for ``spec`` (no download)."""
    from transformers import MT5ForConditionalGeneration, T5ForConditionalGeneration

    cfg = t5_config(spec)
    cls = MT5ForConditionalGeneration if cfg.model_type == "mt5" else T5ForConditionalGeneration
    model = cls(cfg)
    tie = spec.get("tie_word_embeddings", True) if isinstance(spec, dict) else _tied_in_checkpoint(spec)
    if not tie:
        untie_lm_head(model)
    return model


def _tied_in_checkpoint(name: str) -> bool:
    from transformers import PretrainedConfig

    d, _ = PretrainedConfig.get_config_dict(name, local_files_only=True)
    return bool(d.get("tie_word_embeddings", True))


def untie_lm_head(model) -> None:
    """Give the LM head its own weights, as mT5/T5 v1.1 checkpoints have.

    Recent transformers always tie ``lm_head`` to ``shared`` when building from a config (and untie only inside
    ``from_pretrained`` when a checkpoint holds both); signkit loads plain state dicts, so it unties here, once,
    and initialises the head as transformers does for an untied T5 head (normal, std = initializer_factor).
    """
    import torch
    from torch import nn

    w = model.shared.weight
    head = nn.Parameter(torch.empty_like(w))
    if head.device.type != "meta":
        nn.init.normal_(head, mean=0.0, std=model.config.initializer_factor)
    model.lm_head.weight = head
    tied = getattr(model, "all_tied_weights_keys", None)
    if isinstance(tied, dict):
        tied.pop("lm_head.weight", None)
    model.config.tie_word_embeddings = False


def load_tokenizer(name: str):
    """``byt5``: a byte-level tokenizer that needs no files; anything else: a hub tokenizer from the local cache."""
    if name == "byt5":
        from transformers import ByT5Tokenizer

        return ByT5Tokenizer(extra_ids=0)
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(name, local_files_only=True)
    except OSError:
        raise ModelError(
            f"tokenizer {name!r} is not in the Hugging Face cache; fetch it once when online with "
            f"`huggingface_hub.snapshot_download({name!r})` (or set HF_HOME to a cache that has it)"
        ) from None
