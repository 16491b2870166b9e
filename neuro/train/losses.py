r"""Classification loss with label smoothing and mixup / CutMix, summed per sample.

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

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Mixed:
    """A mixing draw: ``lam`` weight of the original labels, ``perm`` the partner of each sample, and for
    CutMix the pasted box ``(top, bottom, left, right)`` over the last two (spatial) dimensions."""

    lam: float
    perm: torch.Tensor
    box: tuple[int, int, int, int] | None = None


def _beta(alpha: float) -> float:
    a = torch.tensor(alpha, dtype=torch.float64)
    return float(torch.distributions.Beta(a, a).sample())


def draw_mix(batch_size: int, mixup_alpha: float, cutmix_alpha: float = 0.0, prob: float = 1.0, switch_prob: float = 0.5,
             spatial: tuple[int, int] | None = None, device: torch.device | str = "cpu") -> Mixed | None:
    """A mixup or CutMix draw from the global torch generator (so a resumed run repeats it), or ``None``.

    CutMix (Yun et al. 2019), as timm draws it: :math:`\\lambda \\sim \\mathrm{Beta}(\\alpha, \\alpha)`, a box of
    side :math:`\\sqrt{1-\\lambda}` times the frame's, centred uniformly and clipped at the border; the labels are
    then weighted by the area actually kept, :math:`\\lambda = 1 - \\text{box area} / (H W)`. ``spatial`` is
    ``(H, W)`` of the input's last two dimensions.
    """
    if batch_size < 2 or (mixup_alpha <= 0.0 and cutmix_alpha <= 0.0):
        return None
    if float(torch.rand((), dtype=torch.float64)) >= prob:
        return None
    use_cutmix = cutmix_alpha > 0.0 and (mixup_alpha <= 0.0 or float(torch.rand((), dtype=torch.float64)) < switch_prob)
    if not use_cutmix:
        return Mixed(lam=_beta(mixup_alpha), perm=torch.randperm(batch_size).to(device))
    if spatial is None or len(spatial) != 2:
        raise ValueError(f"CutMix needs inputs with two spatial dimensions last ([..., H, W]); got spatial={spatial}")
    h, w = spatial
    lam = _beta(cutmix_alpha)
    ratio = math.sqrt(1.0 - lam)
    ch, cw = int(h * ratio), int(w * ratio)
    cy, cx = int(torch.randint(h, ())), int(torch.randint(w, ()))
    top, bottom = min(max(cy - ch // 2, 0), h), min(max(cy + ch // 2, 0), h)
    left, right = min(max(cx - cw // 2, 0), w), min(max(cx + cw // 2, 0), w)
    lam = 1.0 - (bottom - top) * (right - left) / (h * w)
    return Mixed(lam=lam, perm=torch.randperm(batch_size).to(device), box=(top, bottom, left, right))


def draw_mixup(batch_size: int, alpha: float, prob: float, device: torch.device) -> Mixed | None:
    """A mixup draw (no CutMix); see :func:`draw_mix`."""
    return draw_mix(batch_size, alpha, 0.0, prob, device=device)


def mix_inputs(x: torch.Tensor, mixed: Mixed | None, batch_dim: int = 0) -> torch.Tensor:
    """``lam x + (1 - lam) x[perm]`` for mixup; for CutMix ``x`` with the box pasted from ``x[perm]``."""
    if mixed is None:
        return x
    other = x.index_select(batch_dim, mixed.perm)
    if mixed.box is None:
        return mixed.lam * x + (1.0 - mixed.lam) * other
    if x.ndim < 3:
        raise ValueError(f"CutMix needs inputs [..., H, W]; got shape {tuple(x.shape)}")
    top, bottom, left, right = mixed.box
    out = x.clone()
    out[..., top:bottom, left:right] = other[..., top:bottom, left:right]
    return out


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
