r"""TESS: a temporally and spatially local learning rule for spiking networks (Apolinario, Roy & Frenkel, IJCNN 2025).

Each layer learns from what it has at the current time step only: no backpropagation through time (the weight
update uses eligibility traces carried forward) and none through layers (each layer gets its own learning signal
from a fixed projection of its spikes onto the classes). Memory is therefore :math:`O(\text{neurons} +
\text{synapses})` whatever the number of steps :math:`T`, where backpropagation through time keeps every step's
state: :math:`O(T \cdot \text{neurons})`.

Neurons (layer :math:`l`, input :math:`x_t` = the spikes of layer :math:`l-1`), soft reset:

.. math::

    u_t = \beta\,(u_{t-1} - \vartheta s_{t-1}) + W x_t + b,\qquad s_t = H(u_t - \vartheta),\qquad
    \psi_t = \frac{1}{(k\,|u_t - \vartheta| + 1)^2}

Eligibility from a presynaptic and a postsynaptic trace (an STDP-like pair of terms):

.. math::

    \bar x_t = \lambda_{pre}\,\bar x_{t-1} + x_t,\qquad \bar\psi_t = \lambda_{post}\,\bar\psi_{t-1} + \psi_t,\qquad
    e_{ij,t} = \alpha_{post}\,\bar\psi_{i,t-1}\,x_{j,t} + \alpha_{pre}\,\psi_{i,t}\,\bar x_{j,t}

Local learning signal: the layer's spikes projected by a fixed matrix :math:`B_l` (``C x N_l`` square waves
:math:`\mathrm{sign}\,\sin(f_c n) / N_l`, :math:`f_c` spaced from 50 to 512 rad per neuron index, as in the
authors' code) onto the :math:`C` classes, and the cross-entropy of that guess:

.. math::

    z_t = B_l s_t / \tau,\qquad \delta_{i,t} = \frac{\partial\, \mathrm{CE}(z_t, y)}{\partial s_{i,t}}
    = \frac{1}{\tau}\big[B_l^\top(\mathrm{softmax}(z_t) - \mathrm{onehot}(y))\big]_i,\qquad
    \Delta W_{ij} \propto -\sum_t \delta_{i,t}\, e_{ij,t}

summed over the last ``learn_steps`` steps of each sample (the authors' ``delay_ls``) and applied by the optimizer
once per batch. The readout (a linear layer on the last layer's spikes, logits summed over time) learns from the
cross-entropy of its own output at the same steps. Defaults are the authors' public code's: ``factors``
:math:`(\lambda_{post}, \lambda_{pre}, \alpha_{post}, \alpha_{pre}) = (0.2, 0.5, 1, 1)` (their CIFAR10 setting),
:math:`k = 100`, :math:`\vartheta = 0.6`; the leak :math:`\beta` is ours (0.9 for rate-coded inputs of tens of steps;
their convolutional layers use 0.5). What differs from the paper: fully connected layers instead of their VGG
convolutions, no weight normalisation, and no pooling before the learning-signal projection.

:meth:`TESSNetwork.bptt_loss` runs the *same* network unrolled with autograd (surrogate derivative :math:`\psi`) for
a backpropagation-through-time baseline. :class:`PeakHeap` measures the peak of the C heap in use (glibc
``mallinfo2``), where PyTorch's CPU tensors live.

Example::

    net = TESSNetwork([64, 128, 128], n_classes=10, seed=0)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    opt.zero_grad(); logits = net.tess_step(x_seq, y); opt.step()     # x_seq [T, B, 64] spikes, y [B]
"""

from __future__ import annotations

import ctypes
import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..nn.surrogate import spike

__all__ = ["TESSParameters", "TESSNetwork", "fit", "accuracy", "PeakHeap", "heap_in_use"]


@dataclass(frozen=True)
class TESSParameters:
    """Constants of the TESS rule and of its LIF neurons (dimensionless; one time step is the unit of time).

    ``lambda_post`` / ``lambda_pre``: decays of the postsynaptic (:math:`\\psi`) and presynaptic traces;
    ``alpha_post`` / ``alpha_pre``: weights of the two eligibility terms; ``beta``: membrane decay per step;
    ``v_th``: threshold; ``slope``: :math:`k` of the surrogate :math:`\\psi`; ``learn_steps``: the learning signal
    is on during the last ``learn_steps`` steps of a sample (``None``: all); ``temperature``: :math:`\\tau`.
    """

    lambda_post: float = 0.2
    lambda_pre: float = 0.5
    alpha_post: float = 1.0
    alpha_pre: float = 1.0
    beta: float = 0.9
    v_th: float = 0.6
    slope: float = 100.0
    learn_steps: int | None = 5
    temperature: float = 1.0

    def __post_init__(self):
        for name in ("lambda_post", "lambda_pre", "beta"):
            v = getattr(self, name)
            if not (math.isfinite(v) and 0.0 <= v <= 1.0):
                raise ValueError(f"{name} must be in [0, 1], got {v}")
        for name in ("v_th", "slope", "temperature"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"{name} must be a finite number > 0, got {v}")
        for name in ("alpha_post", "alpha_pre"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"{name} must be finite, got {getattr(self, name)}")
        if self.learn_steps is not None and (isinstance(self.learn_steps, bool) or not isinstance(self.learn_steps, int) or self.learn_steps < 1):
            raise ValueError(f"learn_steps must be an integer >= 1 or None, got {self.learn_steps!r}")


def square_wave_basis(n_classes: int, n: int) -> torch.Tensor:
    """The fixed ``[n_classes, n]`` projection of a layer's spikes onto the classes: :math:`\\mathrm{sign}\\,\\sin(f_c m) / n`."""
    f = torch.linspace(50.0, 512.0, n_classes, dtype=torch.float64).unsqueeze(1)
    m = torch.arange(n, dtype=torch.float64).unsqueeze(0)
    return (torch.sign(torch.sin(f * m)) / n).float()


class TESSNetwork(nn.Module):
    """Fully connected spiking network ``sizes[0] -> sizes[1] -> ... -> n_classes`` trained by TESS (:meth:`tess_step`)
    or by backpropagation through time (:meth:`bptt_loss`); ``forward`` returns the logits summed over time.

    ``x_seq``: ``[T, B, sizes[0]]`` (spikes or any input); ``y``: ``[B]`` class indices. Weights: Kaiming-normal, drawn
    from ``seed``."""

    def __init__(self, sizes: Sequence[int], n_classes: int, params: TESSParameters | None = None, bias: bool = False, seed: int = 0):
        super().__init__()
        sizes = list(sizes)
        if len(sizes) < 2 or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in sizes):
            raise ValueError(f"sizes must list >= 2 positive integers (inputs, then each hidden layer), got {sizes}")
        if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 2:
            raise ValueError(f"n_classes must be an integer >= 2, got {n_classes!r}")
        self.p = params or TESSParameters()
        self.sizes, self.n_classes = sizes, n_classes
        gen = torch.Generator().manual_seed(seed)
        self.layers = nn.ModuleList(nn.Linear(a, b, bias=bias) for a, b in zip(sizes[:-1], sizes[1:]))
        self.readout = nn.Linear(sizes[-1], n_classes)
        with torch.no_grad():
            for lin in [*self.layers, self.readout]:
                lin.weight.normal_(0.0, math.sqrt(2.0 / lin.in_features), generator=gen)
                if lin.bias is not None:
                    lin.bias.zero_()
        for k, n in enumerate(sizes[1:]):
            self.register_buffer(f"basis{k}", square_wave_basis(n_classes, n))

    def _check(self, x_seq: torch.Tensor, y: torch.Tensor | None = None) -> None:
        if x_seq.dim() != 3 or x_seq.shape[-1] != self.sizes[0]:
            raise ValueError(f"x_seq must be [T, B, {self.sizes[0]}], got {list(x_seq.shape)}")
        if y is not None and (y.dim() != 1 or y.shape[0] != x_seq.shape[1]):
            raise ValueError(f"y must be [B] = [{x_seq.shape[1]}] class indices, got {list(y.shape)}")

    def _learning(self, t: int, T: int) -> bool:
        return self.p.learn_steps is None or t >= T - self.p.learn_steps

    @torch.no_grad()
    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, C]`` summed over the ``T`` steps (no gradient; one step's state in memory at a time)."""
        self._check(x_seq)
        p = self.p
        u = [None] * len(self.layers)
        s = [None] * len(self.layers)
        out = 0.0
        for x in x_seq:
            for k, lin in enumerate(self.layers):
                a = lin(x)
                u[k] = a if u[k] is None else p.beta * (u[k] - p.v_th * s[k]) + a
                s[k] = (u[k] >= p.v_th).to(a.dtype)
                x = s[k]
            out = out + self.readout(x)
        return out

    @torch.no_grad()
    def tess_step(self, x_seq: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Runs one batch forward in time and adds the TESS weight updates (as gradients: the optimizer's ``step``
        applies them) to every parameter's ``.grad``; returns the logits ``[B, C]`` summed over time."""
        self._check(x_seq, y)
        p = self.p
        T, B = x_seq.shape[:2]
        onehot = F.one_hot(y, self.n_classes).to(x_seq.dtype)
        grads = [torch.zeros_like(lin.weight) for lin in self.layers]
        bgrads = [torch.zeros_like(lin.bias) if lin.bias is not None else None for lin in self.layers]
        g_out, gb_out = torch.zeros_like(self.readout.weight), torch.zeros_like(self.readout.bias)
        n_layers = len(self.layers)
        u, s = [None] * n_layers, [None] * n_layers
        tr_in = [torch.zeros(B, lin.in_features, dtype=x_seq.dtype) for lin in self.layers]
        tr_psi = [torch.zeros(B, lin.out_features, dtype=x_seq.dtype) for lin in self.layers]
        out = torch.zeros(B, self.n_classes, dtype=x_seq.dtype)
        for t, x in enumerate(x_seq):
            learn = self._learning(t, T)
            for k, lin in enumerate(self.layers):
                a = lin(x)
                u[k] = a if u[k] is None else p.beta * (u[k] - p.v_th * s[k]) + a
                s[k] = (u[k] >= p.v_th).to(a.dtype)
                psi = 1.0 / (p.slope * (u[k] - p.v_th).abs() + 1.0) ** 2
                tr_in[k].mul_(p.lambda_pre).add_(x)
                if learn:  # local learning signal: the cross-entropy of the layer's fixed projection onto the classes
                    basis = getattr(self, f"basis{k}")
                    z = s[k] @ basis.T / p.temperature
                    delta = (torch.softmax(z, 1) - onehot) @ basis / (p.temperature * B)  # dCE/ds, [B, N]
                    grads[k] += p.alpha_post * (delta * tr_psi[k]).T @ x + p.alpha_pre * (delta * psi).T @ tr_in[k]
                    if bgrads[k] is not None:
                        bgrads[k] += (delta * psi).sum(0)
                tr_psi[k].mul_(p.lambda_post).add_(psi)
                x = s[k]
            logits = self.readout(x)
            out += logits
            if learn:
                d = (torch.softmax(logits, 1) - onehot) / B
                g_out += d.T @ x
                gb_out += d.sum(0)
        for lin, g, gb in zip([*self.layers, self.readout], [*grads, g_out], [*bgrads, gb_out]):
            lin.weight.grad = g if lin.weight.grad is None else lin.weight.grad + g
            if lin.bias is not None:
                lin.bias.grad = gb if lin.bias.grad is None else lin.bias.grad + gb
        return out

    def bptt_loss(self, x_seq: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The same network unrolled with autograd: ``(cross-entropy of the summed logits, summed logits)``; call
        ``.backward()`` on the loss for backpropagation through time (surrogate derivative :math:`\\psi`)."""
        self._check(x_seq, y)
        p = self.p
        u, s = [None] * len(self.layers), [None] * len(self.layers)
        out = 0.0
        for x in x_seq:
            for k, lin in enumerate(self.layers):
                a = lin(x)
                u[k] = a if u[k] is None else p.beta * (u[k] - p.v_th * s[k]) + a
                s[k] = spike(u[k] - p.v_th, "fast_sigmoid", p.slope)
                x = s[k]
            out = out + self.readout(x)
        return F.cross_entropy(out, y), out


def accuracy(model: TESSNetwork, x: torch.Tensor, y: torch.Tensor, encode: Callable[[torch.Tensor], torch.Tensor], batch: int = 256) -> float:
    """Fraction of ``x`` (``[N, ...]``, encoded to ``[T, B, F]`` by ``encode``) classified as ``y``."""
    correct = 0
    for i in range(0, len(x), batch):
        correct += int((model(encode(x[i : i + batch])).argmax(1) == y[i : i + batch]).sum())
    return correct / len(x)


def fit(model: TESSNetwork, x: torch.Tensor, y: torch.Tensor, encode: Callable[[torch.Tensor], torch.Tensor], *, method: str = "tess",
        epochs: int = 5, batch: int = 64, lr: float = 1e-3, seed: int = 0, progress: bool = True) -> list[float]:
    """Trains ``model`` on ``(x, y)`` with TESS (``method="tess"``) or backpropagation through time (``"bptt"``), Adam at
    ``lr``, shuffled by ``seed``; ``encode`` maps a batch ``[B, ...]`` to ``[T, B, F]``. Returns the training accuracy of
    each epoch (measured on the batches as they were trained)."""
    if method not in ("tess", "bptt"):
        raise ValueError(f"method must be 'tess' or 'bptt', got {method!r}")
    from tqdm.auto import tqdm

    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    history = []
    bar = tqdm(total=epochs * math.ceil(len(x) / batch), desc=f"{method}", disable=not progress)
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=gen)
        correct = 0
        for i in range(0, len(x), batch):
            idx = order[i : i + batch]
            xs, ys = encode(x[idx]), y[idx]
            opt.zero_grad()
            if method == "tess":
                logits = model.tess_step(xs, ys)
            else:
                loss, logits = model.bptt_loss(xs, ys)
                loss.backward()
            opt.step()
            correct += int((logits.argmax(1) == ys).sum())
            bar.update(1)
        history.append(correct / len(x))
        bar.set_postfix(train_acc=f"{history[-1]:.3f}")
    bar.close()
    return history


# ----------------------------------------------------------------------------- measured memory
class _MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                                                "keepcost")]


def _mallinfo2():
    try:
        fn = ctypes.CDLL(None).mallinfo2
    except (AttributeError, OSError):
        return None
    fn.restype = _MallInfo2
    return fn


_MALLINFO2 = _mallinfo2()


def heap_in_use() -> int:
    """Bytes of the C heap in use now (glibc ``mallinfo2``: allocated chunks plus mmapped blocks), where PyTorch's CPU
    tensors live. Raises ``RuntimeError`` where that cannot be read (not glibc >= 2.33)."""
    if _MALLINFO2 is None:
        raise RuntimeError("heap_in_use needs glibc >= 2.33 (mallinfo2); this C library does not have it")
    m = _MALLINFO2()
    return int(m.uordblks + m.hblkhd)


class PeakHeap:
    """Peak of :func:`heap_in_use` above its value at entry, sampled by a thread every ``interval`` seconds while the
    block runs and at :meth:`probe` calls; ``peak`` (bytes) after exit::

        with PeakHeap() as mem:
            loss.backward()
        print(mem.peak)
    """

    def __init__(self, interval: float = 2e-4):
        self.interval, self.peak, self._base = interval, 0, 0
        self._stop = threading.Event()

    def probe(self) -> None:
        self.peak = max(self.peak, heap_in_use() - self._base)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.probe()

    def __enter__(self) -> PeakHeap:
        self._base = heap_in_use()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.probe()
