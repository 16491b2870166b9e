r"""Readable torch reference of the multi-step LIF law (every kernel is tested against this).

For each neuron, with decay :math:`\beta = 1 - 1/\tau` and input scale
:math:`c = 1-\beta` if ``decay_input`` else :math:`1`:

.. math::

    h_t &= \beta\, v_{t-1} + (1-\beta)\, v_{leak} + c\, x_t      && \text{charge}\\
    s_t &= H(h_t - v_{th})                                          && \text{fire } (h_t \ge v_{th})\\
    v_t &= h_t (1 - s_t) + v_{reset}\, s_t \quad\text{(hard)}, \qquad v_t = h_t - v_{th} s_t \quad\text{(soft)}

This is SpikingJelly's ``LIFNode`` charge :math:`H = V + (X - (V - V_{reset}))/\tau` with
``v_leak = v_reset``. The backward pass replaces :math:`H'` by a surrogate
:math:`\sigma'(h_t - v_{th})` and runs the recursion backwards:

.. math::

    \bar h_t &= \bar s_t\,\sigma'_t + \bar v_t\, \frac{\partial v_t}{\partial h_t},\qquad
    \bar v_{t-1} = \beta\, \bar h_t

with :math:`\partial v_t/\partial h_t = 1 - s_t + (v_{reset} - h_t)\sigma'_t` (hard) or
:math:`1 - v_{th}\sigma'_t` (soft), the :math:`\sigma'` term dropped under ``detach_reset``.
Only :math:`h` is kept for the backward pass (:math:`s_t` is recomputed from it).

Shapes: ``x_seq [T, N]``, ``v0 [N]``, ``beta [1]`` or ``[N]``.
"""

from __future__ import annotations

import torch

from ..surrogate.reference import surrogate_grad


def multi_step_forward(x_seq, v0, beta, v_th, v_reset, v_leak, soft_reset, decay_input, detach_reset, surrogate, alpha):
    """Returns ``(s_seq, h_seq, v_last)``; ``s_seq`` and ``h_seq`` are ``[T, N]``."""
    c = (1.0 - beta) if decay_input else torch.ones_like(beta)
    v = v0
    spikes, hs = [], []
    for x in x_seq:
        h = beta * v + (1.0 - beta) * v_leak + c * x
        s = (h >= v_th).to(x.dtype)
        v = h - v_th * s if soft_reset else h * (1.0 - s) + v_reset * s
        spikes.append(s)
        hs.append(h)
    return torch.stack(spikes), torch.stack(hs), v


def multi_step_backward(grad_s_seq, grad_h_in, grad_v_last, h_seq, beta, v_th, v_reset, v_leak, soft_reset, decay_input, detach_reset, surrogate, alpha):
    """Returns ``(grad_h_seq, grad_v0)``: the gradient w.r.t. each step's charge and the initial potential.

    ``grad_h_in`` is the gradient flowing into ``h_seq`` directly (when the charge itself was used).
    """
    grad_h = torch.empty_like(h_seq)
    grad_v = grad_v_last
    for t in range(h_seq.shape[0] - 1, -1, -1):
        h = h_seq[t]
        sg = surrogate_grad(h - v_th, surrogate, alpha)
        s = (h >= v_th).to(h.dtype)
        if soft_reset:
            dv_dh = torch.ones_like(h) if detach_reset else 1.0 - v_th * sg
        else:
            dv_dh = 1.0 - s if detach_reset else 1.0 - s + (v_reset - h) * sg
        g = grad_s_seq[t] * sg + grad_v * dv_dh + grad_h_in[t]
        grad_h[t] = g
        grad_v = beta * g
    return grad_h, grad_v
