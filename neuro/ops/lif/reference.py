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
Only the input :math:`x` is kept for the backward pass: :math:`h_t` and :math:`s_t` are recomputed from it.

Shapes: ``x_seq [T, N]``, ``v0 [N]``, ``beta [1]`` or ``[N]``.
"""

from __future__ import annotations

import torch

from ..surrogate.reference import heaviside, surrogate_grad


def multi_step_forward(x_seq, v0, beta, v_th, v_reset, v_leak, soft_reset, decay_input, detach_reset, surrogate, alpha, need_h=True):
    """Returns ``(s_seq, h_seq, v_last)``; ``s_seq`` and ``h_seq`` are ``[T, N]`` (``h_seq`` is ``None`` unless ``need_h``)."""
    c = (1.0 - beta) if decay_input else torch.ones_like(beta)
    v = v0
    spikes, hs = [], []
    for x in x_seq:
        h = beta * v + (1.0 - beta) * v_leak + c * x
        s = (h >= v_th).to(x.dtype)
        v = h - v_th * s if soft_reset else h * (1.0 - s) + v_reset * s
        spikes.append(s)
        hs.append(h)
    return torch.stack(spikes), (torch.stack(hs) if need_h else None), v


def multi_step_backward(grad_s_seq, grad_h_in, grad_v_last, x_seq, v0, beta, v_th, v_reset, v_leak, soft_reset, decay_input, detach_reset,
                        surrogate, alpha, input_grad=False):
    """Returns ``(grad_h_seq, grad_v0)``: the gradient w.r.t. each step's charge and the initial potential.

    The charges ``h_seq`` are recomputed from the input ``x_seq`` and ``v0`` (the forward pass keeps
    nothing else). ``grad_h_in`` is the gradient flowing into ``h_seq`` directly (when the charge itself was used).
    With ``input_grad`` the first result is the gradient w.r.t. the input ``x_seq`` instead
    (``grad_h_seq`` times :math:`c`, i.e. times :math:`1-\\beta` under ``decay_input``).
    """
    _, h_seq, _ = multi_step_forward(x_seq, v0, beta, v_th, v_reset, v_leak, soft_reset, decay_input, detach_reset, surrogate, alpha)
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
    if input_grad and decay_input:
        grad_h = grad_h * (1.0 - beta)
    return grad_h, grad_v


def multi_step_autograd(x_seq, v0, beta, v_th, v_reset, v_leak, soft_reset, decay_input, detach_reset, surrogate, alpha,
                        reset_delay=False, strict_threshold=False):
    r"""The same law built from differentiable torch ops (autograd does the backward), with two more options.

    ``strict_threshold`` fires on :math:`h_t > v_{th}`. ``reset_delay`` carries the membrane
    *before* reset, :math:`u_t = h_t`, and applies the reset of step :math:`t-1` while charging
    step :math:`t`, with :math:`r_{t-1} = H(u_{t-1} - v_{th})` (:math:`u_{-1}` = ``v0``):

    .. math::

        h_t &= \beta u_{t-1} + (1-\beta) v_{leak} + c\, x_t - v_{th}\, r_{t-1}
            && \text{(soft: the subtraction is not decayed)}\\
        h_t &= \beta \big[(1 - r_{t-1}) u_{t-1} + r_{t-1} v_{reset}\big] + (1-\beta) v_{leak} + c\, x_t
            && \text{(hard)}

    This is snntorch's ``Leaky`` (``reset_mechanism`` ``"subtract"`` / ``"zero"``, ``reset_delay=True``,
    whose ``mem`` is :math:`u_t`). For the hard reset the spikes equal those of the immediate
    reset; only the reported membrane differs (before reset). The reset term goes through the
    surrogate unless ``detach_reset`` (snntorch always detaches it). Returns ``(s_seq, h_seq, v_last)``
    like :func:`multi_step_forward`; ``v_last`` is :math:`u_{T-1} = h_{T-1}` under ``reset_delay``.
    The fused kernels implement neither option; :func:`neuro.ops.lif.autograd.lif_multi_step` calls this function for them.
    """
    c = (1.0 - beta) if decay_input else torch.ones_like(beta)
    leak = (1.0 - beta) * v_leak
    v = v0
    r = None
    if reset_delay:
        r = heaviside(v0 - v_th, surrogate, alpha, strict_threshold)
    spikes, hs = [], []
    for x in x_seq:
        if reset_delay:
            rr = r.detach() if detach_reset else r
            h = beta * v + leak + c * x - v_th * rr if soft_reset else beta * (v * (1.0 - rr) + v_reset * rr) + leak + c * x
        else:
            h = beta * v + leak + c * x
        s = heaviside(h - v_th, surrogate, alpha, strict_threshold)
        if reset_delay:
            v, r = h, s
        else:
            sr = s.detach() if detach_reset else s
            v = h - v_th * sr if soft_reset else h * (1.0 - sr) + v_reset * sr
        spikes.append(s)
        hs.append(h)
    return torch.stack(spikes), torch.stack(hs), v
