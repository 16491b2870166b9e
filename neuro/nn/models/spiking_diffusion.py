r"""A spiking denoising diffusion model: a small spiking residual denoiser with the Temporal-wise Spiking Mechanism, DDPM
training and sampling, and threshold guidance.

After Cao et al., *Spiking Denoising Diffusion Probabilistic Models* (SDDPM, WACV 2024, arXiv:2306.17046; official
code github.com/AndyCao1125/SDDPM) and its extension, Cao et al., *Spiking Diffusion Models* (IEEE TAI, arXiv:2408.16467;
code github.com/AndyCao1125/SDM, ``SDM/TSM.py``), built on the :class:`neuro.nn.IF` neuron, sized for the 8x8 digits.

**Spiking denoiser.** The flattened image is repeated over :math:`T` spiking steps (direct encoding). A stem linear map
and batch norm feed residual blocks ``IF -> linear -> BN -> (+ time embedding) -> IF -> linear -> BN`` whose shortcut
carries the block's real-valued input (the paper's residual block, with linear maps in place of its 3x3
convolutions). The neurons integrate and fire, hard reset to 0, threshold :math:`v_{th} = 1`, ATan surrogate (slope 2),
as the paper's SpikingJelly ``IFNode``:

.. math::

    h_t = v_{t-1} + I_t, \qquad s_t = H(h_t - v_{th}), \qquad v_t = h_t (1 - s_t).

The diffusion step enters through a sinusoidal embedding and a SiLU MLP (not spiking, as in the paper's code). The
output is read from the last layer over the steps (the paper's ``MembraneOutputLayer``):
:math:`\hat\epsilon = \sum_{t=1}^{T} 0.8^{T-t}\, y_t`.

**Temporal-wise Spiking Mechanism (TSM).** Each linear map's output at spiking step :math:`t` is scaled by a learned
factor :math:`p_t` of that layer (initialised at 1), so the input current of the next neurons differs per step even
when the presynaptic spikes do not:

.. math::

    I_t = p_t \,(W s_t + b), \qquad t = 1, \dots, T

(:class:`TSMLinear`; the paper scales its convolutions so; ``tsm=False`` fixes :math:`p_t = 1`, the SDDPM network).

**Threshold guidance.** A training-free change at sampling time: every spiking neuron of the trained denoiser fires on
:math:`h_t \ge v_{th} + \delta` instead of :math:`v_{th}` (:func:`threshold_guidance`); :math:`\delta > 0` is the
paper's *inhibitory* guidance (fewer spikes), :math:`\delta < 0` its *excitatory* guidance. The paper picks the sign and
size of :math:`\delta` by the resulting FID; we scan it the same way.

**DDPM** (Ho et al. 2020; :class:`DDPM`). Forward process :math:`x_t = \sqrt{\bar\alpha_t}\, x_0 + \sqrt{1 - \bar\alpha_t}
\,\epsilon` with a linear :math:`\beta` schedule; the denoiser is trained on :math:`\lVert \epsilon - \hat\epsilon(x_t,
t)\rVert^2` and samples by ancestral steps :math:`x_{t-1} = \frac{1}{\sqrt{\alpha_t}}\big(x_t - \frac{\beta_t}{\sqrt{1 -
\bar\alpha_t}}\hat\epsilon\big) + \sigma_t z` (with the predicted :math:`\hat x_0` clipped to the data range, as in Ho
et al.'s code) with :math:`\sigma_t^2 = \beta_t` (the paper's ``fixedlarge``) or the
posterior variance (``fixedsmall``).

**Without spikes.** ``spiking=False`` builds the same layers, the same :math:`T` steps and TSM factors, with every IF
replaced by a ReLU: the same parameter count (tested), the non-spiking model of the same size.

**What differs from the official code.** Sized for 8x8 digits and a 2-core CPU: a residual MLP (``blocks`` blocks of
``width`` features) instead of the convolutional U-Net (no down/up-sampling, no attention, no dropout); no
``T_output_layer`` (a 3x3 convolution and BN on the readout in ``SDM/TSM.py``); the TSM factors are
trained from the start rather than fine-tuned from an SDDPM checkpoint; the schedule has fewer diffusion steps
(:math:`\beta` scaled by 1000 / steps). No parameter count of the paper is claimed.

Example::

    model = SpikingDenoiser((1, 8, 8), width=128, time_steps=4, diffusion_steps=100)
    ddpm = DDPM(100)
    loss = ddpm.loss(model, x0)                              # x0: [B, 1, 8, 8] in [-1, 1]
    with threshold_guidance(model, 0.05):
        samples = ddpm.sample(model, 16, (1, 8, 8), generator=torch.Generator().manual_seed(0))
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from ..neurons import IF

__all__ = ["SpikingDenoiser", "TSMLinear", "ResBlock", "DDPM", "threshold_guidance", "spike_counts", "sinusoidal_embedding"]


def _neuron(spiking: bool, v_threshold: float, backend: str | None) -> nn.Module:
    if spiking:
        return IF(v_threshold=v_threshold, v_reset=0.0, surrogate="atan", alpha=2.0, backend=backend)
    return nn.ReLU()


class TSMLinear(nn.Module):
    r"""A linear map over the ``T`` spiking steps whose output at step :math:`t` is scaled by a learned :math:`p_t`.

    :math:`y_t = p_t\,(W x_t + b)` on ``[T, B, in]``; ``p`` (``[T]``, initialised at 1) is a parameter when ``tsm=True``
    and a buffer of ones otherwise (then the layer is a plain linear map applied at every step).
    """

    def __init__(self, time_steps: int, in_features: int, out_features: int, tsm: bool = True):
        super().__init__()
        if time_steps < 1:
            raise ValueError(f"time_steps must be >= 1, got {time_steps}")
        self.linear = nn.Linear(in_features, out_features)
        nn.init.xavier_uniform_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)
        p = torch.ones(time_steps)
        if tsm:
            self.p = nn.Parameter(p)
        else:
            self.register_buffer("p", p)
        self.time_steps = int(time_steps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 3 or x.shape[0] != self.time_steps:
            raise ValueError(f"expected [{self.time_steps}, B, features] (T spiking steps first), got {tuple(x.shape)}")
        return self.linear(x) * self.p.view(-1, 1, 1)


class _StepNorm(nn.BatchNorm1d):
    """Batch norm over the features of ``[T, B, F]``, statistics over the steps and the batch together."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t, b = x.shape[:2]
        return super().forward(x.reshape(t * b, -1)).reshape(t, b, -1)


class ResBlock(nn.Module):
    """``IF -> TSM linear -> BN -> + time embedding -> IF -> TSM linear -> BN``, plus the block's input (a membrane
    shortcut: the real-valued input, not the spikes, as in the paper's code)."""

    def __init__(self, width: int, embed_dim: int, time_steps: int, spiking: bool = True, tsm: bool = True, v_threshold: float = 1.0,
                 backend: str | None = None):
        super().__init__()
        self.neuron1 = _neuron(spiking, v_threshold, backend)
        self.fc1 = TSMLinear(time_steps, width, width, tsm=tsm)
        self.bn1 = _StepNorm(width)
        self.embed = nn.Sequential(nn.SiLU(), nn.Linear(embed_dim, width))
        self.neuron2 = _neuron(spiking, v_threshold, backend)
        self.fc2 = TSMLinear(time_steps, width, width, tsm=tsm)
        self.bn2 = _StepNorm(width)

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        h = self.bn1(self.fc1(self.neuron1(x))) + self.embed(temb)
        return x + self.bn2(self.fc2(self.neuron2(h)))


def sinusoidal_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """The transformer position embedding of the diffusion steps ``t`` ``[B]``: ``[B, dim]`` (sin and cos interleaved)."""
    if dim % 2:
        raise ValueError(f"dim must be even, got {dim}")
    freqs = torch.exp(-math.log(10000.0) * torch.arange(0, dim, 2, device=t.device, dtype=torch.float32) / dim)
    angles = t.float()[:, None] * freqs[None, :]
    return torch.stack([angles.sin(), angles.cos()], dim=-1).flatten(1)


class SpikingDenoiser(nn.Module):
    r"""The noise predictor :math:`\hat\epsilon(x_t, t)`: a residual spiking MLP with TSM (module docstring).

    ``forward(x, t)``: noisy images ``[B, *image_shape]`` and diffusion steps ``t`` ``[B]`` (integers in
    ``[0, diffusion_steps)``) to the predicted noise, same shape. ``spiking=False``: every IF becomes a ReLU (same
    parameters); ``tsm=False``: :math:`p_t = 1` fixed.
    """

    readout_decay = 0.8  # the paper's MembraneOutputLayer: sum_t 0.8^(T-t) y_t

    def __init__(self, image_shape: tuple[int, ...] = (1, 8, 8), width: int = 128, blocks: int = 2, time_steps: int = 4,
                 diffusion_steps: int = 100, spiking: bool = True, tsm: bool = True, v_threshold: float = 1.0, backend: str | None = None):
        super().__init__()
        for name, value in (("width", width), ("blocks", blocks), ("time_steps", time_steps), ("diffusion_steps", diffusion_steps)):
            if int(value) != value or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value}")
        if width % 2:
            raise ValueError(f"width must be even (sinusoidal embedding), got {width}")
        if not v_threshold > 0:
            raise ValueError(f"v_threshold must be > 0, got {v_threshold}")
        self.image_shape = tuple(int(d) for d in image_shape)
        pixels = math.prod(self.image_shape)
        w, t_steps = int(width), int(time_steps)
        self.width, self.time_steps, self.diffusion_steps = w, t_steps, int(diffusion_steps)
        self.spiking, self.tsm = bool(spiking), bool(tsm)
        emb = 2 * w
        self.time_embed = nn.Sequential(nn.Linear(w, emb), nn.SiLU(), nn.Linear(emb, emb))
        self.stem = TSMLinear(t_steps, pixels, w, tsm=tsm)
        self.stem_bn = _StepNorm(w)
        self.blocks = nn.ModuleList(ResBlock(w, emb, t_steps, spiking, tsm, v_threshold, backend) for _ in range(int(blocks)))
        self.tail_bn = _StepNorm(w)
        self.tail = TSMLinear(t_steps, w, pixels, tsm=tsm)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[1:]) != self.image_shape:
            raise ValueError(f"x must be [B, {', '.join(map(str, self.image_shape))}], got {tuple(x.shape)}")
        if t.shape != (x.shape[0],):
            raise ValueError(f"t must have shape ({x.shape[0]},) (one diffusion step per image), got {tuple(t.shape)}")
        temb = self.time_embed(sinusoidal_embedding(t, self.width))
        h = x.flatten(1).unsqueeze(0).expand(self.time_steps, -1, -1)      # direct encoding over the T spiking steps
        h = self.stem_bn(self.stem(h))
        for block in self.blocks:
            h = block(h, temb)
        y = self.tail(F.silu(self.tail_bn(h)))                              # [T, B, pixels]
        weights = self.readout_decay ** torch.arange(self.time_steps - 1, -1, -1, device=y.device, dtype=y.dtype)
        return (y * weights.view(-1, 1, 1)).sum(0).view_as(x)


def _spiking_neurons(model: nn.Module) -> list[IF]:
    return [m for m in model.modules() if isinstance(m, IF)]


@contextmanager
def threshold_guidance(model: nn.Module, delta: float) -> Iterator[nn.Module]:
    r"""Inside the block every IF neuron of ``model`` fires at :math:`v_{th} + \delta` (restored on exit, also on error).

    :math:`\delta > 0`: inhibitory guidance; :math:`\delta < 0`: excitatory. Raises if ``model`` has no spiking neuron
    or a threshold would not stay > 0.
    """
    delta = float(delta)
    if not math.isfinite(delta):
        raise ValueError(f"delta must be finite, got {delta}")
    neurons = _spiking_neurons(model)
    if not neurons:
        raise ValueError("threshold guidance needs a model with spiking neurons (IF); this one has none (spiking=False?)")
    saved = [n.params for n in neurons]
    lowest = min(p.v_th for p in saved)
    if not lowest + delta > 0:
        raise ValueError(f"delta must keep every threshold > 0 (lowest v_th is {lowest}), got {delta}")
    try:
        for n, p in zip(neurons, saved):
            n.params = dataclasses.replace(p, v_th=p.v_th + delta)
        yield model
    finally:
        for n, p in zip(neurons, saved):
            n.params = p


@contextmanager
def spike_counts(model: nn.Module) -> Iterator[dict[str, float]]:
    """Inside the block, counts the spikes and the neuron-steps of every IF neuron of ``model``:
    ``{"spikes": ..., "neuron_steps": ...}`` (updated on each forward)."""
    counts = {"spikes": 0.0, "neuron_steps": 0.0}

    def hook(_module, _inputs, output):
        counts["spikes"] += float(output.detach().sum())
        counts["neuron_steps"] += float(output.numel())

    handles = [n.register_forward_hook(hook) for n in _spiking_neurons(model)]
    try:
        yield counts
    finally:
        for h in handles:
            h.remove()


class DDPM(nn.Module):
    r"""The DDPM forward process, noise-prediction loss and ancestral sampler with a linear :math:`\beta` schedule.

    ``steps`` diffusion steps; :math:`\beta` runs linearly from ``beta_1`` to ``beta_T``, by default the paper's
    :math:`10^{-4}` and :math:`0.02` at 1000 steps scaled by ``1000 / steps``. ``variance``: ``"fixedlarge"``
    (:math:`\sigma_t^2 = \beta_t`) or ``"fixedsmall"`` (the posterior variance).
    """

    def __init__(self, steps: int = 100, beta_1: float | None = None, beta_T: float | None = None, variance: str = "fixedlarge"):
        super().__init__()
        if int(steps) != steps or steps < 2:
            raise ValueError(f"steps must be an integer >= 2, got {steps}")
        if variance not in ("fixedlarge", "fixedsmall"):
            raise ValueError(f"variance must be 'fixedlarge' or 'fixedsmall', got {variance!r}")
        scale = 1000.0 / steps
        beta_1 = 1e-4 * scale if beta_1 is None else float(beta_1)
        beta_T = 0.02 * scale if beta_T is None else float(beta_T)
        if not 0 < beta_1 <= beta_T < 1:
            raise ValueError(f"need 0 < beta_1 <= beta_T < 1, got beta_1={beta_1}, beta_T={beta_T}")
        betas = torch.linspace(beta_1, beta_T, int(steps), dtype=torch.float64)
        alphas = 1.0 - betas
        abar = torch.cumprod(alphas, 0)
        abar_prev = torch.cat([torch.ones(1, dtype=torch.float64), abar[:-1]])
        sigma2 = betas if variance == "fixedlarge" else betas * (1 - abar_prev) / (1 - abar)
        self.steps, self.variance = int(steps), variance
        for name, value in (("betas", betas), ("alphas_bar", abar), ("sigmas", sigma2.sqrt())):
            self.register_buffer(name, value.float())

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """:math:`x_t = \\sqrt{\\bar\\alpha_t} x_0 + \\sqrt{1-\\bar\\alpha_t}\\,\\epsilon` for each image's step ``t``."""
        abar = self.alphas_bar[t].view(-1, *([1] * (x0.dim() - 1)))
        return abar.sqrt() * x0 + (1 - abar).sqrt() * noise

    def loss(self, model: nn.Module, x0: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """The noise-prediction MSE at uniformly drawn steps."""
        t = torch.randint(0, self.steps, (x0.shape[0],), generator=generator, device=x0.device)
        noise = torch.randn(x0.shape, generator=generator, device=x0.device)
        return F.mse_loss(model(self.q_sample(x0, t, noise), t), noise)

    @torch.no_grad()
    def sample(self, model: nn.Module, n: int, shape: tuple[int, ...], generator: torch.Generator | None = None,
               clip: float | None = 1.0, progress: bool = False) -> torch.Tensor:
        """``n`` samples ``[n, *shape]`` from pure noise by ``steps`` ancestral steps (``model`` in eval mode).

        Each step forms the posterior mean from the predicted :math:`\\hat x_0 = (x_t - \\sqrt{1-\\bar\\alpha_t}\\,
        \\hat\\epsilon)/\\sqrt{\\bar\\alpha_t}` clipped to ``[-clip, clip]`` (Ho et al.'s sampler; the same mean as the
        module docstring's formula when nothing is clipped); ``clip=None``: no clipping."""
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        was_training = model.training
        model.eval()
        device = self.betas.device
        x = torch.randn((n, *shape), generator=generator, device=device)
        steps = range(self.steps - 1, -1, -1)
        if progress:
            from tqdm import tqdm

            steps = tqdm(steps, desc="sampling", leave=False)
        for i in steps:
            t = torch.full((n,), i, dtype=torch.long, device=device)
            eps = model(x, t)
            beta, abar = self.betas[i], self.alphas_bar[i]
            abar_prev = self.alphas_bar[i - 1] if i > 0 else torch.ones_like(abar)
            x0 = (x - (1 - abar).sqrt() * eps) / abar.sqrt()
            if clip is not None:
                x0 = x0.clamp(-clip, clip)
            x = (beta * abar_prev.sqrt() * x0 + (1 - abar_prev) * (1 - beta).sqrt() * x) / (1 - abar)
            if i > 0:
                x = x + self.sigmas[i] * torch.randn(x.shape, generator=generator, device=device)
        model.train(was_training)
        return x if clip is None else x.clamp(-clip, clip)
