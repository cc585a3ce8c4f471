"""SignEF: sign-aware early fusion, two-way cross-attention between sign and text tokens during text encoding.

After each chosen text-encoder layer, text tokens attend to sign tokens and sign tokens attend to the (updated)
text tokens; both are pre-norm residual updates. The layers run as forward hooks on the T5 encoder blocks, so the
text model keeps its own parameter names (and pre-trained T5 weights load unchanged); the hooks act only inside
`SignEF.fused`, so a plain text or sign pass through the same encoder is untouched.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn


class CrossAttention(nn.Module):
    """Pre-norm residual cross-attention: ``x + Attn(LN(x), LN(context))``, padded context keys masked."""

    def __init__(self, dim: int, heads: int, dropout: float = 0.0):
        super().__init__()
        self.norm_q = nn.LayerNorm(dim)
        self.norm_kv = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)

    def forward(self, x: torch.Tensor, context: torch.Tensor, context_mask: torch.Tensor) -> torch.Tensor:
        kv = self.norm_kv(context)
        out, _ = self.attn(self.norm_q(x), kv, kv, key_padding_mask=~context_mask.bool(), need_weights=False)
        return x + out


class SignEFLayer(nn.Module):
    """One two-way fusion step: text <- sign, then sign <- text."""

    def __init__(self, dim: int, heads: int, dropout: float = 0.0):
        super().__init__()
        self.text_from_sign = CrossAttention(dim, heads, dropout)
        self.sign_from_text = CrossAttention(dim, heads, dropout)

    def forward(self, text, text_mask, sign, sign_mask):
        text = self.text_from_sign(text, sign, sign_mask)
        sign = self.sign_from_text(sign, text, text_mask)
        return text, sign * sign_mask[..., None].to(sign.dtype)


def _signef_hook(module: nn.Module, args, output):
    signef = module.__dict__.get("_signef")
    if signef is None or signef._ctx is None:
        return None
    hidden, *rest = output
    return (signef.step(module._signef_key, hidden), *rest)


class SignEF(nn.Module):
    """SignEF layers attached (as hooks) after the given blocks of a T5 encoder."""

    def __init__(self, encoder: nn.Module, layers: tuple[int, ...], dim: int, heads: int, dropout: float = 0.0):
        super().__init__()
        self.layer_ids = tuple(layers)
        self.layers = nn.ModuleDict({str(i): SignEFLayer(dim, heads, dropout) for i in self.layer_ids})
        self._ctx: dict | None = None
        for i in self.layer_ids:
            # Plain attributes (not submodules: the T5 keys stay as they are); deepcopy maps them to the copy.
            object.__setattr__(encoder.block[i], "_signef", self)
            object.__setattr__(encoder.block[i], "_signef_key", str(i))
            encoder.block[i].register_forward_hook(_signef_hook)

    def step(self, key: str, hidden: torch.Tensor) -> torch.Tensor:
        ctx = self._ctx
        if ctx is None:
            return hidden
        text, ctx["sign"] = self.layers[key](hidden, ctx["text_mask"], ctx["sign"], ctx["sign_mask"])
        return text

    @contextmanager
    def fused(self, sign: torch.Tensor, sign_mask: torch.Tensor, text_mask: torch.Tensor):
        """Inside this block, the text encoder's forward is sign-grounded; ``ctx["sign"]`` holds the updated signs."""
        self._ctx = {"sign": sign, "sign_mask": sign_mask.bool(), "text_mask": text_mask.bool()}
        try:
            yield self._ctx
        finally:
            self._ctx = None
