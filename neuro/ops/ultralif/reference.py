r"""Readable torch reference of the multi-step UltraLIF law (every kernel is tested against this).

For each neuron, with decay :math:`\beta`, input scale :math:`c` (:math:`1-\beta` if ``decay_input``
else 1), threshold :math:`v_{th}` and temperature :math:`\varepsilon` (Miñoza 2026; the reset is
our completion, see :mod:`neuro.nn.ultralif`):

.. math::

    h_t &= \beta\, v_{t-1} + c\, x_t, \qquad z_t = (h_t - v_{th}) / \varepsilon, \qquad s_t = \sigma(z_t)\\
    v_t &= h_t - v_{th}\, s_t \ \text{(soft)}, \qquad v_t = h_t (1 - s_t) + v_{reset}\, s_t \ \text{(hard)}

The spike is smooth, so the backward pass is the exact gradient, :math:`\sigma'(z) = s(1-s)`. With
:math:`\bar v_t` the gradient w.r.t. the potential after step :math:`t` (:math:`\bar v_{T-1}` that of
``v_last``):

.. math::

    \bar z_t &= s_t (1 - s_t) \Big(\bar s_t + \bar v_t \frac{\partial v_t}{\partial s_t}\Big),
        \qquad \frac{\partial v_t}{\partial s_t} = -v_{th} \ \text{(soft)},\ v_{reset} - h_t \ \text{(hard)}\\
    \bar h_t &= \bar z_t / \varepsilon + \bar v_t \frac{\partial v_t}{\partial h_t}, \qquad
        \frac{\partial v_t}{\partial h_t} = 1 \ \text{(soft)},\ 1 - s_t \ \text{(hard)}\\
    \bar x_t &= c\, \bar h_t, \qquad \bar v_{t-1} = \beta\, \bar h_t, \qquad
        \bar\varepsilon = -\sum_t \bar z_t\, z_t / \varepsilon

The backward pass needs only the charges :math:`h_t` (kept by the forward pass when asked for,
``need_h``): :math:`z_t` and :math:`s_t` are recomputed from them.

Shapes: ``x_seq [T, N]``, ``v0 [N]``, ``eps [1]`` or ``[N]``. The scalars, in order
(:meth:`neuro.ops.ultralif.UltraLIFParams.kernel_args`): ``beta, c, v_th, v_reset, soft_reset``.
"""

from __future__ import annotations

import torch


def charge_dtype(dtype: torch.dtype) -> torch.dtype:
    """The type the charges are kept in for the backward pass: float64 for float64 tensors, float32 otherwise."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def multi_step_forward(x_seq, v0, eps, beta, c, v_th, v_reset, soft_reset, need_h=True):
    """Returns ``(s_seq [T, N], v_last [N], h_seq [T, N])`` (no autograd graph: the op's backward is
    :func:`multi_step_backward`); ``h_seq`` is ``[0, N]`` unless ``need_h``, in float64 for float64 tensors and
    float32 otherwise (as every backend keeps it)."""
    with torch.no_grad():
        s_seq, v_seq, h_seq = multi_step_autograd(x_seq, v0, eps, beta, c, v_th, v_reset, soft_reset, return_h=True)
        v = v_seq[-1] if len(v_seq) else v0
        h_seq = h_seq.to(charge_dtype(x_seq.dtype)) if need_h else x_seq.new_empty((0, x_seq.shape[1]), dtype=charge_dtype(x_seq.dtype))
    return s_seq, v, h_seq


def multi_step_backward(grad_s_seq, grad_v_last, h_seq, eps, beta, c, v_th, v_reset, soft_reset):
    """Returns ``(grad_x [T, N], grad_v0 [N], grad_eps [N])``; the temperature's gradient is per neuron (summed over
    time only): a caller whose ``eps`` is one shared value sums it over neurons."""
    dtype = grad_s_seq.dtype
    with torch.no_grad():
        grad_x = torch.empty(h_seq.shape, dtype=dtype, device=h_seq.device)
        gv = grad_v_last
        g_eps = torch.zeros_like(grad_v_last)
        for t in range(h_seq.shape[0] - 1, -1, -1):
            h = h_seq[t]
            z = (h - v_th) / eps
            s = torch.sigmoid(z)
            g_spike = grad_s_seq[t] + gv * (-v_th if soft_reset else v_reset - h)
            gz = g_spike * s * (1.0 - s)
            gh = gz / eps + (gv if soft_reset else gv * (1.0 - s))
            g_eps = g_eps - gz * z / eps
            grad_x[t] = c * gh
            gv = beta * gh
    return grad_x, gv.to(dtype), g_eps.to(dtype)


def multi_step_autograd(x_seq, v0, eps, beta, c, v_th, v_reset, soft_reset, return_h=False):
    """The same law from differentiable torch ops (autograd does the backward; double backward works).

    Returns ``(s_seq, v_seq)``, each ``[T, N]`` (and ``h_seq`` if ``return_h``). Step for step the
    arithmetic of :meth:`neuro.nn.UltraLIF.step`, so the same bits.
    """
    v = v0
    ss, vs, hs = [], [], []
    for x in x_seq:
        h = beta * v + c * x
        s = torch.sigmoid((h - v_th) / eps)
        v = h - v_th * s if soft_reset else h * (1.0 - s) + v_reset * s
        ss.append(s)
        vs.append(v)
        hs.append(h)
    if not ss:  # T = 0
        return (x_seq.clone(), x_seq.clone()) + ((x_seq.clone(),) if return_h else ())
    out = (torch.stack(ss), torch.stack(vs))
    return out + (torch.stack(hs),) if return_h else out
