r"""SpikePoint: a point-based spiking network for event-camera action recognition, on :mod:`neuro.nn` neurons.

After Ren et al., *SpikePoint: An Efficient Point-based Spiking Neural Network for Event Cameras Action Recognition*
(ICLR 2024, arXiv:2310.07189). No official code was found; the layout below is the paper's (section 3 and appendix
figure 8, as read through two public summaries of it), with the choices it leaves open named at the end.

**Event cloud.** A clip of events :math:`(x, y, t, p)` becomes points :math:`(x/W, y/H, (t - t_0)/L)` in
:math:`[0, 1]^3` (polarity dropped, :func:`events_to_points`), randomly sampled to a fixed ``N`` points.

**Sampling and grouping** (:func:`group_points`). ``M`` centroids :math:`c` are chosen by farthest-point sampling
(:func:`farthest_point_sample`) or at random, and each takes its ``K`` nearest points :math:`G` (:func:`knn`). The
relative coordinates are standardised, :math:`\Delta = (G - c)/\mathrm{SD}`, with SD the (``n - 1``) standard
deviation of all of the sample's relative coordinates.

**Coordinate encoding.** Rate coding (a Bernoulli spike with probability :math:`v` at each of ``T`` steps) cannot carry
the sign of :math:`\Delta`, so each point is coded by the absolute offsets and the group's corner:

.. math::

    X_1 = [\,|\Delta x|, |\Delta y|, |\Delta z|,\ x_{min}, y_{min}, z_{min}\,] \in \mathbb R^{M \times K \times 6},
    \qquad X_2 = [\,x_c, y_c, z_c\,] \in \mathbb R^{M \times 3}

(:math:`x_{min}` the smallest coordinate in the group: it makes up for the positive mean :math:`\sqrt{2/\pi}` that the
absolute value adds; the centroid branch :math:`X_2` keeps the group's position). Values are clipped to
:math:`[0, 1]` before coding (SpikingJelly's Poisson encoder, ``rand < v``, saturates the same way).

**Network.** ``SpikingConv(a, b)`` is a pointwise Conv1d, BatchNorm and a parametric LIF neuron. With width ``D``:

.. math::

    \mathrm{ResF}_B(x) = x + S(S(x W_{D \to D/2}) W_{D/2 \to D}), \qquad \mathrm{ResF}(x) = x + S(x W_{D \to D})

(residual added *after* the neuron, the paper's identity mapping: the skip path's gradient is 1, not a surrogate
derivative). Local extractor :math:`F_{local} = \max_K \mathrm{ResF}_B(S_{6 \to D}(X_1)) + S_{3 \to D}(X_2)`; global
extractor :math:`\mathcal L_i(x) = \mathrm{ResF}(S(x))` twice (``D -> 2D -> 4D``), then :math:`S_{4D \to 8D}` and a
max over the ``M`` groups; classifier ``Linear(8D, 8D)``-BN-LIF, ``Linear(8D, 10 C)``-BN-LIF, and a vote: the mean
of each class's 10 output neurons. :meth:`SpikePoint.forward` returns the votes per step ``[T, B, C]`` (values in
:math:`[0, 1]`; their mean over ``T`` is the class rate). The paper trains with the MSE between the votes and the
one-hot label, averaged over steps and classes (:func:`spikepoint_loss`).

**Parameter counts.** Width 64 (the paper's large model) with 11 classes has 583,466 weights and biases plus one
:math:`\tau` per neuron layer (583,477 values; the paper: 0.58 M for DVS128 Gesture). The same layout gives the
paper's other four published counts at its two-decimal rounding: 0.79 M (HMDB51-DVS, 51 classes) and 1.05 M
(UCF101-DVS, 101) at width 64, 0.16 M (Daily DVS, 12; DVS Action, 10) at width 32 (``SPIKEPOINT_CONFIGS``).

**Choices the paper leaves open** (ours): the centroid branch is ``SpikingConv(3, D)`` alone: a summary reads a
:math:`\mathrm{ResF}_B` there too, but that layout gives 0.59 M for 11 classes and 0.17 M for Daily DVS, against the
published 0.58 M and 0.16 M; global :math:`\mathrm{ResF}` holds one SpikingConv (two give 0.67 M). Conv and Linear
layers keep PyTorch's default bias. SD is one scalar per sample (the PointMLP-style grouping this line of work builds
on). Farthest-point sampling starts at point 0. Neurons: SpikingJelly ``ParametricLIF`` settings (initial
:math:`\tau = 2` steps, input not decayed, threshold 1, hard reset to 0, reset not detached, atan surrogate with
``alpha = 2``). No dropout by default (the appendix text omits it; its figure draws 0.5: ``dropout=``).

Example::

    model = spikepoint("dvsgesture")                      # 583,477 parameters
    model = SpikePoint(num_classes=4, width=16, groups=32, neighbors=8, time_steps=4)
    votes = model(torch.rand(2, 256, 3))                  # points [B, N, 3] -> votes [T, B, C]
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import nn

from ..neurons import ParametricLIF

__all__ = ["SpikePoint", "SpikePointConfig", "SPIKEPOINT_CONFIGS", "PAPER_PARAMETERS_M", "spikepoint", "spikepoint_loss",
           "events_to_points", "farthest_point_sample", "knn", "group_points", "rate_code", "SpikingConv", "ResFB", "ResF"]


@dataclass(frozen=True)
class SpikePointConfig:
    """One SpikePoint size. ``width`` is the local width ``D`` (global ``2D``, ``4D``, ``8D``); ``votes`` output neurons
    per class; ``groups`` (``M``) centroids of ``neighbors`` (``K``) points each; ``time_steps`` ``T`` of rate coding;
    ``backend`` is passed to every neuron (:mod:`neuro.backend`)."""

    num_classes: int = 11
    width: int = 64
    groups: int = 1024
    neighbors: int = 24
    time_steps: int = 16
    votes: int = 10
    sampling: str = "fps"
    tau: float = 2.0
    v_threshold: float = 1.0
    dropout: float = 0.0
    backend: str | None = None


#: The paper's five models (Table 1-5 parameter counts in ``PAPER_PARAMETERS_M``); 1024 groups of 24 points, T = 16.
SPIKEPOINT_CONFIGS: dict[str, SpikePointConfig] = {
    "dvsgesture": SpikePointConfig(num_classes=11, width=64),
    "hmdb51-dvs": SpikePointConfig(num_classes=51, width=64),
    "ucf101-dvs": SpikePointConfig(num_classes=101, width=64),
    "daily-dvs": SpikePointConfig(num_classes=12, width=32),
    "dvs-action": SpikePointConfig(num_classes=10, width=32),
}

#: Parameter counts the paper reports, in millions (two decimals).
PAPER_PARAMETERS_M = {"dvsgesture": 0.58, "hmdb51-dvs": 0.79, "ucf101-dvs": 1.05, "daily-dvs": 0.16, "dvs-action": 0.16}


# --------------------------------------------------------------------------------------------- event cloud
def events_to_points(events: np.ndarray, n_points: int, sensor_size: tuple[int, int] = (128, 128),
                     rng: np.random.Generator | None = None) -> np.ndarray:
    """``[n_points, 3]`` float32 points ``(x / W, y / H, (t - t_min) / (t_max - t_min))`` from an event record.

    ``events``: a structured array with fields ``x, y, t`` (tonic's), or an ``(N, >= 4)`` array with columns
    ``x, y, p, t``. Sampled without replacement when there are at least ``n_points`` events, else with replacement.
    """
    if n_points < 1:
        raise ValueError(f"n_points must be >= 1, got {n_points}")
    if events.dtype.names is not None:
        x, y, t = (events[k].astype(np.float64) for k in ("x", "y", "t"))
    elif events.ndim == 2 and events.shape[1] >= 4:
        x, y, t = events[:, 0].astype(np.float64), events[:, 1].astype(np.float64), events[:, 3].astype(np.float64)
    else:
        raise ValueError(f"events must be a structured array with x, y, t or an (N, 4) array x, y, p, t; got shape {events.shape}")
    if len(x) == 0:
        raise ValueError("events is empty: a clip needs at least one event")
    rng = rng if rng is not None else np.random.default_rng(0)
    idx = rng.choice(len(x), n_points, replace=len(x) < n_points)
    span = max(float(t.max() - t.min()), 1e-9)
    pts = np.stack([x[idx] / sensor_size[0], y[idx] / sensor_size[1], (t[idx] - t.min()) / span], axis=1)
    return np.clip(pts, 0.0, 1.0).astype(np.float32)


def farthest_point_sample(points: torch.Tensor, m: int) -> torch.Tensor:
    """Indices ``[B, m]`` of ``m`` points chosen greedily, each the farthest from those already chosen (first: point 0)."""
    b, n, _ = points.shape
    if not 1 <= m <= n:
        raise ValueError(f"cannot sample {m} centroids from {n} points (need 1 <= m <= N)")
    idx = torch.zeros(b, m, dtype=torch.long, device=points.device)
    dist = torch.full((b, n), float("inf"), device=points.device, dtype=points.dtype)
    rows = torch.arange(b, device=points.device)
    far = torch.zeros(b, dtype=torch.long, device=points.device)
    for i in range(m):
        idx[:, i] = far
        d = ((points - points[rows, far].unsqueeze(1)) ** 2).sum(-1)
        dist = torch.minimum(dist, d)
        far = dist.argmax(-1)
    return idx


def knn(points: torch.Tensor, centroids: torch.Tensor, k: int) -> torch.Tensor:
    """Indices ``[B, M, k]`` of the ``k`` points nearest to each centroid (Euclidean; a centroid's own point first)."""
    if not 1 <= k <= points.shape[1]:
        raise ValueError(f"neighbors must be in [1, {points.shape[1]}] (the number of points), got {k}")
    return torch.cdist(centroids, points).topk(k, dim=-1, largest=False).indices


def _gather(points: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    b = points.shape[0]
    rows = torch.arange(b, device=points.device).view(b, *([1] * (idx.dim() - 1)))
    return points[rows, idx]


def group_points(points: torch.Tensor, groups: int, neighbors: int, sampling: str = "fps",
                 generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    r"""The two coded inputs of the module docstring: ``X1 [B, M, K, 6]`` and ``X2 [B, M, 3]``, both in :math:`[0, 1]`.

    ``sampling``: ``"fps"`` (farthest-point) or ``"random"`` (centroids drawn with ``generator``).
    """
    if points.dim() != 3 or points.shape[-1] != 3:
        raise ValueError(f"points must be [B, N, 3] (x, y, t scaled to [0, 1]), got shape {tuple(points.shape)}")
    if sampling == "fps":
        cidx = farthest_point_sample(points, groups)
    elif sampling == "random":
        if not 1 <= groups <= points.shape[1]:
            raise ValueError(f"cannot sample {groups} centroids from {points.shape[1]} points")
        keys = torch.rand(points.shape[:2], generator=generator, device="cpu").to(points.device)
        cidx = keys.argsort(-1)[:, :groups]
    else:
        raise ValueError(f"sampling must be 'fps' or 'random', got {sampling!r}")
    cent = _gather(points, cidx)                                   # [B, M, 3]
    grp = _gather(points, knn(points, cent, neighbors))            # [B, M, K, 3]
    rel = grp - cent.unsqueeze(2)
    sd = rel.reshape(points.shape[0], -1).std(dim=-1).clamp_min(1e-6).view(-1, 1, 1, 1)
    corner = grp.min(dim=2, keepdim=True).values.expand_as(grp)
    x1 = torch.cat([(rel / sd).abs(), corner], dim=-1).clamp(0.0, 1.0)
    return x1, cent.clamp(0.0, 1.0)


def rate_code(values: torch.Tensor, time_steps: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """``[T, ...]`` Bernoulli spikes, probability ``values`` (in [0, 1]) at every step."""
    if time_steps < 1:
        raise ValueError(f"time_steps must be >= 1, got {time_steps}")
    u = torch.rand((time_steps, *values.shape), generator=generator, device="cpu" if generator is not None else values.device)
    return (u.to(values.device) < values.unsqueeze(0)).to(values.dtype)


# --------------------------------------------------------------------------------------------- layers
def _plif(cfg: SpikePointConfig) -> ParametricLIF:
    return ParametricLIF(tau=cfg.tau, v_threshold=cfg.v_threshold, v_reset=0.0, decay_input=False, detach_reset=False,
                         surrogate="atan", alpha=2.0,
                         backend=cfg.backend)


class SpikingConv(nn.Module):
    """Pointwise Conv1d, BatchNorm1d and a parametric LIF on ``[T, B, C, *points]``, returning spikes of the same layout."""

    def __init__(self, in_ch: int, out_ch: int, cfg: SpikePointConfig):
        super().__init__()
        self.conv = nn.Conv1d(in_ch, out_ch, 1)
        self.bn = nn.BatchNorm1d(out_ch)
        self.lif = _plif(cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t, b, c, *rest = x.shape
        y = self.bn(self.conv(x.reshape(t * b, c, -1)))
        return self.lif(y.reshape(t, b, -1, *rest))


class ResFB(nn.Module):
    """Bottleneck residual block, residual after the neurons: ``x + S(S(x W1) W2)`` with ``D -> D/2 -> D``."""

    def __init__(self, dim: int, cfg: SpikePointConfig):
        super().__init__()
        self.down, self.up = SpikingConv(dim, dim // 2, cfg), SpikingConv(dim // 2, dim, cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.up(self.down(x))


class ResF(nn.Module):
    """Residual block without bottleneck, residual after the neuron: ``x + S(x W)``."""

    def __init__(self, dim: int, cfg: SpikePointConfig):
        super().__init__()
        self.body = SpikingConv(dim, dim, cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class _SpikingLinear(nn.Module):
    def __init__(self, in_f: int, out_f: int, cfg: SpikePointConfig):
        super().__init__()
        self.fc, self.bn, self.lif = nn.Linear(in_f, out_f), nn.BatchNorm1d(out_f), _plif(cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:          # [T, B, F]
        t, b, _ = x.shape
        return self.lif(self.bn(self.fc(x.reshape(t * b, -1))).reshape(t, b, -1))


class SpikePoint(nn.Module):
    """SpikePoint on point clouds ``[B, N, 3]`` (coordinates in [0, 1]); returns class votes ``[T, B, C]``.

    Keyword arguments are the fields of :class:`SpikePointConfig`. ``input_layout = "BT"``: batch first (give
    :func:`neuro.energy.estimate` ``time_steps=model.time_steps``, as the points carry no time axis).
    """

    input_layout = "BT"

    def __init__(self, config: SpikePointConfig | None = None, **kw):
        super().__init__()
        cfg = replace(config or SpikePointConfig(), **kw)
        for name in ("num_classes", "width", "groups", "neighbors", "time_steps", "votes"):
            v = getattr(cfg, name)
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if cfg.width < 2 or cfg.width % 2:
            raise ValueError(f"width must be an even integer >= 2 (the bottleneck halves it), got {cfg.width}")
        if cfg.sampling not in ("fps", "random"):
            raise ValueError(f"sampling must be 'fps' or 'random', got {cfg.sampling!r}")
        if not cfg.tau > 1.0:
            raise ValueError(f"tau must be > 1 (time steps), got {cfg.tau}")
        if not 0.0 <= cfg.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {cfg.dropout}")
        self.config, self.time_steps = cfg, cfg.time_steps
        d = cfg.width
        self.embed_points = SpikingConv(6, d, cfg)
        self.local_block = ResFB(d, cfg)
        self.embed_centroids = SpikingConv(3, d, cfg)
        self.global1 = nn.Sequential(SpikingConv(d, 2 * d, cfg), ResF(2 * d, cfg))
        self.global2 = nn.Sequential(SpikingConv(2 * d, 4 * d, cfg), ResF(4 * d, cfg))
        self.global_out = SpikingConv(4 * d, 8 * d, cfg)
        self.dropout = nn.Dropout(cfg.dropout)
        self.fc1 = _SpikingLinear(8 * d, 8 * d, cfg)
        self.fc2 = _SpikingLinear(8 * d, cfg.votes * cfg.num_classes, cfg)

    def encode(self, points: torch.Tensor, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Grouped and rate-coded input spikes: ``[T, B, 6, M, K]`` and ``[T, B, 3, M]``."""
        cfg = self.config
        x1, x2 = group_points(points, cfg.groups, cfg.neighbors, cfg.sampling, generator)
        s1 = rate_code(x1.permute(0, 3, 1, 2), cfg.time_steps, generator)
        s2 = rate_code(x2.transpose(1, 2), cfg.time_steps, generator)
        return s1, s2

    def features(self, s1: torch.Tensor, s2: torch.Tensor) -> torch.Tensor:
        """Global feature ``[T, B, 8D]`` from the coded inputs of :meth:`encode`."""
        local = self.local_block(self.embed_points(s1)).amax(dim=-1) + self.embed_centroids(s2)   # [T, B, D, M]
        return self.global_out(self.global2(self.global1(local))).amax(dim=-1)

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        if not isinstance(points, torch.Tensor) or not points.is_floating_point():
            raise TypeError(f"points must be a floating-point tensor [B, N, 3], got {getattr(points, 'dtype', type(points).__name__)}")
        if points.dim() != 3 or points.shape[-1] != 3:
            raise ValueError(f"points must be [B, N, 3] (x, y, t scaled to [0, 1]), got shape {tuple(points.shape)}")
        if points.shape[1] < max(self.config.groups, self.config.neighbors):
            raise ValueError(f"points must hold at least groups={self.config.groups} and neighbors={self.config.neighbors} "
                             f"points per sample, got N={points.shape[1]}")
        g = self.features(*self.encode(points))
        out = self.fc2(self.fc1(self.dropout(g)))                                                # [T, B, 10 C]
        t, b, _ = out.shape
        return out.reshape(t, b, self.config.num_classes, self.config.votes).mean(-1)


def spikepoint(name: str = "dvsgesture", **kw) -> SpikePoint:
    """A published size by name (``SPIKEPOINT_CONFIGS``), with keyword overrides of :class:`SpikePointConfig`."""
    if name not in SPIKEPOINT_CONFIGS:
        raise ValueError(f"unknown SpikePoint config {name!r}; expected one of {sorted(SPIKEPOINT_CONFIGS)}")
    return SpikePoint(SPIKEPOINT_CONFIGS[name], **kw)


def spikepoint_loss(votes: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    r"""The paper's loss: :math:`\frac1T\sum_t \frac1C\sum_c (Y_{t,c} - y_c)^2` (batch mean), votes ``[T, B, C]``."""
    if votes.dim() != 3:
        raise ValueError(f"votes must be [T, B, C], got shape {tuple(votes.shape)}")
    target = torch.nn.functional.one_hot(labels, votes.shape[-1]).to(votes.dtype)
    return ((votes - target.unsqueeze(0)) ** 2).mean()
