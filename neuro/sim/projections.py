"""Projections: sparse synapses between two populations, with per-synapse weights and integer-step delays.

Connectivity (``connect=``): ``"all_to_all"``, ``"one_to_one"``, :class:`FixedProbability`,
:class:`FixedInDegree`, :class:`FixedOutDegree`, a pair of index arrays ``(pre, post)``, or a
``scipy.sparse`` matrix of shape ``(n_pre, n_post)`` whose non-zeros become the synapses
(and their weights, unless ``weight`` is given). Weights and delays are scalars, arrays with
one value per synapse, or callables ``f(rng, n_synapses)``. Delays are in ms and must be
whole multiples of the network's ``dt``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..ops.stdp.params import PairSTDP, TripletSTDP
from ..ops.three_factor.params import RewardModulatedSTDP
from .populations import Population

RECEPTORS = {"exc": 0, "inh": 1, "v": 2}


@dataclass(frozen=True)
class FixedProbability:
    """Each (pre, post) pair is connected independently with probability ``p``."""

    p: float

    def __post_init__(self):
        if not 0.0 <= self.p <= 1.0:
            raise ValueError(f"FixedProbability.p must be in [0, 1], got {self.p}")


def _degree(rule) -> None:
    k = rule.k
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 0:
        raise ValueError(f"{type(rule).__name__}.k must be an integer >= 0, got {k!r}")


@dataclass(frozen=True)
class FixedInDegree:
    """Every postsynaptic neuron receives exactly ``k`` synapses from distinct (unless multapses) random pre neurons."""

    k: int

    def __post_init__(self):
        _degree(self)


@dataclass(frozen=True)
class FixedOutDegree:
    """Every presynaptic neuron makes exactly ``k`` synapses onto random post neurons."""

    k: int

    def __post_init__(self):
        _degree(self)


def _pairs(connect, n_pre: int, n_post: int, rng: np.random.Generator, autapses: bool, multapses: bool, same: bool):
    """(pre, post, weights_or_None) index arrays for a connectivity rule."""
    import scipy.sparse as sp

    w = None
    if isinstance(connect, str):
        if connect == "all_to_all":
            pre, post = np.divmod(np.arange(n_pre * n_post, dtype=np.int64), n_post)
        elif connect == "one_to_one":
            if n_pre != n_post:
                raise ValueError(f"one_to_one needs equal sizes, got {n_pre} pre and {n_post} post neurons")
            pre = post = np.arange(n_pre, dtype=np.int64)
        else:
            raise ValueError(f"unknown connect rule {connect!r}; expected 'all_to_all', 'one_to_one', a rule object, arrays or a sparse matrix")
    elif isinstance(connect, FixedProbability):
        # row by row keeps memory at O(synapses)
        pres, posts = [], []
        for i in range(n_pre):
            js = np.flatnonzero(rng.random(n_post) < connect.p)
            pres.append(np.full(js.size, i, dtype=np.int64))
            posts.append(js.astype(np.int64))
        pre, post = np.concatenate(pres), np.concatenate(posts)
    elif isinstance(connect, FixedInDegree | FixedOutDegree):
        k = int(connect.k)
        fixed, other = (n_post, n_pre) if isinstance(connect, FixedInDegree) else (n_pre, n_post)
        limit = other - (1 if same and not autapses else 0)
        if k < 0 or (not multapses and k > limit):
            raise ValueError(f"{type(connect).__name__}(k={k}) needs 0 <= k <= {limit} without multapses")
        a = np.repeat(np.arange(fixed, dtype=np.int64), k)
        b = np.empty(fixed * k, dtype=np.int64)
        for i in range(fixed):
            if multapses:
                choice = rng.integers(0, other, k)
                if same and not autapses:
                    choice = np.where(choice >= i, choice + 1, choice) % other if other > 1 else choice
            else:
                pool = np.arange(other)
                if same and not autapses:
                    pool = pool[pool != i]
                choice = rng.choice(pool, size=k, replace=False)
            b[i * k : (i + 1) * k] = choice
        pre, post = (b, a) if isinstance(connect, FixedInDegree) else (a, b)
    elif sp.issparse(connect):
        m = sp.coo_matrix(connect)
        if m.shape != (n_pre, n_post):
            raise ValueError(f"sparse connectivity must have shape ({n_pre}, {n_post}), got {m.shape}")
        pre, post, w = m.row.astype(np.int64), m.col.astype(np.int64), m.data.astype(np.float64)
    elif isinstance(connect, tuple) and len(connect) == 2:
        pre, post = (np.asarray(x) for x in connect)
        for name, x in (("pre", pre), ("post", post)):
            if x.size and not np.issubdtype(x.dtype, np.integer):
                raise ValueError(f"{name} indices must be integers, got dtype {x.dtype}")
        if pre.shape != post.shape or pre.ndim != 1:
            raise ValueError(f"index arrays must be 1-d and of equal length, got shapes {pre.shape} and {post.shape}")
        if pre.size and (pre.min() < 0 or pre.max() >= n_pre or post.min() < 0 or post.max() >= n_post):
            raise ValueError(f"indices out of range: pre must be in [0, {n_pre}), post in [0, {n_post})")
        pre, post = pre.astype(np.int64), post.astype(np.int64)
    else:
        raise ValueError(f"unsupported connect={connect!r}")
    if same and not autapses and not isinstance(connect, FixedInDegree | FixedOutDegree):
        keep = pre != post
        pre, post, w = pre[keep], post[keep], (None if w is None else w[keep])
    if not multapses and not isinstance(connect, FixedInDegree | FixedOutDegree) and pre.size:
        key = pre * n_post + post
        if np.unique(key).size != key.size:
            raise ValueError("the connectivity has repeated (pre, post) pairs; pass multapses=True to allow them")
    return pre, post, w


def _is_sparse(x) -> bool:
    import scipy.sparse as sp

    return sp.issparse(x)


def _values(value, n: int, rng, what: str) -> np.ndarray:
    if callable(value):
        value = value(rng, n)
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{what} must be numbers, got {value!r:.80}") from err
    if arr.ndim == 0:
        arr = np.full(n, float(arr))
    if arr.shape != (n,):
        raise ValueError(f"{what} must be a scalar, a callable or an array of shape ({n},) (one per synapse), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{what} has NaN or infinite values")
    return arr


class Projection:
    """Synapses from ``pre`` to ``post`` onto receptor ``receptor`` ("exc", "inh" or "v").

    ``plasticity``: ``None``, a :class:`~neuro.ops.stdp.PairSTDP` or :class:`~neuro.ops.stdp.TripletSTDP`
    (weights change at spikes: a presynaptic spike at its arrival time, delay included), or a
    :class:`~neuro.ops.three_factor.RewardModulatedSTDP` driven by the network modulator named
    ``modulator``. After the network is built, ``weights`` and ``delays`` read the synapses in
    creation order (``pre_index``, ``post_index``); assigning ``weights`` writes them back.

    Random connectivity, weights and delays are drawn from ``seed`` when one is given; otherwise when the
    projection is added to a :class:`~neuro.sim.Network`, from the network's seed and the projection's place among
    the network's projections, so ``Network(seed=...)`` fixes them run after run and process after process.
    """

    def __init__(self, pre: Population, post: Population, connect="all_to_all", weight=1.0, delay=0.0, receptor="exc",
                 plasticity=None, modulator: str | None = None, autapses: bool = True, multapses: bool = False, seed: int | None = None,
                 name: str | None = None):
        if not isinstance(pre, Population) or not isinstance(post, Population):
            raise TypeError(f"pre and post must be populations, got {type(pre).__name__} and {type(post).__name__}")
        if receptor not in RECEPTORS:
            raise ValueError(f"unknown receptor {receptor!r}; expected one of {sorted(RECEPTORS)}")
        if plasticity is not None and not isinstance(plasticity, PairSTDP | TripletSTDP | RewardModulatedSTDP):
            raise TypeError(f"plasticity must be PairSTDP, TripletSTDP or RewardModulatedSTDP, got {type(plasticity).__name__}")
        if modulator is not None and not isinstance(plasticity, RewardModulatedSTDP):
            raise ValueError(f"a modulator ({modulator!r}) can only drive a projection with RewardModulatedSTDP plasticity, "
                             f"this one has {type(plasticity).__name__ if plasticity is not None else 'no plasticity'}")
        if isinstance(plasticity, RewardModulatedSTDP) and modulator is None:
            raise ValueError("RewardModulatedSTDP needs modulator='<name>' (create it with Network.add_modulator)")
        if not (isinstance(connect, str | tuple | FixedProbability | FixedInDegree | FixedOutDegree) or _is_sparse(connect)):
            raise ValueError(f"unsupported connect={connect!r}; expected 'all_to_all', 'one_to_one', FixedProbability, FixedInDegree, "
                             "FixedOutDegree, a pair of index arrays (pre, post) or a scipy.sparse matrix")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int | np.integer)):
            raise TypeError(f"seed must be an integer or None, got {seed!r}")
        self.pre, self.post, self.receptor = pre, post, receptor
        self.plasticity, self.modulator = plasticity, modulator
        self.name = name or f"{pre.name}->{post.name}"
        self.seed = seed
        self.network = None
        self._order = None  # positions of this projection's synapses in the network's arrays
        self._spec = (connect, weight, delay, autapses, multapses)
        # what is drawn at random is drawn from `seed`, or, without one, when the projection is added to a network,
        # from the network's seed and the projection's place in it; without randomness, now
        random = callable(weight) or callable(delay) or not (isinstance(connect, str | tuple) or _is_sparse(connect))
        self._drawn = False
        if seed is not None or not random:
            self._draw(np.random.default_rng(seed))

    def _draw(self, rng: np.random.Generator) -> None:
        """Connectivity, weights and delays (in this order) from ``rng``."""
        connect, weight, delay, autapses, multapses = self._spec
        pre, post, plasticity = self.pre, self.post, self.plasticity
        rule = plasticity.stdp if isinstance(plasticity, RewardModulatedSTDP) else plasticity
        self.pre_index, self.post_index, w_sparse = _pairs(connect, pre.n, post.n, rng, autapses, multapses, pre is post)
        n = self.pre_index.size
        if weight is None:
            if w_sparse is None:
                raise ValueError("weight=None takes the weights from a sparse matrix; give weight= for other connect rules")
            self._w = w_sparse
        else:
            self._w = _values(weight, n, rng, f"{self.name} weight")
        if rule is not None and n and (self._w.min() < rule.w_min or self._w.max() > rule.w_max):
            raise ValueError(f"{self.name}: initial weights must lie in the plasticity bounds [{rule.w_min}, {rule.w_max}]")
        self._delay_ms = _values(delay, n, rng, f"{self.name} delay")
        if n and self._delay_ms.min() < 0:
            raise ValueError(f"{self.name}: delays must be >= 0 ms, got {self._delay_ms.min()}")
        self._drawn = True

    def __getattr__(self, key):
        # only reached for attributes not set yet: the drawn ones before the projection is drawn
        if key in ("pre_index", "post_index", "_w", "_delay_ms"):
            raise RuntimeError(f"projection {self.__dict__.get('name', '?')} draws its synapses when it is added to a Network "
                               "(from the network's seed); add it first, or pass seed= to draw them now")
        raise AttributeError(key)

    def __len__(self) -> int:
        return self.pre_index.size

    def delay_steps(self, dt: float) -> np.ndarray:
        steps = np.rint(self._delay_ms / dt)
        bad = np.abs(steps * dt - self._delay_ms) > 1e-9 * max(1.0, dt)
        if np.any(bad):
            raise ValueError(f"{self.name}: delay {self._delay_ms[bad][0]} ms is not a whole number of steps of dt = {dt} ms")
        return steps.astype(np.int64)

    @property
    def weights(self) -> np.ndarray:
        if self._order is None:
            return self._w.copy()
        return self.network._s.syn_w[self._order].copy()

    @weights.setter
    def weights(self, value) -> None:
        w = _values(value, len(self), None, f"{self.name} weights")
        if self._order is None:
            self._w = w
        else:
            self.network._s.syn_w[self._order] = w

    def normalize_incoming(self, total: float, rate: float = 1.0) -> None:
        """Synaptic scaling: move each postsynaptic neuron's summed incoming weight towards ``total``.

        Every weight onto neuron ``j`` is multiplied by :math:`1 + r (W^* / W_j - 1)` with :math:`W_j` its
        current sum and :math:`r` = ``rate`` (1: exact normalisation; smaller: a homeostatic step), then
        clipped to the plasticity bounds. Call it between runs, or from a ``reward``/periodic callback.
        """
        if not (np.isfinite(total) and total > 0):
            raise ValueError(f"total must be a finite number > 0, got {total}")
        if not 0.0 < rate <= 1.0:
            raise ValueError(f"rate must be in (0, 1], got {rate}")
        w = self.weights
        sums = np.bincount(self.post_index, weights=w, minlength=self.post.n)
        factor = np.ones(self.post.n)
        has = sums > 0
        factor[has] = 1.0 + rate * (total / sums[has] - 1.0)
        w = w * factor[self.post_index]
        rule = self.plasticity.stdp if isinstance(self.plasticity, RewardModulatedSTDP) else self.plasticity
        if rule is not None:
            w = np.clip(w, rule.w_min, rule.w_max)
        self.weights = w

    @property
    def delays(self) -> np.ndarray:
        return self._delay_ms.copy()

    @property
    def eligibility(self) -> np.ndarray:
        """Eligibility traces now (zero without three-factor plasticity)."""
        if self._order is None or not isinstance(self.plasticity, RewardModulatedSTDP):
            return np.zeros(len(self))
        net = self.network
        k = net.projections.index(self)
        if self.plasticity.eligibility_decay == "periodic":  # stored as is until the next update
            return net._s.elig[self._order] + net._s.elig_post[net._s.syn_postpos[self._order]]
        decay = np.exp(-(net.t - net._s.period_last[k]) / self.plasticity.tau_c)
        return (net._s.elig[self._order] + net._s.elig_post[net._s.syn_postpos[self._order]]) * decay
