"""ST-GCN blocks over one part's graph, made mask-aware.

Tensors are [B, C, T, V]. Module and parameter names follow Uni-Sign's ``stgcn_layers`` (``gcn.conv``,
``gcn.A``, ``gcn.bn``, ``tcn.0``/``tcn.1``, ``residual.0``/``residual.1``, chains of ``layer{i}_{j}``) so its
pose-only weights load one to one. Two things differ, both for padding: batch norm takes its statistics from real
frames only (`MaskedBatchNorm2d`), and padded frames are zeroed before every temporal convolution, so adding
padding never changes the outputs for the real frames.
"""

from __future__ import annotations

import torch
from torch import nn


class MaskedBatchNorm2d(nn.BatchNorm2d):
    """`nn.BatchNorm2d` whose training statistics come from the frames where ``mask`` [B, T] is True.

    Same parameters and buffers as `nn.BatchNorm2d` (weights load unchanged). In eval mode, or without a mask,
    it is exactly `nn.BatchNorm2d`.
    """

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:  # type: ignore[override]
        if mask is None or not self.training or not self.track_running_stats:
            return super().forward(x)
        dtype = x.dtype
        x = x.float()  # statistics in fp32 also under bf16 autocast
        w = mask[:, None, :, None].to(x.dtype)  # [B, 1, T, 1]
        n = w.sum() * x.shape[-1]
        mean = (x * w).sum(dim=(0, 2, 3)) / n
        var = (((x - mean[None, :, None, None]) ** 2) * w).sum(dim=(0, 2, 3)) / n
        with torch.no_grad():
            self.num_batches_tracked.add_(1)
            m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
            unbiased = var * (n / (n - 1).clamp(min=1))
            self.running_mean.lerp_(mean.detach().to(self.running_mean.dtype), m)
            self.running_var.lerp_(unbiased.detach().to(self.running_var.dtype), m)
        y = (x - mean[None, :, None, None]) * torch.rsqrt(var[None, :, None, None] + self.eps)
        if self.affine:
            y = y * self.weight[None, :, None, None] + self.bias[None, :, None, None]
        return y.to(dtype)


def _bn(channels: int, masked: bool) -> nn.BatchNorm2d:
    return MaskedBatchNorm2d(channels) if masked else nn.BatchNorm2d(channels)


def _apply_bn(bn: nn.Module, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    return bn(x, mask) if isinstance(bn, MaskedBatchNorm2d) else bn(x)


class GCNUnit(nn.Module):
    """Spatial graph convolution: a 1x1 conv to K subsets, mixed over points by the K adjacency matrices."""

    def __init__(self, in_channels: int, out_channels: int, A: torch.Tensor, adaptive: bool, masked_bn: bool):
        super().__init__()
        self.kernel_size = A.shape[0]
        self.conv = nn.Conv2d(in_channels, out_channels * self.kernel_size, kernel_size=1)
        if adaptive:
            self.A = nn.Parameter(A.clone())
        else:
            self.register_buffer("A", A.clone())
        self.bn = _bn(out_channels, masked_bn)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        x = self.conv(x)
        b, kc, t, v = x.shape
        x = x.view(b, self.kernel_size, kc // self.kernel_size, t, v)
        x = torch.einsum("nkctv,kvw->nctw", x, self.A.to(x.dtype))
        return self.relu(_apply_bn(self.bn, x, mask))


class STGCNBlock(nn.Module):
    """Spatial GCN, then (if ``t_kernel > 1``) a temporal convolution over each point's track, plus residual."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        t_kernel: int,
        A: torch.Tensor,
        adaptive: bool = True,
        masked_bn: bool = True,
        dropout: float = 0.0,
    ):
        super().__init__()
        self.gcn = GCNUnit(in_channels, out_channels, A, adaptive, masked_bn)
        if t_kernel > 1:
            pad = (t_kernel - 1) // 2
            self.tcn = nn.Sequential(
                nn.Conv2d(out_channels, out_channels, (t_kernel, 1), (1, 1), (pad, 0)),
                _bn(out_channels, masked_bn),
                nn.Dropout(dropout),
            )
        else:
            self.tcn = None
        if in_channels == out_channels:
            self.residual = None
        else:
            self.residual = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, kernel_size=1), _bn(out_channels, masked_bn)
            )
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        if self.residual is None:
            res = x
        else:
            res = _apply_bn(self.residual[1], self.residual[0](x), mask)
        x = self.gcn(x, mask)
        if self.tcn is not None:
            if mask is not None:  # padded frames must not leak into real ones through the temporal kernel
                x = x * mask[:, None, :, None].to(x.dtype)
            x = self.tcn[2](_apply_bn(self.tcn[1], self.tcn[0](x), mask))
        return self.relu(x + res)


class STGCNChain(nn.Module):
    """A chain of `STGCNBlock` named ``layer{i}_{j}`` (stage i, repeat j) as in Uni-Sign."""

    def __init__(
        self,
        in_channels: int,
        stages: list[tuple[int, int]],
        t_kernel: int,
        A: torch.Tensor,
        adaptive: bool = True,
        masked_bn: bool = True,
        dropout: float = 0.0,
    ):
        super().__init__()
        last = in_channels
        for i, (channels, depth) in enumerate(stages):
            for j in range(depth):
                self.add_module(f"layer{i}_{j}", STGCNBlock(last, channels, t_kernel, A, adaptive, masked_bn, dropout))
                last = channels
        self.out_channels = last

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        for block in self.children():
            x = block(x, mask)
        return x
