"""Projections: sparse synapses between two populations, with per-synapse weights and integer-step delays.

Connectivity (``connect=``): ``"all_to_all"``, ``"one_to_one"``, :class:`FixedProbability`,
:class:`FixedInDegree`, :class:`FixedOutDegree`, a pair of index arrays ``(pre, post)``, or a
``scipy.sparse`` matrix of shape ``(n_pre, n_post)`` whose non-zeros become the synapses
(and their weights, unless ``weight`` is given). Weights and delays are scalars, arrays with
one value per synapse, or callables ``f(rng, n_synapses)``. Delays are in ms and must be
whole multiples of the network's ``dt``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

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
            pre = np.repeat(np.arange(n_pre, dtype=np.int64), n_post)
            post = np.tile(np.arange(n_post, dtype=np.int64), n_pre)
        elif connect == "one_to_one":
            if n_pre != n_post:
                raise ValueError(f"one_to_one needs equal sizes, got {n_pre} pre and {n_post} post neurons")
            pre = post = np.arange(n_pre, dtype=np.int64)
        else:
            raise ValueError(f"unknown connect rule {connect!r}; expected 'all_to_all', 'one_to_one', a rule object, arrays or a sparse matrix")
    elif isinstance(connect, FixedProbability):
        pre, post = _bernoulli_pairs(connect.p, n_pre, n_post, rng, drop_diagonal=same and not autapses)
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
    if same and not autapses and not isinstance(connect, FixedInDegree | FixedOutDegree | FixedProbability):
        keep = pre != post
        pre, post, w = pre[keep], post[keep], (None if w is None else w[keep])
    # the rules that draw each pair at most once need no check; arrays and matrices may repeat a pair
    if not multapses and not isinstance(connect, str | FixedProbability | FixedInDegree | FixedOutDegree) and _has_repeats(pre, post, n_post):
        raise ValueError("the connectivity has repeated (pre, post) pairs; pass multapses=True to allow them")
    return pre, post, w


def _bernoulli_pairs(p: float, n_pre: int, n_post: int, rng: np.random.Generator, drop_diagonal: bool = False, col0: int = 0):
    """``(pre, post)``: every pair connected independently with probability ``p``, in row-major order; ``post`` counts from
    ``col0`` (the columns ``col0 .. col0 + n_post - 1`` of a larger matrix: one block of targets).

    The gaps between consecutive connected pairs (row-major) are geometric, :math:`P(g) = (1 - p)^{g - 1} p`, drawn by
    inversion as NumPy's ``Generator.geometric`` does, :math:`g = \\lceil E / -\\ln(1 - p) \\rceil` with :math:`E` a
    standard exponential from ``rng``: one draw per synapse instead of one per pair. ``drop_diagonal``: pairs with
    ``pre == post`` are drawn and then left out (no autapses), as for any other rule.
    """
    total = n_pre * n_post
    it = np.int32 if max(n_pre, n_post) < 2**31 else np.int64  # half the bytes to write per synapse where they fit
    if total == 0 or p <= 0.0:
        return np.zeros(0, it), np.zeros(0, it)
    if p >= 1.0:
        pre, post = np.repeat(np.arange(n_pre, dtype=it), n_post), np.tile(np.arange(n_post, dtype=it), n_pre)
    else:
        lam = -math.log1p(-p)
        cap = int(total * p + 6.0 * math.sqrt(total * p) + 64)
        pre, post = np.empty(cap, it), np.empty(cap, it)
        buf = np.empty(min(cap, 1 << 20))
        count, row, col = 0, 0, -1  # the last pair considered: (row, col)
        while row < n_pre:
            left = (n_pre - row) * n_post - col - 1  # pairs not considered yet
            # exponentials for the expected number of synapses left and a margin, in chunks of at most 1 M (8 MB, reused)
            m = min(int(left * p + 6.0 * math.sqrt(left * p) + 64), buf.size)
            if count + m > pre.size:
                grow = max(count + m, 2 * pre.size)
                pre, post = np.resize(pre, grow), np.resize(post, grow)
            expo = buf[:m]
            rng.standard_exponential(out=expo)
            count, row, col = _geometric_walk(expo, lam, n_pre, n_post, row, col, pre, post, count)
        pre, post = pre[:count], post[:count]
    if col0:
        post += col0
    if drop_diagonal:
        keep = pre != post
        pre, post = pre[keep], post[keep]
    return pre, post


TARGET_BLOCK = 1024  # postsynaptic neurons per random stream of FixedProbability / FixedInDegree (Projection._draw)


class _BlockWalk:
    """:func:`_bernoulli_pairs` block after block of targets (``0 < p < 1``), each block from its own generator, into one
    pair of growing arrays (the blocks' pairs one after the other) and one buffer of exponentials: fresh memory is
    touched once, as by one walk over the whole matrix."""

    def __init__(self, p: float, n_pre: int, n_cols: int, n_blocks: int, drop_diagonal: bool):
        self.p, self.n_pre, self.drop = p, n_pre, drop_diagonal
        self.lam = -math.log1p(-p)
        total = n_pre * n_cols
        cap = int(total * p + 6.0 * math.sqrt(total * p) + 64 * max(n_blocks, 1))
        it = np.int32 if max(n_pre, n_cols + 1) < 2**31 else np.int64
        self.pre, self.post = np.empty(cap, it), np.empty(cap, it)
        self.buf = np.empty(min(cap, 1 << 20))
        self.count = 0

    def block(self, rng: np.random.Generator, c0: int, c1: int):
        """The pairs onto targets ``c0 .. c1 - 1`` (views into the walk's arrays; ``post`` counted from 0 of the population)."""
        p, n_pre, width = self.p, self.n_pre, c1 - c0
        start = self.count
        count, row, col = start, 0, -1
        while row < n_pre:
            left = (n_pre - row) * width - col - 1
            m = min(int(left * p + 6.0 * math.sqrt(left * p) + 64), self.buf.size)
            if count + m > self.pre.size:
                grow = max(count + m, 2 * self.pre.size)
                self.pre, self.post = np.resize(self.pre, grow), np.resize(self.post, grow)
            expo = self.buf[:m]
            rng.standard_exponential(out=expo)
            count, row, col = _geometric_walk(expo, self.lam, n_pre, width, row, col, self.pre, self.post, count)
        pre, post = self.pre[start:count], self.post[start:count]
        post += c0
        if self.drop:
            keep = pre != post
            k = int(keep.sum())
            pre[:k], post[:k] = pre[keep], post[keep]
            count = start + k
        self.count = count
        return self.pre[start:count], self.post[start:count]


def _in_degree_pairs(k: int, n_pre: int, c0: int, c1: int, rng: np.random.Generator, no_autapses: bool, multapses: bool):
    """``(pre, post)``: ``k`` presynaptic neurons for each target ``c0 .. c1 - 1`` in turn (distinct unless ``multapses``;
    never the target itself with ``no_autapses``, where ``pre`` and ``post`` are one population)."""
    post = np.repeat(np.arange(c0, c1, dtype=np.int64), k)
    pre = np.empty((c1 - c0) * k, dtype=np.int64)
    for j, i in enumerate(range(c0, c1)):
        if multapses:
            choice = rng.integers(0, n_pre, k)
            if no_autapses:
                choice = np.where(choice >= i, choice + 1, choice) % n_pre if n_pre > 1 else choice
        else:
            pool = np.arange(n_pre)
            if no_autapses:
                pool = pool[pool != i]
            choice = rng.choice(pool, size=k, replace=False)
        pre[j * k : (j + 1) * k] = choice
    return pre, post


@njit(cache=True, nogil=True)
def _geometric_walk(expo, lam, n_pre, n_post, row, col, pre, post, count):
    """Walk the pairs row by row from ``(row, col)`` by geometric gaps ``ceil(expo[k] / lam)``, writing the pairs landed on
    into ``pre`` / ``post`` from ``count`` (room for ``expo.size`` more needed: at most one pair per gap); returns
    ``(count, row, col)`` after the last gap, or once past the last row."""
    beyond = float(n_pre) * float(n_post) + 1.0  # a gap this long leaves the matrix from anywhere
    for k in range(expo.size):
        g = np.ceil(expo[k] / lam)
        if g >= beyond:
            return count, n_pre, 0
        col += max(np.int64(g), 1)
        if col >= n_post:
            q = col // n_post
            row += q
            col -= q * n_post
            if row >= n_pre:
                return count, row, col
        pre[count] = row
        post[count] = col
        count += 1
    return count, row, col


@njit(cache=True, nogil=True)
def _repeats_sorted(pre, post):
    """0: (pre, post) strictly increasing (no pair twice); 1: a pair repeated next to itself; 2: not sorted."""
    for i in range(1, pre.size):
        if pre[i] < pre[i - 1] or (pre[i] == pre[i - 1] and post[i] < post[i - 1]):
            return 2
        if pre[i] == pre[i - 1] and post[i] == post[i - 1]:
            return 1
    return 0


def _has_repeats(pre: np.ndarray, post: np.ndarray, n_post: int) -> bool:
    if pre.size < 2:
        return False
    verdict = _repeats_sorted(pre, post)
    if verdict < 2:
        return verdict == 1
    key = np.sort(pre * n_post + post)
    return bool(np.any(key[1:] == key[:-1]))


def _is_sparse(x) -> bool:
    import scipy.sparse as sp

    return sp.issparse(x)


@njit(cache=True, nogil=True)
def _delay_steps(delay_ms, dt, steps):
    """``steps = rint(delay_ms / dt)``; returns the first synapse whose delay is no whole number of steps, or -1."""
    tol = 1e-9 * max(1.0, dt)
    for i in range(delay_ms.size):
        k = np.rint(delay_ms[i] / dt)
        if not abs(k * dt - delay_ms[i]) <= tol:  # NaN counts as off the grid, as before
            return i
        steps[i] = np.int64(k)
    return -1


def _values(value, n: int, rng, what: str) -> np.ndarray:
    if callable(value):
        value = value(rng, n)
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{what} must be numbers, got {value!r:.80}") from err
    if arr.ndim == 0:
        if not np.isfinite(arr):
            raise ValueError(f"{what} has NaN or infinite values")
        return np.broadcast_to(np.array(float(arr)), (n,))  # one value for all: a read-only view, no memory per synapse
    if arr.shape != (n,):
        raise ValueError(f"{what} must be a scalar, a callable or an array of shape ({n},) (one per synapse), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{what} has NaN or infinite values")
    return arr


def user_rule(plasticity):
    """``plasticity`` as a :class:`neuro.dynamics.synapse.Plasticity` when it is a user-defined rule (a
    ``SynapseModel``, called with values or not), else None."""
    import sys

    mod = sys.modules.get("neuro.dynamics.synapse")  # not imported: the rule cannot be one of its classes
    if mod is None:
        return None
    if isinstance(plasticity, mod.Plasticity):
        return plasticity
    if isinstance(plasticity, mod.SynapseModel):
        return plasticity()
    return None


class Projection:
    """Synapses from ``pre`` to ``post`` onto receptor ``receptor`` ("exc", "inh" or "v").

    ``plasticity``: ``None``, a :class:`~neuro.ops.stdp.PairSTDP` or :class:`~neuro.ops.stdp.TripletSTDP`
    (weights change at spikes: a presynaptic spike at its arrival time, delay included), a
    :class:`~neuro.ops.three_factor.RewardModulatedSTDP` driven by the network modulator named
    ``modulator``, or a user-defined rule: a :class:`neuro.dynamics.SynapseModel` (its defaults) or
    ``model(**values)`` (parameters and initial variables, per synapse in creation order where arrays;
    ``proj.variable(name)`` reads a variable). After the network is built, ``weights`` and ``delays`` read the synapses in
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
        if user_rule(plasticity) is not None:
            plasticity = user_rule(plasticity)
            if modulator is not None:
                raise ValueError(f"modulator={modulator!r}: a user-defined rule names the modulators it reads in its definition "
                                 "(SynapseModel(..., modulators=(...)))")
        elif plasticity is not None and not isinstance(plasticity, PairSTDP | TripletSTDP | RewardModulatedSTDP):
            raise TypeError(f"plasticity must be PairSTDP, TripletSTDP, RewardModulatedSTDP or a neuro.dynamics.SynapseModel, "
                            f"got {type(plasticity).__name__}")
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
            self._draw(seed)

    def _draw(self, key, post_range: tuple[int, int] | None = None) -> None:
        """Connectivity, weights and delays (in this order) from the random streams of ``key`` (an integer or a list of
        integers: ``np.random.SeedSequence(key)``; None: fresh entropy).

        :class:`FixedProbability` and :class:`FixedInDegree` draw per block of :data:`TARGET_BLOCK` postsynaptic neurons,
        each block from its own stream (``SeedSequence(key, spawn_key=(block,))``): the synapses onto a block, then their
        weights and delays, blocks in ascending order. So the synapses onto any range of targets are drawn without
        drawing the others, and are the same whoever draws them (one process, or an MPI rank building its part:
        ``post_range=(lo, hi)`` keeps the synapses onto ``post[lo:hi]`` only, drawing only the blocks that hold them).
        Other rules draw everything from one stream; with ``post_range`` they are drawn whole and then filtered.
        """
        connect, weight, delay, autapses, multapses = self._spec
        pre, post, plasticity = self.pre, self.post, self.plasticity
        rule = plasticity.stdp if isinstance(plasticity, RewardModulatedSTDP) else plasticity
        rule = rule if isinstance(rule, PairSTDP | TripletSTDP) else None  # user-defined rules have no built-in bounds
        if isinstance(connect, FixedProbability | FixedInDegree):
            self._pre, self._post, self._w, self._delay_ms = self._draw_blocks(key, post_range)
        else:
            rng = np.random.default_rng(np.random.SeedSequence(key))
            self._pre, self._post, w_sparse = _pairs(connect, pre.n, post.n, rng, autapses, multapses, pre is post)
            n = self._pre.size
            if weight is None:
                if w_sparse is None:
                    raise ValueError("weight=None takes the weights from a sparse matrix; give weight= for other connect rules")
                self._w = w_sparse
            else:
                self._w = _values(weight, n, rng, f"{self.name} weight")
            self._delay_ms = _values(delay, n, rng, f"{self.name} delay")
            if post_range is not None:
                keep = (self._post >= post_range[0]) & (self._post < post_range[1])
                self._pre, self._post = self._pre[keep], self._post[keep]
                self._w = self._w[keep] if self._w.strides[0] else self._w[: int(keep.sum())]
                self._delay_ms = self._delay_ms[keep] if self._delay_ms.strides[0] else self._delay_ms[: int(keep.sum())]
        n = self._pre.size
        if rule is not None and n and (self._w.min() < rule.w_min or self._w.max() > rule.w_max):
            raise ValueError(f"{self.name}: initial weights must lie in the plasticity bounds [{rule.w_min}, {rule.w_max}]")
        if n and self._delay_ms.min() < 0:
            raise ValueError(f"{self.name}: delays must be >= 0 ms, got {self._delay_ms.min()}")
        self._drawn = True

    def _draw_blocks(self, key, post_range):
        """``(pre, post, weights, delays)`` of a :class:`FixedProbability` / :class:`FixedInDegree` rule, block by block
        of targets (see :meth:`_draw`)."""
        connect, weight, delay, autapses, multapses = self._spec
        n_pre, n_post, same = self.pre.n, self.post.n, self.pre is self.post
        lo, hi = (0, n_post) if post_range is None else post_range
        blocks = range(lo // TARGET_BLOCK, -(-hi // TARGET_BLOCK)) if hi > lo else range(0)
        if weight is None:
            raise ValueError("weight=None takes the weights from a sparse matrix; give weight= for other connect rules")
        if isinstance(connect, FixedInDegree):
            k = int(connect.k)
            limit = n_pre - (1 if same and not autapses else 0)
            if not multapses and k > limit:
                raise ValueError(f"FixedInDegree(k={k}) needs 0 <= k <= {limit} without multapses")
        pres, posts, ws, ds = [], [], [], []
        walk = None
        if isinstance(connect, FixedProbability) and 0.0 < connect.p < 1.0:
            cols = min(blocks[-1] * TARGET_BLOCK + TARGET_BLOCK, n_post) - blocks[0] * TARGET_BLOCK if len(blocks) else 0
            walk = _BlockWalk(connect.p, n_pre, cols, len(blocks), same and not autapses)
        for b in blocks:
            rng = np.random.default_rng(np.random.SeedSequence(key, spawn_key=(b,)))
            c0, c1 = b * TARGET_BLOCK, min((b + 1) * TARGET_BLOCK, n_post)
            if walk is not None:
                p_b, q_b = walk.block(rng, c0, c1)
            elif isinstance(connect, FixedProbability):
                p_b, q_b = _bernoulli_pairs(connect.p, n_pre, c1 - c0, rng, col0=c0, drop_diagonal=same and not autapses)
            else:
                p_b, q_b = _in_degree_pairs(k, n_pre, c0, c1, rng, same and not autapses, multapses)
            w_b = _values(weight, p_b.size, rng, f"{self.name} weight") if callable(weight) else None
            d_b = _values(delay, p_b.size, rng, f"{self.name} delay") if callable(delay) else None
            if post_range is not None and (c0 < lo or c1 > hi):  # a block the range cuts: drawn whole, then filtered
                keep = (q_b >= lo) & (q_b < hi)
                p_b, q_b = p_b[keep], q_b[keep]
                w_b, d_b = (None if x is None else x[keep] for x in (w_b, d_b))
            pres.append(p_b)
            posts.append(q_b)
            ws += [] if w_b is None else [w_b]
            ds += [] if d_b is None else [d_b]
        if not pres:
            it = np.int32 if max(n_pre, n_post) < 2**31 else np.int64
            pres, posts = [np.zeros(0, it)], [np.zeros(0, it)]
        if walk is not None and post_range is None:  # the blocks lie one after the other in the walk's arrays: no copy
            pre_all, post_all = walk.pre[: walk.count], walk.post[: walk.count]
        else:
            pre_all = np.concatenate(pres) if len(pres) != 1 else pres[0]
            post_all = np.concatenate(posts) if len(posts) != 1 else posts[0]
        n = pre_all.size
        w = (np.concatenate(ws) if ws else np.zeros(0)) if callable(weight) else _values(weight, n, None, f"{self.name} weight")
        d = (np.concatenate(ds) if ds else np.zeros(0)) if callable(delay) else _values(delay, n, None, f"{self.name} delay")
        return pre_all, post_all, w, d

    def __getattr__(self, key):
        # only reached for attributes not set yet: the drawn ones before the projection is drawn
        if key in ("_pre", "_post", "_w", "_delay_ms"):
            raise RuntimeError(f"projection {self.__dict__.get('name', '?')} draws its synapses when it is added to a Network "
                               "(from the network's seed); add it first, or pass seed= to draw them now")
        raise AttributeError(key)

    def __len__(self) -> int:
        return self._pre.size

    @property
    def pre_index(self) -> np.ndarray:
        """Presynaptic neuron of each synapse (index in ``pre``), in creation order: a 64-bit copy (the projection may
        keep its indices in 32 bits)."""
        return self._pre.astype(np.int64)

    @property
    def post_index(self) -> np.ndarray:
        """Postsynaptic neuron of each synapse (index in ``post``), in creation order: a 64-bit copy."""
        return self._post.astype(np.int64)

    def delay_steps(self, dt: float) -> np.ndarray:
        steps = np.empty(self._delay_ms.size, np.int64)
        bad = _delay_steps(self._delay_ms, float(dt), steps)
        if bad >= 0:
            raise ValueError(f"{self.name}: delay {self._delay_ms[bad]} ms is not a whole number of steps of dt = {dt} ms")
        return steps

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
        sums = np.bincount(self._post, weights=w, minlength=self.post.n)
        factor = np.ones(self.post.n)
        has = sums > 0
        factor[has] = 1.0 + rate * (total / sums[has] - 1.0)
        w = w * factor[self._post]
        rule = self.plasticity.stdp if isinstance(self.plasticity, RewardModulatedSTDP) else self.plasticity
        if isinstance(rule, PairSTDP | TripletSTDP):
            w = np.clip(w, rule.w_min, rule.w_max)
        self.weights = w

    def variable(self, name: str) -> np.ndarray:
        """A copy of variable or parameter ``name`` of the projection's user-defined rule, per synapse in creation order
        (``"w"``: the weights). Event-driven variables are as of each synapse's last event."""
        if name == "w":
            return self.weights
        model = getattr(self.plasticity, "model", None)
        if model is None:
            raise ValueError(f"{self.name} has no user-defined rule (plasticity {type(self.plasticity).__name__}); its weights: .weights")
        if name not in model.states + model.params:
            raise ValueError(f"{self.name}: the rule has no variable {name!r}; variables: {['w'] + model.states}, parameters: {model.params}")
        net = self.network
        if net is None:
            raise RuntimeError(f"{self.name}: the rule's variables exist once the projection is in a network")
        net._ensure_built()
        off = self._rule_offsets[name]
        return net._s.syn_state[off : off + len(self)].copy()

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


# ---------------------------------------------------------------------------------------------------------------------
# Compiled passes of the synapse layout (Network.build): counting sorts and one-pass scans, O(synapses + buckets) each,
# in place of lexsorts, searchsorted grids and per-projection masks. Network's methods document what the arrays mean.
# Large outputs are allocated by NumPy (which asks for huge pages) and filled by the kernels: first touches of fresh
# memory are a good part of the cost at millions of synapses.


def _counting_order(key: np.ndarray, n_keys: int) -> tuple[np.ndarray, np.ndarray]:
    """``(order, starts)``: ``np.argsort(key, kind="stable")`` by counting (``key`` in ``[0, n_keys)``);
    ``starts[b]``: the number of entries with a key below ``b`` (``b`` = 0 .. ``n_keys``)."""
    order, starts = np.empty(key.size, np.int64), np.zeros(n_keys + 1, np.int64)
    _counting_sort(key, starts, order)
    return order, starts


@njit(cache=True, nogil=True)
def _counting_sort(key, starts, order):
    """Fills ``starts`` (zeroed, ``n_keys + 1``) and ``order`` (``key.size``) for :func:`_counting_order`."""
    ordered = True
    for i in range(key.size):
        starts[key[i] + 1] += 1
        if i and key[i] < key[i - 1]:
            ordered = False
    for b in range(starts.size - 1):
        starts[b + 1] += starts[b]
    if ordered:  # already sorted (one projection, or projections laid out in turn)
        for i in range(key.size):
            order[i] = i
        return
    pos = starts[:-1].copy()
    for i in range(key.size):
        b = key[i]
        order[pos[b]] = i
        pos[b] += 1


@njit(cache=True, nogil=True)
def _delay_extent(delay_ms, dt):
    """``(first synapse whose delay is off the step grid or -1, largest delay in steps)``, as ``delay_steps``."""
    tol = 1e-9 * max(1.0, dt)
    top = 0
    for i in range(delay_ms.size):
        k = np.rint(delay_ms[i] / dt)
        if not abs(k * dt - delay_ms[i]) <= tol:
            return i, top
        top = max(top, np.int64(k))
    return -1, top


@njit(cache=True, nogil=True)
def _count_segments(pre, pre0, delay_ms, dt, step, post, post0, width, starts, last):
    """Add one projection's synapses to the counts of their segments ``(pre0 + pre) * width + delay steps`` (at
    ``starts[b + 1]``; ``step`` >= 0: every delay is that many steps); False once a target is below the last one seen
    in its segment (``last``, across projections)."""
    ascending = True
    for i in range(pre.size):
        b = (pre0 + pre[i]) * width + (step if step >= 0 else np.int64(np.rint(delay_ms[i] / dt)))
        starts[b + 1] += 1
        if post0 + post[i] < last[b]:
            ascending = False
        last[b] = post0 + post[i]
    return ascending


@njit(cache=True, nogil=True)
def _place_synapses(pre, pre0, delay_ms, dt, step, post, post0, w, width, k, chan, pos, inv, syn_post, syn_w, syn_chan, syn_proj):
    """One projection's synapses into the next free places of their segments, in input order (a stable counting pass).
    ``syn_chan`` and ``syn_proj`` come zeroed (fresh pages, not touched until written): zeros are not written."""
    for i in range(pre.size):
        b = (pre0 + pre[i]) * width + (step if step >= 0 else np.int64(np.rint(delay_ms[i] / dt)))
        j = pos[b]
        pos[b] = j + 1
        inv[i] = j
        syn_post[j] = post0 + post[i]
        syn_w[j] = w[i]
        if chan != 0:
            syn_chan[j] = chan
        if k != 0:
            syn_proj[j] = k


@njit(cache=True, nogil=True)
def _sort_segments(starts, inv, syn_post, syn_w, syn_chan, syn_proj, order):
    """Sort each segment by target, stably (ties keep their input order), carrying the synapses' other arrays along
    and updating their places ``inv`` (``order``: room for the input synapse at each place). Segments already in
    order are left as they are."""
    for i in range(inv.size):
        order[inv[i]] = i
    for b in range(starts.size - 1):
        a, e = starts[b], starts[b + 1]
        ordered = True
        for j in range(a + 1, e):
            if syn_post[j] < syn_post[j - 1]:
                ordered = False
                break
        if ordered:
            continue
        perm = np.argsort(syn_post[a:e], kind="mergesort") + a
        post, w, chan, proj, src = syn_post[perm], syn_w[perm], syn_chan[perm], syn_proj[perm], order[perm]
        syn_post[a:e], syn_w[a:e], syn_chan[a:e], syn_proj[a:e] = post, w, chan, proj
        for j in range(e - a):
            inv[src[j]] = a + j


def _synapse_layout(parts, n_rows: int, D: int, dt: float):
    """The synapses of all projections in CSR order: by presynaptic neuron, then delay (steps), then target, ties in
    input order (``np.lexsort((post, delay, pre))``).

    ``parts``: per projection ``(pre_index, pre_start, delay_ms, post_index, post_start, weights, channel)``.
    Returns ``(inv, starts, syn_post, syn_w, syn_chan, syn_proj)``: ``inv[i]`` the place of input synapse ``i``
    (projections concatenated), ``starts[i * (D + 1) + d]`` the first place of segment ``(i, d)``.

    A stable counting pass by (pre, delay); then, unless the targets already ascended inside every segment in input
    order (one projection drawn row by row, projections onto disjoint ascending targets), a stable sort of each
    segment by target.
    """
    width = D + 1
    sizes = [p[0].size for p in parts]
    bounds = np.cumsum([0] + sizes).astype(np.int64)
    S = int(bounds[-1])
    starts = np.zeros(n_rows * width + 1, np.int64)
    last = np.full(n_rows * width, -1, np.int64)
    # one delay for a whole projection (given as a scalar: a view of one value) is converted once
    steps = [int(np.rint(p[2][0] / dt)) if p[2].size and p[2].strides[0] == 0 else -1 for p in parts]
    ascending = True
    for (pre, pre0, delay_ms, post, post0, _, _), step in zip(parts, steps):
        ascending &= _count_segments(pre, pre0, delay_ms, dt, step, post, post0, width, starts, last)
    del last
    np.cumsum(starts, out=starts)
    pos = starts[:-1].copy()
    # 32-bit places and targets where they fit: fewer bytes of fresh memory to touch per synapse
    inv = np.empty(S, np.int32 if S < 2**31 else np.int64)
    syn_post = np.empty(S, np.int32 if n_rows < 2**31 else np.int64)
    syn_w, syn_chan, syn_proj = np.empty(S, np.float64), np.zeros(S, np.int64), np.zeros(S, np.int64)
    for k, (pre, pre0, delay_ms, post, post0, w, chan) in enumerate(parts):
        sl = slice(bounds[k], bounds[k + 1])
        _place_synapses(pre, pre0, delay_ms, dt, steps[k], post, post0, w, width, k, chan, pos, inv[sl], syn_post, syn_w, syn_chan,
                        syn_proj)
    if not ascending:
        _sort_segments(starts, inv, syn_post, syn_w, syn_chan, syn_proj, np.empty(S, np.int64))
    return inv, starts, syn_post, syn_w, syn_chan, syn_proj


@njit(cache=True, nogil=True)
def _inverse(inv, order):
    for i in range(inv.size):
        order[inv[i]] = i


@njit(cache=True, nogil=True)
def _segment_grid(starts, n_rows, width):
    """``off[i, d] = starts[i * (width - 1) + d]`` (``d`` = 0 .. ``width - 1``): each row of the CSR table repeats the
    next row's first entry as its end."""
    off = np.empty((n_rows, width), np.int64)
    for i in range(n_rows):
        for d in range(width):
            off[i, d] = starts[i * (width - 1) + d]
    return off


@njit(cache=True, nogil=True)
def _target_index(syn_chan, syn_post, izh, stride, ch_exc, ch_inh, out):
    """``out[s] = row * stride + post``: row 0 (excitatory), 1 (inhibitory), 3 (direct) or 2 (any synapse onto an
    Izhikevich neuron, ``izh[post]``)."""
    for s in range(syn_post.size):
        c = syn_chan[s]
        row = 0 if c == ch_exc else (1 if c == ch_inh else 3)
        if izh[syn_post[s]]:
            row = 2
        out[s] = row * stride + syn_post[s]


@njit(cache=True, nogil=True)
def _frame_keys(syn_tgt, syn_post, npop, keys, n_v, fk, direct):
    """Frame key of each synapse (``keys[pop] + row`` for the x1 / x2 rows of a framed population, else 0) and the
    populations with synapses onto ``v`` itself (row 3)."""
    for s in range(syn_tgt.size):
        row = np.int64(syn_tgt[s]) // n_v
        p = npop[syn_post[s]]
        if keys[p] > 0 and row < 2:
            fk[s] = keys[p] + row
        if row == 3:
            direct[p] = 1


@njit(cache=True, nogil=True)
def _dense_flags(off, tgt, min_len):
    """1 where the segment ``off[i, d] .. off[i, d + 1]`` has ``min_len`` or more targets ascending by one."""
    rows, width = off.shape
    dense = np.zeros((rows, width - 1), np.uint8)
    for i in range(rows):
        for d in range(width - 1):
            a, b = off[i, d], off[i, d + 1]
            if b - a < min_len:
                continue
            ok = True
            for j in range(a, b - 1):
                if np.int64(tgt[j + 1]) - np.int64(tgt[j]) != 1:
                    ok = False
                    break
            if ok:
                dense[i, d] = 1
    return dense


@njit(cache=True, nogil=True)
def _frame_codes(off, fk, code):
    """Codes 1 / 2 of segments into framed currents become 3 / 4 (one frame key throughout) or 5 (several keys, or
    some synapses elsewhere)."""
    rows, width = off.shape
    for i in range(rows):
        for d in range(width - 1):
            a, b = off[i, d], off[i, d + 1]
            if b <= a:
                continue
            kmax = kmin = fk[a]
            for j in range(a + 1, b):
                kmax = max(kmax, fk[j])
                kmin = min(kmin, fk[j])
            if kmax > 0:
                code[i, d] = 5 if kmax != kmin else code[i, d] + 2


@njit(cache=True, nogil=True)
def _fuse_segments(off, pre_off, syn_proj, fusable, syn_fk, repeats, seg_code, pre_code, seg_proj):
    """Segments (pre, d) whose synapses are all fusable plastic synapses of one projection and make up the whole
    presynaptic event list (pre, axonal delay d): code 6 (7 when framed), their event list skipped (``pre_code`` 0).

    A segment's synapses are checked up to the start of the next non-empty segment among the delays of the event
    lists (``d`` <= ``DA``), as the vectorised construction before this one did (``reduceat`` over those starts): the
    last such segment of a neuron with longer delays beyond it stays unfused. Conservative (both passes give the same
    numbers), and the layout stays the one it was."""
    rows = off.shape[0]
    DA = pre_off.shape[1] - 2
    pi, pd = -1, -1  # the pending non-empty segment, decided once the next one's start is known
    for i in range(rows + 1):
        for d in range(DA + 1):
            if i < rows:
                a = off[i, d]
                if off[i, d + 1] <= a:
                    continue
                end = a
            else:  # past the last row: the pending segment reaches to the last synapse
                if d > 0:
                    break
                end = syn_proj.size
            if pi >= 0:
                _fuse_one(pi, pd, end, off, pre_off, syn_proj, fusable, syn_fk, repeats, seg_code, pre_code, seg_proj)
            pi, pd = i, d


@njit(cache=True, nogil=True)
def _fuse_one(i, d, end, off, pre_off, syn_proj, fusable, syn_fk, repeats, seg_code, pre_code, seg_proj):
    a, b = off[i, d], off[i, d + 1]
    if repeats[i] or seg_code[i, d] == 0 or pre_off[i, d + 1] - pre_off[i, d] != b - a:
        return
    pr = syn_proj[a]
    framed = False
    for j in range(a, end):
        if not fusable[j] or syn_proj[j] != pr:
            return
        framed |= syn_fk[j] > 0
    seg_code[i, d] = 7 if framed else 6
    pre_code[i, d] = 0
    seg_proj[i, d] = pr


@njit(cache=True, nogil=True)
def _projection_extents(proj_of, pre, post, axon, dend, P):
    """Per projection: [largest axonal delay, largest dendritic delay, first and last pre, first and last post] of its
    plastic synapses, and their number."""
    ext = np.zeros((P, 6), np.int64)
    count = np.zeros(P, np.int64)
    for e in range(proj_of.size):
        k = proj_of[e]
        if count[k] == 0:
            ext[k, 0], ext[k, 1], ext[k, 2], ext[k, 3], ext[k, 4], ext[k, 5] = axon[e], dend[e], pre[e], pre[e], post[e], post[e]
        else:
            ext[k, 0], ext[k, 1] = max(ext[k, 0], axon[e]), max(ext[k, 1], dend[e])
            ext[k, 2], ext[k, 3] = min(ext[k, 2], pre[e]), max(ext[k, 3], pre[e])
            ext[k, 4], ext[k, 5] = min(ext[k, 4], post[e]), max(ext[k, 5], post[e])
        count[k] += 1
    return ext, count
