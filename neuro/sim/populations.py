"""Populations of neurons and spike sources. Units: ms, mV (currents as R·I in mV), Hz.

Each population owns its parameters; the :class:`~neuro.sim.network.Network` concatenates
the populations' state into flat arrays for the compiled loop and gives each population
views into them (``pop.v``, ``pop.u``, ...), readable and writable between runs.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from ..ops.cuba_lif.reference import propagators
from ..ops.izhikevich.reference import PRESETS, STABLE_DT
from . import engine_cpu as E

_counter = [0]


def _name(prefix: str, name: str | None) -> str:
    _counter[0] += 1
    return name or f"{prefix}{_counter[0]}"


def _per_neuron(value, n: int, what: str) -> np.ndarray:
    if type(value) is float or type(value) is int:  # the common case, without converting and checking n values
        x = float(value) if abs(value) < 2.0**1023 else math.inf
        if math.isfinite(x):
            return np.full(n, x)
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{what} must be a number or an array of numbers, got {value!r:.80}") from err
    if arr.ndim == 0:
        arr = np.full(n, float(arr))
    if arr.shape != (n,):
        raise ValueError(f"{what} must be a scalar or an array of shape ({n},), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{what} must be finite, got {arr[~np.isfinite(arr)][:3]} among its values")
    return arr


def _number(k: str, v) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float | np.integer | np.floating):
        raise TypeError(f"{k} must be a number, got {type(v).__name__} {v!r}")
    return float(v)


def _finite(**kw) -> None:
    for k, v in kw.items():
        if not math.isfinite(_number(k, v)):
            raise ValueError(f"{k} must be finite, got {v}")


def _positive(**kw) -> None:
    for k, v in kw.items():
        if not (math.isfinite(_number(k, v)) and v > 0):
            raise ValueError(f"{k} must be a finite number > 0, got {v}")


def _reset_below_threshold(name: str, v_th: float, v_reset: float) -> None:
    if v_reset >= v_th:
        warnings.warn(f"{name}: v_reset ({v_reset} mV) is not below v_th ({v_th} mV): a neuron fires again in every step its "
                      "refractory period allows", RuntimeWarning, stacklevel=3)


def _noise(value, n: int) -> np.ndarray:
    arr = _per_neuron(value, n, "noise")
    if (type(value) is float or type(value) is int) and value >= 0:
        return arr
    if np.any(arr < 0):
        raise ValueError(f"noise is a standard deviation and must be >= 0 mV, got {arr[arr < 0][:3]}")
    return arr


class Population:
    """``n`` neurons of one model; state arrays become views into the network's after build.

    ``Population(n, model, **parameters)`` with a :class:`neuro.dynamics.NeuronModel` makes a population of a
    user-defined model (:class:`ModelPopulation`); the built-in models are its subclasses (:class:`LIF`, ...).
    """

    model: int = -1
    receptors = ("exc", "inh", "v")

    def __new__(cls, *args, **kwargs):
        if cls is Population:
            from ..dynamics import NeuronModel

            model = args[1] if len(args) > 1 else kwargs.get("model")
            if isinstance(model, NeuronModel):
                return super().__new__(ModelPopulation)
            raise TypeError("Population(n, model, **parameters) needs a neuro.dynamics.NeuronModel as model, "
                            f"got {type(model).__name__}")
        return super().__new__(cls)

    def __init__(self, n: int, name: str | None, prefix: str):
        if int(n) != n or n < 1:
            raise ValueError(f"a population needs a positive integer size, got n={n!r}")
        self.n = int(n)
        self.name = _name(prefix, name)
        self.network = None
        self.start = 0
        z = np.zeros(self.n)
        self._init = {"v": z.copy(), "u": z.copy(), "x1": z.copy(), "x2": z.copy(), "i_ext": z.copy(), "sigma": z.copy(),
                      "rate": z.copy(), "na": z.copy(), "nb": z.copy(), "nc": z.copy(), "nd": z.copy()}
        self._random_init: dict = {}  # state key -> f(rng, n): drawn when added to a network (Network.add)
        self.current_table: np.ndarray | None = None  # [steps, n] external current, set by inject()
        self.noise_kind = "gaussian"  # per-step noise drive: "gaussian" or "uniform", std given by ``noise``

    def __len__(self) -> int:
        return self.n

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n={self.n}, name={self.name!r})"

    def params(self, dt: float) -> np.ndarray:
        return np.zeros(12)

    def _initial(self, key: str, value, what: str, default=None) -> None:
        """Initial value of state ``key``: a scalar, one value per neuron, or a callable ``f(rng, n)`` drawn from the
        network's seed when the population is added to a network (``default`` until then)."""
        if callable(value):
            self._random_init[key] = (value, what)
            value = default
        self._init[key] = _per_neuron(value, self.n, what)

    def _draw_init(self, rng: np.random.Generator) -> None:
        for key, (f, what) in self._random_init.items():
            self._init[key] = _per_neuron(f(rng, self.n), self.n, what)
            if key == "v" and getattr(self, "_u_follows_v", False):
                self._init["u"] = self._init["nb"] * self._init["v"]
        self._random_init = {}

    def check_dt(self, dt: float) -> None:
        """Warn where the scheme is known to be unstable at this ``dt``."""

    def _state(self, key: str) -> np.ndarray:
        if self.network is not None and self.network.built:
            return getattr(self.network._s, key)[self.start : self.start + self.n]
        return self._init[key]

    def _set_state(self, key: str, value) -> None:
        self._state(key)[:] = _per_neuron(value, self.n, f"{self.name}.{key}")

    def _current(self, c: int) -> np.ndarray:
        """Synaptic variable ``c`` (0: x1, 1: x2) as its value at the next step (a copy; see Network._build_frames)."""
        key = ("x1", "x2")[c]
        if self.network is None or not self.network.built:
            return self._init[key].copy()
        net = self.network
        return self._state(key) * net._frame_factor(net._s, net.populations.index(self), c)

    def _set_current(self, c: int, value) -> None:
        key = ("x1", "x2")[c]
        value = _per_neuron(value, self.n, f"{self.name}.{('i_e', 'i_i')[c]}")
        if self.network is None or not self.network.built:
            self._init[key][:] = value
            return
        net = self.network
        self._state(key)[:] = value / net._frame_factor(net._s, net.populations.index(self), c)

    v = property(lambda self: self._state("v"), lambda self, x: self._set_state("v", x), doc="membrane potential (mV)")
    u = property(lambda self: self._state("u"), lambda self, x: self._set_state("u", x), doc="recovery variable (Izhikevich)")
    i_ext = property(lambda self: self._state("i_ext"), lambda self, x: self._set_state("i_ext", x), doc="constant external drive (mV)")
    noise = property(lambda self: self._state("sigma"), lambda self, x: self._set_state("sigma", x),
                     doc="std of the per-step noise drive (mV); ``noise_kind`` picks Gaussian or uniform")

    def inject(self, current: np.ndarray) -> None:
        """External drive per step for the next run: ``current`` of shape ``[steps]`` or ``[steps, n]`` (mV), added to ``i_ext``."""
        arr = np.asarray(current, dtype=np.float64)
        if arr.ndim == 1:
            arr = np.repeat(arr[:, None], self.n, axis=1)
        if arr.ndim != 2 or arr.shape[1] != self.n:
            raise ValueError(f"{self.name}.inject needs shape [steps] or [steps, {self.n}], got {arr.shape}")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{self.name}.inject: the current has NaN or infinite values")
        self.current_table = arr
        if self.network is not None:
            self.network.built = False


def _refractory_input(value) -> bool:
    if not isinstance(value, bool | np.bool_):
        raise TypeError(f"refractory_input must be True or False, got {value!r}")
    return bool(value)


class LIF(Population):
    """Current-based LIF with exponential synapses, integrated exactly (:mod:`neuro.ops.cuba_lif.reference`).

    Receptors: ``"exc"`` (:math:`I_e`, decay ``tau_e``), ``"inh"`` (:math:`I_i`, ``tau_i``), ``"v"`` (jump of v).
    A jump of v that arrives in a neuron's spike step (after its threshold, before its reset) or during its
    refractory period is lost (``refractory_input=False``, the default), as with Brian2's
    ``(unless refractory)`` equations; ``refractory_input=True`` applies such
    jumps to the reset and held potential instead (they take effect when integration resumes). Currents keep
    integrating during the refractory period either way. ``tests/sim/test_semantics_vs_brian2.py`` compares
    spike trains with Brian2's for both cases.
    Adaptive threshold (intrinsic plasticity) when ``theta_jump > 0``: the threshold is
    :math:`v_{th} + \theta`, :math:`\theta` jumps by ``theta_jump`` (mV) at each spike and decays
    with ``tau_theta`` (ms); ``pop.theta`` reads it.
    """

    model = E.CUBA

    def __init__(self, n, tau_m=20.0, v_rest=-65.0, v_th=-50.0, v_reset=-65.0, t_ref=2.0, tau_e=5.0, tau_i=10.0,
                 i_ext=0.0, noise=0.0, v_init=None, theta_jump=0.0, tau_theta=100.0, refractory_input=False, name=None):
        super().__init__(n, name, "lif")
        self.refractory_input = _refractory_input(refractory_input)
        _positive(tau_m=tau_m, tau_e=tau_e, tau_i=tau_i, tau_theta=tau_theta)
        if not (math.isfinite(theta_jump) and theta_jump >= 0):
            raise ValueError(f"theta_jump must be a finite number >= 0, got {theta_jump}")
        self.theta_jump, self.tau_theta = theta_jump, tau_theta
        _finite(v_rest=v_rest, v_th=v_th, v_reset=v_reset, t_ref=t_ref)
        if t_ref < 0:
            raise ValueError(f"t_ref must be >= 0, got {t_ref}")
        self.tau_m, self.v_rest, self.v_th, self.v_reset, self.t_ref = tau_m, v_rest, v_th, v_reset, t_ref
        _reset_below_threshold(self.name, v_th, v_reset)
        self.tau_e, self.tau_i = tau_e, tau_i
        self._initial("v", v_rest if v_init is None else v_init, "v_init", v_rest)
        self._init["i_ext"] = _per_neuron(i_ext, self.n, "i_ext")
        self._init["sigma"] = _noise(noise, self.n)

    def params(self, dt):
        p_mm, p_em, p_ee, p_im, p_ii = propagators(dt, self.tau_m, self.tau_e, self.tau_i)
        out = np.zeros(12)
        out[:11] = [self.v_rest, self.v_th, self.v_reset, round(self.t_ref / dt), p_mm, p_em, p_ee, p_im, p_ii,
                    math.exp(-dt / self.tau_theta), self.theta_jump]
        return out

    theta = property(lambda self: self._state("u"), doc="adaptive threshold offset (mV)")
    i_e = property(lambda self: self._current(0), lambda self, x: self._set_current(0, x),
                   doc="excitatory synaptic current (mV, as R I), the value the next step integrates (a copy: assign to change it)")
    i_i = property(lambda self: self._current(1), lambda self, x: self._set_current(1, x),
                   doc="inhibitory synaptic current (mV, as R I), the value the next step integrates (a copy: assign to change it)")


class ConductanceLIF(Population):
    """Conductance-based LIF (exponential Euler, :mod:`neuro.ops.coba_lif.reference`); receptors add to :math:`g_e`, :math:`g_i`.

    Jumps of v (receptor ``"v"``) arriving in the spike step or while refractory are lost unless
    ``refractory_input=True`` (see :class:`LIF`); with ``"v"`` synapses and the default, a spike counts at least one
    refractory step.
    """

    model = E.COBA

    def __init__(self, n, tau_m=20.0, v_rest=-60.0, v_th=-50.0, v_reset=-60.0, t_ref=5.0, tau_e=5.0, tau_i=10.0,
                 e_exc=0.0, e_inh=-80.0, i_ext=0.0, noise=0.0, v_init=None, refractory_input=False, name=None):
        super().__init__(n, name, "coba")
        self.refractory_input = _refractory_input(refractory_input)
        _positive(tau_m=tau_m, tau_e=tau_e, tau_i=tau_i)
        _finite(v_rest=v_rest, v_th=v_th, v_reset=v_reset, t_ref=t_ref, e_exc=e_exc, e_inh=e_inh)
        if t_ref < 0:
            raise ValueError(f"t_ref must be >= 0, got {t_ref}")
        self.tau_m, self.v_rest, self.v_th, self.v_reset, self.t_ref = tau_m, v_rest, v_th, v_reset, t_ref
        _reset_below_threshold(self.name, v_th, v_reset)
        self.tau_e, self.tau_i, self.e_exc, self.e_inh = tau_e, tau_i, e_exc, e_inh
        self._initial("v", v_rest if v_init is None else v_init, "v_init", v_rest)
        self._init["i_ext"] = _per_neuron(i_ext, self.n, "i_ext")
        self._init["sigma"] = _noise(noise, self.n)

    g_e = property(lambda self: self._state("x1"), lambda self, x: self._set_state("x1", x),
                   doc="excitatory conductance, relative to the leak conductance")
    g_i = property(lambda self: self._state("x2"), lambda self, x: self._set_state("x2", x),
                   doc="inhibitory conductance, relative to the leak conductance")

    def params(self, dt):
        out = np.zeros(12)
        out[:9] = [self.v_rest, self.v_th, self.v_reset, round(self.t_ref / dt), self.tau_m,
                   math.exp(-dt / self.tau_e), math.exp(-dt / self.tau_i), self.e_exc, self.e_inh]
        return out


def resting_potential(b) -> np.ndarray:
    r"""The resting potential (mV) of Izhikevich neurons without input: the lower root of
    :math:`0.04 v^2 + (5 - b) v + 140 = 0` (the fixed point with :math:`u = b v`), or -65 mV where there is none."""
    b = np.asarray(b, dtype=np.float64)
    disc = (5.0 - b) ** 2 - 4 * 0.04 * 140.0
    return np.where(disc >= 0, (-(5.0 - b) - np.sqrt(np.maximum(disc, 0.0))) / 0.08, -65.0)


class Izhikevich(Population):
    """Izhikevich (2003) neurons; ``preset`` names a classic firing pattern (:data:`neuro.ops.izhikevich.PRESETS`).

    Without ``v_init`` each neuron starts at rest (:func:`resting_potential`: -70 mV for b = 0.2, -62.5 mV for the
    resonator's b = 0.26), ``u = b v``; started elsewhere (Izhikevich's code uses -65 mV) a neuron relaxes to rest and
    may fire on the way, as the resonator does from -65 mV.

    ``a, b, c, d`` may be per-neuron arrays. ``scheme="izhikevich"`` is the published two half-steps
    for v; ``"euler"`` plain forward Euler. Synaptic input is a current for one step.
    """

    model = E.IZHIKEVICH

    def __init__(self, n, a=None, b=None, c=None, d=None, preset="regular_spiking", scheme="izhikevich",
                 i_ext=0.0, noise=0.0, noise_kind="gaussian", v_init=None, u_init=None, name=None):
        super().__init__(n, name, "izh")
        if noise_kind not in ("gaussian", "uniform"):
            raise ValueError(f"noise_kind must be 'gaussian' or 'uniform', got {noise_kind!r}")
        self.noise_kind = noise_kind
        if preset is not None and preset not in PRESETS:
            raise ValueError(f"unknown Izhikevich preset {preset!r}; expected one of {sorted(PRESETS)}")
        if scheme not in STABLE_DT:
            raise ValueError(f"unknown Izhikevich scheme {scheme!r}; expected one of {sorted(STABLE_DT)}")
        base = PRESETS[preset] if preset is not None else (None, None, None, None)
        values = {}
        for key, given, default in zip("abcd", (a, b, c, d), base):
            if given is None and default is None:
                raise ValueError(f"Izhikevich needs parameter {key!r} (or a preset)")
            values[key] = _per_neuron(default if given is None else given, self.n, key)
        self.scheme = scheme
        self._init.update(na=values["a"], nb=values["b"], nc=values["c"], nd=values["d"])
        if v_init is None:  # each neuron's resting state without input (the lower fixed point), -65 mV where there is none
            v_init = resting_potential(values["b"])
        self._initial("v", v_init, "v_init", -65.0)
        self._u_follows_v = u_init is None  # u = b v, also for a v drawn later
        if u_init is None:
            self._init["u"] = values["b"] * self._init["v"]
        else:
            self._initial("u", u_init, "u_init", 0.0)
        self._init["i_ext"] = _per_neuron(i_ext, self.n, "i_ext")
        self._init["sigma"] = _noise(noise, self.n)

    def params(self, dt):
        out = np.zeros(12)
        out[0] = 0.0 if self.scheme == "izhikevich" else 1.0
        return out

    def check_dt(self, dt):
        if dt > STABLE_DT[self.scheme]:
            warnings.warn(f"{self.name}: the Izhikevich {self.scheme!r} scheme is known to diverge for dt > {STABLE_DT[self.scheme]} ms "
                          f"(dt = {dt} ms)", RuntimeWarning, stacklevel=3)


class PoissonInput(Population):
    """Independent Poisson spike sources: a spike in a step with probability ``rate * dt`` (Brian2's PoissonGroup)."""

    model = E.POISSON

    def __init__(self, n, rate, name=None):
        super().__init__(n, name, "poisson")
        r = _per_neuron(rate, self.n, "rate")
        if np.any(r < 0):
            raise ValueError("rate must be >= 0 Hz")
        self._init["rate"] = r / 1000.0  # per ms

    def check_dt(self, dt):
        top = float(self._state("rate").max()) * dt if self.n else 0.0
        if top > 1.0:
            warnings.warn(f"{self.name}: a rate of {top / dt * 1000.0:g} Hz at dt = {dt} ms asks for {top:g} spikes per step; "
                          "a source fires at most once per step (every step here)", RuntimeWarning, stacklevel=3)

    rate = property(lambda self: self._state("rate") * 1000.0, lambda self, x: self._set_state("rate", np.asarray(x, float) / 1000.0),
                    doc="rate (Hz)")


TIME_ROUNDINGS = ("floor", "nearest")
REPEATS = ("error", "multiplicity")


class SpikeSource(Population):
    r"""Spikes at given times: ``times`` (ms) and ``indices`` (0 .. n-1) of equal length.

    A time falls into step :math:`\lfloor (t + 10^{-3} dt) / dt \rfloor` (``rounding="floor"``, the default: Brian2's
    ``SpikeGeneratorGroup``, whose small shift keeps multiples of ``dt`` in their own step) or the nearest step
    (``"nearest"``, halves to even). Two spikes of one neuron in one step are an error (``repeats="error"``, the
    default, raised when the network is built and ``dt`` known); ``repeats="multiplicity"`` keeps them, and the
    neuron then counts as spiking that many times in that step (each spike delivered and seen by plasticity).
    """

    model = E.GENERATOR

    def __init__(self, n, times, indices, rounding="floor", repeats="error", name=None):
        super().__init__(n, name, "source")
        if rounding not in TIME_ROUNDINGS:
            raise ValueError(f"rounding must be one of {TIME_ROUNDINGS}, got {rounding!r}")
        if repeats not in REPEATS:
            raise ValueError(f"repeats must be one of {REPEATS}, got {repeats!r}")
        self.rounding, self.repeats = rounding, repeats
        try:
            times = np.asarray(times, dtype=np.float64).ravel()
        except (TypeError, ValueError) as err:
            raise TypeError(f"{self.name}: times must be numbers (ms), got {times!r:.80}") from err
        indices = np.asarray(indices).ravel()
        if times.shape != indices.shape:
            raise ValueError(f"times and indices must have the same length, got {times.shape[0]} and {indices.shape[0]}")
        if not np.all(np.isfinite(times)) or np.any(times < 0):
            raise ValueError("spike times must be finite and >= 0 ms")
        if indices.size and (indices.min() < 0 or indices.max() >= self.n or not np.issubdtype(indices.dtype, np.integer)):
            raise ValueError(f"indices must be integers in [0, {self.n - 1}]")
        self.times, self.indices = times, indices.astype(np.int64)

    def steps(self, dt: float) -> np.ndarray:
        """The step of each spike at time step ``dt`` (ms), by ``rounding``."""
        if self.rounding == "nearest":
            return np.rint(self.times / dt).astype(np.int64)
        return np.floor((self.times + 1e-3 * dt) / dt).astype(np.int64)

    def check_repeats(self, dt: float) -> int:
        """Raise where a neuron spikes twice in a step (unless ``repeats="multiplicity"``); returns the largest number of
        surplus spikes (beyond one per neuron) in any step."""
        if self.times.size == 0:
            return 0
        steps = self.steps(dt)
        key = steps * self.n + self.indices
        uniq, counts = np.unique(key, return_counts=True)
        if counts.max() <= 1:
            return 0
        if self.repeats == "error":
            k = uniq[np.argmax(counts > 1)]
            step, neuron = divmod(int(k), self.n)
            times = self.times[key == k]
            raise ValueError(f"{self.name}: neuron {neuron} spikes {int((key == k).sum())} times in step {step} "
                             f"(times {times[:4].tolist()} ms with dt = {dt} ms); pass repeats='multiplicity' to count "
                             "repeated spikes, or use a smaller dt")
        _, step_of = np.unique(uniq // self.n, return_inverse=True)
        return int(np.bincount(step_of, weights=counts - 1).max())

    @classmethod
    def from_events(cls, events, sensor_size=None, time_unit_ms: float = 1e-3, rounding="floor", repeats="error", name=None) -> SpikeSource:
        """From a tonic event array (fields ``t`` and ``x`` [, ``y``, ``p``]); ``t`` in µs by default. One neuron per (x, y, p).

        Event cameras often give one pixel several events within one step: pass ``repeats="multiplicity"`` to keep them."""
        names = events.dtype.names or ()
        if "t" not in names or "x" not in names:
            raise ValueError(f"events need fields 't' and 'x' (a tonic structured array), got {names}")
        xs = np.asarray(events["x"], dtype=np.int64)
        ys = np.asarray(events["y"], dtype=np.int64) if "y" in names else np.zeros_like(xs)
        ps = np.asarray(events["p"], dtype=np.int64) if "p" in names else np.zeros_like(xs)
        if sensor_size is None:
            sensor_size = (int(xs.max()) + 1, int(ys.max()) + 1, int(ps.max()) + 1)
        sx, sy, sp = sensor_size
        if xs.max(initial=0) >= sx or ys.max(initial=0) >= sy or ps.max(initial=0) >= sp:
            raise ValueError(f"events fall outside sensor_size {sensor_size}")
        idx = (xs * sy + ys) * sp + ps
        return cls(sx * sy * sp, np.asarray(events["t"], dtype=np.float64) * time_unit_ms, idx, rounding=rounding, repeats=repeats,
                   name=name)


# rows of the delivery matrix a receptor adds into (network._TARGET_ROWS: x1, x2, isyn, v)
_RECEPTOR_ROW = {"exc": "x1", "inh": "x2", "v": "v"}


class ModelPopulation(Population):
    """``n`` neurons of a user-defined :class:`neuro.dynamics.NeuronModel`, run by its generated kernel.

    Parameters and initial values are keyword arguments (plain numbers in the documented units of
    :mod:`neuro.dynamics.units`, unit-carrying quantities, per-neuron arrays, or ``f(rng, n)`` for initial values drawn
    from the network's seed). Every model variable reads and writes as an attribute (``pop.v``, ``pop.w``).
    """

    model = E.GENERIC

    def __init__(self, n, model, name=None, **parameters):
        super().__init__(n, name, model.name or "model")
        self.definition = model
        self.receptors = tuple(model.inputs)
        values = model.values(self.n, parameters)
        for key, value in values.items():
            if callable(value):
                self._random_init[key] = (value, key)
                values[key] = np.zeros(self.n)
        self._values = values
        self._rows = {var: _RECEPTOR_ROW[r] for r, var in model.inputs.items()}  # variables kept in the delivery matrix

    def _draw_init(self, rng):
        for key, (f, _what) in self._random_init.items():
            arr = np.asarray(self.definition.values(self.n, {key: f(rng, self.n)})[key])
            self._values[key] = arr
        self._random_init = {}

    def __getattr__(self, key):
        d = self.__dict__
        if "definition" in d and key in d["definition"].states + d["definition"].params:
            return self._var(key)
        raise AttributeError(f"{type(self).__name__} {d.get('name', '?')} has no attribute {key!r}")

    def __setattr__(self, key, value):
        d = self.__dict__
        if key == "_v_model":
            key = "v"
        if "definition" in d and key in d["definition"].states + d["definition"].params:
            arr = self.definition.values(self.n, {key: value})[key]
            self._var(key)[:] = arr
            if key in self.definition.params and self.network is not None:
                self.network.built = False  # propagators and refractory steps depend on parameters
            return
        super().__setattr__(key, value)

    v = property(lambda self: self._var("v") if "v" in self.definition.states else self._state("v"),
                 lambda self, x: self.__setattr__("_v_model", x), doc="membrane potential (the model's v)")

    def _var(self, key: str) -> np.ndarray:
        """The array of variable or parameter ``key``: in the network's arrays once laid out (until the next layout,
        which carries them over), else the values given."""
        net = self.network
        if net is None or not getattr(self, "_laid_out", False):
            return self._values[key]
        s = net._s
        if key in self._rows:
            return getattr(s, self._rows[key])[self.start : self.start + self.n]
        off = self._gen_offsets[key]  # also "_hold_<v>" arrays
        return s.gen_state[off : off + self.n]

    def inject(self, current):
        raise NotImplementedError(f"{self.name}: inject() drives the built-in models; a user-defined model takes its drive as a "
                                  "parameter or variable of its equations")

    def _keep_values(self) -> None:
        """Copy the laid-out variables back into ``_values`` (before the network lays out its arrays again)."""
        from ..dynamics.codegen import layout

        for key in layout(self.definition)[2:]:
            if key in self.definition.states or key in self.definition.params or key.startswith("_hold_"):
                self._values[key] = np.array(self._var(key))
