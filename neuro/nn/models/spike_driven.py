r"""Spike-driven Transformer (Yao et al., *Spike-driven Transformer*, NeurIPS 2023).

Two changes to Spikformer make every layer's input binary. The **membrane shortcut** puts the
LIF *before* each conv, so the residual stream carries membrane potentials and only spikes enter
the weights. **Spike-driven self-attention** (SDSA) uses masks and additions only:

.. math::

    Q, K, V = \mathrm{SN}(\mathrm{BN}(\mathrm{Conv}(S))), \qquad
    \mathrm{SDSA}(Q, K, V) = Q \otimes \mathrm{SN}_{0.5}\Big(\sum_{n=1}^{N} (K \otimes V)_n\Big)

(column sums of the Hadamard product per head, a LIF of threshold 0.5, then a mask of ``Q``),
linear in the token count. LIF :math:`\tau = 2`, threshold 1, hard reset to 0, detached reset.
Layout, names and parameter counts follow github.com/BICLab/Spike-Driven-Transformer
(``model/spikeformer.py``, ``module/``): the stem pools where ``pooling`` has a ``"1"`` (``"1111"``
ImageNet, ``"0011"`` CIFAR, ``"0111"`` DVS128 Gesture), ``dvs=True`` adds the CIFAR10-DVS 3x3
max-pool ("erode") on k, v and the attention, ``tet=True`` returns per-step logits ``[T, B, classes]``.
The unused ``talking_heads`` conv of the official code is kept (frozen) for checkpoint parity.

Example::

    model = spike_driven_transformer("cifar10-2-512")
    logits = model(torch.rand(8, 3, 32, 32))        # [8, 10]
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import nn

from ._layers import erode, init_official, per_step, to_time_major
from ._neurons import NeuronFactory, make_lif

__all__ = ["SDTConfig", "SpikeDrivenTransformer", "SDT_CONFIGS", "spike_driven_transformer"]


@dataclass(frozen=True)
class SDTConfig:
    """Hyper-parameters of one Spike-driven Transformer (v1)."""

    img_size: int = 224
    in_channels: int = 3
    num_classes: int = 1000
    embed_dim: int = 512
    depth: int = 8
    num_heads: int = 8
    mlp_ratio: float = 4.0
    time_steps: int = 4
    pooling: str = "1111"
    dvs: bool = False
    tet: bool = False

    def __post_init__(self) -> None:
        if len(self.pooling) != 4 or set(self.pooling) - {"0", "1"}:
            raise ValueError(f"pooling must be four characters of 0/1, got {self.pooling!r}")
        if self.embed_dim % 8 or self.embed_dim % self.num_heads:
            raise ValueError(f"embed_dim must be divisible by 8 and by num_heads={self.num_heads}, got {self.embed_dim}")
        for name in ("img_size", "in_channels", "num_classes", "depth", "time_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")


def _imagenet(depth: int, dim: int) -> SDTConfig:
    return SDTConfig(embed_dim=dim, depth=depth)


#: Published sizes (``conf/`` of the official repository).
SDT_CONFIGS: dict[str, SDTConfig] = {
    "imagenet-8-384": _imagenet(8, 384),
    "imagenet-6-512": _imagenet(6, 512),
    "imagenet-8-512": _imagenet(8, 512),
    "imagenet-10-512": _imagenet(10, 512),
    "imagenet-8-768": _imagenet(8, 768),
    "cifar10-2-512": SDTConfig(32, 3, 10, 512, 2, 8, pooling="0011"),
    "cifar100-2-512": SDTConfig(32, 3, 100, 512, 2, 8, pooling="0011"),
    "cifar10-2-256": SDTConfig(32, 3, 10, 256, 2, 8, pooling="0011"),
    "dvsgesture-2-256": SDTConfig(128, 2, 11, 256, 2, 8, time_steps=16, pooling="0111"),
    "cifar10dvs-2-256": SDTConfig(64, 2, 10, 256, 2, 8, time_steps=10, pooling="0011", dvs=True, tet=True),
}


class MembraneSPS(nn.Module):
    """The SDT stem: SPS whose last stage pools before its LIF and adds the relative-position conv to the membrane."""

    def __init__(self, cfg: SDTConfig, neuron: NeuronFactory):
        super().__init__()
        d = cfg.embed_dim
        chans = (cfg.in_channels, d // 8, d // 4, d // 2, d)
        self._suffix = ("", "1", "2", "3")
        self._pool = tuple(c == "1" for c in cfg.pooling)
        for i, s in enumerate(self._suffix):
            setattr(self, f"proj_conv{s}", nn.Conv2d(chans[i], chans[i + 1], 3, 1, 1, bias=False))
            setattr(self, f"proj_bn{s}", nn.BatchNorm2d(chans[i + 1]))
            setattr(self, f"proj_lif{s}", neuron())
            setattr(self, f"maxpool{s}", nn.MaxPool2d(3, 2, 1))
        self.rpe_conv = nn.Conv2d(d, d, 3, 1, 1, bias=False)
        self.rpe_bn = nn.BatchNorm2d(d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[T, B, C_in, H, W]`` -> membrane-valued tokens ``[T, B, D, H', W']``."""
        for i, s in enumerate(self._suffix[:3]):
            x = getattr(self, f"proj_lif{s}")(per_step(getattr(self, f"proj_bn{s}"), per_step(getattr(self, f"proj_conv{s}"), x)))
            if self._pool[i]:
                x = per_step(getattr(self, f"maxpool{s}"), x)
        x = per_step(self.proj_bn3, per_step(self.proj_conv3, x))
        if self._pool[3]:
            x = per_step(self.maxpool3, x)
        s = self.proj_lif3(x)
        return x + per_step(self.rpe_bn, per_step(self.rpe_conv, s))


class SDSA(nn.Module):
    """Spike-driven self-attention with the membrane shortcut: ``x + BN(Conv(Q * SN(sum_N(K * V))))``."""

    def __init__(self, cfg: SDTConfig, neuron: NeuronFactory):
        super().__init__()
        dim, self.num_heads, self.dvs = cfg.embed_dim, cfg.num_heads, cfg.dvs
        self.shortcut_lif = neuron()
        for p in ("q", "k", "v"):
            setattr(self, f"{p}_conv", nn.Conv2d(dim, dim, 1, bias=False))
            setattr(self, f"{p}_bn", nn.BatchNorm2d(dim))
            setattr(self, f"{p}_lif", neuron())
        self.talking_heads = nn.Conv1d(cfg.num_heads, cfg.num_heads, 1, bias=False).requires_grad_(False)  # unused, as upstream
        self.talking_heads_lif = neuron(v_threshold=0.5)
        self.proj_conv = nn.Conv2d(dim, dim, 1)
        self.proj_bn = nn.BatchNorm2d(dim)

    def _spikes(self, p: str, s: torch.Tensor) -> torch.Tensor:
        y = getattr(self, f"{p}_lif")(per_step(getattr(self, f"{p}_bn"), per_step(getattr(self, f"{p}_conv"), s)))
        if self.dvs and p != "q":
            y = erode(y)
        t, b, c, h, w = y.shape
        return y.reshape(t, b, self.num_heads, c // self.num_heads, h * w).transpose(-1, -2)  # [T, B, heads, N, d]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t, b, c, h, w = x.shape
        s = self.shortcut_lif(x)
        q, k, v = (self._spikes(p, s) for p in ("q", "k", "v"))
        kv = k * v
        if self.dvs:
            kv = erode(kv)
        kv = self.talking_heads_lif(kv.sum(dim=-2, keepdim=True))
        y = q * kv
        if self.dvs:
            y = erode(y)
        y = y.transpose(-1, -2).reshape(t, b, c, h, w)
        return x + per_step(self.proj_bn, per_step(self.proj_conv, y))


class MembraneMLP(nn.Module):
    """``x + BN(Conv(LIF(BN(Conv(LIF(x))))))`` (1x1 convs; an inner shortcut when hidden == dim)."""

    def __init__(self, dim: int, hidden: int, neuron: NeuronFactory):
        super().__init__()
        self.res = dim == hidden
        self.fc1_lif = neuron()
        self.fc1_conv = nn.Conv2d(dim, hidden, 1)
        self.fc1_bn = nn.BatchNorm2d(hidden)
        self.fc2_lif = neuron()
        self.fc2_conv = nn.Conv2d(hidden, dim, 1)
        self.fc2_bn = nn.BatchNorm2d(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x
        y = per_step(self.fc1_bn, per_step(self.fc1_conv, self.fc1_lif(x)))
        if self.res:
            y = identity = identity + y
        y = per_step(self.fc2_bn, per_step(self.fc2_conv, self.fc2_lif(y)))
        return y + identity


class Block(nn.Module):
    def __init__(self, cfg: SDTConfig, neuron: NeuronFactory):
        super().__init__()
        self.attn = SDSA(cfg, neuron)
        self.mlp = MembraneMLP(cfg.embed_dim, int(cfg.embed_dim * cfg.mlp_ratio), neuron)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.attn(x))


class SpikeDrivenTransformer(nn.Module):
    """Spike-driven Transformer v1; input ``[B, C, H, W]`` or ``[B, T, C, H, W]``; logits ``[B, classes]`` (``[T, B, classes]`` with ``tet``)."""

    def __init__(self, cfg: SDTConfig = SDTConfig(), neuron: NeuronFactory = make_lif):
        super().__init__()
        self.cfg = cfg
        self.patch_embed = MembraneSPS(cfg, neuron)
        self.block = nn.ModuleList([Block(cfg, neuron) for _ in range(cfg.depth)])
        self.head_lif = neuron()
        self.head = nn.Linear(cfg.embed_dim, cfg.num_classes)
        init_official(self, linear=False, conv=True)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x)
        for blk in self.block:
            x = blk(x)
        return x.flatten(3).mean(3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = to_time_major(x, self.cfg.time_steps, self.cfg.in_channels)
        y = self.head(self.head_lif(self.forward_features(x)))
        return y if self.cfg.tet else y.mean(0)


def spike_driven_transformer(name: str = "cifar10-2-512", neuron: NeuronFactory = make_lif, **overrides) -> SpikeDrivenTransformer:
    """A published Spike-driven Transformer size by name (see :data:`SDT_CONFIGS`), fields overridable."""
    if name not in SDT_CONFIGS:
        raise ValueError(f"unknown Spike-driven Transformer config {name!r}; known: {sorted(SDT_CONFIGS)}")
    return SpikeDrivenTransformer(replace(SDT_CONFIGS[name], **overrides), neuron)
