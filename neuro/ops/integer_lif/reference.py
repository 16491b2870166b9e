r"""Readable torch reference of the multi-step integer LIF law (every kernel is tested against this).

For each neuron, with decay :math:`\beta`, input scale :math:`c` (:math:`1-\beta` if
``decay_input`` else 1), threshold :math:`\theta`, ``levels`` :math:`D` and output divisor :math:`n`
(Luo et al. 2024, I-LIF; Qiu et al. 2025, IE-LIF):

.. math::

    h_t &= \beta\, v_{t-1} + c\, x_t, \qquad u_t = h_t / \theta\\
    k_t &= \lfloor \mathrm{clip}(u_t, 0, D) + \tfrac12 \rfloor, \qquad y_t = k_t / n, \qquad v_t = h_t - \theta\, k_t

The backward pass is straight-through: :math:`\partial k_t/\partial u_t = m_t = [0 < u_t < D]`. With
:math:`\bar v_t` the gradient w.r.t. the potential after step :math:`t` (:math:`\bar v_{T-1}` that of
``v_last``):

.. math::

    \bar k_t &= \bar y_t / n - \theta\, \bar v_t \ (\text{the second term dropped by } \texttt{detach\_reset})\\
    \bar h_t &= m_t\, \bar k_t / \theta + \bar v_t, \qquad \bar x_t = c\, \bar h_t, \qquad \bar v_{t-1} = \beta\, \bar h_t

So the backward pass needs only the mask :math:`m_t` (one byte per neuron-step), written by the
forward pass when asked for (``need_mask``); it reads neither the input nor the charges. No parameter
is learned (:math:`\beta, \theta, D, n` are constants).

Shapes: ``x_seq [T, N]``, ``v0 [N]``. The scalars, in order
(:meth:`neuro.ops.integer_lif.IntegerLIFParams.kernel_args`): ``beta, c, v_th, levels, norm, detach_reset``.
"""

from __future__ import annotations

import torch


def round_clamp(u: torch.Tensor, levels: int) -> torch.Tensor:
    """``floor(clamp(u, 0, D) + 0.5)``: the count, rounded half-up (the arithmetic of ``neuro.nn.models.MultiLevelSpike``)."""
    return torch.floor(u.clamp(0.0, float(levels)) + 0.5)


def _charges(x_seq, v0, beta, c, v_th, levels):
    """``(k_seq, u_seq, v_last)`` without autograd, with the module's arithmetic."""
    v = v0
    ks, us = [], []
    for x in x_seq:
        h = beta * v + c * x
        u = h / v_th
        k = round_clamp(u, levels)
        ks.append(k)
        us.append(u)
        v = h - v_th * k
    if not ks:  # T = 0
        return x_seq.clone(), x_seq.clone(), v
    return torch.stack(ks), torch.stack(us), v


def multi_step_forward(x_seq, v0, beta, c, v_th, levels, norm, detach_reset, need_mask=True):
    """Returns ``(y_seq [T, N], v_last [N], mask [T, N] uint8)`` (no autograd graph: the op's backward is
    :func:`multi_step_backward`); ``mask`` is ``[0, N]`` unless ``need_mask``."""
    with torch.no_grad():
        k_seq, u_seq, v = _charges(x_seq, v0, beta, c, v_th, levels)
        mask = ((u_seq > 0) & (u_seq < levels)).to(torch.uint8) if need_mask else x_seq.new_empty((0, x_seq.shape[1]), dtype=torch.uint8)
    return k_seq / norm, v, mask


def multi_step_backward(grad_y_seq, grad_v_last, mask, beta, c, v_th, norm, detach_reset):
    """Returns ``(grad_x [T, N], grad_v0 [N])`` from the output gradients and the forward pass's mask."""
    with torch.no_grad():
        grad_x = torch.empty_like(grad_y_seq)
        gv = grad_v_last
        for t in range(grad_y_seq.shape[0] - 1, -1, -1):
            gk = grad_y_seq[t] / norm
            if not detach_reset:
                gk = gk - v_th * gv
            gh = gk * mask[t].to(gk.dtype) / v_th + gv
            grad_x[t] = c * gh
            gv = beta * gh
    return grad_x, gv


def multi_step_autograd(x_seq, v0, beta, c, v_th, levels, norm, detach_reset):
    """The same law from differentiable torch ops (autograd does the backward; double backward works).

    Returns ``(y_seq, v_seq)``, each ``[T, N]``. Step for step the arithmetic of
    :meth:`neuro.nn.IntegerLIF.step`, so the same bits.
    """
    v = v0
    ys, vs = [], []
    for x in x_seq:
        h = beta * v + c * x
        k = _StraightThroughRound.apply(h / v_th, levels)
        kr = k.detach() if detach_reset else k
        v = h - v_th * kr
        ys.append(k / norm)
        vs.append(v)
    return torch.stack(ys), torch.stack(vs)


class _StraightThroughRound(torch.autograd.Function):
    """``floor(clamp(u, 0, D) + 0.5)`` with the straight-through gradient on ``0 < u < D``."""

    @staticmethod
    def forward(ctx, u, levels):
        ctx.save_for_backward(u)
        ctx.levels = levels
        return round_clamp(u, levels)

    @staticmethod
    def backward(ctx, grad):
        (u,) = ctx.saved_tensors
        return grad * ((u > 0) & (u < ctx.levels)).to(grad.dtype), None
