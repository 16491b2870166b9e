r"""Readable torch reference of the multi-step ALIF law (every kernel is tested against this).

For each neuron, with membrane decay :math:`\beta`, adaptation decay :math:`\rho`, adaptation
strength :math:`\beta_a`, threshold baseline :math:`b_0` (``v_th``), jump :math:`\gamma`
(``adapt_increment``) and input scale :math:`c = 1-\beta` if ``decay_input`` else :math:`1`
(Bellec et al. 2020, eq. 23-24):

.. math::

    h_t &= \beta\, v_{t-1} + c\, x_t                                  && \text{charge}\\
    b_t &= b_0 + \beta_a\, a_{t-1},\qquad s_t = H(h_t - b_t)           && \text{fire } (h_t - b_t \ge 0)\\
    v_t &= h_t - b_0\, s_t \ \text{(soft)}, \qquad v_t = h_t (1 - s_t) + v_{reset}\, s_t \ \text{(hard)}\\
    a_t &= \rho\, a_{t-1} + \gamma\, s_t

The backward pass replaces :math:`H'` by a surrogate :math:`\sigma'_t = \sigma'(h_t - b_t)`, which
reaches both the charge and the threshold. With :math:`\bar v_t, \bar a_t` the gradients w.r.t.
the state after step :math:`t` (:math:`\bar v_{T-1}, \bar a_{T-1}` those of ``v_last``, ``a_last``):

.. math::

    \bar z_t &= \sigma'_t\Big(\bar s_t + \bar v_t \frac{\partial v_t}{\partial s_t} + \gamma\, \bar a_t\Big),
        \qquad \frac{\partial v_t}{\partial s_t} = -b_0 \ \text{(soft)},\ v_{reset} - h_t \ \text{(hard)}\\
    \bar h_t &= \bar z_t + \bar v_t \frac{\partial v_t}{\partial h_t}, \qquad
        \frac{\partial v_t}{\partial h_t} = 1 \ \text{(soft)},\ 1 - s_t \ \text{(hard)}\\
    \bar x_t &= c\,\bar h_t,\qquad \bar v_{t-1} = \beta\,\bar h_t,\qquad \bar a_{t-1} = \rho\,\bar a_t - \beta_a \bar z_t

``detach_reset`` drops the :math:`\partial v_t/\partial s_t` term, ``detach_adaptation`` the
:math:`\gamma \bar a_t` term. The parameters collect, per neuron,
:math:`\bar\beta = \sum_t \bar h_t (v_{t-1} - [\text{decay\_input}]\, x_t)`,
:math:`\bar\rho = \sum_t \bar a_t a_{t-1}` and :math:`\bar\beta_a = -\sum_t \bar z_t a_{t-1}`.
Only the input :math:`x` (and ``v0``, ``a0``) is kept for the backward pass: :math:`h_t`,
:math:`a_{t-1}` and :math:`s_t` are recomputed from it.

Shapes: ``x_seq [T, N]``, ``v0, a0 [N]``, ``beta, rho, beta_a [1]`` or ``[N]``. The scalars, in
order (:meth:`neuro.ops.alif.ALIFParams.kernel_args`): ``v_th, v_reset, adapt_increment,
soft_reset, decay_input, detach_reset, detach_adaptation, surrogate, alpha``.

float16 / bfloat16 tensors are computed in float32 (:func:`neuro.backend.compute_dtype`), as the kernels compute them,
and the results returned in the tensors' dtypes (parameter gradients in the working type).
"""

from __future__ import annotations

import torch

from ...backend import compute_dtype
from ..surrogate.reference import heaviside, surrogate_grad


def _work(x_seq, *tensors):
    """``tensors`` in the arithmetic type of ``x_seq``'s dtype (float32 for half tensors)."""
    work = compute_dtype(x_seq.dtype)
    return tuple(t.to(work) for t in tensors)


def _states(x_seq, v0, a0, beta, rho, beta_a, v_th, v_reset, gamma, soft_reset, decay_input):
    """``(h_seq, a_prev_seq, s_seq, v_last, a_last)`` without autograd; ``a_prev_seq[t]`` is :math:`a_{t-1}`."""
    c = (1.0 - beta) if decay_input else 1.0
    v, a = v0, a0
    hs, aps, ss = [], [], []
    for x in x_seq:
        h = beta * v + c * x
        s = (h - (v_th + beta_a * a) >= 0).to(x.dtype)
        hs.append(h)
        aps.append(a)
        ss.append(s)
        v = h - v_th * s if soft_reset else h * (1.0 - s) + v_reset * s
        a = rho * a + gamma * s
    if not hs:  # T = 0
        return x_seq.clone(), x_seq.clone(), x_seq.clone(), v, a
    return torch.stack(hs), torch.stack(aps), torch.stack(ss), v, a


def multi_step_forward(x_seq, v0, a0, beta, rho, beta_a, v_th, v_reset, gamma, soft_reset, decay_input, detach_reset, detach_adaptation,
                       surrogate, alpha):
    """Returns ``(s_seq [T, N], v_last [N], a_last [N])`` (no autograd graph: the op's backward is :func:`multi_step_backward`)."""
    dtypes = (x_seq.dtype, v0.dtype, a0.dtype)
    with torch.no_grad():
        _, _, s_seq, v, a = _states(*_work(x_seq, x_seq, v0, a0, beta, rho, beta_a), v_th, v_reset, gamma, soft_reset, decay_input)
    return tuple(t.to(d) for t, d in zip((s_seq, v, a), dtypes))


def multi_step_backward(grad_s_seq, grad_v_last, grad_a_last, x_seq, v0, a0, beta, rho, beta_a, v_th, v_reset, gamma, soft_reset,
                        decay_input, detach_reset, detach_adaptation, surrogate, alpha):
    """Returns ``(grad_x [T, N], grad_v0 [N], grad_a0 [N], grad_beta [N], grad_rho [N], grad_beta_a [N])``.

    The parameter gradients are per neuron (summed over time only); a caller whose parameter is one
    shared value sums them over neurons.
    """
    dtypes = (x_seq.dtype, v0.dtype, a0.dtype)
    grad_s_seq, grad_v_last, grad_a_last, x_seq, v0, a0, beta, rho, beta_a = _work(
        x_seq, grad_s_seq, grad_v_last, grad_a_last, x_seq, v0, a0, beta, rho, beta_a)
    with torch.no_grad():
        h_seq, a_prev, s_seq, _, _ = _states(x_seq, v0, a0, beta, rho, beta_a, v_th, v_reset, gamma, soft_reset, decay_input)
        c = (1.0 - beta) if decay_input else 1.0
        # v_{t-1}: v0, then each step's potential after reset
        v_after = h_seq - v_th * s_seq if soft_reset else h_seq * (1.0 - s_seq) + v_reset * s_seq
        v_prev = torch.cat([v0.unsqueeze(0), v_after[:-1]])
        grad_x = torch.empty_like(x_seq)
        gv, ga = grad_v_last, grad_a_last
        g_beta = torch.zeros_like(v0)
        g_rho = torch.zeros_like(v0)
        g_beta_a = torch.zeros_like(v0)
        for t in range(x_seq.shape[0] - 1, -1, -1):
            h, ap, s = h_seq[t], a_prev[t], s_seq[t]
            sg = surrogate_grad(h - (v_th + beta_a * ap), surrogate, alpha)
            g_spike = grad_s_seq[t]
            if not detach_reset:
                g_spike = g_spike + gv * (-v_th if soft_reset else v_reset - h)
            if not detach_adaptation:
                g_spike = g_spike + gamma * ga
            gz = g_spike * sg
            gh = gz + (gv if soft_reset else gv * (1.0 - s))
            g_beta = g_beta + gh * (v_prev[t] - x_seq[t] if decay_input else v_prev[t])
            g_rho = g_rho + ga * ap
            g_beta_a = g_beta_a - gz * ap
            grad_x[t] = c * gh
            gv = beta * gh
            ga = rho * ga - beta_a * gz
    return grad_x.to(dtypes[0]), gv.to(dtypes[1]), ga.to(dtypes[2]), g_beta, g_rho, g_beta_a


def multi_step_autograd(x_seq, v0, a0, beta, rho, beta_a, v_th, v_reset, gamma, soft_reset, decay_input, detach_reset, detach_adaptation,
                        surrogate, alpha):
    """The same law built from differentiable torch ops (autograd does the backward; double backward works).

    Returns ``(s_seq, v_seq, a_seq)``, each ``[T, N]``: the spikes and the state after every step.
    Step for step the same arithmetic as :meth:`neuro.nn.ALIF.step`, so the same bits.
    """
    c = (1.0 - beta) if decay_input else 1.0
    v, a = v0, a0
    spikes, vs, as_ = [], [], []
    for x in x_seq:
        h = beta * v + c * x
        b = v_th + beta_a * a
        s = heaviside(h - b, surrogate, alpha)
        sr = s.detach() if detach_reset else s
        v = h - v_th * sr if soft_reset else h * (1.0 - sr) + v_reset * sr
        sa = s.detach() if detach_adaptation else s
        a = rho * a + gamma * sa
        spikes.append(s)
        vs.append(v)
        as_.append(a)
    return torch.stack(spikes), torch.stack(vs), torch.stack(as_)
