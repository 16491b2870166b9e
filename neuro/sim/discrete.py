r"""A population that runs :class:`neuro.nn.LIF`'s discrete step, for networks trained with :mod:`neuro.nn`.

The simulator's :class:`~neuro.sim.LIF` integrates a continuous current-based LIF exactly; a network
trained with surrogate gradients follows the discrete law of :mod:`neuro.ops.lif.reference`
(step length 1, dimensionless potentials), which this population implements per neuron
(:func:`neuro.ops.lif.step_cpu.discrete_lif_update`):

.. math::

    h_t = \beta v_{t-1} + (1-\beta) v_{leak} + c\, x_t, \quad s_t = H(h_t - v_{th}), \quad
    v_t = h_t (1 - s_t) + v_{reset} s_t \ \text{(hard)}\ \text{or}\ h_t - v_{th} s_t \ \text{(soft)}

:math:`x_t` is the sum of the weights of the spikes delivered at the end of step :math:`t-1` (every
receptor, ``"exc"`` and ``"inh"`` alike; weights carry their sign) plus the constant ``bias``
(``i_ext``): a layer's input current as the ``nn`` forward computes it, ``W s + b``. The input is
used once and cleared (no synaptic filter). ``v_reset=None`` is the soft reset; ``beta`` may be one
value per neuron (a per-channel :class:`~neuro.nn.ParametricLIF`). The state ``u`` holds the previous
step's spike under ``reset_delay``; a negative ``u = -k`` holds the neuron at its potential for ``k`` steps
(:meth:`neuro.sim.deploy.DeployedNetwork.reset_state` uses it so that layer ``k`` starts with its first input).

Example::

    pop = DiscreteLIF(100, beta=0.5, v_th=1.0, v_reset=0.0)     # neuro.nn.LIF(tau=2.0)
"""

from __future__ import annotations

import math

import numpy as np

from ..ops.lif.step_cpu import PAR_DECAY_INPUT, PAR_RESET_DELAY, PAR_SOFT, PAR_STRICT, PAR_V_LEAK, PAR_V_RESET, PAR_V_TH
from . import engine_cpu as E
from .populations import Population, _per_neuron


class DiscreteLIF(Population):
    """``n`` neurons with :class:`neuro.nn.LIF`'s discrete law (see the module docstring); one simulator step is one ``nn`` step."""

    model = E.DISCRETE_LIF

    def __init__(self, n, beta=0.5, v_th=1.0, v_reset: float | None = 0.0, v_leak: float | None = None, decay_input: bool = True,
                 strict_threshold: bool = False, reset_delay: bool = False, bias=0.0, v_init=None, name=None):
        super().__init__(n, name, "dlif")
        b = _per_neuron(beta, self.n, "beta")
        if np.any((b < 0) | (b > 1)):
            raise ValueError(f"beta must be in [0, 1], got values from {b.min()} to {b.max()}")
        for key, value in (("v_th", v_th), ("v_reset", 0.0 if v_reset is None else v_reset), ("v_leak", 0.0 if v_leak is None else v_leak)):
            if not math.isfinite(value):
                raise ValueError(f"{key} must be finite, got {value}")
        self.v_th, self.v_reset = float(v_th), None if v_reset is None else float(v_reset)
        self.v_leak = float(v_leak if v_leak is not None else (0.0 if v_reset is None else v_reset))
        self.decay_input, self.strict_threshold, self.reset_delay = bool(decay_input), bool(strict_threshold), bool(reset_delay)
        self._init["na"] = b
        self._init["i_ext"] = _per_neuron(bias, self.n, "bias")
        rest = 0.0 if v_reset is None else float(v_reset)
        self._initial("v", rest if v_init is None else v_init, "v_init", rest)

    @property
    def soft_reset(self) -> bool:
        return self.v_reset is None

    @property
    def v_rest(self) -> float:
        """The potential a layer starts from in the ``nn`` forward (``v_reset``, or 0 under soft reset)."""
        return 0.0 if self.v_reset is None else self.v_reset

    beta = property(lambda self: self._state("na"), doc="per-neuron decay of the membrane per step")
    bias = property(lambda self: self._state("i_ext"), lambda self, x: self._set_state("i_ext", x), doc="constant input per step")

    def params(self, dt):
        out = np.zeros(12)
        out[PAR_V_TH], out[PAR_V_RESET], out[PAR_V_LEAK] = self.v_th, self.v_rest, self.v_leak
        out[PAR_SOFT], out[PAR_DECAY_INPUT] = float(self.soft_reset), float(self.decay_input)
        out[PAR_STRICT], out[PAR_RESET_DELAY] = float(self.strict_threshold), float(self.reset_delay)
        return out

    def config(self) -> dict:
        """Constructor arguments (scalars; ``beta`` and ``bias`` per neuron), for export."""
        return {"n": self.n, "v_th": self.v_th, "v_reset": self.v_reset, "v_leak": self.v_leak, "decay_input": self.decay_input,
                "strict_threshold": self.strict_threshold, "reset_delay": self.reset_delay, "name": self.name}
