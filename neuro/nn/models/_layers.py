"""Small shared pieces of the spiking transformers: time-major input, per-step layers, initialisation."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def to_time_major(x: torch.Tensor, time_steps: int, in_channels: int) -> torch.Tensor:
    """Model input as ``[T, B, C, H, W]``.

    A static image batch ``[B, C, H, W]`` is repeated over ``time_steps`` (direct encoding: the
    first layer sees the analog image at every step); event frames ``[B, T, C, H, W]`` (e.g.
    2-polarity DVS frames from ``tonic.transforms.ToFrame``, batched) are made time-major.
    """
    if x.dim() == 4:
        x = x.unsqueeze(0).repeat(time_steps, 1, 1, 1, 1)
    elif x.dim() == 5:
        x = x.transpose(0, 1).contiguous()
    else:
        raise ValueError(f"expected images [B, C, H, W] or event frames [B, T, C, H, W], got shape {tuple(x.shape)}")
    if x.shape[2] != in_channels:
        raise ValueError(f"model expects {in_channels} input channels, got {x.shape[2]} (input shape {tuple(x.shape)})")
    return x


def per_step(layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Apply a frame-wise layer (conv, BN, pooling) to ``[T, B, ...]`` by folding T into the batch."""
    t, b = x.shape[:2]
    y = layer(x.flatten(0, 1))
    return y.reshape(t, b, *y.shape[1:])


def pointwise(layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """A token-wise linear map on channel-first tokens ``[B, C, N]``: ``nn.Linear``, or a 1x1 ``nn.Conv1d`` / ``nn.Conv2d``."""
    if isinstance(layer, (nn.Linear, nn.Conv2d)):
        return F.conv1d(x, layer.weight.flatten(1).unsqueeze(-1), layer.bias)
    return layer(x)


def erode(x: torch.Tensor) -> torch.Tensor:
    """3x3 max over the last two dimensions, stride 1 (the Spike-driven Transformer's DVS ``Erode``)."""
    return F.max_pool3d(x, kernel_size=(1, 3, 3), stride=1, padding=(0, 1, 1))


def unused_layernorm(dim: int, eps: float = 1e-6) -> nn.LayerNorm:
    """A LayerNorm the official code builds but never calls; kept frozen so checkpoints load and parameter counts match."""
    ln = nn.LayerNorm(dim, eps=eps)
    ln.requires_grad_(False)
    return ln


def init_official(model: nn.Module, linear: bool = True, conv: bool = False) -> None:
    """The official initialisation: truncated normal (std 0.02, cut at +-2) for Linear (and Conv) weights, zero biases, unit norms."""
    for m in model.modules():
        if (linear and isinstance(m, nn.Linear)) or (conv and isinstance(m, nn.Conv2d)):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.LayerNorm,)) or (conv and isinstance(m, nn.BatchNorm2d)):
            if m.weight is not None:
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)


def count_parameters(model: nn.Module) -> int:
    """Number of parameter values (trainable or not), as the papers report them."""
    return sum(p.numel() for p in model.parameters())
