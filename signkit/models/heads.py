"""Task heads (every parameter under ``head.``) and CTC decoding.

ISLR: a classifier on the pooled sign features. CSLR: a per-token classifier trained with CTC (blank = 0), decoded
greedily or by prefix beam search. SLT needs no new parameters: it generates with the T5 decoder.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn


class ISLRHead(nn.Module):
    def __init__(self, dim: int, num_classes: int, dropout: float):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(dim, num_classes)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(self.norm(pooled)))


class CSLRHead(nn.Module):
    def __init__(self, dim: int, num_classes: int, dropout: float):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(dim, num_classes)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(self.norm(tokens)))


def ctc_greedy_decode(log_probs: torch.Tensor, lengths: torch.Tensor, blank: int = 0) -> list[list[int]]:
    """Best path: argmax per frame, merge repeats, drop blanks. ``log_probs`` [B, T, V]."""
    best = log_probs.argmax(-1).cpu().numpy()
    out = []
    for b, n in enumerate(lengths.tolist()):
        seq, prev = [], None
        for s in best[b, :n]:
            if s != prev and s != blank:
                seq.append(int(s))
            prev = s
        out.append(seq)
    return out


def _logaddexp(a: float, b: float) -> float:
    if a == -math.inf:
        return b
    if b == -math.inf:
        return a
    return max(a, b) + math.log1p(math.exp(-abs(a - b)))


def ctc_prefix_beam_search(log_probs: np.ndarray, beam_size: int = 5, blank: int = 0) -> list[int]:
    """Prefix beam search over one sequence's [T, V] log-probabilities; returns the most probable labelling."""
    beams: dict[tuple[int, ...], tuple[float, float]] = {(): (0.0, -math.inf)}  # prefix -> (p_blank, p_nonblank)
    for t in range(log_probs.shape[0]):
        lp = log_probs[t]
        # Only extend with symbols that can matter: the top beam_size of this frame, plus blank.
        cand = set(np.argsort(lp)[-beam_size:].tolist()) | {blank}
        nxt: dict[tuple[int, ...], list[float]] = {}

        def add(prefix, pb, pnb, nxt=nxt):
            cur = nxt.setdefault(prefix, [-math.inf, -math.inf])
            cur[0] = _logaddexp(cur[0], pb)
            cur[1] = _logaddexp(cur[1], pnb)

        for prefix, (pb, pnb) in beams.items():
            total = _logaddexp(pb, pnb)
            for s in cand:
                p = float(lp[s])
                if s == blank:
                    add(prefix, total + p, -math.inf)
                    continue
                last = prefix[-1] if prefix else None
                ext = prefix + (s,)
                if s == last:
                    add(ext, -math.inf, pb + p)  # a repeat needs a blank in between
                    add(prefix, -math.inf, pnb + p)  # or it merges into the same symbol
                else:
                    add(ext, -math.inf, total + p)
        beams = dict(
            sorted(((k, (v[0], v[1])) for k, v in nxt.items()), key=lambda kv: -_logaddexp(*kv[1]))[:beam_size]
        )
    best = max(beams.items(), key=lambda kv: _logaddexp(*kv[1]))[0]
    return list(best)


def ctc_beam_decode(
    log_probs: torch.Tensor, lengths: torch.Tensor, beam_size: int = 5, blank: int = 0
) -> list[list[int]]:
    lp = log_probs.float().cpu().numpy()
    return [ctc_prefix_beam_search(lp[b, :n], beam_size, blank) for b, n in enumerate(lengths.tolist())]
