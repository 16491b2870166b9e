r"""Classification loss with label smoothing and mixup, summed per sample.

With :math:`C` classes, smoothing :math:`\varepsilon` and log-probabilities :math:`\log p`, the loss of
a sample with label :math:`y` is

.. math::

    \ell(y) = -(1-\varepsilon)\log p_y - \frac{\varepsilon}{C}\sum_c \log p_c

(``torch.nn.functional.cross_entropy(label_smoothing=ε)``), and with mixup (Zhang et al. 2018,
:math:`\lambda \sim \mathrm{Beta}(\alpha, \alpha)`, inputs :math:`\lambda x + (1-\lambda) x_{\pi}`)
it is :math:`\lambda\,\ell(y) + (1-\lambda)\,\ell(y_\pi)`.

The trainer sums per-sample losses and divides by the **global** batch size, so the gradient averaged
by DDP over processes equals the single-process gradient even when the processes' shares differ.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Mixed:
    """A mixup draw: ``lam`` weight of the original labels, ``perm`` the partner of each sample."""

    lam: float
    perm: torch.Tensor


def draw_mixup(batch_size: int, alpha: float, prob: float, device: torch.device) -> Mixed | None:
    """A mixup draw from the global torch generator (so a resumed run repeats it), or ``None``."""
    if alpha <= 0.0 or batch_size < 2:
        return None
    if float(torch.rand((), dtype=torch.float64)) >= prob:
        return None
    lam = float(torch.distributions.Beta(torch.tensor(alpha, dtype=torch.float64), torch.tensor(alpha, dtype=torch.float64)).sample())
    return Mixed(lam=lam, perm=torch.randperm(batch_size).to(device))


def mix_inputs(x: torch.Tensor, mixed: Mixed | None, batch_dim: int = 0) -> torch.Tensor:
    if mixed is None:
        return x
    return mixed.lam * x + (1.0 - mixed.lam) * x.index_select(batch_dim, mixed.perm)


def summed_loss(logits: torch.Tensor, target: torch.Tensor, label_smoothing: float = 0.0, mixed: Mixed | None = None) -> torch.Tensor:
    """Sum over the batch of the per-sample loss above (``logits`` ``[B, C]``, ``target`` ``[B]``)."""
    logits = logits.float()
    loss = F.cross_entropy(logits, target, label_smoothing=label_smoothing, reduction="sum")
    if mixed is None:
        return loss
    other = F.cross_entropy(logits, target.index_select(0, mixed.perm), label_smoothing=label_smoothing, reduction="sum")
    return mixed.lam * loss + (1.0 - mixed.lam) * other


def correct_count(logits: torch.Tensor, target: torch.Tensor, mixed: Mixed | None = None) -> torch.Tensor:
    """Correct top-1 predictions; under mixup against the label with the larger weight."""
    if mixed is not None and mixed.lam < 0.5:
        target = target.index_select(0, mixed.perm)
    return (logits.argmax(dim=-1) == target).sum()
