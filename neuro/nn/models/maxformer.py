r"""Max-Former (Fang et al., *Spiking Transformers Need High Frequency Information*, 2025, arXiv:2505.18608).

Spiking neurons pass low frequencies best, so Max-Former restores high-frequency content with two
operators: an **extra max-pool in the patch embedding** (each down-sampling stage is
LIF -> conv -> BN -> max-pool, plus a 1x1 max-pooled shortcut on the same spikes) and
**depth-wise convolution token mixing** in the early stages instead of self-attention:

.. math::

    X \leftarrow X + \mathrm{BN}(\mathrm{DWConv}_{k\times k}(\mathrm{LIF}(X))), \qquad X \leftarrow X + \mathrm{MLP}(X)

The last stage uses Spikformer's attention :math:`\mathrm{LIF}_{0.5}(Q K^\top V \cdot 0.125)` with
the membrane shortcut. LIF :math:`\tau = 2`, threshold 1, hard reset, detached. Layout, names and
parameter counts follow github.com/bic-L/MaxFormer: ``variant="cifar"`` (stages: identity mixer,
DWC 3x3, 2 attention blocks), ``"imagenet"`` (DWC 7x7, 2x DWC 5x5, 7 attention blocks; 10-768 has
63.99 M parameters) and ``"event"`` (128x128 DVS: max-pooled stem, DWC 3x3, 1 attention block).

Example::

    model = maxformer("cifar10-4-384")
    logits = model(torch.rand(8, 3, 32, 32))        # [8, 10]
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import nn

from ._layers import init_official, per_step, to_time_major
from ._neurons import NeuronFactory, make_lif
from .spike_driven import MembraneMLP

__all__ = ["MaxFormerConfig", "MaxFormer", "MAXFORMER_CONFIGS", "maxformer"]

_VARIANTS = ("cifar", "imagenet", "event")


@dataclass(frozen=True)
class MaxFormerConfig:
    """Hyper-parameters; ``num_heads=None`` means ``embed_dim // 64`` (the ImageNet rule)."""

    variant: str = "cifar"
    img_size: int = 32
    in_channels: int = 3
    num_classes: int = 10
    embed_dim: int = 384
    num_heads: int | None = 8
    mlp_ratio: float = 4.0
    time_steps: int = 4

    def __post_init__(self) -> None:
        if self.variant not in _VARIANTS:
            raise ValueError(f"variant must be one of {_VARIANTS}, got {self.variant!r}")
        if self.embed_dim % 8 or self.embed_dim % self.heads:
            raise ValueError(f"embed_dim must be divisible by 8 and by the head count {self.heads}, got {self.embed_dim}")
        for name in ("img_size", "in_channels", "num_classes", "time_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")

    @property
    def heads(self) -> int:
        return self.num_heads if self.num_heads is not None else max(1, self.embed_dim // 64)


MAXFORMER_CONFIGS: dict[str, MaxFormerConfig] = {
    "cifar10-4-384": MaxFormerConfig(),
    "cifar100-4-384": MaxFormerConfig(num_classes=100),
    "imagenet-10-384": MaxFormerConfig("imagenet", 224, 3, 1000, 384, None, time_steps=1),
    "imagenet-10-512": MaxFormerConfig("imagenet", 224, 3, 1000, 512, None, time_steps=1),
    "imagenet-10-768": MaxFormerConfig("imagenet", 224, 3, 1000, 768, None, time_steps=1),
    "cifar10dvs-2-256": MaxFormerConfig("event", 128, 2, 10, 256, 16, 1.0, time_steps=16),
    "dvsgesture-2-256": MaxFormerConfig("event", 128, 2, 11, 256, 16, 1.0, time_steps=16),
}


class Embed(nn.Module):
    """(LIF ->) conv -> BN (-> 3x3/2 max-pool); ``shortcut=True`` skips the LIF (input already spikes). Returns output and the spikes it read."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, padding: int, neuron: NeuronFactory, shortcut: bool = False,
                 pool: bool = False):
        super().__init__()
        self.shortcut = shortcut
        self.embed_lif = neuron()
        self.embed_conv = nn.Conv2d(cin, cout, kernel, stride, padding, bias=False)
        self.embed_bn = nn.BatchNorm2d(cout)
        if pool:
            self.maxpool = nn.MaxPool2d(3, 2, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s = x if self.shortcut else self.embed_lif(x)
        y = per_step(self.embed_bn, per_step(self.embed_conv, s))
        if hasattr(self, "maxpool"):
            y = per_step(self.maxpool, y)
        return y, s


class EmbedOrig(nn.Module):
    """CIFAR stem: conv -> BN, then LIF-conv3x3-BN plus a LIF-conv1x1-BN shortcut of the same membrane."""

    def __init__(self, cin: int, dim: int, neuron: NeuronFactory):
        super().__init__()
        self.proj_conv = nn.Conv2d(cin, dim // 2, 3, 1, 1, bias=False)
        self.proj_bn = nn.BatchNorm2d(dim // 2)
        self.embed1 = Embed(dim // 2, dim, 3, 1, 1, neuron)
        self.embed2 = Embed(dim // 2, dim, 1, 1, 0, neuron)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = per_step(self.proj_bn, per_step(self.proj_conv, x))
        return self.embed1(x)[0] + self.embed2(x)[0]


class EmbedOrigImageNet(nn.Module):
    """ImageNet stem: two stride-2 convs and a 3x3 conv, plus a stride-2 1x1 shortcut of the middle spikes."""

    def __init__(self, cin: int, dim: int, neuron: NeuronFactory):
        super().__init__()
        self.embed1 = Embed(cin, dim // 2, 3, 2, 1, neuron, shortcut=True)
        self.embed2 = Embed(dim // 2, dim, 3, 2, 1, neuron)
        self.embed3 = Embed(dim, dim, 3, 1, 1, neuron)
        self.embed4 = Embed(dim // 2, dim, 1, 2, 0, neuron, shortcut=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, _ = self.embed1(x)
        x, s = self.embed2(x)
        return self.embed3(x)[0] + self.embed4(s)[0]


class EmbedMax(nn.Module):
    """Down-sampling with the extra max-pool: LIF-conv3x3-BN-maxpool -> LIF-conv3x3-BN, plus conv1x1-BN-maxpool of the same spikes."""

    def __init__(self, cin: int, dim: int, neuron: NeuronFactory):
        super().__init__()
        self.max_embed1 = Embed(cin, dim, 3, 1, 1, neuron, pool=True)
        self.embed1 = Embed(dim, dim, 3, 1, 1, neuron)
        self.max_embed2 = Embed(cin, dim, 1, 1, 0, neuron, shortcut=True, pool=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y, s = self.max_embed1(x)
        return self.embed1(y)[0] + self.max_embed2(s)[0]


class EmbedMaxPlus(nn.Module):
    """128x128 event stem: conv-BN, three max-pooled embeddings (D/4, D/2, D) and a stride-4 1x1 shortcut."""

    def __init__(self, cin: int, dim: int, neuron: NeuronFactory):
        super().__init__()
        self.proj_conv = nn.Conv2d(cin, dim // 8, 3, 1, 1, bias=False)
        self.proj_bn = nn.BatchNorm2d(dim // 8)
        self.max_embed1 = Embed(dim // 8, dim // 4, 3, 1, 1, neuron, pool=True)
        self.max_embed2 = Embed(dim // 4, dim // 2, 3, 1, 1, neuron, pool=True)
        self.max_embed3 = Embed(dim // 2, dim, 3, 1, 1, neuron, pool=True)
        self.embed1 = Embed(dim // 4, dim, 1, 4, 0, neuron, shortcut=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = per_step(self.proj_bn, per_step(self.proj_conv, x))
        x, _ = self.max_embed1(x)
        x, s = self.max_embed2(x)
        return self.max_embed3(x)[0] + self.embed1(s)[0]


class DWCMixer(nn.Module):
    """``x + BN(DWConv_k(LIF(x)))``."""

    def __init__(self, dim: int, kernel: int, neuron: NeuronFactory):
        super().__init__()
        self._p = "conv5" if kernel == 7 else "conv"  # the official 7x7 mixer names its layers conv5*
        setattr(self, self._p, nn.Conv2d(dim, dim, kernel, padding=kernel // 2, groups=dim))
        setattr(self, f"{self._p}_bn", nn.BatchNorm2d(dim))
        setattr(self, f"{self._p}_neuron", neuron())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = getattr(self, f"{self._p}_neuron")(x)
        return x + per_step(getattr(self, f"{self._p}_bn"), per_step(getattr(self, self._p), y))


class MembraneSSA(nn.Module):
    """``x + BN(Conv1d(LIF_0.5(Q (K^T V) 0.125)))`` with Q, K, V = LIF(BN(Conv1d(LIF(x))))."""

    def __init__(self, dim: int, num_heads: int, neuron: NeuronFactory):
        super().__init__()
        self.num_heads = num_heads
        self.x_lif = neuron()
        for p in ("q", "k", "v"):
            setattr(self, f"{p}_conv", nn.Conv1d(dim, dim, 1, bias=False))
            setattr(self, f"{p}_bn", nn.BatchNorm1d(dim))
            setattr(self, f"{p}_lif", neuron())
        self.attn_lif = neuron(v_threshold=0.5)
        self.proj_conv = nn.Conv1d(dim, dim, 1)
        self.proj_bn = nn.BatchNorm1d(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t, b, c, h, w = x.shape
        s = self.x_lif(x).flatten(3)
        heads = []
        for p in ("q", "k", "v"):
            y = getattr(self, f"{p}_lif")(per_step(getattr(self, f"{p}_bn"), per_step(getattr(self, f"{p}_conv"), s)))
            heads.append(y.reshape(t, b, self.num_heads, c // self.num_heads, h * w).transpose(-1, -2))
        q, k, v = heads
        y = self.attn_lif(((q @ (k.transpose(-2, -1) @ v)) * 0.125).transpose(-1, -2).reshape(t, b, c, h * w))
        return x + per_step(self.proj_bn, per_step(self.proj_conv, y)).reshape(t, b, c, h, w)


class Block(nn.Module):
    """Token mixer (``mixer``: identity, depth-wise conv or attention) then the membrane-shortcut MLP."""

    def __init__(self, mixer: nn.Module | None, dim: int, mlp_ratio: float, neuron: NeuronFactory, attn: bool = False):
        super().__init__()
        if attn:
            self.attn = mixer
        else:
            self.mixer = mixer if mixer is not None else nn.Identity()
        self.mlp = MembraneMLP(dim, int(dim * mlp_ratio), neuron)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.attn(x) if hasattr(self, "attn") else self.mixer(x)
        return self.mlp(x)


class MaxFormer(nn.Module):
    """Max-Former; input ``[B, C, H, W]`` (repeated over T) or ``[B, T, C, H, W]``; logits ``[B, classes]``."""

    def __init__(self, cfg: MaxFormerConfig = MaxFormerConfig(), neuron: NeuronFactory = make_lif):
        super().__init__()
        self.cfg = cfg
        d, r = cfg.embed_dim, cfg.mlp_ratio

        def attention(dim: int) -> Block:
            return Block(MembraneSSA(dim, cfg.heads, neuron), dim, r, neuron, attn=True)

        def dwc(dim: int, k: int) -> Block:
            return Block(DWCMixer(dim, k, neuron), dim, r, neuron)

        if cfg.variant == "cifar":
            stems = [EmbedOrig(cfg.in_channels, d // 4, neuron), EmbedMax(d // 4, d // 2, neuron), EmbedMax(d // 2, d, neuron)]
            stages = [[Block(None, d // 4, r, neuron)], [dwc(d // 2, 3)], [attention(d) for _ in range(2)]]
        elif cfg.variant == "imagenet":
            stems = [EmbedOrigImageNet(cfg.in_channels, d // 4, neuron), EmbedMax(d // 4, d // 2, neuron), EmbedMax(d // 2, d, neuron)]
            stages = [[dwc(d // 4, 7)], [dwc(d // 2, 5) for _ in range(2)], [attention(d) for _ in range(7)]]
        else:
            stems = [EmbedMaxPlus(cfg.in_channels, d // 2, neuron), EmbedMax(d // 2, d, neuron)]
            stages = [[dwc(d // 2, 3)], [attention(d)]]
        for i, (stem, stage) in enumerate(zip(stems, stages), start=1):
            setattr(self, f"patch_embed{i}", stem)
            setattr(self, f"stage{i}", nn.ModuleList(stage))
        self.num_stages = len(stems)
        self.head_lif = neuron()
        self.head = nn.Linear(d, cfg.num_classes)
        if cfg.variant == "imagenet":
            init_official(self, linear=False, conv=True)
        else:
            init_official(self, linear=True)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        for i in range(1, self.num_stages + 1):
            x = getattr(self, f"patch_embed{i}")(x)
            for blk in getattr(self, f"stage{i}"):
                x = blk(x)
        return x.flatten(3).mean(3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = to_time_major(x, self.cfg.time_steps, self.cfg.in_channels)
        return self.head(self.head_lif(self.forward_features(x)).mean(0))


def maxformer(name: str = "cifar10-4-384", neuron: NeuronFactory = make_lif, **overrides) -> MaxFormer:
    """A published Max-Former size by name (see :data:`MAXFORMER_CONFIGS`), fields overridable."""
    if name not in MAXFORMER_CONFIGS:
        raise ValueError(f"unknown Max-Former config {name!r}; known: {sorted(MAXFORMER_CONFIGS)}")
    return MaxFormer(replace(MAXFORMER_CONFIGS[name], **overrides), neuron)
