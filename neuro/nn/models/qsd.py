r"""QSD-Transformer (Qiu et al., *Quantized Spike-driven Transformer*, ICLR 2025).

Meta-SpikeFormer (:mod:`.meta_spikformer`) with

* **low-bit weights** in every conv and linear layer: learned step-size quantization per output
  channel, 2/4/8 bits, straight-through rounding (:mod:`.quantization`);
* **multi-level spiking neurons** (the training form of the paper's information-enhanced LIF,
  :class:`~._neurons.MultiLevelSpike` with :math:`D = 4` levels); in the quantized spike-driven
  self-attention (Q-SDSA) the attention neuron is normalised by :math:`D/2`, so it spans
  :math:`[0, 2]`, and :math:`\mathrm{SDSA} = \mathrm{SN}(Q (K^\top V) \cdot 0.25)`;
* **layer scale**: each residual branch is multiplied by a learned per-channel vector
  initialised to :math:`10^{-6}`.

The paper's fine-grained distillation loss is :func:`.distillation.fine_grained_distillation_loss`;
``qsd_transformer(name, ann=True)`` builds the full-precision ReLU counterpart used as its teacher.
Layout, names and parameter counts follow github.com/bollossom/QSD-Transformer
(``classification/models.py``), whose quantized layers also carry an identity activation
quantizer with two parameters per input channel (kept frozen here for checkpoint parity).

Example::

    model = qsd_transformer("imagenet-15M", bits=4)
    logits = model(torch.rand(2, 3, 224, 224))     # T = 1 step of multi-level spikes -> [2, 1000]
"""

from __future__ import annotations

from dataclasses import replace

from torch import nn

from ._neurons import MultiLevelSpike, ReLUNeuron
from .meta_spikformer import MetaSpikformer, MetaSpikformerConfig, Parts
from .quantization import QConv1d, QConv2d, QLinear

__all__ = ["QSD_CONFIGS", "QSDTransformer", "qsd_transformer", "qsd_parts"]

#: Published ImageNet sizes (8.4M / 15.3M / 31.5M / 55.6M parameters with their step sizes).
QSD_CONFIGS: dict[str, MetaSpikformerConfig] = {
    "imagenet-8M": MetaSpikformerConfig((48, 96, 192, 256)),
    "imagenet-15M": MetaSpikformerConfig((64, 128, 256, 360)),
    "imagenet-31M": MetaSpikformerConfig((96, 192, 384, 480)),
    "imagenet-55M": MetaSpikformerConfig((128, 256, 512, 640)),
}


def qsd_parts(bits: int = 4, levels: int = 4, layer_scale: float = 1e-6) -> Parts:
    """Quantized layers (``bits``) and multi-level neurons (``levels``) of the QSD-Transformer."""
    if int(levels) != levels or levels < 2 or levels % 2:
        raise ValueError(f"levels must be an even integer >= 2, got {levels}")

    def conv2d(i, o, k, stride=1, padding=0, groups=1, bias=False):
        return QConv2d(i, o, k, stride, padding, groups=groups, bias=bias, bits=bits)

    return Parts(conv2d=conv2d, conv1d=lambda i, o: QConv1d(i, o, 1, bits=bits), linear=lambda i, o: QLinear(i, o, bits=bits),
                 neuron=lambda: MultiLevelSpike(levels), attn_neuron=lambda: MultiLevelSpike(levels, norm=levels / 2),
                 attn_scale=0.25, layer_scale=layer_scale)


def ann_parts(layer_scale: float = 1e-6) -> Parts:
    """The full-precision ReLU counterpart (the distillation teacher's layers)."""

    def conv2d(i, o, k, stride=1, padding=0, groups=1, bias=False):
        return nn.Conv2d(i, o, k, stride, padding, groups=groups, bias=bias)

    return Parts(conv2d=conv2d, neuron=ReLUNeuron, attn_neuron=ReLUNeuron, attn_scale=0.25, layer_scale=layer_scale)


class QSDTransformer(MetaSpikformer):
    """QSD-Transformer: ``bits``-bit weights, ``levels``-level spikes; ``ann=True`` gives the full-precision ReLU twin."""

    def __init__(self, cfg: MetaSpikformerConfig = QSD_CONFIGS["imagenet-15M"], bits: int = 4, levels: int = 4, ann: bool = False):
        super().__init__(cfg, parts=ann_parts() if ann else qsd_parts(bits, levels))
        self.bits = None if ann else int(bits)
        self.ann = ann


def qsd_transformer(name: str = "imagenet-15M", bits: int = 4, levels: int = 4, ann: bool = False, **overrides) -> QSDTransformer:
    """A published QSD-Transformer size by name (see :data:`QSD_CONFIGS`), fields of the config overridable."""
    if name not in QSD_CONFIGS:
        raise ValueError(f"unknown QSD-Transformer config {name!r}; known: {sorted(QSD_CONFIGS)}")
    return QSDTransformer(replace(QSD_CONFIGS[name], **overrides), bits=bits, levels=levels, ann=ann)
