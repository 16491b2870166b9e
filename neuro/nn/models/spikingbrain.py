r"""A SpikingBrain-style block: causal linear attention fed by adaptive-threshold spike counts.

After the SpikingBrain technical report (Pan et al., BICLab 2025) and its spike coding code (github.com/BICLab/
SpikingBrain-7B, ``W8ASpike/neuron.py``): activations become integer **spike counts** through a neuron whose threshold
follows the input, and the counts are spike trains of ``T`` steps when needed (binary for counts >= 0, ternary -1/0/+1
for signed counts, or bitwise). This module builds the pieces at the scale of :mod:`neuro.nn` models; it is not the
7B / 76B hybrid models of the report (no parameter count is claimed).

**Adaptive spike counts** (:class:`AdaptiveSpikeCount`): per token, with :math:`k` the target count scale,

.. math::

    \theta = \frac{1}{k}\,\mathrm{mean}_c |x_c|, \qquad s = \mathrm{clip}\big(\mathrm{round}(x / \theta), -D, D\big),
    \qquad \hat x = \theta\, s

(straight-through gradient of the rounding inside the clip). :func:`ternary_spike_train` writes ``s`` as
:math:`\max |s|` steps of -1/0/+1 spikes whose sum is ``s``; :func:`neuro.nn.models.expand_to_binary` does it for
non-negative counts.

**Spiking linear attention** (:class:`SpikingLinearAttention`): the input's spike counts drive the Q, K, V maps (bias-free:
:math:`W(\theta s) = \theta\,W s`, so the synapses see integers), and causal linear attention with feature map
:math:`\phi = \mathrm{elu} + 1` mixes the tokens,

.. math::

    y_t = W_o\,\frac{\sum_{i \le t} \big(\phi(q_t)^\top \phi(k_i)\big)\, v_i}{\sum_{i \le t} \phi(q_t)^\top \phi(k_i)},

in parallel (a masked [tokens x tokens] product) or recurrently (:meth:`~SpikingLinearAttention.step`: the state
:math:`S = \sum_i \phi(k_i) v_i^\top`, :math:`z = \sum_i \phi(k_i)` per head, constant in the text length).
:class:`SpikingBrainBlock` adds a pre-norm residual and a spiking MLP (adaptive counts, then ``Linear -> SiLU ->
counts -> Linear``).

Example::

    block = SpikingBrainBlock(dim=64, heads=4)
    y = block(torch.randn(2, 50, 64))                  # [B, L, C]
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["AdaptiveSpikeCount", "SpikingLinearAttention", "SpikingBrainBlock", "ternary_spike_train"]


class _RoundClip(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u: torch.Tensor, limit: int) -> torch.Tensor:
        ctx.save_for_backward(u)
        ctx.limit = limit
        return torch.round(u).clamp(-limit, limit)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (u,) = ctx.saved_tensors
        return grad * (u.abs() <= ctx.limit).to(grad.dtype), None


class AdaptiveSpikeCount(nn.Module):
    r"""Integer spike counts with a threshold that follows the input: :math:`\theta = \mathrm{mean}_c|x_c| / k`,
    :math:`s = \mathrm{clip}(\mathrm{round}(x/\theta), -D, D)`, per token (the last dimension is the channels).

    ``forward`` returns the counts ``s`` (integers as floats); :meth:`threshold` gives :math:`\theta` ``[..., 1]`` so that
    :math:`\theta s` approximates ``x``. ``signed=False`` clips at 0 from below (counts for binary spike trains).
    """

    is_spiking = True

    def __init__(self, k: float = 2.0, max_count: int = 8, signed: bool = True, eps: float = 1e-6):
        super().__init__()
        if not k > 0:
            raise ValueError(f"k must be > 0, got {k}")
        if int(max_count) != max_count or max_count < 1:
            raise ValueError(f"max_count must be a positive integer, got {max_count}")
        self.k, self.max_count, self.signed, self.eps = float(k), int(max_count), bool(signed), float(eps)

    def extra_repr(self) -> str:
        return f"k={self.k:g}, max_count={self.max_count}, signed={self.signed}"

    def threshold(self, x: torch.Tensor) -> torch.Tensor:
        return x.abs().mean(dim=-1, keepdim=True).clamp_min(self.eps) / self.k

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u = x / self.threshold(x)
        if not self.signed:
            u = u.clamp_min(0.0)
        return _RoundClip.apply(u, self.max_count)


def ternary_spike_train(counts: torch.Tensor, steps: int | None = None) -> torch.Tensor:
    """Signed integer counts ``[...]`` as -1/0/+1 spikes ``[steps, ...]`` (a count ``n`` fires ``sign(n)`` on its first
    ``|n|`` steps; the train sums back to the counts). ``steps`` defaults to the largest ``|n|``."""
    k = torch.round(counts)
    if not torch.equal(k, counts):
        raise ValueError("counts must be integer-valued")
    need = int(k.abs().max()) if k.numel() else 0
    steps = need if steps is None else steps
    if steps < need:
        raise ValueError(f"steps must be >= the largest |count| ({need}), got {steps}")
    t = torch.arange(steps, device=counts.device, dtype=counts.dtype).view(-1, *([1] * counts.dim()))
    return torch.sign(k).unsqueeze(0) * (t < k.abs().unsqueeze(0)).to(counts.dtype)


class SpikingLinearAttention(nn.Module):
    """Causal linear attention on adaptive spike counts, ``[B, L, C] -> [B, L, C]``; :meth:`step` is the recurrent form."""

    def __init__(self, dim: int, heads: int = 4, k: float = 2.0, max_count: int = 8):
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim must be divisible by heads, got dim={dim}, heads={heads}")
        self.heads, self.head_dim = heads, dim // heads
        self.spikes = AdaptiveSpikeCount(k, max_count)
        self.q = nn.Linear(dim, dim, bias=False)
        self.k = nn.Linear(dim, dim, bias=False)
        self.v = nn.Linear(dim, dim, bias=False)
        self.out = nn.Linear(dim, dim, bias=False)

    def _qkv(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        s, theta = self.spikes(x), self.spikes.threshold(x).detach()
        shape = (*x.shape[:-1], self.heads, self.head_dim)
        q, k, v = ((theta * lin(s)).view(shape) for lin in (self.q, self.k, self.v))
        return F.elu(q) + 1, F.elu(k) + 1, v

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, length, c = x.shape
        q, k, v = (t.transpose(1, 2) for t in self._qkv(x))                 # [B, H, L, d]
        scores = (q @ k.transpose(-1, -2)).tril()                            # phi(q_t) . phi(k_i), i <= t
        y = (scores @ v) / scores.sum(-1, keepdim=True)
        return self.out(y.transpose(1, 2).reshape(b, length, c))

    def initial_state(self, batch: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return like.new_zeros(batch, self.heads, self.head_dim, self.head_dim), like.new_zeros(batch, self.heads, self.head_dim)

    def step(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None) -> tuple[torch.Tensor, tuple]:
        """One token ``[B, C]``: ``(y [B, C], (S, z))`` with ``S`` ``[B, H, d, d]`` and ``z`` ``[B, H, d]``."""
        q, k, v = self._qkv(x)                                                # [B, H, d]
        s_kv, z = self.initial_state(x.shape[0], x) if state is None else state
        s_kv = s_kv + k.unsqueeze(-1) * v.unsqueeze(-2)
        z = z + k
        y = (q.unsqueeze(-2) @ s_kv).squeeze(-2) / (q * z).sum(-1, keepdim=True)
        return self.out(y.reshape(x.shape[0], -1)), (s_kv, z)


class SpikingBrainBlock(nn.Module):
    """``x + Attn(LN(x))``, then ``x + W_2 counts(SiLU(W_1 counts(LN(x))))``; ``[B, L, C]``, recurrent :meth:`step`."""

    def __init__(self, dim: int, heads: int = 4, mlp_ratio: int = 4, k: float = 2.0, max_count: int = 8):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = SpikingLinearAttention(dim, heads, k, max_count)
        self.mlp_in_spikes = AdaptiveSpikeCount(k, max_count)
        self.fc1 = nn.Linear(dim, mlp_ratio * dim)
        self.mlp_hidden_spikes = AdaptiveSpikeCount(k, max_count)
        self.fc2 = nn.Linear(mlp_ratio * dim, dim)

    def _mlp(self, x: torch.Tensor) -> torch.Tensor:
        h = F.silu(self.fc1(self.mlp_in_spikes.threshold(x).detach() * self.mlp_in_spikes(x)))
        return self.fc2(self.mlp_hidden_spikes.threshold(h).detach() * self.mlp_hidden_spikes(h))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self._mlp(self.ln2(x))

    def step(self, x: torch.Tensor, state=None) -> tuple[torch.Tensor, tuple]:
        y, state = self.attn.step(self.ln1(x), state)
        x = x + y
        return x + self._mlp(self.ln2(x)), state
