r"""SpikF-GO: a spiking Fourier graph operator for multivariate time-series forecasting.

After Bakhshaliyev & Landwehr, *SpikF-GO: Spiking Fourier Graph Operators for Multivariate Time Series Forecasting*
(ECML PKDD 2026, arXiv:2606.13901) and its official code (github.com/jafarbakhshaliyev/SpikF-GO, ``model/SpikF_GO.py``),
built on the :class:`neuro.nn.LIF` neuron. A window ``x`` of ``L`` steps of ``N`` variables, ``[B, L, N]``, is
forecast ``H`` steps ahead, ``[B, H, N]``.

**Hypervariate graph.** Every scalar observation is a node: the window is flattened variable by variable into
:math:`M = N L` nodes, each embedded in :math:`E` channels (:math:`e_m = \hat x_m w + b`, one shared :math:`w \in
\mathbb{R}^E`, then an RMS norm over the nodes), where :math:`\hat x` is the window normalised per variable (mean and
standard deviation over the window, undone on the forecast).

**Spike encoding.** The embedding is repeated over :math:`T` spiking steps with a learned per-step scale and shift
(:math:`c_t = \gamma_t e + \beta_t`) and drives LIF neurons, :math:`s_t = \mathrm{LIF}(c)_t \in \{0, 1\}^{M \times E}`.

**Fourier graph operator.** With :math:`\mathcal F` the real FFT along the node axis (orthonormal),
:math:`Z^{(0)}_t = g \odot \mathcal F(s_t)` where :math:`g \in [0, 1]^{M/2+1}` is a Hard Concrete gate over the
frequency bins (:math:`\mathrm{clip}(1.2\,\sigma((\log u - \log(1-u) + \log\alpha)/\tau_g) - 0.1, 0, 1)` with
:math:`u \sim U(0, 1)` when training, :math:`u = 1/2` and :math:`\tau_g = 1` in eval). Each of ``layers`` spectral
layers mixes the channels with a complex matrix and gates the result with spikes (Complex LIF gate):

.. math::

    Y = Z^{(k-1)} W_k + b_k, \qquad G = s_r + s_i - s_r s_i,\quad s_r = \mathrm{LIF}(\mathrm{Re}\,Y),\
    s_i = \mathrm{LIF}(\mathrm{Im}\,Y), \qquad Z^{(k)} = Z^{(k-1)} + r_k\,(G \odot Y)

(:math:`r_k` a learned ReZero scalar, initialised at 0.1). A frequency-independent :math:`W` acting after
:math:`\mathcal F` is a graph convolution on the fully connected hypervariate graph: one layer without gate is
:math:`y_n = \sum_j x_j \kappa_{(n-j) \bmod M}` with the real kernel :math:`\kappa_m = \frac1M \sum_f S_f e^{2\pi i f
m/M}`, :math:`S_f = g_f W` (Hermitian-extended). :func:`fourier_graph_conv` is this operator from node domain to
node domain; the tests hold it equal to the dense sum.

**Readout.** :math:`y_t = \mathcal F^{-1}(Z^{(K)}_t)` is reshaped to ``[T, B, N, E, L]``, a bias-free linear map
takes the ``L`` steps to ``p`` features, LIF neurons spike on the ``E p`` features per variable, a linear layer
reduces them, the mean over the :math:`T` steps goes through GELU and a last linear layer gives the ``H`` steps.

``spiking=False`` builds the same layers with no spikes (a FourierGNN-like operator): the encoder is the identity on
the real-valued embedding (and ``T = 1``), the Complex LIF gate becomes :math:`\mathrm{ReLU}(\mathrm{Re}\,Y) + i\,
\mathrm{ReLU}(\mathrm{Im}\,Y)`, the readout LIF a ReLU. Both have the same parameter count.

**What differs from the paper's code.** The gate :math:`G` is the OR of the two spike trains written as
:math:`s_r + s_i - s_r s_i` (equal on binary spikes), so the surrogate gradient reaches the gate neurons; the official
``(s_r > 0) | (s_i > 0)`` passes no gradient to them. The spectral layers are ``layers`` equal-width complex maps with
ReZero residuals (the official block is a fixed three-map ``E -> H -> E``, ``E -> E`` with two residuals and optional
gated complex affines); no weight normalisation in the readout; no L0 penalty on the frequency gate in the loss
(:meth:`SpikFGO.gate_density` gives it); no CPG positional encoding variant. LIF neurons: hard reset to 0, detached
reset, ``tau = 2`` steps, atan surrogate with slope 4, as in the official code; threshold 0.5 by default (the official
code sets it by a command-line argument). ``backend`` is passed to every LIF. No parameter count is claimed.

Example::

    model = SpikFGO(num_vars=8, window=24, horizon=4, embed=16, time_steps=4)
    y = model(torch.randn(32, 24, 8))                  # [B, L, N] -> [B, H, N]
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..neurons import LIF

__all__ = ["SpikFGO", "HardConcreteGate", "ComplexLinear", "ComplexLIFGate", "fourier_graph_conv"]


def _lif(tau: float, v_threshold: float, backend: str | None = None) -> LIF:
    return LIF(tau=tau, v_threshold=v_threshold, v_reset=0.0, detach_reset=True, surrogate="atan", alpha=4.0, backend=backend)


class ComplexLinear(nn.Module):
    r"""A complex channel map :math:`y = z (W_r + i W_i) + (b_r + i b_i)` on the last dimension of a complex tensor."""

    def __init__(self, in_features: int, out_features: int, init_scale: float | None = None):
        super().__init__()
        scale = 1.0 / math.sqrt(in_features) if init_scale is None else float(init_scale)
        self.weight_re = nn.Parameter(scale * torch.randn(in_features, out_features))
        self.weight_im = nn.Parameter(scale * torch.randn(in_features, out_features))
        self.bias_re = nn.Parameter(torch.zeros(out_features))
        self.bias_im = nn.Parameter(torch.zeros(out_features))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        zr, zi = z.real, z.imag
        yr = zr @ self.weight_re - zi @ self.weight_im + self.bias_re
        yi = zi @ self.weight_re + zr @ self.weight_im + self.bias_im
        return torch.complex(yr, yi)


class HardConcreteGate(nn.Module):
    r"""A gate in :math:`[0, 1]` per frequency bin (Louizos et al. 2018 Hard Concrete, stretched to ``(-0.1, 1.1)``).

    Training: :math:`g = \mathrm{clip}(1.2\,\sigma((\log u - \log(1-u) + \log\alpha)/\tau_g) - 0.1, 0, 1)`,
    :math:`u \sim U(0, 1)`; eval: :math:`u = 1/2`, :math:`\tau_g = 1`. ``forward`` returns ``[bins]``.
    """

    def __init__(self, bins: int, init_log_alpha: float = 2.0, temperature: float = 0.1, eps: float = 1e-6):
        super().__init__()
        if bins < 1:
            raise ValueError(f"bins must be >= 1, got {bins}")
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.log_alpha = nn.Parameter(torch.full((bins,), float(init_log_alpha)))
        self.temperature, self.eps = float(temperature), float(eps)

    def forward(self) -> torch.Tensor:
        if self.training:
            u = torch.empty_like(self.log_alpha).uniform_(self.eps, 1.0 - self.eps)
            s = torch.sigmoid((torch.log(u) - torch.log1p(-u) + self.log_alpha) / self.temperature)
        else:
            s = torch.sigmoid(self.log_alpha)
        return (1.2 * s - 0.1).clamp(0.0, 1.0)


class ComplexLIFGate(nn.Module):
    r"""Spikes of two LIF populations on the real and imaginary parts, combined as an OR: :math:`G = s_r + s_i - s_r s_i`.

    Input complex ``[T, ...]``; returns the real gate ``[T, ...]`` in :math:`\{0, 1\}`. ``spiking=False``: returns
    :math:`\mathrm{ReLU}(\mathrm{Re}) + i\,\mathrm{ReLU}(\mathrm{Im})` gated values directly (see :meth:`apply`).
    """

    def __init__(self, tau: float = 2.0, v_threshold: float = 1.0, spiking: bool = True, backend: str | None = None):
        super().__init__()
        self.spiking = bool(spiking)
        if self.spiking:
            self.lif_re, self.lif_im = _lif(tau, v_threshold, backend), _lif(tau, v_threshold, backend)

    def apply(self, y: torch.Tensor) -> torch.Tensor:
        """The gated complex value: :math:`G \\odot y` (spiking) or the complex ReLU of ``y``."""
        if not self.spiking:
            return torch.complex(F.relu(y.real), F.relu(y.imag))
        s_r, s_i = self.lif_re(y.real.contiguous()), self.lif_im(y.imag.contiguous())
        return y * (s_r + s_i - s_r * s_i)

    forward = apply


def fourier_graph_conv(x: torch.Tensor, linear: ComplexLinear, freq_gate: torch.Tensor | None = None) -> torch.Tensor:
    r"""One Fourier graph operator without nonlinearity, node domain to node domain: ``[..., M, E] -> [..., M, E']``.

    :math:`y = \mathcal F^{-1}\big(g \odot (\mathcal F(x) W + b)\big)` along the node axis ``-2`` (orthonormal real
    FFT), with ``freq_gate`` :math:`g` ``[M // 2 + 1]`` (all ones if None) applied before the map. Equal to the
    circular graph convolution on the ``M`` nodes described in the module docstring.
    """
    m = x.shape[-2]
    z = torch.fft.rfft(x, dim=-2, norm="ortho")
    if freq_gate is not None:
        if freq_gate.shape != (m // 2 + 1,):
            raise ValueError(f"freq_gate must have shape ({m // 2 + 1},) for {m} nodes, got {tuple(freq_gate.shape)}")
        z = z * freq_gate.unsqueeze(-1)
    return torch.fft.irfft(linear(z), n=m, dim=-2, norm="ortho")


class SpikFGO(nn.Module):
    """Spiking Fourier graph operator forecaster: ``[B, L, N]`` windows to ``[B, H, N]`` forecasts (module docstring)."""

    def __init__(self, num_vars: int, window: int, horizon: int, embed: int = 16, time_steps: int = 4, layers: int = 2,
                 proj_dim: int = 4, hidden: int = 32, tau: float = 2.0, v_threshold: float = 0.5, spiking: bool = True,
                 normalize: bool = True, backend: str | None = None):
        super().__init__()
        for name, value in (("num_vars", num_vars), ("window", window), ("horizon", horizon), ("embed", embed),
                            ("time_steps", time_steps), ("layers", layers), ("proj_dim", proj_dim), ("hidden", hidden)):
            if int(value) != value or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not tau > 1.0:
            raise ValueError(f"tau must be > 1 (time steps), got {tau}")
        if not v_threshold > 0:
            raise ValueError(f"v_threshold must be > 0, got {v_threshold}")
        self.num_vars, self.window, self.horizon, self.embed = int(num_vars), int(window), int(horizon), int(embed)
        self.spiking, self.normalize = bool(spiking), bool(normalize)
        self.time_steps = int(time_steps) if self.spiking else 1
        self.nodes = self.num_vars * self.window

        self.embed_weight = nn.Parameter(torch.randn(self.embed) * 0.5)
        self.embed_bias = nn.Parameter(torch.zeros(self.embed))
        self.norm_gain = nn.Parameter(torch.ones(self.embed))
        self.norm_bias = nn.Parameter(torch.zeros(self.embed))
        self.step_gamma = nn.Parameter(torch.ones(int(time_steps)))
        self.step_beta = nn.Parameter(torch.zeros(int(time_steps)))
        self.encoder = _lif(tau, v_threshold, backend) if self.spiking else nn.Identity()

        self.freq_gate = HardConcreteGate(self.nodes // 2 + 1)
        self.spectral = nn.ModuleList(ComplexLinear(self.embed, self.embed) for _ in range(layers))
        self.gates = nn.ModuleList(ComplexLIFGate(tau, v_threshold, spiking=self.spiking, backend=backend) for _ in range(layers))
        self.rezero = nn.Parameter(torch.full((layers,), 0.1))

        self.time_proj = nn.Linear(self.window, proj_dim, bias=False)
        self.readout_neuron = _lif(tau, v_threshold, backend) if self.spiking else nn.ReLU()
        self.reduce = nn.Linear(self.embed * proj_dim, hidden)
        self.head = nn.Linear(hidden, self.horizon)

    def gate_density(self) -> torch.Tensor:
        """Mean open probability of the frequency gate (the L0 term of the paper's objective, not added to our loss)."""
        return torch.sigmoid(self.freq_gate.log_alpha).mean()

    def _check(self, x: torch.Tensor) -> None:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"x must be a torch.Tensor [B, L, N], got {type(x).__name__}")
        if x.dim() != 3 or x.shape[1] != self.window or x.shape[2] != self.num_vars:
            raise ValueError(f"x must have shape [B, {self.window}, {self.num_vars}] ([batch, window, num_vars]), "
                             f"got {tuple(x.shape)}")
        if not x.is_floating_point():
            raise TypeError(f"x must be a floating-point tensor, got {x.dtype}")
        if not bool(torch.isfinite(x).all()):
            raise ValueError("x contains NaN or Inf")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x)
        b = x.shape[0]
        if self.normalize:
            mean = x.mean(dim=1, keepdim=True).detach()
            std = torch.sqrt(x.var(dim=1, keepdim=True, unbiased=False) + 1e-5).detach()
            x = (x - mean) / std
        nodes = x.transpose(1, 2).reshape(b, self.nodes, 1)                      # variable-major: [B, M, 1]
        tok = nodes * self.embed_weight + self.embed_bias                          # [B, M, E]
        tok = tok * torch.rsqrt(tok.pow(2).mean(dim=1, keepdim=True) + 1e-6) * self.norm_gain + self.norm_bias
        t = self.time_steps
        cur = tok.unsqueeze(0) * self.step_gamma[:t].view(t, 1, 1, 1) + self.step_beta[:t].view(t, 1, 1, 1)
        s = self.encoder(cur)                                                      # [T, B, M, E]

        z = torch.fft.rfft(s, dim=2, norm="ortho") * self.freq_gate().view(1, 1, -1, 1)
        for k, (lin, gate) in enumerate(zip(self.spectral, self.gates)):
            z = z + self.rezero[k] * gate(lin(z))
        y = torch.fft.irfft(z, n=self.nodes, dim=2, norm="ortho")                 # [T, B, M, E]

        y = y.reshape(t, b, self.num_vars, self.window, self.embed).transpose(3, 4)  # [T, B, N, E, L]
        h = self.time_proj(y).reshape(t, b * self.num_vars, -1)                   # [T, B*N, E*p]
        h = self.reduce(self.readout_neuron(h)).mean(dim=0)                        # [B*N, hidden]
        out = self.head(F.gelu(h)).reshape(b, self.num_vars, self.horizon).transpose(1, 2)  # [B, H, N]
        if self.normalize:
            out = out * std + mean
        return out
