"""Spiking transformers, layer for layer as in the official code of their papers, on :mod:`neuro.nn` neurons.

=========================  =========================================================  ==========================
model                      paper                                                      builder
=========================  =========================================================  ==========================
:class:`Spikformer`        Zhou et al., ICLR 2023                                     :func:`spikformer`
Spikformer V2 (SCS stem)   Zhou et al., arXiv 2024 (SCS layout assumed)               :func:`spikformer`
:class:`SpikeDrivenTransformer`  Yao et al., NeurIPS 2023                             :func:`spike_driven_transformer`
:class:`MetaSpikformer`    Yao et al., ICLR 2024 (Spike-driven Transformer V2)        :func:`meta_spikformer`
:class:`QSDTransformer`    Qiu et al., ICLR 2025                                      :func:`qsd_transformer`
:class:`MaxFormer`         Fang et al., 2025                                          :func:`maxformer`
:class:`SpikeGPT`          Zhu et al., TMLR 2024 (spiking RWKV language model)        :func:`spikegpt`
:class:`SpikePoint`        Ren et al., ICLR 2024 (point-based, event clouds)          :func:`spikepoint`
=========================  =========================================================  ==========================

Each builder takes a published size by name (``spikformer("cifar10-4-384")``; the ``*_CONFIGS``
dictionaries list them) and keyword overrides of its frozen config dataclass. Every model accepts
static images ``[B, C, H, W]`` (direct encoding: repeated over ``time_steps``) or event frames
``[B, T, C, H, W]`` (e.g. 2-polarity DVS frames) and returns logits ``[B, classes]``. Models built
with the default neurons run on the fused LIF op of :mod:`neuro.ops.lif`; pass ``neuron=`` (a
factory like :func:`make_lif`) to build the same architecture on another neuron.

The language model :class:`SpikeGPT` (:mod:`~neuro.nn.models.spikegpt`) takes token ids ``[B, L]`` (the tokens are
the time steps) and returns logits ``[B, L, vocab]``, in a parallel and a recurrent form; the SpikingBrain-style block
of :mod:`~neuro.nn.models.spikingbrain` (adaptive spike counts, causal linear attention) maps ``[B, L, C]`` to itself.
The spiking diffusion model of :mod:`~neuro.nn.models.spiking_diffusion` (:class:`SpikingDenoiser`, :class:`DDPM`,
:func:`threshold_guidance`; Cao et al., WACV 2024 and IEEE TAI) predicts the noise of images ``[B, C, H, W]``.
"""

from ._layers import count_parameters
from ._neurons import MultiLevelSpike, ReLUNeuron, expand_to_binary, make_lif
from .distillation import attention_qk, fine_grained_distillation_loss, record_attention, similarity_matrix
from .maxformer import MAXFORMER_CONFIGS, MaxFormer, MaxFormerConfig, maxformer
from .meta_spikformer import META_SPIKFORMER_CONFIGS, MetaSpikformer, MetaSpikformerConfig, meta_spikformer
from .qsd import QSD_CONFIGS, QSDTransformer, qsd_transformer
from .quantization import QConv1d, QConv2d, QLinear, lsq_quantize
from .spike_driven import SDT_CONFIGS, SDTConfig, SpikeDrivenTransformer, spike_driven_transformer
from .spikegpt import SPIKEGPT_CONFIGS, SpikeGPT, SpikeGPTConfig, SpikeGPTState, spikegpt
from .spikepoint import SPIKEPOINT_CONFIGS, SpikePoint, SpikePointConfig, spikepoint
from .spikformer import SPIKFORMER_CONFIGS, Spikformer, SpikformerConfig, spikformer
from .spiking_diffusion import DDPM, SpikingDenoiser, threshold_guidance
from .spikingbrain import AdaptiveSpikeCount, SpikingBrainBlock, SpikingLinearAttention, ternary_spike_train

__all__ = [
    "Spikformer", "SpikformerConfig", "SPIKFORMER_CONFIGS", "spikformer",
    "SpikeDrivenTransformer", "SDTConfig", "SDT_CONFIGS", "spike_driven_transformer",
    "MetaSpikformer", "MetaSpikformerConfig", "META_SPIKFORMER_CONFIGS", "meta_spikformer",
    "QSDTransformer", "QSD_CONFIGS", "qsd_transformer",
    "MaxFormer", "MaxFormerConfig", "MAXFORMER_CONFIGS", "maxformer",
    "QConv2d", "QConv1d", "QLinear", "lsq_quantize",
    "MultiLevelSpike", "ReLUNeuron", "expand_to_binary", "make_lif",
    "fine_grained_distillation_loss", "similarity_matrix", "record_attention", "attention_qk",
    "count_parameters",
    "SpikeGPT", "SpikeGPTConfig", "SpikeGPTState", "SPIKEGPT_CONFIGS", "spikegpt",
    "AdaptiveSpikeCount", "SpikingLinearAttention", "SpikingBrainBlock", "ternary_spike_train",
    "SpikePoint", "SpikePointConfig", "SPIKEPOINT_CONFIGS", "spikepoint",
    "SpikingDenoiser", "DDPM", "threshold_guidance",
]
