r"""SymbolicLight's spike-gated dual path (Liu, *SymbolicLight V1: Spike-Gated Dual-Path Language Modeling with High
Activation Sparsity and Sub-Billion-Scale Pre-Training Evidence*, arXiv 2605.21333, 2026) at the scale of
:mod:`neuro.nn` models.

The paper's text gives the block in words only (an exponential-decay aggregation path for long-range memory fused with
a spike-gated local attention path for short-range precision); the equations here are our reading of the released
inference code (github.com/SymbolicLight-AGI/SymbolicLight-V1, ``model-194m/code/model.py``: ``SpikeEncoder``,
``SparseTCAM``, ``SparseLocalAttention``, ``SpikingFeedForward``, ``BayesianHead``), written anew on :mod:`neuro.nn`
LIF neurons. Tokens are the time steps.

**Spike encoder**: :math:`x_t = \mathrm{LN}(E[\mathrm{token}_t])` (the continuous stream) and
:math:`s_t = \mathrm{LIF}(x_t)` with :math:`v_t = \lambda_{\mathrm{enc}} v_{t-1} + x_t`, threshold 1, hard reset to 0,
:math:`\lambda_{\mathrm{enc}} = 0.95` (binary spikes, ``[B, L, C]``).

**Dual-path mixer** (one per block), from the spikes :math:`s` and the stream :math:`x`:

.. math::

    u_t = W_u s_t, \qquad h_t = \lambda_h h_{t-1} + (1 - \lambda_h)\, u_t
    \quad(\text{per head } h,\ \lambda_h = \sigma(\rho_h)),

the **decay path** (a linear recurrence, in parallel as a masked [tokens x tokens] sum
:math:`h_t = \sum_{i \le t} \lambda^{t-i}(1-\lambda) u_i`), and the **spike-gated local attention path**: with the
token gate :math:`g_t = [\textstyle\sum_c s_{t,c} > 0] \in \{0, 1\}` and RoPE-rotated :math:`q = W_q x`,
:math:`k = W_k x`, :math:`v = W_v x`,

.. math::

    a_t = g_t \sum_{i \in N(t)} \mathrm{softmax}_i\big(q_t^\top k_i / \sqrt{d}\big)\, v_i, \qquad
    N(t) = \{\, i : t - W \le i \le t,\ g_i = 1 \,\}

(:math:`a_t = 0` when :math:`N(t)` is empty): a query sees itself and the ``window`` tokens before it, and only the
tokens that spiked. The paths are merged by one learned gate, :math:`y = W_o\big(\gamma a + (1-\gamma) h\big)`,
:math:`\gamma = \sigma(\beta_\gamma)` (0.5 at the start), and the block is post-norm as in the official code:

.. math::

    x \leftarrow \mathrm{LN}_1(x + y), \qquad
    x \leftarrow \mathrm{LN}_2\big(x + W_{down}\,\mathrm{LIF}_{ffn}(W_{up} x)\big), \qquad s \leftarrow \mathrm{LIF}_{out}(x).

The official blocks threshold without memory (``hard_spike``); that is a LIF with decay 0, the default
``block_beta=0.0`` here (give ``block_beta > 0`` for spikes that integrate along the tokens). **Head**:
:math:`\mathrm{logits} = W_{out} x + 0.1\, P(x)` with the "dynamic prior" :math:`P` = Linear(C, C/4) -> GELU ->
Linear(C/4, vocab).

The model runs in two forms that give the same output: the **parallel** form (:meth:`SymbolicLight.forward`) and the
**streaming** form (:meth:`SymbolicLight.step`, one token at a time): per block the state is the decay state
:math:`h` ``[B, H, d]``, the last ``window`` keys, values and gates, and the LIF potentials; its size stops growing
once ``window`` tokens have been read (:meth:`SymbolicLightState.numel`).

**Our choices and what is not reproduced**: the official inference code thresholds without a gradient; the LIFs here
train with an ATan surrogate (slope 2). Not reproduced: the official encoder's clamp of the membrane to [-3, 3]
(the neuron here is :class:`neuro.nn.LIF`, without a clamp), the ``n_global_anchors`` first tokens that every query
may also attend to (they would break the strict window), dropout, the entropy early-exit gate, the bilingual tokenizer
and the adaptive sampling temperature. The weights start at PyTorch's defaults: the official normal(0, 0.02)
is sized for 768 channels, and at 64 it leaves the FFN's LIF silent (its input never nears the threshold).
**Published sizes** (:data:`SYMBOLICLIGHT_CONFIGS`): ``"194m"`` (12 x 768, 12 heads, FFN 4096, window 256, the 48K
tokenizer: the defaults of the official ``model-194m/code/model.py`` ``SymbolicLightConfig``) has 194,016,924
parameters, and ``"0.8b"`` (22 x 1536, 24 heads, FFN 6144, window 512, a 57,344-entry vocabulary:
``model-08b/src/model.py``) has 873,668,135, the count of the official ``model-08b/MODEL_CARD.md``; the 0.8B head
learns the prior's weight (``learn_prior_weight``, one parameter more), the 194M head fixes it at 0.1. The same
layers and names count the same: both totals equal those of the official classes built from these configurations.

Example::

    model = SymbolicLight(SymbolicLightConfig(vocab_size=96, n_layer=2, n_embd=64, n_head=4, window=16))
    logits = model(torch.randint(0, 96, (4, 128)))               # [B, L, vocab], parallel form
    state = None
    for token in prompt:                                         # streaming form, constant memory
        logits, state = model.step(token.view(1), state)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from ...ops.lif.autograd import lif_multi_step
from ..neurons import LIF

__all__ = ["SymbolicLight", "SymbolicLightConfig", "SymbolicLightState", "SYMBOLICLIGHT_CONFIGS", "DualPathState", "DualPathBlock",
           "DecayAggregation", "SpikeGatedLocalAttention", "TokenGateLIF"]


@dataclass(frozen=True)
class SymbolicLightConfig:
    """Hyper-parameters of one SymbolicLight model. ``window`` in tokens (a query sees itself and ``window`` tokens
    before it); ``encoder_beta`` / ``block_beta``: per-token membrane decay of the encoder's and the blocks' LIFs;
    ``decay_init``: the initial :math:`\\rho` of the decay path (:math:`\\lambda = \\sigma(3) = 0.953`);
    ``learn_prior_weight``: the head's prior weight (0.1) is a parameter (the official 0.8B head's ``prior_weight``) or fixed."""

    vocab_size: int = 96
    n_layer: int = 2
    n_embd: int = 64
    n_head: int = 4
    ffn_dim: int = 256
    window: int = 16
    encoder_beta: float = 0.95
    block_beta: float = 0.0
    v_threshold: float = 1.0
    decay_init: float = 3.0
    rope_theta: float = 10000.0
    prior: bool = True
    learn_prior_weight: bool = False

    def __post_init__(self) -> None:
        for name in ("vocab_size", "n_layer", "n_embd", "n_head", "ffn_dim", "window"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.n_embd % self.n_head or (self.n_embd // self.n_head) % 2:
            raise ValueError(f"n_embd / n_head must be an even integer (RoPE), got n_embd={self.n_embd}, n_head={self.n_head}")
        for name in ("encoder_beta", "block_beta"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if not self.v_threshold > 0:
            raise ValueError(f"v_threshold must be > 0, got {self.v_threshold}")


#: The two released models, from the official ``SymbolicLightConfig`` defaults (github.com/SymbolicLight-AGI/
#: SymbolicLight-V1): ``model-194m/code/model.py`` and ``model-08b/src/model.py``.
SYMBOLICLIGHT_CONFIGS: dict[str, SymbolicLightConfig] = {
    "194m": SymbolicLightConfig(vocab_size=48000, n_layer=12, n_embd=768, n_head=12, ffn_dim=4096, window=256),
    "0.8b": SymbolicLightConfig(vocab_size=57344, n_layer=22, n_embd=1536, n_head=24, ffn_dim=6144, window=512,
                                learn_prior_weight=True),
}


class TokenGateLIF(LIF):
    """A LIF along the tokens (input ``[L, B, C]``): :math:`v_t = \\beta v_{t-1} + x_t`, threshold ``v_threshold``,
    hard reset to 0, ATan surrogate (slope 2). :meth:`carry` runs it from a given potential and returns the last one."""

    def __init__(self, beta: float, v_threshold: float = 1.0):
        super().__init__(tau=None, beta=beta, v_threshold=v_threshold, v_reset=0.0, decay_input=False, surrogate="atan",
                         alpha=2.0)

    def carry(self, x: torch.Tensor, v0: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(spikes [L, B, C], potential after the last token [B, C])`` from ``x`` ``[L, B, C]`` and ``v0``."""
        self._check_input(x)
        s, _, v = lif_multi_step(x, v0, self.decay(x), self.params, backend=self.backend, need_h=False)
        return s, v


def _over_tokens(lif: TokenGateLIF, x: torch.Tensor) -> torch.Tensor:
    """The LIF from rest on ``x`` ``[B, L, C]``, the tokens as its time steps (through ``forward``, so hooks, e.g.
    :mod:`neuro.energy`'s spike counting, see it): spikes ``[B, L, C]``."""
    return lif(x.transpose(0, 1).contiguous()).transpose(0, 1)


class DecayAggregation(nn.Module):
    r"""The decay path: :math:`h_t = \lambda h_{t-1} + (1-\lambda) u_t` per head, :math:`\lambda = \sigma(\rho)`,
    on ``u`` ``[B, L, H, d]``. :meth:`forward` is the parallel form from :math:`h_{-1} = 0`; :meth:`step` one token."""

    def __init__(self, heads: int, decay_init: float = 3.0):
        super().__init__()
        self.decay_raw = nn.Parameter(torch.full((heads,), float(decay_init)))

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        length = u.shape[1]
        t = torch.arange(length, device=u.device)
        lag = (t[:, None] - t[None, :]).to(u.dtype)                                   # t - i
        log_lam = F.logsigmoid(self.decay_raw.to(u.dtype)).view(-1, 1, 1)            # [H, 1, 1]
        weights = torch.exp(lag.clamp_min(0) * log_lam) * (lag >= 0)                  # lambda^(t-i), i <= t
        weights = weights * (1 - torch.exp(log_lam))                                  # [H, L, L]
        return torch.einsum("hti,bihd->bthd", weights, u)

    def step(self, u: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """``u``, ``h`` ``[B, H, d]`` -> the next ``h``."""
        lam = torch.sigmoid(self.decay_raw.to(u.dtype)).view(1, -1, 1)
        return lam * h + (1 - lam) * u


def _rope(x: torch.Tensor, pos: torch.Tensor, inv_freq: torch.Tensor) -> torch.Tensor:
    """Rotary position embedding of ``x`` ``[..., L, d]`` at positions ``pos`` ``[L]`` (halves rotated)."""
    angles = pos.to(inv_freq.dtype)[:, None] * inv_freq[None, :]                      # [L, d/2]
    cos, sin = torch.cos(angles).repeat(1, 2).to(x.dtype), torch.sin(angles).repeat(1, 2).to(x.dtype)
    half = x.shape[-1] // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return x * cos + rotated * sin


class SpikeGatedLocalAttention(nn.Module):
    """Causal attention over the last ``window`` tokens and the current one, only between tokens whose gate is 1
    (the gate: binary, ``[B, L]``); a token whose gate is 0 outputs 0. ``[B, L, C] -> [B, L, C]`` (before the merge's
    output map); :meth:`step` is the streaming form with a cache of at most ``window`` keys, values and gates."""

    def __init__(self, dim: int, heads: int, window: int, rope_theta: float = 10000.0):
        super().__init__()
        self.heads, self.head_dim, self.window = heads, dim // heads, window
        self.q = nn.Linear(dim, dim, bias=False)
        self.k = nn.Linear(dim, dim, bias=False)
        self.v = nn.Linear(dim, dim, bias=False)
        self.register_buffer("inv_freq", 1.0 / rope_theta ** (torch.arange(0, self.head_dim, 2, dtype=torch.float64) / self.head_dim),
                             persistent=False)

    def _qkv(self, x: torch.Tensor, pos: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        shape = (*x.shape[:-1], self.heads, self.head_dim)
        q, k, v = (lin(x).view(shape).transpose(-2, -3) for lin in (self.q, self.k, self.v))   # [B, H, L, d]
        return _rope(q, pos, self.inv_freq), _rope(k, pos, self.inv_freq), v

    @staticmethod
    def _attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(q.shape[-1])
        some = mask.any(-1, keepdim=True)                                              # a row with no key gives 0
        scores = scores.masked_fill(~mask, float("-inf")).masked_fill(~some, 0.0)
        return torch.softmax(scores, dim=-1).masked_fill(~some, 0.0) @ v

    def forward(self, x: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
        b, length, c = x.shape
        if gate.shape != (b, length):
            raise ValueError(f"gate must be [B, L] = {[b, length]}, got {list(gate.shape)}")
        pos = torch.arange(length, device=x.device)
        q, k, v = self._qkv(x, pos)
        lag = pos[:, None] - pos[None, :]
        mask = ((lag >= 0) & (lag <= self.window))[None, None] & gate.bool()[:, None, None, :]   # [B, 1, L, L]
        y = self._attend(q, k, v, mask).transpose(1, 2).reshape(b, length, c)
        return y * gate[..., None].to(y.dtype)

    def step(self, x: torch.Tensor, gate: torch.Tensor, pos: int, cache: tuple[torch.Tensor, torch.Tensor, torch.Tensor]
             ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """One token ``x`` ``[B, C]``, ``gate`` ``[B]`` at position ``pos``; ``cache`` = (keys, values ``[B, H, n, d]``,
        gates ``[B, n]``), ``n <= window``. Returns ``(y [B, C], cache)``."""
        q, k, v = self._qkv(x[:, None], torch.tensor([pos], device=x.device))        # [B, H, 1, d]
        keys, values, gates = cache
        keys, values = torch.cat([keys, k], dim=2), torch.cat([values, v], dim=2)
        gates = torch.cat([gates, gate[:, None].to(gates.dtype)], dim=1)
        y = self._attend(q, keys, values, gates.bool()[:, None, None, :]).reshape(x.shape)
        keep = self.window                                                            # the next token sees these
        return y * gate[:, None].to(y.dtype), (keys[:, :, -keep:], values[:, :, -keep:], gates[:, -keep:])


@dataclass(frozen=True)
class DualPathState:
    """The streaming state of one block: decay state ``h`` ``[B, H, d]``, the last (at most ``window``) keys and values
    ``[B, H, n, d]`` and gates ``[B, n]``, and the potentials of the FFN's and the output's LIFs (``None``: at rest)."""

    h: torch.Tensor
    keys: torch.Tensor
    values: torch.Tensor
    gates: torch.Tensor
    v_ffn: torch.Tensor | None
    v_out: torch.Tensor | None

    def tensors(self) -> tuple[torch.Tensor, ...]:
        return tuple(t for t in (self.h, self.keys, self.values, self.gates, self.v_ffn, self.v_out) if t is not None)


class DualPathBlock(nn.Module):
    """One SymbolicLight block on ``(spikes, stream)`` ``[B, L, C]`` each: the dual-path mixer, post-norm residual, the
    spiking FFN, and the output LIF whose spikes gate the next block."""

    def __init__(self, cfg: SymbolicLightConfig):
        super().__init__()
        c, self.heads = cfg.n_embd, cfg.n_head
        self.tcam = nn.Linear(c, c, bias=False)                                       # u = W_u s
        self.decay = DecayAggregation(cfg.n_head, cfg.decay_init)
        self.attn = SpikeGatedLocalAttention(c, cfg.n_head, cfg.window, cfg.rope_theta)
        self.attn_gate = nn.Parameter(torch.zeros(1))
        self.out = nn.Linear(c, c, bias=False)
        self.ln1, self.ln2 = nn.LayerNorm(c), nn.LayerNorm(c)
        self.up = nn.Linear(c, cfg.ffn_dim, bias=False)
        self.down = nn.Linear(cfg.ffn_dim, c, bias=False)
        self.lif_ffn = TokenGateLIF(cfg.block_beta, cfg.v_threshold)
        self.lif_out = TokenGateLIF(cfg.block_beta, cfg.v_threshold)

    def _merge(self, a: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        g = torch.sigmoid(self.attn_gate)
        return self.out(g * a + (1 - g) * h)

    def forward(self, s: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, length, c = x.shape
        gate = (s.sum(-1) > 0).to(x.dtype)                                            # binary token gate
        h = self.decay(self.tcam(s).view(b, length, self.heads, -1)).reshape(b, length, c)
        x = self.ln1(x + self._merge(self.attn(x, gate), h))
        hidden = _over_tokens(self.lif_ffn, self.up(x))
        x = self.ln2(x + self.down(hidden))
        s = _over_tokens(self.lif_out, x)
        return s, x

    def initial_state(self, batch: int, like: torch.Tensor) -> DualPathState:
        """At rest: ``h = 0``, an empty attention cache, LIF potentials at rest; ``like`` gives dtype and device."""
        empty = like.new_zeros(batch, self.heads, 0, self.attn.head_dim)
        return DualPathState(like.new_zeros(batch, self.heads, self.attn.head_dim), empty, empty, like.new_zeros(batch, 0),
                             None, None)

    def step(self, s: torch.Tensor, x: torch.Tensor, pos: int, state: DualPathState
             ) -> tuple[torch.Tensor, torch.Tensor, DualPathState]:
        """One token: ``s``, ``x`` ``[B, C]`` at position ``pos`` -> ``(spikes, stream, state)``."""
        gate = (s.sum(-1) > 0).to(x.dtype)
        h = self.decay.step(self.tcam(s).view(x.shape[0], self.heads, -1), state.h)
        a, (keys, values, gates) = self.attn.step(x, gate, pos, (state.keys, state.values, state.gates))
        x = self.ln1(x + self._merge(a, h.reshape(x.shape)))
        hidden, v_ffn = self.lif_ffn.carry(self.up(x)[None], state.v_ffn)
        x = self.ln2(x + self.down(hidden[0]))
        s, v_out = self.lif_out.carry(x[None], state.v_out)
        return s[0], x, DualPathState(h, keys, values, gates, v_ffn, v_out)


@dataclass(frozen=True)
class SymbolicLightState:
    """The streaming state of a model: the encoder LIF's potential, one :class:`DualPathState` per block, and the
    position of the next token. Its size stops growing once ``window`` tokens have been read."""

    v_enc: torch.Tensor | None
    blocks: tuple[DualPathState, ...]
    position: int

    def numel(self) -> int:
        """Number of values held (the memory the streaming form needs)."""
        enc = 0 if self.v_enc is None else self.v_enc.numel()
        return enc + sum(t.numel() for b in self.blocks for t in b.tensors())


class SymbolicLight(nn.Module):
    """A SymbolicLight character- or token-level language model: spike encoder, ``n_layer`` :class:`DualPathBlock`,
    head with dynamic prior. ``forward`` takes token ids ``[B, L]`` and returns logits ``[B, L, vocab]``."""

    def __init__(self, cfg: SymbolicLightConfig = SymbolicLightConfig()):
        super().__init__()
        self.cfg = cfg
        self.emb = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.ln_in = nn.LayerNorm(cfg.n_embd)
        self.lif_in = TokenGateLIF(cfg.encoder_beta, cfg.v_threshold)
        self.blocks = nn.ModuleList(DualPathBlock(cfg) for _ in range(cfg.n_layer))
        self.head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        self.prior = nn.Sequential(nn.Linear(cfg.n_embd, max(cfg.n_embd // 4, 1), bias=False), nn.GELU(),
                                   nn.Linear(max(cfg.n_embd // 4, 1), cfg.vocab_size, bias=False)) if cfg.prior else None
        self.prior_weight = nn.Parameter(torch.tensor(0.1)) if cfg.prior and cfg.learn_prior_weight else 0.1

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(x) if self.prior is None else self.head(x) + self.prior_weight * self.prior(x)

    def _check(self, idx: torch.Tensor, dims: int) -> None:
        if idx.dim() != dims or idx.dtype not in (torch.int32, torch.int64):
            want = "[B, L]" if dims == 2 else "[B]"
            raise ValueError(f"token ids must be an integer tensor {want}, got {idx.dtype} of shape {list(idx.shape)}")

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        self._check(idx, 2)
        x = self.ln_in(self.emb(idx))
        s = _over_tokens(self.lif_in, x)
        for block in self.blocks:
            s, x = block(s, x)
        return self._logits(x)

    def initial_state(self, batch: int) -> SymbolicLightState:
        like = self.head.weight
        return SymbolicLightState(None, tuple(b.initial_state(batch, like) for b in self.blocks), 0)

    def step(self, token: torch.Tensor, state: SymbolicLightState | None = None
             ) -> tuple[torch.Tensor, SymbolicLightState]:
        """One token per sequence (``[B]``): ``(logits [B, vocab], state)``."""
        self._check(token, 1)
        state = self.initial_state(token.shape[0]) if state is None else state
        x = self.ln_in(self.emb(token))
        s, v_enc = self.lif_in.carry(x[None], state.v_enc)
        s = s[0]
        blocks = []
        for block, bs in zip(self.blocks, state.blocks):
            s, x, bs = block.step(s, x, state.position, bs)
            blocks.append(bs)
        return self._logits(x), replace(state, v_enc=v_enc, blocks=tuple(blocks), position=state.position + 1)

    @torch.no_grad()
    def generate(self, prompt: torch.Tensor, new_tokens: int, temperature: float = 1.0, top_k: int | None = None,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """Sample ``new_tokens`` after ``prompt`` ``[B, L0]`` in the streaming form (one step per token, constant memory);
        returns the new tokens ``[B, new_tokens]``. ``temperature=0`` takes the most likely token."""
        self._check(prompt, 2)
        if prompt.shape[1] < 1:
            raise ValueError(f"prompt must hold at least one token, got shape {tuple(prompt.shape)}")
        if new_tokens < 0:
            raise ValueError(f"new_tokens must be >= 0, got {new_tokens}")
        if temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {temperature}")
        state, out = None, []
        for t in range(prompt.shape[1]):
            logits, state = self.step(prompt[:, t], state)
        for _ in range(new_tokens):
            if temperature == 0:
                token = logits.argmax(-1, keepdim=True)
            else:
                logits = logits / temperature
                if top_k is not None:
                    kth = torch.topk(logits, min(top_k, logits.shape[-1])).values[:, -1:]
                    logits = logits.masked_fill(logits < kth, float("-inf"))
                token = torch.multinomial(torch.softmax(logits, -1), 1, generator=generator)
            out.append(token)
            logits, state = self.step(token[:, 0], state)
        return torch.cat(out, dim=1) if out else prompt.new_zeros(prompt.shape[0], 0)
