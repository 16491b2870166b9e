r"""SpikeGPT (Zhu, Zhao, Li & Eshraghian, *SpikeGPT: Generative Pre-trained Language Model with Spiking Neural
Networks*, TMLR 2024): an RWKV-4 language model whose sub-layer outputs are binary spikes.

Layer for layer and name for name as the official code (github.com/ridgerchu/SpikeGPT, ``src/model.py``), so its
state dicts load. Tokens are the time steps: a block is

.. math::

    x \leftarrow x + \mathrm{LIF}\big(\mathrm{TimeMix}(\mathrm{LN}_1(x))\big), \qquad
    x \leftarrow x + \mathrm{LIF}\big(\mathrm{ChannelMix}(\mathrm{LN}_2(x))\big)

with the LIFs running along the token axis (:math:`\tau = 2` tokens, threshold 1, hard reset to 0, ATan surrogate
of slope 2, reset not detached), and the embedding is binarised, :math:`x_0 = H(E[\mathrm{token}])` (ATan
surrogate, slope 2). So the residual stream is a sum of spikes (an integer per channel); the linear maps read its
layer-normalised, real-valued form. **Time mixing** (the spiking RWKV, "SRWKV") mixes each token with the previous
one, :math:`z_\ast = \mu_\ast \odot x_t + (1 - \mu_\ast) \odot x_{t-1}`, and attends with per-channel decay
:math:`w = -e^{\text{time\_decay}}` and bonus :math:`u` = ``time_first``:

.. math::

    \mathrm{wkv}_t = \frac{\sum_{i<t} e^{(t-1-i)w + k_i} v_i + e^{u + k_t} v_t}{\sum_{i<t} e^{(t-1-i)w + k_i} + e^{u + k_t}},
    \qquad y_t = W_o\big(\sigma(W_r z_r) \odot \mathrm{wkv}_t\big),

:math:`k = W_k z_k`, :math:`v = W_v z_v`. **Channel mixing** ("SRFFN"): :math:`y_t = \sigma(W_r z_r) \odot
W_v \max(W_k z_k, 0)^2` with a hidden width of 4 ``n_embd``.

The same network runs in two forms that give the same output: the **parallel** form (:meth:`SpikeGPT.forward`;
the wkv sums as masked [tokens x tokens] weights, ``chunk`` tokens at a time) for training, and the **recurrent**
form (:meth:`SpikeGPT.step`, one token at a time) for generation at constant memory: the state
(:class:`SpikeGPTState`) is, per block, the last token's two normalised inputs, the wkv numerator/denominator
``(a, b, p)`` (mantissas and a shared exponent, so nothing overflows) and the two LIF potentials, whatever the length
of the text. :meth:`SpikeGPT.scan` runs the parallel form from and to a state (a prompt in one call, then
:meth:`~SpikeGPT.step`). ``spiking=False`` builds the same RWKV with the spikes left out (identity in place of the
LIFs and of the binary embedding): the non-spiking model of the same size.

Sizes (:data:`SPIKEGPT_CONFIGS`): ``"216m"`` is the official OpenWebText model (``run.py``: 18 layers, 768 wide, the
GPT-NeoX 20B tokenizer's 50277 tokens): 215,399,424 parameters. ``"enwik8"`` is the official ``train.py`` as
released (24 layers, 768 wide, context 1024, the vocabulary its ``Dataset`` builds from the characters of enwik8 read
as UTF-8: 6064): 193,545,216 parameters, not a size the paper reports. ``"45m"`` stands for the paper's enwik8 model
("45M" in arXiv v1 to v4, "46M" in v5 / TMLR); neither the paper's text nor the official code gives its layers or
width, so its 12 layers, 512 wide and vocabulary of 6064 are **assumed**: 47,173,632 parameters, which is neither
45M nor 46M (no 512-wide or 768-wide depth with this vocabulary gives 45.0M to 46.5M). Not reproduced: the ``RWKV-ffnPre`` variant, the CUDA wkv kernel, the
``L2Wrap`` logit penalty of the official loss and its ``RWKV_Init`` weight initialisation (PyTorch's defaults here;
the time-mixing parameters get the official initial values).

Example::

    model = SpikeGPT(SpikeGPTConfig(vocab_size=96, n_layer=2, n_embd=64, ctx_len=128))
    logits = model(torch.randint(0, 96, (4, 128)))              # [B, L, vocab], parallel form
    state = None
    for token in prompt:                                        # recurrent form, constant memory
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
from ..surrogate import spike

__all__ = ["SpikeGPT", "SpikeGPTConfig", "SpikeGPTState", "SPIKEGPT_CONFIGS", "spikegpt", "wkv_parallel", "wkv_step"]

_NEG = -1e38  # the exponent of an empty wkv sum (finite: exp(-1e38 - m) is 0 without inf - inf)


@dataclass(frozen=True)
class SpikeGPTConfig:
    """Hyper-parameters of one SpikeGPT (names as the official ``GPTConfig``); ``tau`` in tokens."""

    vocab_size: int = 50277
    n_layer: int = 18
    n_embd: int = 768
    ctx_len: int = 1024
    spiking: bool = True
    dropout: float = 0.03
    tau: float = 2.0
    v_threshold: float = 1.0
    chunk: int = 16

    def __post_init__(self) -> None:
        for name in ("vocab_size", "n_layer", "n_embd", "ctx_len", "chunk"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if not self.tau >= 1.0:
            raise ValueError(f"tau must be >= 1 (tokens), got {self.tau}")
        if not self.v_threshold > 0:
            raise ValueError(f"v_threshold must be > 0, got {self.v_threshold}")


#: Published sizes. ``216m``: the official ``run.py`` OpenWebText model. ``enwik8``: the official ``train.py`` settings
#: (24 x 768, context 1024) with enwik8's 6064 characters. ``45m``: the paper's enwik8 model, whose layers and width
#: neither the paper nor the official code states (assumed: 12 x 512, 6064 characters; 47.2M, not the paper's 45M/46M).
SPIKEGPT_CONFIGS: dict[str, SpikeGPTConfig] = {
    "216m": SpikeGPTConfig(vocab_size=50277, n_layer=18, n_embd=768, ctx_len=1024),
    "enwik8": SpikeGPTConfig(vocab_size=6064, n_layer=24, n_embd=768, ctx_len=1024),
    "45m": SpikeGPTConfig(vocab_size=6064, n_layer=12, n_embd=512, ctx_len=1024),
}


@dataclass(frozen=True)
class BlockState:
    """The recurrent state of one block, each ``[B, n_embd]``: last inputs of the two mixers (after layer norm), the
    wkv numerator/denominator mantissas ``a``, ``b`` and their exponent ``p``, the LIF potentials (``None``: at rest)."""

    att_x: torch.Tensor
    a: torch.Tensor
    b: torch.Tensor
    p: torch.Tensor
    ffn_x: torch.Tensor
    v_att: torch.Tensor | None
    v_ffn: torch.Tensor | None


@dataclass(frozen=True)
class SpikeGPTState:
    """The recurrent state of a whole model: one :class:`BlockState` per block. Its size does not grow with the text."""

    blocks: tuple[BlockState, ...]

    def numel(self) -> int:
        """Number of values held (the memory the recurrent form needs, whatever the text length)."""
        return sum(t.numel() for s in self.blocks for t in (s.att_x, s.a, s.b, s.p, s.ffn_x, s.v_att, s.v_ffn) if t is not None)


def _empty_block_state(batch: int, dim: int, like: torch.Tensor) -> BlockState:
    zeros = like.new_zeros(batch, dim)
    return BlockState(zeros, zeros, zeros, torch.full_like(zeros, _NEG), zeros, None, None)


# ---------------------------------------------------------------------------------------------------------------------
# the wkv operator, recurrent and parallel
# ---------------------------------------------------------------------------------------------------------------------
def wkv_step(w: torch.Tensor, u: torch.Tensor, k: torch.Tensor, v: torch.Tensor, a: torch.Tensor, b: torch.Tensor,
             p: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    r"""One token of the wkv recurrence: ``(wkv_t, (a, b, p))`` from ``k``, ``v`` ``[B, C]`` and the state.

    The sums :math:`S^{num} = a e^p`, :math:`S^{den} = b e^p` over the tokens so far obey
    :math:`S_t = e^{w} S_{t-1} + e^{k_t} (v_t, 1)`; the output adds the current token with the bonus,
    :math:`\mathrm{wkv}_t = (S^{num}_{t-1} + e^{u+k_t} v_t)/(S^{den}_{t-1} + e^{u+k_t})`. Every exponential is
    taken relative to the largest exponent present, so none overflows. ``w`` is the (negative) log decay per token.
    """
    cur = u + k
    m = torch.maximum(p, cur)
    e_state, e_cur = torch.exp(p - m), torch.exp(cur - m)
    y = (e_state * a + e_cur * v) / (e_state * b + e_cur)
    decayed = p + w
    m = torch.maximum(decayed, k)
    e_state, e_new = torch.exp(decayed - m), torch.exp(k - m)
    return y, (e_state * a + e_new * v, e_state * b + e_new, m)


def wkv_parallel(w: torch.Tensor, u: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                 state: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
                 chunk: int = 16) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    r"""The wkv of every token of ``k``, ``v`` ``[B, L, C]`` at once: ``(wkv [B, L, C], (a, b, p) after the last token)``.

    Within a chunk of ``n`` tokens the weight of token ``i`` seen from token ``t`` is the matrix
    :math:`\log W_{ti} = (t-1-i)w + k_i` (:math:`i < t`), :math:`u + k_t` (:math:`i = t`), none (:math:`i > t`), each
    row taken relative to its largest entry; the state carried into the chunk enters the ``j``-th row as
    :math:`e^{j w} S`. Memory grows as ``B * chunk**2 * C``, not with the square of the text (a small ``chunk`` suits
    the CPU, a larger one a GPU). Equal to :func:`wkv_step` applied token by token.
    """
    if k.dim() != 3 or k.shape != v.shape:
        raise ValueError(f"k and v must both be [B, L, C], got {tuple(k.shape)} and {tuple(v.shape)}")
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    bsz, length, dim = k.shape
    if state is None:
        zeros = k.new_zeros(bsz, dim)
        a, b, p = zeros, zeros, torch.full_like(zeros, _NEG)
    else:
        a, b, p = state
    ys = []
    for start in range(0, length, chunk):
        kc, vc = k[:, start:start + chunk], v[:, start:start + chunk]
        n = kc.shape[1]
        j = torch.arange(n, device=k.device)
        lag = (j[:, None] - 1 - j[None, :]).clamp(min=0).to(k.dtype)                     # [t, i]
        logw = lag[None, :, :, None] * w + kc[:, None, :, :]                              # [B, t, i, C]
        logw = torch.where((j[:, None] == j[None, :])[None, :, :, None], (u + kc)[:, :, None, :], logw)
        logw = logw.masked_fill((j[None, :] > j[:, None])[None, :, :, None], float("-inf"))
        log_state = p[:, None, :] + j[None, :, None].to(k.dtype) * w                      # [B, t, C]
        m = torch.maximum(logw.amax(dim=2), log_state)
        e = torch.exp(logw - m[:, :, None, :])
        e_state = torch.exp(log_state - m)
        num = (e * vc[:, None, :, :]).sum(2) + e_state * a[:, None, :]
        den = e.sum(2) + e_state * b[:, None, :]
        ys.append(num / den)
        # the state after the chunk: S' = e^{n w} S + sum_i e^{(n-1-i) w + k_i} (v_i, 1)
        log_new = (n - 1 - j).to(k.dtype)[None, :, None] * w + kc                          # [B, i, C]
        log_old = p + n * w
        m = torch.maximum(log_new.amax(dim=1), log_old)
        e_new, e_old = torch.exp(log_new - m[:, None, :]), torch.exp(log_old - m)
        a, b, p = e_old * a + (e_new * vc).sum(1), e_old * b + e_new.sum(1), m
    return torch.cat(ys, dim=1), (a, b, p)


# ---------------------------------------------------------------------------------------------------------------------
# spiking layers
# ---------------------------------------------------------------------------------------------------------------------
class BinaryEmbedding(nn.Module):
    r"""The binary embedding :math:`H(e)` (1 where :math:`e \ge 0`) with the ATan surrogate of slope ``alpha`` (the official
    code's ``atan()`` on the embedding). Stateless: the same for every token."""

    is_spiking = True

    def __init__(self, alpha: float = 2.0):
        super().__init__()
        self.alpha = float(alpha)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return spike(x, "atan", self.alpha)


class TokenLIF(LIF):
    r"""A LIF layer whose time steps are the tokens: input ``[L, B, C]``. The official code's SpikingJelly
    ``MultiStepLIFNode(tau=2, v_threshold=1, surrogate=ATan(alpha=2))``: hard reset to 0, reset kept in the graph.
    :meth:`carry` runs the same law from a given potential and returns the last one (streaming)."""

    def __init__(self, tau: float = 2.0, v_threshold: float = 1.0):
        super().__init__(tau=tau, v_threshold=v_threshold, v_reset=0.0, detach_reset=False, surrogate="atan", alpha=2.0)

    def carry(self, x: torch.Tensor, v0: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(spikes [L, B, C], potential after the last token [B, C])`` from ``x`` ``[L, B, C]`` and potential ``v0``."""
        self._check_input(x)
        beta = self.beta().to(device=x.device, dtype=x.dtype)  # 0.5 at tau = 2: exact in every float type
        s, _, v = lif_multi_step(x, v0, beta, self.params, backend=self.backend, need_h=False)
        return s, v


class NoSpike(nn.Identity):
    """Stands where a spiking layer would be in the non-spiking model: passes its input through, keeps no state."""

    def carry(self, x: torch.Tensor, v0: torch.Tensor | None) -> tuple[torch.Tensor, None]:
        return x, None

    def step(self, x: torch.Tensor, v: torch.Tensor | None = None) -> tuple[torch.Tensor, None]:
        return x, None


def _shift(x: torch.Tensor, prev: torch.Tensor | None) -> torch.Tensor:
    """``x`` ``[B, L, C]`` moved one token later; ``prev`` (the token before, ``[B, C]``; zeros if ``None``) comes first."""
    first = x.new_zeros(x.shape[0], 1, x.shape[2]) if prev is None else prev[:, None, :]
    return torch.cat([first, x[:, :-1]], dim=1)


def _ramp(dim: int) -> torch.Tensor:
    """``i / dim`` for each channel, ``[1, 1, dim]``."""
    return (torch.arange(dim, dtype=torch.float32) / dim).view(1, 1, dim)


class SpikingTimeMix(nn.Module):
    """Spiking RWKV time mixing ("SRWKV"; official ``RWKV_TimeMix``), initialised as the official code does."""

    def __init__(self, cfg: SpikeGPTConfig, layer_id: int):
        super().__init__()
        c = cfg.n_embd
        depth_ratio = layer_id / (cfg.n_layer - 1) if cfg.n_layer > 1 else 0.0   # 0 at the first block, 1 at the last
        rest = 1.0 - layer_id / cfg.n_layer                                       # 1 at the first block, -> 0
        h = torch.arange(c, dtype=torch.float32)
        self.time_decay = nn.Parameter(-5 + 8 * (h / max(c - 1, 1)) ** (0.7 + 1.3 * depth_ratio))
        zigzag = 0.5 * (((h.long() + 1) % 3) - 1).float()
        self.time_first = nn.Parameter(torch.full((c,), math.log(0.3)) + zigzag)
        ramp = _ramp(c)
        self.time_mix_k = nn.Parameter(ramp ** rest)
        self.time_mix_v = nn.Parameter(ramp ** rest + 0.3 * depth_ratio)
        self.time_mix_r = nn.Parameter(ramp ** (0.5 * rest))
        self.key = nn.Linear(c, c, bias=False)
        self.value = nn.Linear(c, c, bias=False)
        self.receptance = nn.Linear(c, c, bias=False)
        self.output = nn.Linear(c, c, bias=False)
        self.chunk = cfg.chunk

    def _mix(self, x: torch.Tensor, prev: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mk, mv, mr = self.time_mix_k.flatten(), self.time_mix_v.flatten(), self.time_mix_r.flatten()  # [C]: any leading dims
        k = self.key(x * mk + prev * (1 - mk))
        v = self.value(x * mv + prev * (1 - mv))
        r = torch.sigmoid(self.receptance(x * mr + prev * (1 - mr)))
        return k, v, r

    def scan(self, x: torch.Tensor, state: BlockState | None) -> tuple[torch.Tensor, tuple]:
        """Parallel form on ``[B, L, C]`` from ``state`` (``None``: the start of a text): ``(y, (last x, a, b, p))``."""
        k, v, r = self._mix(x, _shift(x, None if state is None else state.att_x))
        wkv, abp = wkv_parallel(-torch.exp(self.time_decay), self.time_first, k, v,
                                None if state is None else (state.a, state.b, state.p), self.chunk)
        return self.output(r * wkv), (x[:, -1], *abp)

    def step(self, x: torch.Tensor, state: BlockState) -> tuple[torch.Tensor, tuple]:
        """Recurrent form on one token ``[B, C]``."""
        k, v, r = self._mix(x, state.att_x)
        wkv, abp = wkv_step(-torch.exp(self.time_decay), self.time_first, k, v, state.a, state.b, state.p)
        return self.output(r * wkv), (x, *abp)


class SpikingChannelMix(nn.Module):
    """Spiking RWKV channel mixing ("SRFFN"; official ``RWKV_ChannelMix``): squared-ReLU hidden layer gated by receptance."""

    def __init__(self, cfg: SpikeGPTConfig, layer_id: int):
        super().__init__()
        c = cfg.n_embd
        ramp = _ramp(c) ** (1.0 - layer_id / cfg.n_layer)
        self.time_mix_k = nn.Parameter(ramp.clone())
        self.time_mix_r = nn.Parameter(ramp.clone())
        self.key = nn.Linear(c, 4 * c, bias=False)
        self.receptance = nn.Linear(c, c, bias=False)
        self.value = nn.Linear(4 * c, c, bias=False)

    def mix(self, x: torch.Tensor, prev: torch.Tensor) -> torch.Tensor:
        """The channel mix of ``x`` given the previous token ``prev`` (same shape; any number of leading dims)."""
        mk, mr = self.time_mix_k.flatten(), self.time_mix_r.flatten()
        k = torch.square(torch.relu(self.key(x * mk + prev * (1 - mk))))
        return torch.sigmoid(self.receptance(x * mr + prev * (1 - mr))) * self.value(k)


class SpikeGPTBlock(nn.Module):
    """One block: ``x + LIF(TimeMix(LN(x)))``, then ``x + LIF(ChannelMix(LN(x)))``; the first block normalises its input."""

    def __init__(self, cfg: SpikeGPTConfig, layer_id: int):
        super().__init__()
        c = cfg.n_embd
        self.layer_id = layer_id
        self.ln1 = nn.LayerNorm(c)
        self.ln2 = nn.LayerNorm(c)
        if layer_id == 0:
            self.ln0 = nn.LayerNorm(c)
        self.lif1 = TokenLIF(cfg.tau, cfg.v_threshold) if cfg.spiking else NoSpike()
        self.lif2 = TokenLIF(cfg.tau, cfg.v_threshold) if cfg.spiking else NoSpike()
        self.dropout = nn.Dropout(cfg.dropout)
        self.att = SpikingTimeMix(cfg, layer_id)
        self.ffn = SpikingChannelMix(cfg, layer_id)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Parallel form on ``[B, L, C]`` from the start of a text."""
        if self.layer_id == 0:
            x = self.ln0(x)
        y, _ = self.att.scan(self.ln1(x), None)
        x = x + self.lif1(y.transpose(0, 1)).transpose(0, 1)    # the LIFs step along the tokens: [L, B, C]
        z = self.ln2(x)
        x = x + self.lif2(self.ffn.mix(z, _shift(z, None)).transpose(0, 1)).transpose(0, 1)
        return self.dropout(x)

    def scan(self, x: torch.Tensor, state: BlockState) -> tuple[torch.Tensor, BlockState]:
        """Parallel form on ``[B, L, C]`` continuing from ``state``: the output and the state after the last token."""
        if self.layer_id == 0:
            x = self.ln0(x)
        y, (att_x, a, b, p) = self.att.scan(self.ln1(x), state)
        s, v_att = self.lif1.carry(y.transpose(0, 1), state.v_att)
        x = x + s.transpose(0, 1)
        z = self.ln2(x)
        s, v_ffn = self.lif2.carry(self.ffn.mix(z, _shift(z, state.ffn_x)).transpose(0, 1), state.v_ffn)
        x = x + s.transpose(0, 1)
        return self.dropout(x), BlockState(att_x, a, b, p, z[:, -1], v_att, v_ffn)

    def step(self, x: torch.Tensor, state: BlockState) -> tuple[torch.Tensor, BlockState]:
        """Recurrent form on one token ``[B, C]``."""
        if self.layer_id == 0:
            x = self.ln0(x)
        y, (att_x, a, b, p) = self.att.step(self.ln1(x), state)
        s, v_att = self.lif1.step(y, state.v_att)
        x = x + s
        z = self.ln2(x)
        s, v_ffn = self.lif2.step(self.ffn.mix(z, state.ffn_x), state.v_ffn)
        x = x + s
        return self.dropout(x), BlockState(att_x, a, b, p, z, v_att, v_ffn)


class SpikeGPT(nn.Module):
    """SpikeGPT: token ids ``[B, L]`` -> next-token logits ``[B, L, vocab]`` (parameter names as the official ``GPT``)."""

    input_layout = "BT"  # [B, L] token ids: the tokens are the time steps (read by neuro.energy)

    def __init__(self, cfg: SpikeGPTConfig = SpikeGPTConfig()):
        super().__init__()
        self.cfg = cfg
        self.emb = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.encode = BinaryEmbedding() if cfg.spiking else NoSpike()
        self.blocks = nn.ModuleList([SpikeGPTBlock(cfg, i) for i in range(cfg.n_layer)])
        self.ln_out = nn.LayerNorm(cfg.n_embd)
        self.head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)

    def _tokens(self, idx: torch.Tensor, dims: int) -> torch.Tensor:
        if idx.dim() != dims or idx.dtype not in (torch.int64, torch.int32):
            shape = "[B, L]" if dims == 2 else "[B]"
            raise ValueError(f"token ids must be an integer tensor {shape}, got {idx.dtype} of shape {tuple(idx.shape)}")
        if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= self.cfg.vocab_size):
            raise ValueError(f"token ids must lie in [0, {self.cfg.vocab_size}), got [{int(idx.min())}, {int(idx.max())}]")
        return idx

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        """Parallel form: logits ``[B, L, vocab]`` for token ids ``[B, L]`` (``L <= ctx_len``), from the start of a text."""
        self._tokens(idx, 2)
        if idx.shape[1] > self.cfg.ctx_len:
            raise ValueError(f"sequence length {idx.shape[1]} exceeds ctx_len={self.cfg.ctx_len}; use scan() / step() for longer texts")
        x = self.encode(self.emb(idx))
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_out(x))

    def initial_state(self, batch: int) -> SpikeGPTState:
        """The state at the start of a text (every potential at rest, empty wkv sums)."""
        like = self.head.weight
        return SpikeGPTState(tuple(_empty_block_state(batch, self.cfg.n_embd, like) for _ in self.blocks))

    def scan(self, idx: torch.Tensor, state: SpikeGPTState | None = None) -> tuple[torch.Tensor, SpikeGPTState]:
        """Parallel form continuing from ``state`` (``None``: a new text): ``(logits [B, L, vocab], state after the last token)``.
        Any length: the wkv runs ``chunk`` tokens at a time."""
        self._tokens(idx, 2)
        state = self.initial_state(idx.shape[0]) if state is None else state
        x = self.encode(self.emb(idx))
        new = []
        for block, s in zip(self.blocks, state.blocks, strict=True):
            x, s = block.scan(x, s)
            new.append(s)
        return self.head(self.ln_out(x)), SpikeGPTState(tuple(new))

    def step(self, token: torch.Tensor, state: SpikeGPTState | None = None) -> tuple[torch.Tensor, SpikeGPTState]:
        """Recurrent form: ``(logits [B, vocab], new state)`` for one token per sequence ``[B]``."""
        self._tokens(token, 1)
        state = self.initial_state(token.shape[0]) if state is None else state
        x = self.encode(self.emb(token))
        new = []
        for block, s in zip(self.blocks, state.blocks, strict=True):
            x, s = block.step(x, s)
            new.append(s)
        return self.head(self.ln_out(x)), SpikeGPTState(tuple(new))

    @torch.no_grad()
    def generate(self, prompt: torch.Tensor, new_tokens: int, temperature: float = 1.0, top_k: int | None = None,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """Sample ``new_tokens`` after ``prompt`` ``[B, L0]`` (read in one parallel call, then one recurrent step per token,
        at constant memory); returns the new tokens ``[B, new_tokens]``. ``temperature=0`` takes the most likely token."""
        if new_tokens < 0:
            raise ValueError(f"new_tokens must be >= 0, got {new_tokens}")
        if temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {temperature}")
        if prompt.dim() != 2 or prompt.shape[1] < 1:
            raise ValueError(f"prompt must be token ids [B, L0] with L0 >= 1, got shape {tuple(prompt.shape)}")
        logits, state = self.scan(prompt)
        logits = logits[:, -1]
        out = []
        for _ in range(new_tokens):
            if temperature == 0:
                token = logits.argmax(-1)
            else:
                scaled = logits.float() / temperature
                if top_k is not None:
                    kth = scaled.topk(min(top_k, scaled.shape[-1]), dim=-1).values[:, -1:]
                    scaled = scaled.masked_fill(scaled < kth, float("-inf"))
                token = torch.multinomial(F.softmax(scaled, dim=-1), 1, generator=generator)[:, 0]
            out.append(token)
            logits, state = self.step(token, state)
        return torch.stack(out, dim=1) if out else prompt.new_zeros(prompt.shape[0], 0)


def spikegpt(name: str = "216m", **overrides) -> SpikeGPT:
    """A published SpikeGPT size by name (see :data:`SPIKEGPT_CONFIGS`), fields overridable (``vocab_size=``, ``spiking=False`` ...)."""
    if name not in SPIKEGPT_CONFIGS:
        raise ValueError(f"unknown SpikeGPT config {name!r}; known: {sorted(SPIKEGPT_CONFIGS)}")
    return SpikeGPT(replace(SPIKEGPT_CONFIGS[name], **overrides))
