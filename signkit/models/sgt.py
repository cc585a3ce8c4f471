"""SGT: the sign-grounded text encoder's two objectives.

Sign-text matching (STM): the text encoder runs with SignEF on matched pairs and on hard negatives mined from the
HAL similarities (for each sign a wrong text, for each text a wrong sign; sampled with probability ~ softmax of
the similarity, as ALBEF, or the hardest one); a binary head on the pooled fused text says "matched or not".
Language modelling (LM): the T5 decoder generates the text from the encoded sign (cross-entropy, label smoothing).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def mine_hard_negatives(
    sim: torch.Tensor, same: torch.Tensor, mode: str = "sample", generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """For a [B, B] sign x text similarity: (a negative text per sign, a negative sign per text, valid [B]).

    ``same[i, j]`` is True where text j is the same string as text i (never a negative). Rows with no negative
    at all (a batch of one, or all texts equal) come back invalid.
    """
    sim = sim.float().masked_fill(same, float("-inf"))
    valid = ~same.all(dim=1)
    if mode == "hardest":
        neg_text = sim.argmax(dim=1)
        neg_sign = sim.argmax(dim=0)
    else:
        p_text = torch.softmax(sim, dim=1).nan_to_num(0.0)
        p_sign = torch.softmax(sim.t(), dim=1).nan_to_num(0.0)
        p_text[~valid] = 1.0
        p_sign[~valid] = 1.0
        neg_text = torch.multinomial(p_text, 1, generator=generator).squeeze(1)
        neg_sign = torch.multinomial(p_sign, 1, generator=generator).squeeze(1)
    return neg_text, neg_sign, valid


def same_text_matrix(ids: torch.Tensor) -> torch.Tensor:
    """[B, B] bool: True where two samples carry the same (0-padded) token ids: they cannot be each other's
    negatives. Computed on the device, so no per-step host work."""
    return (ids[:, None, :] == ids[None, :, :]).all(-1)


def lm_loss(logits: torch.Tensor, labels: torch.Tensor, label_smoothing: float) -> torch.Tensor:
    """Token cross-entropy over [B, L, V] logits; label -100 is ignored."""
    return F.cross_entropy(
        logits.flatten(0, 1).float(), labels.flatten(), ignore_index=-100, label_smoothing=label_smoothing
    )
