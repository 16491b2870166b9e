r"""One step of the discrete LIF law for a range of neurons (Numba), as the event-driven simulator calls it.

The same law as :mod:`neuro.ops.lif.reference` (and :class:`neuro.nn.LIF`), written per neuron so
that :mod:`neuro.sim` runs a trained ``neuro.nn`` network with the same dynamics:

.. math::

    h_t = \beta v_{t-1} + (1-\beta) v_{leak} + c\, x_t, \quad s_t = H(h_t - v_{th}), \quad
    v_t = h_t (1 - s_t) + v_{reset} s_t \ \text{(hard)}\ \text{or}\ h_t - v_{th} s_t \ \text{(soft)}

with :math:`c = 1-\beta` under ``decay_input`` (else 1); ``strict`` fires on :math:`h_t > v_{th}`;
``reset_delay`` carries :math:`h_t` and applies the reset of step :math:`t-1` while charging step
:math:`t` (:func:`neuro.ops.lif.reference.multi_step_autograd`). The expression and its evaluation
order are those of the reference, so in float64 the membranes differ from the torch forward only
through the order in which the input :math:`x_t` was summed.
"""

from __future__ import annotations

from numba import njit

#: layout of the parameter vector ``par`` (per population)
PAR_V_TH, PAR_V_RESET, PAR_V_LEAK, PAR_SOFT, PAR_DECAY_INPUT, PAR_STRICT, PAR_RESET_DELAY = range(7)


@njit(cache=True)
def discrete_lif_update(lo, hi, par, v, r_prev, x_exc, x_inh, beta, i_ext, xdrive, has_extra, hist_row, nspk):
    """Neurons ``lo .. hi-1``: charge with ``x = x_exc + x_inh + i_ext (+ xdrive)``, fire, reset; clears the inputs.

    ``beta``: per-neuron decay; ``r_prev``: the previous step's spike (0/1), used under ``reset_delay``; a
    negative value :math:`-k` holds the neuron for :math:`k` more steps (potential unchanged, input dropped,
    no spike): a layer deployed from ``neuro.nn`` waits so for its first input to arrive through the
    layers before it, as the ``nn`` forward's layer starts at its first input.
    Spiking neurons are appended to ``hist_row`` from position ``nspk``; returns the new count.
    """
    v_th, v_reset, v_leak = par[PAR_V_TH], par[PAR_V_RESET], par[PAR_V_LEAK]
    soft = par[PAR_SOFT] != 0.0
    decay_input = par[PAR_DECAY_INPUT] != 0.0
    strict = par[PAR_STRICT] != 0.0
    delayed = par[PAR_RESET_DELAY] != 0.0
    for i in range(lo, hi):
        x = x_exc[i] + x_inh[i] + i_ext[i]
        if has_extra:
            x += xdrive[i]
        x_exc[i] = 0.0
        x_inh[i] = 0.0
        if r_prev[i] < 0.0:
            r_prev[i] += 1.0
            continue
        bt = beta[i]
        c = (1.0 - bt) if decay_input else 1.0
        vi = v[i]
        if delayed and r_prev[i] != 0.0:
            if soft:
                h = bt * vi + (1.0 - bt) * v_leak + c * x - v_th
            else:
                h = bt * v_reset + (1.0 - bt) * v_leak + c * x
        else:
            h = bt * vi + (1.0 - bt) * v_leak + c * x
        fire = (h > v_th) if strict else (h >= v_th)
        if delayed:
            v[i] = h
            r_prev[i] = 1.0 if fire else 0.0
        elif fire:
            v[i] = h - v_th if soft else v_reset
        else:
            v[i] = h
        if fire:
            hist_row[nspk] = i
            nspk += 1
    return nspk
