r"""Meta-SpikeFormer (Yao et al., *Spike-driven Transformer V2: Meta Spiking Neural Network Architecture
Inspiring the Design of Next-generation Neuromorphic Chips*, ICLR 2024).

A four-stage MetaFormer. Stages 1-2 are convolutional blocks (spiking separable conv token mixer,
then a 3x3-conv channel MLP); stages 3-4 are transformer blocks whose spike-driven self-attention
is the linear form

.. math::

    \mathrm{SDSA}(Q, K, V) = \mathrm{SN}_{0.5}\big(Q\,(K^\top V)\cdot 0.125\big)

with q, k, v from re-parameterisable convs (1x1, BN with padding, depth-wise 3x3, 1x1, BN). Every
block is ``x + mixer(x)``, ``x + mlp(x)`` on membrane potentials, each branch starting with a LIF
(:math:`\tau = 2`, threshold 1, hard reset, detached). Stage 3 holds ``3/4`` of ``depth`` attention
blocks, stage 4 the rest. Layout, names and parameter counts follow
github.com/BICLab/Spike-Driven-Transformer-V2 (``classification/models.py``). The same skeleton with
low-bit weights and multi-level neurons is the QSD-Transformer (:mod:`.qsd`).

Example::

    model = meta_spikformer("imagenet-15M", time_steps=4)
    logits = model(torch.rand(2, 3, 224, 224))     # [2, 1000]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F
from torch import nn

from ._layers import init_official, per_step, to_time_major
from ._neurons import NeuronFactory, make_lif

__all__ = ["MetaSpikformerConfig", "MetaSpikformer", "META_SPIKFORMER_CONFIGS", "meta_spikformer", "Parts"]


@dataclass(frozen=True)
class MetaSpikformerConfig:
    """Hyper-parameters: ``embed_dims`` of the four stages, ``depth`` attention blocks (3/4 in stage 3)."""

    embed_dims: tuple[int, int, int, int] = (64, 128, 256, 360)
    depth: int = 8
    num_heads: int = 8
    mlp_ratio: int = 4
    img_size: int = 224
    in_channels: int = 3
    num_classes: int = 1000
    time_steps: int = 1
    kd_head: bool = False

    def __post_init__(self) -> None:
        if len(self.embed_dims) != 4:
            raise ValueError(f"embed_dims needs four stage widths, got {self.embed_dims}")
        if self.embed_dims[0] % 2 or any(d % self.num_heads for d in self.embed_dims[2:]):
            raise ValueError(f"embed_dims[0] must be even and embed_dims[2:] divisible by num_heads={self.num_heads}, got {self.embed_dims}")
        if self.depth < 2:
            raise ValueError(f"depth must be >= 2 (stages 3 and 4 each need a block), got {self.depth}")
        for name in ("img_size", "in_channels", "num_classes", "time_steps", "mlp_ratio"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")

    @property
    def stage_depths(self) -> tuple[int, int]:
        return int(self.depth * 0.75), int(self.depth * 0.25)


#: Published ImageNet sizes (the paper's 15M / 31M / 55M models).
META_SPIKFORMER_CONFIGS: dict[str, MetaSpikformerConfig] = {
    "imagenet-15M": MetaSpikformerConfig((64, 128, 256, 360)),
    "imagenet-31M": MetaSpikformerConfig((96, 192, 384, 480)),
    "imagenet-55M": MetaSpikformerConfig((128, 256, 512, 640)),
}


def _conv2d(i, o, k, stride=1, padding=0, groups=1, bias=False):
    return nn.Conv2d(i, o, k, stride, padding, groups=groups, bias=bias)


@dataclass(frozen=True)
class Parts:
    """The layer kinds a MetaFormer-style spiking model is assembled from (full precision and LIF by default)."""

    conv2d: Callable[..., nn.Module] = _conv2d
    conv1d: Callable[..., nn.Module] = lambda i, o: nn.Conv1d(i, o, 1)
    linear: Callable[..., nn.Module] = nn.Linear
    neuron: Callable[[], nn.Module] = make_lif
    attn_neuron: Callable[[], nn.Module] = field(default=lambda: make_lif(v_threshold=0.5))
    attn_scale: float = 0.125
    layer_scale: float | None = None


def lif_parts(neuron: NeuronFactory = make_lif) -> Parts:
    return Parts(neuron=lambda: neuron(), attn_neuron=lambda: neuron(v_threshold=0.5))


class BNAndPad(nn.Module):
    """BatchNorm, then a ``pad``-pixel border filled with what BN maps 0 to, so a following unpadded conv can be folded in."""

    def __init__(self, pad: int, channels: int):
        super().__init__()
        self.pad = pad
        self.bn = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn(x)
        if self.pad == 0:
            return y
        bn = self.bn
        value = bn.bias.detach() - bn.running_mean * bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
        y = F.pad(y, [self.pad] * 4)
        border = torch.ones_like(y[:1, :1])
        border[..., self.pad:-self.pad, self.pad:-self.pad] = 0
        return y + border * value.view(1, -1, 1, 1)


class RepConv(nn.Module):
    """1x1 conv -> BN (+pad) -> depth-wise 3x3 -> 1x1 conv -> BN; re-parameterisable into one 3x3 conv."""

    def __init__(self, cin: int, cout: int, parts: Parts):
        super().__init__()
        self.body = nn.Sequential(
            parts.conv2d(cin, cin, 1), BNAndPad(1, cin),
            nn.Sequential(parts.conv2d(cin, cin, 3, groups=cin), parts.conv2d(cin, cout, 1), nn.BatchNorm2d(cout)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class SepConv(nn.Module):
    """Spiking inverted separable conv: SN -> 1x1 (2x) -> BN -> SN -> depth-wise 7x7 -> 1x1 -> BN."""

    def __init__(self, dim: int, parts: Parts, expansion: int = 2):
        super().__init__()
        mid = expansion * dim
        self.lif1 = parts.neuron()
        self.pwconv1 = parts.conv2d(dim, mid, 1)
        self.bn1 = nn.BatchNorm2d(mid)
        self.lif2 = parts.neuron()
        self.dwconv = parts.conv2d(mid, mid, 7, padding=3, groups=mid)
        self.pwconv2 = parts.conv2d(mid, dim, 1)
        self.bn2 = nn.BatchNorm2d(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = per_step(self.bn1, per_step(self.pwconv1, self.lif1(x)))
        return per_step(self.bn2, per_step(self.pwconv2, per_step(self.dwconv, self.lif2(x))))


class ConvBlock(nn.Module):
    """``x + SepConv(x)``, then ``x + BN(Conv3x3(SN(BN(Conv3x3(SN(x))))))`` with a ``mlp_ratio`` hidden width."""

    def __init__(self, dim: int, mlp_ratio: int, parts: Parts):
        super().__init__()
        self.Conv = SepConv(dim, parts)
        self.lif1 = parts.neuron()
        self.conv1 = parts.conv2d(dim, dim * mlp_ratio, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(dim * mlp_ratio)
        self.lif2 = parts.neuron()
        self.conv2 = parts.conv2d(dim * mlp_ratio, dim, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.Conv(x)
        y = per_step(self.bn1, per_step(self.conv1, self.lif1(x)))
        return x + per_step(self.bn2, per_step(self.conv2, self.lif2(y)))


class LinearSDSA(nn.Module):
    r"""``SN_attn(Q (K^T V) * scale)`` per head with RepConv projections; input and output ``[T, B, C, H, W]``."""

    def __init__(self, dim: int, num_heads: int, parts: Parts):
        super().__init__()
        self.num_heads, self.scale = num_heads, parts.attn_scale
        self.head_lif = parts.neuron()
        for p in ("q", "k", "v"):
            setattr(self, f"{p}_conv", nn.Sequential(RepConv(dim, dim, parts), nn.BatchNorm2d(dim)))
        self.q_lif, self.k_lif, self.v_lif = parts.neuron(), parts.neuron(), parts.neuron()
        self.attn_lif = parts.attn_neuron()
        self.proj_conv = nn.Sequential(RepConv(dim, dim, parts), nn.BatchNorm2d(dim))
        self.record = False
        self.last_qk: tuple[torch.Tensor, torch.Tensor] | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t, b, c, h, w = x.shape
        s = self.head_lif(x)
        heads = []
        for p in ("q", "k", "v"):
            y = getattr(self, f"{p}_lif")(per_step(getattr(self, f"{p}_conv"), s))
            heads.append(y.reshape(t, b, self.num_heads, c // self.num_heads, h * w).transpose(-1, -2))  # [T, B, heads, N, d]
        q, k, v = heads
        if self.record:
            self.last_qk = (q, k)
        y = (q @ (k.transpose(-2, -1) @ v)) * self.scale
        y = self.attn_lif(y.transpose(-1, -2).reshape(t, b, c, h, w))
        return per_step(self.proj_conv, y)


class TokenMLP(nn.Module):
    """SN -> 1x1 -> BN -> SN -> 1x1 -> BN on the tokens."""

    def __init__(self, dim: int, hidden: int, parts: Parts):
        super().__init__()
        self.fc1_lif = parts.neuron()
        self.fc1_conv = parts.conv1d(dim, hidden)
        self.fc1_bn = nn.BatchNorm1d(hidden)
        self.fc2_lif = parts.neuron()
        self.fc2_conv = parts.conv1d(hidden, dim)
        self.fc2_bn = nn.BatchNorm1d(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t, b, c, h, w = x.shape
        y = per_step(self.fc1_bn, per_step(self.fc1_conv, self.fc1_lif(x.flatten(3))))
        y = per_step(self.fc2_bn, per_step(self.fc2_conv, self.fc2_lif(y)))
        return y.reshape(t, b, c, h, w)


class AttentionBlock(nn.Module):
    """``x + g1 * SDSA(x)``, ``x + g2 * MLP(x)``; ``g`` is the layer scale when ``parts.layer_scale`` is set."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: int, parts: Parts):
        super().__init__()
        self.attn = LinearSDSA(dim, num_heads, parts)
        if parts.layer_scale is not None:
            self.layer_scale1 = nn.Parameter(torch.full((dim,), float(parts.layer_scale)))
            self.layer_scale2 = nn.Parameter(torch.full((dim,), float(parts.layer_scale)))
        self.mlp = TokenMLP(dim, dim * mlp_ratio, parts)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.attn(x)
        if hasattr(self, "layer_scale1"):
            a = a * self.layer_scale1.view(-1, 1, 1)
        x = x + a
        m = self.mlp(x)
        if hasattr(self, "layer_scale2"):
            m = m * self.layer_scale2.view(-1, 1, 1)
        return x + m


class DownSampling(nn.Module):
    """(SN ->) strided conv -> BN; the first one sees the encoded input directly."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, padding: int, first: bool, parts: Parts):
        super().__init__()
        self.encode_conv = parts.conv2d(cin, cout, kernel, stride=stride, padding=padding, bias=True)
        self.encode_bn = nn.BatchNorm2d(cout)
        if not first:
            self.encode_lif = parts.neuron()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if hasattr(self, "encode_lif"):
            x = self.encode_lif(x)
        return per_step(self.encode_bn, per_step(self.encode_conv, x))


class MetaSpikformer(nn.Module):
    """Meta-SpikeFormer; input ``[B, C, H, W]`` (repeated over T) or ``[B, T, C, H, W]``; logits ``[B, classes]``."""

    def __init__(self, cfg: MetaSpikformerConfig = MetaSpikformerConfig(), neuron: NeuronFactory = make_lif, parts: Parts | None = None):
        super().__init__()
        self.cfg = cfg
        parts = parts or lif_parts(neuron)
        d, r = cfg.embed_dims, cfg.mlp_ratio
        self.downsample1_1 = DownSampling(cfg.in_channels, d[0] // 2, 7, 2, 3, True, parts)
        self.ConvBlock1_1 = nn.ModuleList([ConvBlock(d[0] // 2, r, parts)])
        self.downsample1_2 = DownSampling(d[0] // 2, d[0], 3, 2, 1, False, parts)
        self.ConvBlock1_2 = nn.ModuleList([ConvBlock(d[0], r, parts)])
        self.downsample2 = DownSampling(d[0], d[1], 3, 2, 1, False, parts)
        self.ConvBlock2_1 = nn.ModuleList([ConvBlock(d[1], r, parts)])
        self.ConvBlock2_2 = nn.ModuleList([ConvBlock(d[1], r, parts)])
        self.downsample3 = DownSampling(d[1], d[2], 3, 2, 1, False, parts)
        n3, n4 = cfg.stage_depths
        self.block3 = nn.ModuleList([AttentionBlock(d[2], cfg.num_heads, r, parts) for _ in range(n3)])
        self.downsample4 = DownSampling(d[2], d[3], 3, 1, 1, False, parts)
        self.block4 = nn.ModuleList([AttentionBlock(d[3], cfg.num_heads, r, parts) for _ in range(n4)])
        self.lif = parts.neuron()
        self.head = parts.linear(d[3], cfg.num_classes)
        if cfg.kd_head:
            self.head_kd = parts.linear(d[3], cfg.num_classes)
        init_official(self, linear=True)
        for m in self.modules():
            if hasattr(m, "reset_step"):
                m.reset_step()

    def attention_layers(self) -> list[LinearSDSA]:
        """The self-attention modules, in order (for distillation: set ``record = True`` to keep their q, k)."""
        return [blk.attn for blk in (*self.block3, *self.block4)]

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.downsample1_1(x)
        x = self.ConvBlock1_1[0](x)
        x = self.ConvBlock1_2[0](self.downsample1_2(x))
        x = self.ConvBlock2_2[0](self.ConvBlock2_1[0](self.downsample2(x)))
        x = self.downsample3(x)
        for blk in self.block3:
            x = blk(x)
        x = self.downsample4(x)
        for blk in self.block4:
            x = blk(x)
        return x.flatten(3).mean(3)

    def forward_heads(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(logits, distillation_logits)`` of a ``kd_head`` model, each ``[B, classes]`` (train the second against a teacher)."""
        if not self.cfg.kd_head:
            raise ValueError("forward_heads needs a model built with kd_head=True")
        s = self.lif(self.forward_features(to_time_major(x, self.cfg.time_steps, self.cfg.in_channels)))
        return self.head(s).mean(0), self.head_kd(s).mean(0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, classes]`` (with ``kd_head``, the mean of both heads, as the official model evaluates)."""
        if self.cfg.kd_head:
            y, y_kd = self.forward_heads(x)
            return (y + y_kd) / 2
        s = self.lif(self.forward_features(to_time_major(x, self.cfg.time_steps, self.cfg.in_channels)))
        return self.head(s).mean(0)


def meta_spikformer(name: str = "imagenet-15M", neuron: NeuronFactory = make_lif, **overrides) -> MetaSpikformer:
    """A published Meta-SpikeFormer size by name (see :data:`META_SPIKFORMER_CONFIGS`), fields overridable."""
    if name not in META_SPIKFORMER_CONFIGS:
        raise ValueError(f"unknown Meta-SpikeFormer config {name!r}; known: {sorted(META_SPIKFORMER_CONFIGS)}")
    return MetaSpikformer(replace(META_SPIKFORMER_CONFIGS[name], **overrides), neuron)
