r"""Fine-grained distillation (FGD) of the QSD-Transformer (Qiu et al., ICLR 2025, Sec. "upper-level optimisation").

The quantized spike-driven self-attention (Q-SDSA) of the student is aligned with the attention
of its full-precision ANN counterpart, not through the outputs but through the *token-similarity
structure* of the query and the key. Per layer :math:`l`, for :math:`X \in \{Q, K\}` of shape
``[B, heads, N, d]`` (spiking tensors averaged over time steps first):

.. math::

    G(X) = \mathcal{N}\big(X X^\top\big), \qquad
    \mathcal{L}_{FGD} = \sum_l \sum_{X \in \{Q, K\}} \frac{1}{B\,h\,N}
        \big\lVert G(X^{S}_l) - G(X^{T}_l) \big\rVert_F^2

where :math:`\mathcal{N}` normalises each row of the :math:`N \times N` similarity matrix to unit
L2 norm (so the binary/multi-level student and the real-valued teacher are compared on the same
scale) and :math:`S`, :math:`T` are student and teacher. The training objective is
:math:`\mathcal{L}_{CE} + \lambda\,\mathcal{L}_{FGD}`. The released QSD code contains no
implementation; this one is written from the paper's description.

Example::

    student, teacher = qsd_transformer("imagenet-15M"), qsd_transformer("imagenet-15M", ann=True)
    logits = student(x)
    with torch.no_grad():
        teacher(x)
    loss = F.cross_entropy(logits, y) + lam * fine_grained_distillation_loss(attention_qk(student), attention_qk(teacher))
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["similarity_matrix", "fine_grained_distillation_loss", "record_attention", "attention_qk"]

QK = tuple[torch.Tensor, torch.Tensor]


def similarity_matrix(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Row-normalised token similarity :math:`\\mathcal{N}(X X^\\top)` of ``[..., N, d]`` -> ``[..., N, N]``.

    A zero row (a token with no spikes) stays zero and passes no gradient: the normalisation is not differentiable
    there, and dividing by ``eps`` instead would hand back a gradient ~1/eps times too large (one silent token in a
    batch could wreck the optimiser state).
    """
    g = x @ x.transpose(-2, -1)
    norm = g.norm(p=2.0, dim=-1, keepdim=True)
    return torch.where(norm > eps, g / norm.clamp_min(eps), torch.zeros_like(g))


def _time_mean(x: torch.Tensor) -> torch.Tensor:
    if x.dim() == 5:  # [T, B, heads, N, d]
        return x.float().mean(0)
    if x.dim() == 4:
        return x.float()
    raise ValueError(f"expected q/k of shape [T, B, heads, N, d] or [B, heads, N, d], got {tuple(x.shape)}")


def fine_grained_distillation_loss(student: Sequence[QK], teacher: Sequence[QK]) -> torch.Tensor:
    """:math:`\\mathcal{L}_{FGD}` over matching layers: ``student[l] = (q, k)`` and ``teacher[l] = (q, k)`` (gradient flows to the student only)."""
    if len(student) != len(teacher) or not student:
        raise ValueError(f"need the same non-zero number of attention layers, got {len(student)} student and {len(teacher)} teacher")
    total = None
    for layer, (s_pair, t_pair) in enumerate(zip(student, teacher)):
        for name, s, t in zip(("q", "k"), s_pair, t_pair):
            s, t = _time_mean(s), _time_mean(t.detach())
            if s.shape[:-1] != t.shape[:-1]:
                raise ValueError(f"layer {layer} {name}: student {tuple(s.shape)} and teacher {tuple(t.shape)} differ in batch, heads or tokens")
            b, h, n = s.shape[:3]
            term = (similarity_matrix(s) - similarity_matrix(t)).pow(2).sum() / (b * h * n)
            total = term if total is None else total + term
    return total


def record_attention(model: nn.Module, on: bool = True) -> None:
    """Make every attention layer of ``model`` that supports it keep its last ``(q, k)`` (``last_qk``)."""
    found = False
    for m in model.modules():
        if hasattr(m, "last_qk") and hasattr(m, "record"):
            m.record, found = on, True
            if not on:
                m.last_qk = None
    if not found:
        raise ValueError(f"{type(model).__name__} has no attention layer that records q and k")


def attention_qk(model: nn.Module) -> list[QK]:
    """The ``(q, k)`` each recording attention layer kept in the last forward pass, in module order."""
    out = [m.last_qk for m in model.modules() if getattr(m, "record", False) and hasattr(m, "last_qk")]
    if not out or any(p is None for p in out):
        raise ValueError("no recorded q/k: call record_attention(model) and run a forward pass first")
    return out
