"""HAL: hierarchical sign-text alignment.

Global: a symmetric InfoNCE between pooled sign and text embeddings with a learnable temperature; negatives are
gathered from every DDP rank (`gather_features`, with a world_size == 1 fast path). Local: sign tokens and text
tokens are softly assigned to K shared prototypes (the cluster aggregator); each cluster is the assignment-weighted
mean of its tokens; a sign-text pair scores by matching every sign cluster to its best text cluster and back
(weighted by cluster mass), and the same InfoNCE runs on that score.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def gather_features(*features: torch.Tensor, rank: int = 0, world_size: int = 1) -> tuple[torch.Tensor, ...]:
    """Concatenate each tensor over DDP ranks (dim 0); this rank's slice keeps its gradient.

    With ``world_size == 1`` the inputs come back unchanged (no torch.distributed needed).
    """
    if world_size == 1:
        return features
    import torch.distributed as dist

    out = []
    for f in features:
        parts = [torch.zeros_like(f) for _ in range(world_size)]
        dist.all_gather(parts, f.contiguous())
        parts[rank] = f
        out.append(torch.cat(parts, dim=0))
    return tuple(out)


def dist_info() -> tuple[int, int]:
    """(rank, world_size) of the default process group, or (0, 1) when not distributed."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class LogitScale(nn.Module):
    """A learnable inverse temperature, stored as a log and clamped at 100 (CLIP)."""

    def __init__(self, init_temperature: float):
        super().__init__()
        self.log_scale = nn.Parameter(torch.tensor(math.log(1.0 / init_temperature)))

    def forward(self) -> torch.Tensor:
        return self.log_scale.clamp(max=math.log(100.0)).exp()


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    w = mask.to(x.dtype)[..., None]
    return (x * w).sum(1) / w.sum(1).clamp(min=1.0)


class ClusterAggregator(nn.Module):
    """Tokens [B, N, D] -> K clusters [B, K, D] (unit norm) + their masses [B, K] (sum to 1 over clusters)."""

    def __init__(self, dim: int, num_clusters: int, temperature: float):
        super().__init__()
        self.prototypes = nn.Parameter(torch.randn(num_clusters, dim) * dim**-0.5)
        self.temperature = temperature

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        t = F.normalize(tokens, dim=-1)
        assign = torch.softmax(t @ F.normalize(self.prototypes, dim=-1).t() / self.temperature, dim=-1)  # [B, N, K]
        assign = assign * mask.to(assign.dtype)[..., None]
        mass = assign.sum(1)  # [B, K]
        clusters = torch.einsum("bnk,bnd->bkd", assign, t) / mass[..., None].clamp(min=1e-6)
        return F.normalize(clusters, dim=-1), mass / mass.sum(-1, keepdim=True).clamp(min=1e-6)


def cluster_similarity(cs: torch.Tensor, ws: torch.Tensor, ct: torch.Tensor, wt: torch.Tensor) -> torch.Tensor:
    """Pairwise [Bs, Bt] scores: mass-weighted best-match cosine, sign->text and text->sign, averaged."""
    sim = torch.einsum("ikd,jld->ijkl", cs, ct)  # [Bs, Bt, Ks, Kt]
    s2t = (sim.amax(dim=3) * ws[:, None, :]).sum(-1)
    t2s = (sim.amax(dim=2) * wt[None, :, :]).sum(-1)
    return 0.5 * (s2t + t2s)


class HAL(nn.Module):
    """Global + local sign-text contrastive alignment (projections, prototypes and temperatures)."""

    def __init__(
        self, dim: int, embed_dim: int, num_clusters: int, cluster_temperature: float, init_temperature: float
    ):
        super().__init__()
        self.sign_proj = nn.Linear(dim, embed_dim)
        self.text_proj = nn.Linear(dim, embed_dim)
        self.aggregator = ClusterAggregator(embed_dim, num_clusters, cluster_temperature)
        self.logit_scale = LogitScale(init_temperature)
        self.local_logit_scale = LogitScale(init_temperature)

    def embed(self, tokens: torch.Tensor, mask: torch.Tensor, proj: nn.Linear) -> tuple[torch.Tensor, torch.Tensor]:
        """(global unit embedding [B, E], projected tokens [B, N, E])."""
        z = proj(tokens)
        return F.normalize(masked_mean(z, mask), dim=-1), z

    def forward(self, sign_tokens, sign_mask, text_tokens, text_mask) -> dict[str, torch.Tensor]:
        rank, world = dist_info()
        gs, zs = self.embed(sign_tokens, sign_mask, self.sign_proj)
        gt, zt = self.embed(text_tokens, text_mask, self.text_proj)
        cs, ws = self.aggregator(zs, sign_mask)
        ct, wt = self.aggregator(zt, text_mask)
        all_gs, all_gt, all_cs, all_ws, all_ct, all_wt = gather_features(
            gs, gt, cs, ws, ct, wt, rank=rank, world_size=world
        )
        scale = self.logit_scale()
        g_logits = scale * gs @ all_gt.t()  # [B, B_all]
        g_logits_t = scale * gt @ all_gs.t()
        local_scale = self.local_logit_scale()
        l_logits = local_scale * cluster_similarity(cs, ws, all_ct, all_wt)
        l_logits_t = local_scale * cluster_similarity(all_cs, all_ws, ct, wt).t()
        b = gs.shape[0]
        labels = torch.arange(b, device=gs.device) + rank * b
        return {
            "hal_global": 0.5 * (F.cross_entropy(g_logits, labels) + F.cross_entropy(g_logits_t, labels)),
            "hal_local": 0.5 * (F.cross_entropy(l_logits, labels) + F.cross_entropy(l_logits_t, labels)),
            "sim": (gs @ gt.t()).detach(),  # local sign x text cosine, for hard-negative mining
            "sign_embeds": gs,
            "text_embeds": gt,
        }
