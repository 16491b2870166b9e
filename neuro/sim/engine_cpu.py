r"""The compiled time loop (Numba): many steps per call, event-driven spike delivery, plasticity at events.

Order within step ``t`` (Brian2's schedule, so spike trains can be compared step for step):

0. synapse / modulator samples (:class:`~neuro.sim.SynapseMonitor`) take the state at time ``t dt``;
1. every population integrates its state over one step (inputs delivered at the end of the
   previous step are already in its synaptic variables);
2. thresholds and resets; the step's spikes go into a ring buffer of the last ``D + 1`` steps;
   the STDP traces move to step ``t`` (see below);
3. a. presynaptic plasticity: plastic synapses whose spike reaches them now (the spike of step
      ``t - a``, ``a`` the axonal part of the delay) apply their rule (pair, triplet, or eligibility);
   b. delivery: for each delay ``d = 0 .. D``, the outgoing synapses with that delay of the
      neurons that spiked at step ``t - d`` are visited (CSR sorted by presynaptic neuron, then
      delay) — the cost grows with spike deliveries, not with synapses. A segment (neuron, delay)
      whose synapses are all plastic synapses of one pair or eligibility projection without dendritic
      delay runs each synapse's presynaptic event (3a's law) and then its delivery in this one pass
      (``seg_code`` 6 / 7, ``Network._fuse_pre_events``): the same numbers, one visit instead of two;
4. postsynaptic plasticity: plastic synapses that the spike of step ``t - k`` of their
   postsynaptic neuron reaches now (``k`` the dendritic part of the delay);
5. periodic rules (eligibility -> weight), modulator decay, state recording.

STDP traces. A pair rule's presynaptic trace at a synapse is the sum (all-to-all) or the latest
(nearest) of :math:`e^{-(t - t_k)/\tau_+}` over the presynaptic spikes that have *reached the synapse*,
i.e. over emission times shifted by the synapse's axonal delay :math:`a`; it is therefore the
presynaptic *neuron's* trace :math:`X_i` read :math:`a` steps back, :math:`x_{pre}(t) = X_i(t - a)`
(likewise :math:`x_{post}(t) = Y_j(t - k)` with the dendritic delay :math:`k`). So the traces are kept
per neuron, in a ring of the last ``max delay + 2`` steps per plastic projection and trace ("trace
banks"): each step they decay by :math:`e^{-dt/\tau}` (values below 1e-290 set to 0) and this step's
spikes set them to 1 (nearest) or add 1. A synapse is touched only at its events: a presynaptic
arrival at step :math:`t` reads :math:`Y_j(t - 1 - k)\,e^{-dt/\tau_-}` (the postsynaptic spikes that
reached it before this step; those reaching it now are handled after, in 4) and a postsynaptic arrival
reads :math:`X_i(t - a)` (this step's presynaptic arrivals included): the same-step order of the
per-synapse formulation, at a cost per step of one multiply per neuron of each bank (like the membrane
update) plus one visit per synaptic event. The triplet rule keeps four banks (r1, r2, o1, o2) and
reads r2 and o2 as they were before the current spike's jump.

Current-based LIF neurons keep their synaptic currents in decaying frames (``Network._build_frames``): the
update reads them and writes nothing back, inputs are scaled into the frame as they arrive, and the stored values
are renormalised once per frame period. Their refractory neurons wait in a queue per population, in the order
their periods end, "parked" (potential kept aside, ``v = -inf``, which the update leaves frozen and never lets
fire), so the vectorised update loop reads and writes no counter and a refractory step costs nothing; the
counters in ``refrac`` and the potentials are exact at every run's end.

Threads (``Network(threads=N)``, :func:`run_threads`). N workers, one thread each for the whole run, run the step
loop together and meet at spin barriers between its phases (no parallel region is opened per phase). Steps 1-2:
each population of at least ``2 x 4096`` neurons is cut into up to N chunks of neurons (on multiples of 64 neurons,
so no two threads write one cache line of spike flags), chunk ``c`` on worker ``c``; smaller populations are one
chunk each, spread over the workers. Each neuron's update reads and writes only its own state, and its random
numbers come from its own counter; each chunk's spikes are collected on its worker and appended in population and
chunk order, so in the order of one thread. Step 3b is partitioned by target neuron: worker ``p`` adds only into the
synaptic variables of the ``p``-th N-th of the neurons (those it has just updated, in its core's cache), finding
its part of each segment by binary search (a segment's synapses ascend by target), so every target gets its inputs
in one thread's order. Networks with fused plastic segments (``seg_code`` 6, 7) deliver on worker 0; spike sources,
recording, plasticity and monitors run on worker 0 while the others wait. So the spikes and the state are the bits of
one thread. A step waits for its slowest worker: the threads help only where each gets a core of its own.

Random numbers come from a counter-based hash of (seed, step, stream, neuron) (:mod:`neuro.ops.rng_cpu`,
filled for a whole population per step in a vectorised loop), so a run gives the same spikes whatever
its chunking, and a saved network resumes its random streams exactly.
"""

from __future__ import annotations

import inspect
import math

import numpy as np
from numba import njit

from ..ops.atomics import barrier
from ..ops.fastmath import exp64
from ..ops.fnptr import call_event, call_kernel
from ..ops.lif.step_cpu import discrete_lif_update
from ..ops.rng_cpu import fill_normal, fill_uniform, geometric_at
from ..ops.stdp.cpu import pair_on_post, pair_on_pre, triplet_on_post, triplet_on_pre

# population models
POISSON, GENERATOR, CUBA, COBA, IZHIKEVICH = 0, 1, 2, 3, 4
DISCRETE_LIF = 5  # neuro.nn's discrete LIF step (neuro.sim.discrete.DiscreteLIF), for trained networks
GENERIC = 6  # a user-defined model (neuro.dynamics.NeuronModel): its generated kernel, called through a function pointer
# receptor channels
CH_EXC, CH_INH, CH_DIRECT = 0, 1, 2
# plasticity kinds
PL_NONE, PL_PAIR, PL_ELIGIBILITY, PL_TRIPLET = 0, 1, 2, 3
# a user-defined rule (neuro.dynamics.SynapseModel): its generated functions, called through function pointers;
# proj_par[pr]: 0 kernel slot, 1 offset of its address table in syn_tab, 2 period (steps, 0: none), 3 clock-driven (1/0),
# 4 synapses, 5 (summed) variables (1/0), 29 delivery before the update (1/0); its loops are syn_loop_fns[3 slot + 0, 1, 2]
# (clock-driven, periodic, summed)
PL_GENERIC = 4
# recordable variables
VAR_V, VAR_U, VAR_X1, VAR_X2 = 0, 1, 2, 3
VAR_GEN = 4  # a variable of a user-defined model kept in gen_state (st_idx: its position there)
# recordable synapse / modulator quantities (SynapseMonitor, ModulatorMonitor)
SV_W, SV_ELIG, SV_X_PRE, SV_X_POST, SV_MOD = 0, 1, 2, 3, 4
SV_GEN = 5  # a variable of a user-defined rule (sm_idx: its position in syn_state)

# Traces below this are set to 0 when decayed: a trace that would go on shrinking reaches the subnormal
# range, where each multiplication costs ~100 cycles (a 10x slowdown of plastic networks with long
# silences was measured). No weight can feel it: eta * 1e-290 is 1e-274 ulps of a weight of order 1.
_TINY = 1e-290
NEVER_STEP = 2**63 - 1  # later than any step a Poisson neuron is drawn for (at most t + 1 + NEVER)


@njit(cache=True)
def _ring_seen(ntr, bank_base, bank_len, bank_n, bank_decay, b, step, loc):
    """The value of step ``step`` decayed by one step (what a synapse sees one step later), subnormals as 0."""
    y = ntr[bank_base[b] + (step % bank_len[b]) * bank_n[b] + loc] * bank_decay[b]
    return y if abs(y) >= _TINY else 0.0


@njit(cache=True)
def _row_tables(t, bank_base, bank_len, bank_n, rows_now, rows_prev):
    """``rows_now[b, k]``: offset in ``ntr`` of bank ``b``'s row of step ``t - k``; ``rows_prev[b, k]``: of step ``t - 1 - k``,
    for ``k < len(b)`` (one modulo per bank and step, none per synaptic event)."""
    for b in range(bank_base.shape[0]):
        L, nb, base = bank_len[b], bank_n[b], bank_base[b]
        r = t % L
        for k in range(L):
            rows_now[b, k] = base + r * nb
            r = r - 1 if r > 0 else L - 1
            rows_prev[b, k] = base + r * nb


@njit(cache=True)
def _seen(x, e):
    """A trace value decayed by one step (factor ``e``), subnormals as 0."""
    y = x * e
    return y if abs(y) >= _TINY else 0.0


@njit(cache=True)
def _advance_traces(t, ntr, bank_base, bank_len, bank_n, bank_lo, bank_decay, bank_nearest, hist_row, nspk):
    """Step ``t`` of every trace bank: the row of step ``t - 1`` decayed by one step (subnormals as 0) into the row
    of step ``t``, then this step's spikes (``hist_row[:nspk]``) set the trace to 1 (nearest) or add 1 (all-to-all)."""
    for b in range(bank_base.shape[0]):
        L, nb, e = bank_len[b], bank_n[b], bank_decay[b]
        src = ntr[bank_base[b] + ((t - 1) % L) * nb : bank_base[b] + ((t - 1) % L) * nb + nb]
        dst = ntr[bank_base[b] + (t % L) * nb : bank_base[b] + (t % L) * nb + nb]
        for k in range(nb):
            y = src[k] * e
            dst[k] = y if abs(y) >= _TINY else 0.0
        lo = bank_lo[b]
        nearest = bank_nearest[b] != 0.0
        for q in range(nspk):
            k = hist_row[q] - lo
            if 0 <= k < nb:
                dst[k] = 1.0 if nearest else dst[k] + 1.0


@njit(inline="always", cache=True)
def _projection(pr, proj_par, proj_kind, proj_bank, rows_now, rows_prev, bank_decay, elig_scale):
    """What the plastic loops keep of their current projection ``pr`` (views, made when it changes): its parameter
    row, kind, trace banks, this step's rows of the presynaptic trace and previous rows of the postsynaptic one (o1 for
    the triplet rule), that trace's one-step decay, the sign of an eligibility rule's presynaptic law (the unbounded
    pair law at w = 0: -eta_minus x_post, + if symmetric) and the weight of an eligibility increment made now."""
    pp = proj_par[pr]
    kind = proj_kind[pr]
    bk = proj_bank[pr]
    post = max(bk[2] if kind == PL_TRIPLET else bk[1], 0)  # a user-defined rule has no trace bank (nor, maybe, the network)
    dec = bank_decay[post] if bank_decay.shape[0] > 0 else 1.0
    return pp, kind, bk, rows_now[bk[0]], rows_prev[post], dec, 1.0 if pp[9] > 0.5 else -1.0, elig_scale[pr]


@njit(cache=True)
def _sample_synapses(t, sm_idx, sm_kind, sm_aux, syn_w, syn_proj, proj_kind, proj_par, elig, elig_post, syn_postpos, modulator,
                     period_last, dt, ntr, bank_base, bank_len, bank_n, bank_decay, syn_state, row):
    """One row of synapse / modulator samples at the start of step ``t`` (traces and eligibility as seen then, nothing stored).

    ``sm_aux[c]``: (trace bank, neuron within the bank, delay part) of a trace column; bank -1 where there is none.
    """
    now = t * dt
    for c in range(sm_idx.shape[0]):
        i = sm_idx[c]
        kind = sm_kind[c]
        if kind == SV_MOD:
            row[c] = modulator[i]
        elif kind == SV_GEN:
            row[c] = syn_state[i]
        elif kind == SV_W:
            row[c] = syn_w[i]
        elif kind == SV_ELIG:
            pr = syn_proj[i]
            pp = proj_par[pr]
            if proj_kind[pr] != PL_ELIGIBILITY:
                row[c] = 0.0
            elif pp[28] != 0.0:  # periodic decay: stored as is until the next update
                row[c] = elig[i] + elig_post[syn_postpos[i]]
            else:
                row[c] = (elig[i] + elig_post[syn_postpos[i]]) * math.exp(-(now - period_last[pr]) / pp[10])
        else:  # x_pre / x_post: the spikes that reached the synapse before this step, decayed to now
            b = sm_aux[c, 0]
            row[c] = 0.0 if b < 0 else _ring_seen(ntr, bank_base, bank_len, bank_n, bank_decay, b, t - 1 - sm_aux[c, 2], sm_aux[c, 1])


@njit(cache=True)
def _extra_drive(lo, hi, t, seed, sigma, cur_col, cur_table, cur_t0, noise_kind, xdrive):
    """Noise and injected-table drive of neurons ``lo..hi-1`` at step ``t``, written to ``xdrive[lo:hi]``.

    ``noise_kind`` 1: Gaussian of std ``sigma``; 2: uniform of the same std (half-width ``sqrt(3) sigma``).
    The random numbers are filled for the whole range at once (:mod:`neuro.ops.rng_cpu`, vectorised);
    stream 1 (normal) or 2 (uniform) of the counter (seed, step, neuron).
    """
    xd, sg, cc = xdrive[lo:hi], sigma[lo:hi], cur_col[lo:hi]
    if noise_kind == 2:
        fill_uniform(seed, t, 2, lo, hi, xdrive)
        for k in range(hi - lo):
            xd[k] = sg[k] * 1.7320508075688772 * (2.0 * xd[k] - 1.0)
    else:
        fill_normal(seed, t, 1, lo, hi, xdrive)
        for k in range(hi - lo):
            xd[k] *= sg[k]
    row = t - cur_t0
    if 0 <= row < cur_table.shape[0]:
        for k in range(hi - lo):
            c = cc[k]
            if c >= 0:
                xd[k] += cur_table[row, c]


_PB = 64  # Poisson neurons per block of the next-spike minimum


@njit(cache=True)
def all_finite(a, allow_neg_inf):
    """Whether every value of ``a`` is finite (``-inf`` allowed with ``allow_neg_inf``: parked refractory neurons); one
    pass, no temporaries (Network checks the state after every chunk of steps)."""
    for x in a:
        if not (abs(x) < np.inf or (allow_neg_inf and x == -np.inf)):
            return False
    return True


@njit(cache=True)
def _poisson_update(lo, hi, t, seed, dt, rate, pnext, pblk, hist_row, nspk):
    """Poisson neurons ``lo..hi-1``: those whose next spike is drawn for step ``t`` (``pnext``) fire and draw the next
    one, ``t + 1 + g`` with ``g`` geometric of success ``rate dt`` (stream 0 of the counter at step ``t``): the
    same law as a spike in each step with probability ``rate dt``. ``pblk[b]``: the earliest ``pnext`` of neurons
    ``64 b .. 64 b + 63`` (other models' neurons count as never), so a step reads one minimum per 64 neurons and
    scans only the blocks that fire; spikes are appended in ascending neuron order."""
    for b in range(lo // _PB, (hi + _PB - 1) // _PB):
        if pblk[b] != t:
            continue
        b_lo, b_hi = b * _PB, min((b + 1) * _PB, pnext.shape[0])
        m = NEVER_STEP
        for i in range(b_lo, b_hi):
            nx = pnext[i]
            if nx == t and lo <= i < hi:
                hist_row[nspk] = i
                nspk += 1
                nx = t + 1 + geometric_at(seed, t, 0, i, rate[i] * dt)
                pnext[i] = nx
            m = min(m, nx)
        pblk[b] = m
    return nspk


@njit(cache=True)
def poisson_schedule(t0, seed, dt, lo, hi, rate, drawn_rate, refrac):
    """Poisson neurons ``lo..hi-1`` whose next spike is not drawn yet (``refrac <= 0``) or was drawn at another rate
    (``drawn_rate``, their ``u``) draw it from step ``t0``: at ``t0 + g``, ``g`` geometric of success ``rate dt``
    (stream 3 of the counter at step ``t0``). A Poisson neuron's ``refrac`` is the number of steps to its next spike
    plus one, counted from the next step to run (1: it fires in that step); the process is memoryless, so drawing
    anew when the rate changes is exact."""
    for i in range(lo, hi):
        if refrac[i] <= 0 or drawn_rate[i] != rate[i]:
            refrac[i] = 1 + geometric_at(seed, t0, 3, i, rate[i] * dt)
            drawn_rate[i] = rate[i]


@njit(cache=True)
def _collect_spikes(lo, hi, fired, hist_row, nspk):
    """Append the neurons ``lo..hi-1`` whose ``fired`` byte is set to ``hist_row`` from position ``nspk``; returns the new count.

    ``fired`` is a ``uint8`` array whose length is a multiple of 8: it is scanned 32 flags at a time
    (four 64-bit words or-ed), so a step with few spikes costs about n / 32 tests.
    """
    words = fired.view(np.uint64)
    i = lo
    while i < hi and (i & 31) != 0:
        if fired[i]:
            hist_row[nspk] = i
            nspk += 1
        i += 1
    while i + 32 <= hi:
        w = i >> 3
        if (words[w] | words[w + 1] | words[w + 2] | words[w + 3]) != 0:
            for j in range(i, i + 32):
                if fired[j]:
                    hist_row[nspk] = j
                    nspk += 1
        i += 32
    while i < hi:
        if fired[i]:
            hist_row[nspk] = i
            nspk += 1
        i += 1
    return nspk


@njit(cache=True)
def _cuba_update(lo, hi, par, v, theta, x1, x2, c1, c2, renorm, f1, f2, i_ext, xdrive, has_iext, has_extra, fired):
    """One step of current-based LIF neurons lo..hi-1 (exact propagators in ``par``), every neuron integrated.

    The synaptic currents are read in their frames (``x1 c1 = I_e p_em``, see ``Network._build_frames``) and not
    written, except at the end of a frame period (``renorm``: ``x *= f``, values below 1e-290 to 0). Refractory
    neurons are parked or put back by :func:`_put_back_frozen` (see run_steps). The loop has no data-dependent branch (selects only), so it
    vectorises; spikes are flagged in ``fired`` and collected by :func:`_collect_spikes`. ``has_iext`` /
    ``has_extra``: whether the population has an injected constant current / noise or a current array this run;
    without either, the loop reads no drive array (a zero drive adds nothing: same bits).
    """
    # par: v_rest, v_th, v_reset, t_ref_steps, p_mm, p_em, p_ee, p_im, p_ii, theta decay, theta jump
    v_rest, v_th, v_reset = par[0], par[1], par[2]
    p_mm = par[4]
    theta_decay, theta_jump = par[9], par[10]
    adaptive = theta_jump != 0.0
    # loops over slices (not over lo..hi of the whole arrays): LLVM vectorises only this form
    vv, th_, e1, e2, ie, xd, fr = v[lo:hi], theta[lo:hi], x1[lo:hi], x2[lo:hi], i_ext[lo:hi], xdrive[lo:hi], fired[lo:hi]
    driven = has_iext or has_extra
    for k in range(hi - lo):
        vi = vv[k]
        a1 = e1[k]
        a2 = e2[k]
        if driven:  # loop-invariant: the loop is compiled once per case
            drive = ie[k] if has_iext else 0.0
            if has_extra:
                drive += xd[k]
            vf = v_rest + drive + (vi - v_rest - drive) * p_mm + a1 * c1 + a2 * c2
        else:
            vf = v_rest + (vi - v_rest) * p_mm + a1 * c1 + a2 * c2
        if adaptive:  # intrinsic plasticity: the threshold rises at each spike and relaxes back
            th = th_[k] * theta_decay
            fire = vf > v_th + th
            th_[k] = th + theta_jump if fire else th
        else:
            fire = vf > v_th
        vv[k] = v_reset if fire else vf
        fr[k] = fire
    if renorm:  # end of the frame period: the stored values move to the next period's frame (a separate loop: a
        # branch inside the one above, even loop-invariant, was measured to stop it vectorising in the engine)
        for k in range(hi - lo):
            y1 = e1[k] * f1
            y2 = e2[k] * f2
            e1[k] = y1 if abs(y1) >= _TINY else 0.0
            e2[k] = y2 if abs(y2) >= _TINY else 0.0


@njit(cache=True, error_model="numpy")  # no zero-division check: a branch in the loop would stop it vectorising
def _coba_update(lo, hi, dt, par, v, x1, x2, refrac, i_ext, xdrive, fired):
    """One step of conductance-based LIF neurons lo..hi-1 (exponential Euler, :mod:`neuro.ops.coba_lif.reference`).

    Branch-free with refractory counters (selects only) and :func:`~neuro.ops.fastmath.exp64` for the membrane's
    relaxation factor, so the loop vectorises (``math.exp`` would be a scalar libm call per neuron without SVML);
    spikes are flagged in ``fired``. The GPU kernel computes the same expression with the same exponential.
    """
    # par: v_rest, v_th, v_reset, t_ref_steps, tau_m, exp(-dt/tau_e), exp(-dt/tau_i), e_e, e_i, -, -, pin
    # pin (par[11]): jumps of v that arrive in the spike step or while refractory are lost, as Brian2's
    # (unless refractory) and NEST's: a neuron refractory in the previous step starts from v_reset (and a spike
    # counts at least one refractory step, so that the spike step's jumps are lost at t_ref = 0 too)
    v_rest, v_th, v_reset, t_ref, tau_m = par[0], par[1], par[2], np.int64(par[3]), par[4]
    p_e, p_i, e_e, e_i = par[5], par[6], par[7], par[8]
    pin = par[11] != 0.0
    if pin and t_ref < 1:
        t_ref = np.int64(1)
    vv, g1, g2, rf, ie, xd, fr = v[lo:hi], x1[lo:hi], x2[lo:hi], refrac[lo:hi], i_ext[lo:hi], xdrive[lo:hi], fired[lo:hi]
    for k in range(hi - lo):
        drive = ie[k] + xd[k]
        r0 = rf[k]
        r = r0 - 1 if r0 > 0 else r0
        a1 = g1[k]
        a2 = g2[k]
        g_tot = 1.0 + a1 + a2
        v_inf = (v_rest + a1 * e_e + a2 * e_i + drive) / g_tot
        vi = v_reset if (pin and r0 > 0) else vv[k]
        vf = v_inf + (vi - v_inf) * exp64(-dt * g_tot / tau_m)
        free = r <= 0
        vi = vf if free else vi
        g1[k] = a1 * p_e
        g2[k] = a2 * p_i
        fire = free & (vi > v_th)
        vv[k] = v_reset if fire else vi
        rf[k] = t_ref if fire else r
        fr[k] = fire


@njit(cache=True)
def _ring(lo, h, q, size):
    """Index of entry ``q`` of a queue kept as a ring of ``size`` slots from ``lo``, its head at ``h``."""
    k = h + q
    return lo + (k - size if k >= size else k)


@njit(cache=True)
def _hold_frozen(lo, size, h, c, ref_i, v, v_hold, theta, th_hold, adaptive):
    """Save the potential (and threshold) of the ``c`` refractory neurons queued from position ``h`` of a population's ring."""
    for q in range(c):
        i = ref_i[_ring(lo, h, q, size)]
        v_hold[i] = v[i]
        if adaptive:
            th_hold[i] = theta[i]


@njit(cache=True)
def _put_back_frozen(lo, size, h, c, ref_i, v, v_hold, theta, th_hold, theta_decay, adaptive, fired):
    """Frozen neurons keep their potential and do not fire; their threshold only decays."""
    for q in range(c):
        i = ref_i[_ring(lo, h, q, size)]
        v[i] = v_hold[i]
        fired[i] = 0
        if adaptive:
            theta[i] = th_hold[i] * theta_decay


@njit(cache=True)
def _cuba_chunk(lo, hi, t, par, v, theta, x1, x2, c1, c2, renorm, f1, f2, i_ext, xdrive, has_iext, has_extra, fired, parks, ref_i, ref_e,
                v_hold, th_hold, rq, hist_row, nspk):
    """One step of the current-based LIF neurons ``lo..hi-1`` with their refractory queue (a ring in ``ref_i`` / ``ref_e``
    over the same positions, its head and length in ``rq[0]``, ``rq[1]``; see run_steps): the periods ending now,
    the update (:func:`_cuba_update`), the spikes appended to ``hist_row`` from ``nspk`` (returns the new count), and
    the new spikes queued (and parked). Everything it touches belongs to these neurons: a chunk runs it on its thread."""
    size = hi - lo
    adaptive = par[10] != 0.0
    h = rq[0]
    c = rq[1]
    while c > 0 and ref_e[lo + h] <= t:  # refractory periods ending now: integrate again
        if parks:
            i = ref_i[lo + h]
            v[i] = v_hold[i]
        h = h + 1 if h + 1 < size else 0
        c -= 1
    if not parks and c > 0:
        _hold_frozen(lo, size, h, c, ref_i, v, v_hold, theta, th_hold, adaptive)
    _cuba_update(lo, hi, par, v, theta, x1, x2, c1, c2, renorm, f1, f2, i_ext, xdrive, has_iext, has_extra, fired)
    if not parks and c > 0:
        _put_back_frozen(lo, size, h, c, ref_i, v, v_hold, theta, th_hold, par[9], adaptive, fired)
    nspk0 = nspk
    nspk = _collect_spikes(lo, hi, fired, hist_row, nspk)
    t_ref = int(par[3])
    if t_ref > 0 or par[11] != 0.0:  # par[11]: inputs onto v in the spike step are lost (parked even at t_ref 0)
        for q in range(nspk0, nspk):
            i = hist_row[q]
            pos = _ring(lo, h, c, size)
            ref_i[pos] = i
            ref_e[pos] = t + t_ref
            c += 1
            if parks:
                v_hold[i] = v[i]
                v[i] = -np.inf
    rq[0] = h
    rq[1] = c
    return nspk


@njit(cache=True)
def _izhikevich_update(lo, hi, dt, euler, v, u, isyn, i_ext, xdrive, na, nb, nc, nd, fired):
    """One step of Izhikevich neurons lo..hi-1 (two half-steps for v as in his code, or Euler); clears ``isyn``.

    Branch-free update loop (vectorises); spikes are flagged in ``fired`` and collected by :func:`_collect_spikes`.
    """
    half = 0.5 * dt
    vv, uu, isy, ie, xd, fr = v[lo:hi], u[lo:hi], isyn[lo:hi], i_ext[lo:hi], xdrive[lo:hi], fired[lo:hi]
    a_, b_, c_, d_ = na[lo:hi], nb[lo:hi], nc[lo:hi], nd[lo:hi]
    for k in range(hi - lo):
        current = ie[k] + xd[k] + isy[k]
        isy[k] = 0.0
        vi = vv[k]
        ui = uu[k]
        if not euler:
            vi += half * (0.04 * vi * vi + 5.0 * vi + 140.0 - ui + current)
            vi += half * (0.04 * vi * vi + 5.0 * vi + 140.0 - ui + current)
            ui += dt * a_[k] * (b_[k] * vi - ui)
        else:
            dv = 0.04 * vi * vi + 5.0 * vi + 140.0 - ui + current
            ui += dt * a_[k] * (b_[k] * vi - ui)
            vi += dt * dv
        fire = vi >= 30.0
        vv[k] = c_[k] if fire else vi
        uu[k] = ui + d_[k] if fire else ui
        fr[k] = fire


# ---- threads (Network.threads, run_threads). A worker per thread runs the step loop (_steps) for the whole run, and
# the workers meet at spin barriers (neuro.ops.atomics) between the phases of a step; opening a Numba parallel region
# per phase (about 7 us each here) cost a fifth of a 64k-neuron step. Phases of step t (worker 0 alone where no
# chunk is named):
#   head: stop check (spike buffer), periodic and summed code, synapse samples  | barrier
#   integrate: every worker updates its chunks of neurons and collects their spikes into its chunk's place in
#     chunk_buf (a population of at least 2 x 4096 neurons is cut into up to N chunks on multiples of 64 neurons,
#     chunk ch on worker ch % N; a smaller one is one chunk)                     | barrier
#   mid: the chunks' spikes appended to the step's spike list in population and chunk order (ascending neurons:
#     the list of one thread), clock-driven code, spike sources, recording, traces, presynaptic events (3a)
#   deliver (3b): partitioned by target neuron (worker p adds only into the synaptic variables of the p-th N-th of
#     the neurons, its part of each segment cut once per layout by delivery_splits: a segment's synapses ascend by
#     target), so every target gets its inputs in one thread's order             | barriers before and after
#   tail: 3c, postsynaptic events (4), periodic rules, modulators, state recording.
# Networks with fused plastic segments (seg_code 6, 7) deliver on worker 0. Every neuron's update reads and writes
# only its own state and its random numbers come from the counter (seed, step, stream, neuron), so the spikes and
# the state are the bits of one thread whatever the number of threads.
_MIN_CHUNK = 4096  # neurons per thread below which a population is one chunk (a chunk this small is not worth a core)
_ALIGN = 64  # chunk boundaries on multiples of 64 neurons: two threads never write the same cache line of `fired`


@njit(cache=True)
def _n_chunks(size, n_threads):
    """The number of chunks a population of ``size`` neurons is updated in: 1 for small ones."""
    if n_threads <= 1:
        return 1
    return max(1, min(n_threads, size // _MIN_CHUNK))


@njit(cache=True)
def _bound(lo, hi, c, n_chunks):
    """Start of chunk ``c`` of ``n_chunks`` over neurons ``lo..hi-1`` (``c = n_chunks``: ``hi``), on a multiple of 64."""
    if c <= 0:
        return lo
    if c >= n_chunks:
        return hi
    b = lo + (hi - lo) * c // n_chunks
    return min(hi, (b + _ALIGN - 1) // _ALIGN * _ALIGN)


@njit(cache=True)
def _pop_chunks(model, size, n_threads):
    """Chunks of a population: Poisson and discrete-LIF populations are one (they append their spikes as they go, and
    Poisson neurons share blocks of 64 across populations)."""
    if model == POISSON or model == DISCRETE_LIF:
        return 1
    return _n_chunks(size, n_threads)


@njit(cache=True)
def _owner(p, model, ch, nch, n_par):
    """The worker that updates chunk ``ch`` of population ``p``: ``ch`` for a cut population (its neurons' state stays
    in that core's cache for the delivery into the same neurons), one by population for the others (Poisson and
    discrete-LIF populations on worker 0, see _pop_chunks)."""
    if nch > 1:
        return ch % n_par
    if model == POISSON or model == DISCRETE_LIF:
        return 0
    return p % n_par


@njit(cache=True)
def _integrate_chunk(p, ch, nch, t, dt, seed, pop_start, pop_end, pop_model, pop_par, pop_extra, pop_iext, v, u, x1, x2, isyn, xdrive,
                     refrac, i_ext, sigma, rate, na, nb, nc, nd, cur_col, cur_table, cur_t0, pop_fr, fr_P, fr_F, pop_direct, gen_fns,
                     gen_tab, gen_fired, ctab, fired, ref_i, ref_e, v_hold, th_hold, rq, pnext, pblk, out, n_out):
    """Steps 1-2 for chunk ``ch`` of ``nch`` of population ``p``: its drive, its update, its spikes appended to ``out``
    from ``n_out`` in ascending neurons (returns the new count). It touches only the chunk's neurons (and its own
    refractory queue ``rq[p, ch]``), so chunks may run on different threads."""
    model = pop_model[p]
    par = pop_par[p]
    lo = _bound(pop_start[p], pop_end[p], ch, nch)
    hi = _bound(pop_start[p], pop_end[p], ch + 1, nch)
    if pop_extra[p] != 0:  # noise and injected currents, computed apart so the update loops stay tight
        _extra_drive(lo, hi, t, seed, sigma, cur_col, cur_table, cur_t0, pop_extra[p], xdrive)
    if model == POISSON:
        return _poisson_update(lo, hi, t, seed, dt, rate, pnext, pblk, out, n_out)
    if model == CUBA:
        fi = pop_fr[p]
        P = fr_P[fi]
        ph = t % P
        return _cuba_chunk(lo, hi, t, par, v, u, x1, x2, par[5] * fr_F[fi, 0, ph], par[7] * fr_F[fi, 1, ph], ph == P - 1, fr_F[fi, 0, P],
                           fr_F[fi, 1, P], i_ext, xdrive, pop_iext[p] != 0, pop_extra[p] != 0, fired, pop_direct[p] == 0, ref_i, ref_e,
                           v_hold, th_hold, rq[p, ch], out, n_out)
    if model == DISCRETE_LIF:
        return discrete_lif_update(lo, hi, par, v, u, x1, x2, na, i_ext, xdrive, pop_extra[p] != 0, out, n_out)
    if model == COBA:
        _coba_update(lo, hi, dt, par, v, x1, x2, refrac, i_ext, xdrive, fired)
        return _collect_spikes(lo, hi, fired, out, n_out)
    if model == GENERIC:  # its generated kernel, through its address table (moved to the chunk's first neuron, _chunk_tables)
        if nch == 1:
            tab = gen_tab.ctypes.data + np.uint64(8 * int(par[1]))
        else:
            tab = ctab.ctypes.data + np.uint64(8 * ctab.shape[2] * (p * ctab.shape[1] + ch))
        call_kernel(gen_fns[int(par[0])], t, lo, hi - lo, dt, seed, tab)
        return _collect_spikes(lo, hi, gen_fired, out, n_out)
    if model == IZHIKEVICH:  # par: scheme (0 = Izhikevich's two half-steps, 1 = Euler)
        _izhikevich_update(lo, hi, dt, par[0] != 0.0, v, u, isyn, i_ext, xdrive, na, nb, nc, nd, fired)
        return _collect_spikes(lo, hi, fired, out, n_out)
    return n_out


@njit(cache=True)
def _chunk_tables(n_threads, pop_start, pop_end, pop_model, pop_par, gen_tab):
    """The address tables of the chunks of user-defined populations: ``[pop, chunk, entry]``, each the population's table
    (``gen_tab[off:]``, ``par[2]`` entries) moved to the chunk's first neuron: entry 0 (spike flags) by a byte per neuron,
    the others (refractory counters, variables, parameters) by 8 bytes. The kernel keys its random numbers by the
    global neuron (``lo``: the chunk's first)."""
    width = 1
    for p in range(pop_start.shape[0]):
        if pop_model[p] == GENERIC:
            width = max(width, int(pop_par[p, 2]))
    ctab = np.zeros((pop_start.shape[0], max(n_threads, 1), width), dtype=np.uint64)
    for p in range(pop_start.shape[0]):
        if pop_model[p] != GENERIC:
            continue
        off = int(pop_par[p, 1])
        nch = _pop_chunks(GENERIC, pop_end[p] - pop_start[p], n_threads)
        for ch in range(nch):
            shift = np.uint64(_bound(pop_start[p], pop_end[p], ch, nch) - pop_start[p])
            ctab[p, ch, 0] = gen_tab[off] + shift
            for j in range(1, int(pop_par[p, 2])):
                ctab[p, ch, j] = gen_tab[off + j] + shift * np.uint64(8)
    return ctab



@njit(cache=True)
def _first_at_least(x, a, b, value):
    """The first position in ``a .. b`` (ascending ``x[a:b]``) whose value is ``value`` or more (``b`` if none)."""
    while a < b:
        m = (a + b) >> 1
        if x[m] < value:
            a = m + 1
        else:
            b = m
    return a


@njit(inline="always", cache=True)
def _deliver_segment(code, a, b, a0, syn_w, syn_tgt, syn_fk, gk, tgt):
    """Synapses ``a .. b - 1`` of a segment (first synapse ``a0``) of code 1-5 add their weights to their targets: 1 one
    by one, 2 contiguous targets (a loop that vectorises), 3 scaled into one frame, 5 into several frames, 4 contiguous
    and one frame (see run_steps)."""
    if code == 1:
        for s in range(a, b):
            tgt[syn_tgt[s]] += syn_w[s]
    elif code == 2:  # contiguous targets (all-to-all, blocks)
        base = syn_tgt[a]
        dst = tgt[base : base + (b - a)]
        src = syn_w[a:b]
        for k in range(b - a):
            dst[k] += src[k]
    elif code == 3:  # one frame: one factor
        g_seg = gk[syn_fk[a0]]
        for s in range(a, b):
            tgt[syn_tgt[s]] += syn_w[s] * g_seg
    elif code == 5:  # several frames
        for s in range(a, b):
            tgt[syn_tgt[s]] += syn_w[s] * gk[syn_fk[s]]
    else:  # 4: contiguous, one frame
        g_seg = gk[syn_fk[a0]]
        base = syn_tgt[a]
        dst = tgt[base : base + (b - a)]
        src = syn_w[a:b]
        for k in range(b - a):
            dst[k] += src[k] * g_seg


@njit(cache=True)
def delivery_splits(off, syn_post, n_neurons, n_threads):
    """Where each segment (presynaptic neuron, delay) is cut between the workers of the partitioned delivery: for worker
    ``c >= 1`` of ``n_threads``, ``split[i, d, c - 1]`` is the place (from the segment's first synapse) of its first
    synapse onto a neuron of ``c``'s part, ``n_neurons c / n_threads`` and up (a segment's synapses ascend by target).
    Made once per layout and thread count (Network), so a step's delivery does no search: a binary search per spike
    and worker was a chain of dependent loads from memory, most of the delivery's time on 2 threads."""
    nd = off.shape[1] - 1
    split = np.zeros((off.shape[0], nd, max(n_threads - 1, 1)), dtype=np.int32)
    for i in range(off.shape[0]):
        for d in range(nd):
            a0 = off[i, d]
            b0 = off[i, d + 1]
            a = a0
            for c in range(1, n_threads):
                a = _first_at_least(syn_post, a, b0, n_neurons * c // n_threads)
                split[i, d, c - 1] = a - a0
    return split


_TOUCH_TARGETS = 16384  # neurons per worker above which the delivery's pre-pass reads the targets too (rows of 128 KB)


@njit(cache=True)
def _touch_segments(c, n_par, t, D, R, hist_step, hist_n, hist_idx, seg_code, off, syn_split, syn_w, syn_tgt, tgt, out):
    """Reads, before step 3b, what it will read for each spike, spike after spike: the segment's bounds, then the first
    synapse of this worker's part of it, then its targets' synaptic variables. Each is a cache miss (a spiking
    neuron's rows are far apart in memory, its targets spread over the network); as loads that do not depend on each
    other the CPU runs many at once, where in 3b each spike's misses would wait behind that spike's additions. The
    sum of what was read goes to ``out[0]`` (so that the reads are kept)."""
    acc = 0
    for d in range(D + 1):
        src_slot = (t - d) % R
        if hist_step[src_slot] == t - d:
            for q in range(hist_n[src_slot]):
                i = hist_idx[src_slot, q]
                acc += off[i, d] + seg_code[i, d]
    for d in range(D + 1):
        src_slot = (t - d) % R
        if hist_step[src_slot] == t - d:
            for q in range(hist_n[src_slot]):
                i = hist_idx[src_slot, q]
                if seg_code[i, d] != 0:
                    a = off[i, d] if c == 0 else off[i, d] + syn_split[i, d, c - 1]
                    if a < off[i, d + 1]:
                        acc += syn_tgt[a] + (syn_w[a] != 0.0)
    x = 0.0
    for d in range(D + 1 if (tgt.shape[0] // 4) // n_par > _TOUCH_TARGETS else 0):  # (targets that stay in cache: no need)
        src_slot = (t - d) % R
        if hist_step[src_slot] == t - d:
            for q in range(hist_n[src_slot]):
                i = hist_idx[src_slot, q]
                if seg_code[i, d] != 0:
                    a0 = off[i, d]
                    a = a0 if c == 0 else a0 + syn_split[i, d, c - 1]
                    b = off[i, d + 1] if c == n_par - 1 else a0 + syn_split[i, d, c]
                    for s in range(a, b):
                        x += tgt[syn_tgt[s]]
    out[0] = acc + (x != 0.0)


@njit(cache=True)
def _deliver_part(c, n_par, t, D, R, hist_step, hist_n, hist_idx, seg_code, off, syn_split, syn_w, syn_tgt, syn_fk, gk, tgt):
    """Step 3b (segment codes 1-5) by worker ``c`` of ``n_par``: into the synaptic variables of its part of the neurons
    only, the part of each segment given by :func:`delivery_splits`. Returns the synapses visited."""
    ev = 0
    for d in range(D + 1):
        src_slot = (t - d) % R
        if hist_step[src_slot] != t - d:
            continue
        for q in range(hist_n[src_slot]):
            i = hist_idx[src_slot, q]
            code = seg_code[i, d]
            if code == 0:
                continue
            a0 = off[i, d]
            a = a0 if c == 0 else a0 + syn_split[i, d, c - 1]
            b = off[i, d + 1] if c == n_par - 1 else a0 + syn_split[i, d, c]
            if b <= a:
                continue
            ev += b - a
            _deliver_segment(code, a, b, a0, syn_w, syn_tgt, syn_fk, gk, tgt)
    return ev


@njit(inline="always", cache=True)
def _pre_events(late, t, DA, R, hist_step, hist_n, hist_idx, pre_code, pre_off, pre_ev, syn_w, elig, ntr, proj_par, proj_kind, proj_bank,
                rows_now, rows_prev, bank_decay, bank_lo, elig_scale, dt, seed, syn_ev_fns, syn_tab):
    """Presynaptic events of step ``t`` (the spikes of step ``t - a`` reaching synapses of axonal delay ``a``) of the
    projections whose ``delivery`` flag (``proj_par[:, 29]``) equals ``late``: 3a before delivery, 3c after it."""
    cur_pr = -1
    skip = False
    pp, kind, bk, pre_rows, post_rows, post_dec, sign_pre, g = _projection(0, proj_par, proj_kind, proj_bank, rows_now, rows_prev,
                                                                           bank_decay, elig_scale)
    for d in range(DA + 1):
        src_slot = (t - d) % R
        if hist_step[src_slot] != t - d:
            continue
        for q in range(hist_n[src_slot]):
            i = hist_idx[src_slot, q]
            if pre_code[i, d] == 0:  # one byte per (neuron, delay): most spikes have no plastic synapse at most delays
                continue
            for e in range(pre_off[i, d], pre_off[i, d + 1]):
                s = pre_ev[e, 0]
                pr = pre_ev[e, 1]
                if pr != cur_pr:  # per projection and step: its parameters, trace rows and gains (views on change only)
                    cur_pr = pr
                    pp, kind, bk, pre_rows, post_rows, post_dec, sign_pre, g = _projection(pr, proj_par, proj_kind, proj_bank, rows_now,
                                                                                           rows_prev, bank_decay, elig_scale)
                    skip = (pp[29] != 0.0) != late
                if skip:
                    continue
                if kind == PL_GENERIC:  # row: (synapse, projection, its index in the projection, postsynaptic neuron)
                    call_event(syn_ev_fns[2 * int(pp[0])], t, dt, seed, syn_tab.ctypes.data + np.uint64(8 * int(pp[1])), s, pre_ev[e, 2], i,
                               pre_ev[e, 3])
                    continue
                x_post = _seen(ntr[post_rows[pre_ev[e, 3]] + pre_ev[e, 2]], post_dec)  # o1 for the triplet rule
                if kind == PL_ELIGIBILITY:
                    # eligibility is stored as of the projection's last periodic update (period_last):
                    # an increment at `now` counts exp((now - period_last) / tau_c) there
                    elig[s] += (sign_pre * (pp[3] * x_post)) * g
                elif kind == PL_PAIR:
                    syn_w[s], _ = pair_on_pre(syn_w[s], 0.0, x_post, pp)
                else:
                    r2 = _seen(ntr[rows_prev[bk[1], d] + i - bank_lo[bk[1]]], bank_decay[bk[1]])
                    syn_w[s], _, _ = triplet_on_pre(syn_w[s], 0.0, r2, x_post, 0.0, pp)


@njit(cache=True, nogil=True)
def _steps(
    c, n_par,
    t0, n_steps, dt, seed, n_threads,
    pop_start, pop_end, pop_model, pop_par, pop_extra, pop_iext, npop,
    v, u, x1, x2, isyn, xdrive, refrac, i_ext, sigma, rate, na, nb, nc, nd,
    cur_col, cur_table, cur_t0,
    gen_steps, gen_idx, gen_ptr,
    off, syn_w, syn_tgt, syn_proj, tgt, seg_code, seg_proj,
    syn_split,
    pop_fr, fr_P, fr_F, fr_G, syn_fk,
    pop_direct,
    gen_fns, gen_tab, gen_fired, gen_state,
    syn_ev_fns, syn_loop_fns, syn_tab, syn_state,
    proj_kind, proj_par, proj_ptr, proj_syn, elig, elig_post, syn_postpos, proj_bank, proj_shift,
    pre_off, pre_code, pre_ev, post_off, post_ev, post_one, post_pk, post_syn,
    ntr, bank_base, bank_len, bank_n, bank_lo, bank_decay, bank_nearest,
    modulator, mod_decay, period_next, period_last,
    hist_idx, hist_n, hist_step,
    rec_mask, spk_step, spk_idx, spk_count, pop_counts, ev_count,
    st_idx, st_var, st_every, st_out, st_count,
    sm_idx, sm_kind, sm_aux, sm_every, sm_out, sm_count,
    # the run's workspace (run_steps): spike flags, the chunks' spikes and their counts [pop, chunk], frame gains,
    # refractory queues, Poisson schedules, eligibility scales, trace rows, chunk address tables, control, barrier, and per
    # population whether its spikes are recorded (0 none, 1 all, 2 those in rec_mask)
    fired, chunk_buf, chunk_n, gk, ref_i, ref_e, v_hold, th_hold, rq, pnext, pblk, elig_scale, rows_now, rows_prev, ctab, ctl, evs, bar,
    rec_pop,
):
    """The step loop of worker ``c`` of ``n_par`` (see the threads section above; ``n_par = 1``: the whole loop on the
    calling thread). ``ctl[0]``: the steps done (set when the spike buffer fills)."""
    n_pops = pop_start.shape[0]
    R = hist_idx.shape[0]
    D = off.shape[1] - 2
    cap = spk_step.shape[0]
    lead = c == 0
    many = n_par > 1
    any_plastic = pre_ev.shape[0] > 0
    any_clock = False
    any_periodic = False
    any_summed = False
    for pr in range(proj_kind.shape[0]):
        if proj_kind[pr] == PL_GENERIC:
            any_clock = any_clock or proj_par[pr, 3] != 0.0
            any_periodic = any_periodic or proj_par[pr, 2] > 0.0
            any_summed = any_summed or proj_par[pr, 5] != 0.0
    # the partitioned delivery takes the segments of codes 1-5; one with fused plastic events (6, 7) keeps the whole of
    # step 3b on worker 0
    par_deliver = many and not np.any(seg_code >= 6)
    any_pre_list = np.any(pre_code != 0)  # presynaptic events left to 3a (not run in the delivery pass, seg_code 6)
    any_late_list = any_pre_list and np.any(proj_par[:, 29] != 0.0)  # ... of rules delivering before their update (3c)
    # the plastic loops' current projection: its parameter row, kind and trace banks (views made on change only)
    cur_pr = 0
    pp = proj_par[0]
    kind = proj_kind[0]
    bk = proj_bank[0]
    post_rows = np.zeros(1, dtype=np.int64)
    pre_rows = np.zeros(1, dtype=np.int64)
    post_dec = 1.0
    sign_pre = -1.0
    g = 1.0
    DA = pre_off.shape[1] - 2  # largest axonal delay of a plastic synapse
    DD = post_off.shape[1] - 2  # largest dendritic delay
    for k in range(n_steps):
        t = t0 + k
        slot = t % R
        now = t * dt
        if lead:
            # the worst case of one step's recorded spikes must still fit
            if spk_count[0] + hist_idx.shape[1] > cap:  # a row holds a step's spikes: n, plus repeated source spikes
                ctl[0] = k
                ctl[1] = 1
            else:
                # periodic code of user-defined rules, at the start of the steps whose time is a multiple of their period
                if any_periodic:
                    for pr in range(proj_kind.shape[0]):
                        if proj_kind[pr] == PL_GENERIC and proj_par[pr, 2] > 0.0 and t >= period_next[pr]:
                            call_kernel(syn_loop_fns[3 * int(proj_par[pr, 0]) + 1], t, 0, int(proj_par[pr, 4]), dt, seed,
                                        syn_tab.ctypes.data + np.uint64(8 * int(proj_par[pr, 1])))
                            period_next[pr] += int(proj_par[pr, 2])
                # (summed) variables of user-defined rules: their targets set from the synapses, before the neurons' updates
                if any_summed:
                    for pr in range(proj_kind.shape[0]):
                        if proj_kind[pr] == PL_GENERIC and proj_par[pr, 5] != 0.0:
                            call_kernel(syn_loop_fns[3 * int(proj_par[pr, 0]) + 2], t, 0, int(proj_par[pr, 4]), dt, seed,
                                        syn_tab.ctypes.data + np.uint64(8 * int(proj_par[pr, 1])))
                # synapse / modulator samples are the state at time t dt, before this step (as Brian2 records at a step's start)
                if sm_idx.shape[0] > 0 and t % sm_every == 0 and sm_count[0] < sm_out.shape[0]:
                    _sample_synapses(t, sm_idx, sm_kind, sm_aux, syn_w, syn_proj, proj_kind, proj_par, elig, elig_post, syn_postpos,
                                     modulator, period_last, dt, ntr, bank_base, bank_len, bank_n, bank_decay, syn_state,
                                     sm_out[sm_count[0]])
                    sm_count[0] += 1
        if many:
            barrier(bar, n_par)
        if ctl[1] != 0:
            break
        # ---- 1-2: integrate, threshold, reset: each worker its chunks (one worker: the spikes straight into the step's list)
        nspk = 0
        for p in range(n_pops):
            nch = _pop_chunks(pop_model[p], pop_end[p] - pop_start[p], n_threads)
            for ch in range(nch):
                if _owner(p, pop_model[p], ch, nch, n_par) != c:
                    continue
                out = hist_idx[slot] if not many else chunk_buf[_bound(pop_start[p], pop_end[p], ch, nch):]
                n_out = 0 if many else nspk
                got = _integrate_chunk(p, ch, nch, t, dt, seed, pop_start, pop_end, pop_model, pop_par, pop_extra, pop_iext, v, u, x1, x2,
                                       isyn, xdrive, refrac, i_ext, sigma, rate, na, nb, nc, nd, cur_col, cur_table, cur_t0, pop_fr, fr_P,
                                       fr_F, pop_direct, gen_fns, gen_tab, gen_fired, ctab, fired, ref_i, ref_e, v_hold, th_hold, rq, pnext,
                                       pblk, out, n_out)
                chunk_n[p, ch] = got - n_out
                if not many:
                    nspk = got
        if many:
            barrier(bar, n_par)
        if lead:
            if many:  # the chunks' spikes in population and chunk order: ascending neurons, the list of one worker
                for p in range(n_pops):
                    nch = _pop_chunks(pop_model[p], pop_end[p] - pop_start[p], n_threads)
                    for ch in range(nch):
                        a = _bound(pop_start[p], pop_end[p], ch, nch)
                        for q in range(chunk_n[p, ch]):
                            hist_idx[slot, nspk] = chunk_buf[a + q]
                            nspk += 1
            # clock-driven equations of user-defined rules, after the neurons' updates
            if any_clock:
                for pr in range(proj_kind.shape[0]):
                    if proj_kind[pr] == PL_GENERIC and proj_par[pr, 3] != 0.0:
                        call_kernel(syn_loop_fns[3 * int(proj_par[pr, 0])], t, 0, int(proj_par[pr, 4]), dt, seed,
                                    syn_tab.ctypes.data + np.uint64(8 * int(proj_par[pr, 1])))
            # generator spikes for this step
            gp = gen_ptr[0]
            while gp < gen_steps.shape[0] and gen_steps[gp] < t:
                gp += 1
            while gp < gen_steps.shape[0] and gen_steps[gp] == t:
                hist_idx[slot, nspk] = gen_idx[gp]
                nspk += 1
                gp += 1
            gen_ptr[0] = gp
            hist_n[slot] = nspk
            hist_step[slot] = t
            # record spikes and population counts: the populations' spikes counted from their chunks and recorded whole
            # where every neuron is (rec_pop, no lookup per spike); then the spike sources'
            q0 = 0
            for p in range(n_pops):
                cnt = 0
                for ch in range(_pop_chunks(pop_model[p], pop_end[p] - pop_start[p], n_threads)):
                    cnt += chunk_n[p, ch]
                pop_counts[k, p] += cnt
                if rec_pop[p] != 0:
                    r = spk_count[0]
                    for q in range(q0, q0 + cnt):
                        i = hist_idx[slot, q]
                        if rec_pop[p] == 1 or rec_mask[i]:
                            spk_step[r] = t
                            spk_idx[r] = i
                            r += 1
                    spk_count[0] = r
                q0 += cnt
            for q in range(q0, nspk):
                i = hist_idx[slot, q]
                pop_counts[k, npop[i]] += 1
                if rec_mask[i]:
                    r = spk_count[0]
                    spk_step[r] = t
                    spk_idx[r] = i
                    spk_count[0] = r + 1
            # ---- 3: delivery of spikes emitted at t - d, for every delay d
            for pr in range(proj_kind.shape[0]):
                if proj_kind[pr] == PL_ELIGIBILITY:
                    # periodic decay (pp[28]): increments add undecayed until the next update
                    elig_scale[pr] = 1.0 if proj_par[pr, 28] != 0.0 else math.exp((now - period_last[pr]) / proj_par[pr, 10])
            # the per-neuron traces move to step t (decay, then this step's spikes)
            if any_plastic:
                _advance_traces(t, ntr, bank_base, bank_len, bank_n, bank_lo, bank_decay, bank_nearest, hist_idx[slot], nspk)
                _row_tables(t, bank_base, bank_len, bank_n, rows_now, rows_prev)
                cur_pr = -1  # the cached rows and gains below are this step's
            # 3a. presynaptic side of plasticity, when the spike reaches the synapse (axonal delay); before delivery,
            # so a synapse whose delay is all axonal delivers the weight its own arrival just changed (delivery
            # "after_update"; rules delivering "before_update" run theirs after 3b). The postsynaptic trace seen now:
            # the post spikes that reached the synapse before this step (emitted up to t - 1 - dendritic).
            if any_pre_list:
                _pre_events(False, t, DA, R, hist_step, hist_n, hist_idx, pre_code, pre_off, pre_ev, syn_w, elig, ntr, proj_par, proj_kind,
                            proj_bank, rows_now, rows_prev, bank_decay, bank_lo, elig_scale, dt, seed, syn_ev_fns, syn_tab)
            # 3b. delivery of spikes emitted at t - d (total delay d): one indexed add per synapse (codes 3, 4: the weight
            # scaled into its target's frame for step t + 1)
            for fi in range(fr_P.shape[0]):
                ph = (t + 1) % fr_P[fi]
                gk[1 + 2 * fi] = fr_G[fi, 0, ph]
                gk[2 + 2 * fi] = fr_G[fi, 1, ph]
        if par_deliver:  # every worker into its part of the targets
            barrier(bar, n_par)
            _touch_segments(c, n_par, t, D, R, hist_step, hist_n, hist_idx, seg_code, off, syn_split, syn_w, syn_tgt, tgt, evs[8 * c + 1 :])
            evs[8 * c] += _deliver_part(c, n_par, t, D, R, hist_step, hist_n, hist_idx, seg_code, off, syn_split, syn_w, syn_tgt, syn_fk,
                                        gk, tgt)
            barrier(bar, n_par)
        if not lead:
            continue
        if not par_deliver:
            _touch_segments(0, 1, t, D, R, hist_step, hist_n, hist_idx, seg_code, off, syn_split, syn_w, syn_tgt, tgt, evs[1:])
        for d in range(D + 1 if not par_deliver else 0):
            src_slot = (t - d) % R
            if hist_step[src_slot] != t - d:
                continue
            for q in range(hist_n[src_slot]):
                i = hist_idx[src_slot, q]
                code = seg_code[i, d]  # one byte per (neuron, delay): a spike's row of codes is one cache line
                if code == 0:  # no synapse with this delay (long delay tails: most (spike, delay) pairs are empty)
                    continue
                a = off[i, d]
                b = off[i, d + 1]
                ev_count[0] += b - a
                if code < 6:  # codes 1-5: weights added to their targets (_deliver_segment)
                    _deliver_segment(code, a, b, a, syn_w, syn_tgt, syn_fk, gk, tgt)
                else:  # plastic synapses whose presynaptic events are due now: each event, then its delivery (3a's law)
                    pr = seg_proj[i, d]
                    if pr != cur_pr:
                        cur_pr = pr
                        pp, kind, bk, pre_rows, post_rows, post_dec, sign_pre, g = _projection(pr, proj_par, proj_kind, proj_bank, rows_now,
                                                                                               rows_prev, bank_decay, elig_scale)
                    g_seg = gk[syn_fk[a]] if code == 7 else 1.0
                    row = post_rows[0] - proj_shift[pr]  # no dendritic delay: the post trace of step t - 1
                    if kind == PL_ELIGIBILITY:
                        c_pre = sign_pre * pp[3]
                        for s in range(a, b):
                            k_t = syn_tgt[s]
                            elig[s] += (c_pre * _seen(ntr[row + k_t], post_dec)) * g
                            tgt[k_t] += syn_w[s] * g_seg
                    elif pp[29] == 0.0:  # delivery "after_update": the weight just updated
                        for s in range(a, b):
                            k_t = syn_tgt[s]
                            w, _ = pair_on_pre(syn_w[s], 0.0, _seen(ntr[row + k_t], post_dec), pp)
                            syn_w[s] = w
                            tgt[k_t] += w * g_seg
                    else:  # "before_update": the weight found, then the update
                        for s in range(a, b):
                            k_t = syn_tgt[s]
                            w0 = syn_w[s]
                            tgt[k_t] += w0 * g_seg
                            w, _ = pair_on_pre(w0, 0.0, _seen(ntr[row + k_t], post_dec), pp)
                            syn_w[s] = w
        # 3c. presynaptic events of rules that deliver the weight as it was before their update
        if any_late_list:
            _pre_events(True, t, DA, R, hist_step, hist_n, hist_idx, pre_code, pre_off, pre_ev, syn_w, elig, ntr, proj_par, proj_kind,
                        proj_bank, rows_now, rows_prev, bank_decay, bank_lo, elig_scale, dt, seed, syn_ev_fns, syn_tab)
        # ---- 4: postsynaptic side of plasticity, when the spike of step t - d reaches the synapse (dendritic delay d);
        # the presynaptic trace seen now includes this step's arrivals (emitted up to t - axonal delay)
        if any_plastic:
            for d in range(DD + 1):
                src_slot = (t - d) % R
                if hist_step[src_slot] != t - d:
                    continue
                for q in range(hist_n[src_slot]):
                    j = hist_idx[src_slot, q]
                    pr = post_one[j, d]
                    if pr >= 0:  # one pair / eligibility projection: 8 bytes per event instead of a 16-byte row
                        if pr != cur_pr:
                            cur_pr = pr
                            pp, kind, bk, pre_rows, post_rows, post_dec, sign_pre, g = _projection(pr, proj_par, proj_kind, proj_bank, rows_now,
                                                                                                   rows_prev, bank_decay, elig_scale)
                        if kind == PL_ELIGIBILITY:
                            for e in range(post_off[j, d], post_off[j, d + 1]):
                                pk = post_pk[e]
                                elig_post[e] += (pp[2] * ntr[pre_rows[pk >> 24] + (pk & 16777215)]) * g
                        else:
                            for e in range(post_off[j, d], post_off[j, d + 1]):
                                pk = post_pk[e]
                                s = post_syn[e]
                                syn_w[s], _ = pair_on_post(syn_w[s], ntr[pre_rows[pk >> 24] + (pk & 16777215)], 0.0, pp)
                        continue
                    for e in range(post_off[j, d], post_off[j, d + 1]):
                        pr = post_ev[e, 1]
                        if pr != cur_pr:
                            cur_pr = pr
                            pp, kind, bk, pre_rows, post_rows, post_dec, sign_pre, g = _projection(pr, proj_par, proj_kind, proj_bank, rows_now,
                                                                                                   rows_prev, bank_decay, elig_scale)
                        if kind == PL_GENERIC:  # row: (synapse, projection, its index in the projection, presynaptic neuron)
                            call_event(syn_ev_fns[2 * int(pp[0]) + 1], t, dt, seed, syn_tab.ctypes.data + np.uint64(8 * int(pp[1])),
                                       post_ev[e, 0], post_ev[e, 2], post_ev[e, 3], j)
                            continue
                        r1 = ntr[pre_rows[post_ev[e, 3]] + post_ev[e, 2]]
                        if kind == PL_ELIGIBILITY:  # the unbounded pair law at w = 0: inc = eta_plus x_pre
                            elig_post[e] += (pp[2] * r1) * g
                        elif kind == PL_PAIR:
                            s = post_ev[e, 0]
                            syn_w[s], _ = pair_on_post(syn_w[s], r1, 0.0, pp)
                        else:
                            s = post_ev[e, 0]
                            o2 = _seen(ntr[rows_prev[bk[3], d] + j - bank_lo[bk[3]]], bank_decay[bk[3]])
                            syn_w[s], _, _ = triplet_on_post(syn_w[s], r1, 0.0, 0.0, o2, pp)
        # ---- 5: periodic rules (eligibility -> weight), modulator decay
        for pr in range(proj_kind.shape[0]):
            if proj_kind[pr] == PL_ELIGIBILITY and t + 1 >= period_next[pr]:
                pp = proj_par[pr]
                # pp: [0.. and 12.. eligibility STDP (pair layout, unbounded), 10 tau_c, 11 period_steps,
                #      22 baseline, 23 rate, 24 drift, 25 w_min, 26 w_max, 27 modulator, 28 periodic decay]
                da = modulator[int(pp[27])]
                # one decay factor for every synapse of the projection (see the event-side comment)
                f = math.exp(-(now - period_last[pr]) / pp[10])
                gain = pp[23] * (pp[22] + da)
                periodic = pp[28] != 0.0
                f_period = math.exp(-pp[11] * dt / pp[10])  # exactly one period's decay (0.9 for spnet)
                for e in range(proj_ptr[pr], proj_ptr[pr + 1]):
                    s = proj_syn[e]
                    pos = syn_postpos[s]
                    ce = elig[s] + elig_post[pos]  # the two sides' increments, merged once per period
                    elig_post[pos] = 0.0
                    if periodic:  # Izhikevich's order: use the eligibility, then decay it by one period
                        elig[s] = ce * f_period
                    else:
                        ce = ce * f
                        elig[s] = ce
                    w = syn_w[s] + pp[24] + gain * ce
                    syn_w[s] = min(max(w, pp[25]), pp[26])
                period_last[pr] = now
                period_next[pr] += int(pp[11])
        for m in range(modulator.shape[0]):
            modulator[m] *= mod_decay[m]
        # state recording
        if st_idx.shape[0] > 0 and t % st_every == 0:
            r = st_count[0]
            if r < st_out.shape[0]:
                for col in range(st_idx.shape[0]):
                    i = st_idx[col]
                    var = st_var[col]
                    if var == VAR_V:
                        val = v[i]
                        if not (val > -np.inf) and pop_model[npop[i]] == CUBA and pop_direct[npop[i]] == 0:
                            val = v_hold[i]  # a parked refractory neuron
                        st_out[r, col] = val
                    elif var == VAR_U:
                        st_out[r, col] = u[i]
                    elif var == VAR_GEN:
                        st_out[r, col] = gen_state[i]
                    else:  # a synaptic current: in its frame for step t + 1 where its population has one
                        ch = 0 if var == VAR_X1 else 1
                        val = x1[i] if ch == 0 else x2[i]
                        fi = pop_fr[npop[i]]
                        if fi >= 0:
                            val *= fr_F[fi, ch, (t + 1) % fr_P[fi]]
                        st_out[r, col] = val
                st_count[0] = r + 1


@njit(cache=True)
def _workspace(t0, n_steps, n_threads, pop_start, pop_end, pop_model, pop_par, v, refrac, pop_direct, gen_tab, fr_P, proj_kind, bank_len,
               hist_idx, rec_mask):
    """The arrays a run's workers share besides the layout (the last arguments of :func:`_steps`), the refractory queues
    and Poisson schedules read from the counters in ``refrac``."""
    n_pops = pop_start.shape[0]
    n_threads = max(n_threads, 1)
    # per projection: exp((now - period_last) / tau_c), the weight of an eligibility increment made now (one exp per step)
    elig_scale = np.ones(proj_kind.shape[0])
    # per step: offsets of each bank's rows of steps t - k and t - 1 - k (k up to the longest ring)
    n_rows = bank_len.max() if bank_len.shape[0] > 0 else 1
    rows_now = np.zeros((max(bank_len.shape[0], 1), n_rows), dtype=np.int64)
    rows_prev = np.zeros((max(bank_len.shape[0], 1), n_rows), dtype=np.int64)
    fired = np.zeros((v.shape[0] + 7) // 8 * 8, dtype=np.uint8)  # spike flags of one step (see _collect_spikes)
    # threads: each chunk's spikes, from its first neuron's place, and their numbers [pop, chunk]
    chunk_buf = np.empty(v.shape[0] if n_threads > 1 else 1, dtype=hist_idx.dtype)
    chunk_n = np.zeros((n_pops, n_threads), dtype=np.int64)
    ctab = _chunk_tables(n_threads, pop_start, pop_end, pop_model, pop_par, gen_tab)
    # per step: the factor of each frame key for inputs arriving for the next step (key 0: 1)
    gk = np.ones(1 + 2 * fr_P.shape[0])
    # Refractory current-based LIF neurons: a queue per population (a ring in ref_i / ref_e [start .. end]) of
    # (neuron, step its integration resumes), in spike order, so the update loop reads and writes no counter. A queued
    # neuron is "parked": its potential is kept in v_hold and v set to -inf, which the update leaves at -inf (or NaN)
    # and never lets fire, so a frozen step costs nothing; it is put back when its period ends. Populations with
    # synapses onto v itself (pop_direct) cannot park (a jump during the refractory period must apply): their queued
    # neurons' potentials are saved before the update and put back after it, every step. The counters in `refrac`
    # are read here and written back at the end (and v of parked neurons), so the state between runs is as always.
    ref_i = np.zeros(v.shape[0], dtype=np.int64)
    ref_e = np.zeros(v.shape[0], dtype=np.int64)
    v_hold = np.zeros(v.shape[0])
    th_hold = np.zeros(v.shape[0])
    # one queue per chunk of a population (see _cuba_chunk), over the chunk's own positions: rq[p, c] = (head, length)
    rq = np.zeros((n_pops, n_threads, 2), dtype=np.int64)
    for p in range(n_pops):
        if pop_model[p] == CUBA:
            nch = _pop_chunks(CUBA, pop_end[p] - pop_start[p], n_threads)
            for ch in range(nch):
                lo = _bound(pop_start[p], pop_end[p], ch, nch)
                cand = np.flatnonzero(refrac[lo : _bound(pop_start[p], pop_end[p], ch + 1, nch)] > 0) + lo
                order = np.argsort(refrac[cand], kind="mergesort")  # by the step integration resumes: queue order
                for q in range(cand.shape[0]):
                    i = cand[order[q]]
                    ref_i[lo + q] = i
                    ref_e[lo + q] = t0 - 1 + refrac[i]
                    if pop_direct[p] == 0:
                        v_hold[i] = v[i]
                        v[i] = -np.inf
                rq[p, ch, 1] = cand.shape[0]
    # Poisson neurons: the step of their next spike (their refrac counts the steps to it, see poisson_schedule), and
    # its minimum per block of 64 neurons (other neurons: never)
    pnext = np.full(v.shape[0], NEVER_STEP, dtype=np.int64)
    for p in range(n_pops):
        if pop_model[p] == POISSON:
            for i in range(pop_start[p], pop_end[p]):
                pnext[i] = min(t0 - 1 + refrac[i], NEVER_STEP)
    pblk = np.full((v.shape[0] + _PB - 1) // _PB, NEVER_STEP, dtype=np.int64)
    for i in range(v.shape[0]):
        pblk[i // _PB] = min(pblk[i // _PB], pnext[i])
    ctl = np.zeros(8, dtype=np.int64)
    ctl[0] = n_steps
    evs = np.zeros(8 * n_threads, dtype=np.int64)  # the partitioned delivery's synapses visited, per worker (a line apart)
    bar = np.zeros(16, dtype=np.int64)
    rec_pop = np.zeros(n_pops, dtype=np.int64)
    for p in range(n_pops):
        m = rec_mask[pop_start[p] : pop_end[p]]
        if m.shape[0] > 0 and m.all():
            rec_pop[p] = 1
        elif m.any():
            rec_pop[p] = 2
    return (fired, chunk_buf, chunk_n, gk, ref_i, ref_e, v_hold, th_hold, rq, pnext, pblk, elig_scale, rows_now, rows_prev, ctab, ctl,
            evs, bar, rec_pop)


@njit(cache=True)
def _finish(t0, n_threads, pop_start, pop_end, pop_model, pop_direct, v, refrac, ev_count, ws):
    """After the loop: the synapses the workers visited counted, the refractory queues back into the counters (steps
    left after the last step done), parked potentials back; returns the steps done."""
    n_pops = pop_start.shape[0]
    n_threads = max(n_threads, 1)
    ref_i, ref_e, v_hold, rq, pnext, ctl, evs = ws[4], ws[5], ws[6], ws[8], ws[9], ws[15], ws[16]
    ev_count[0] += evs[::8].sum()  # (evs[8 c + 1]: _touch_segments' scratch)
    done = ctl[0]
    # the refractory queues back into the counters (steps left after the last step done), parked potentials back
    t_last = t0 + done - 1
    for p in range(n_pops):
        if pop_model[p] == POISSON:
            for i in range(pop_start[p], pop_end[p]):
                refrac[i] = pnext[i] - t_last
        if pop_model[p] == CUBA:
            for i in range(pop_start[p], pop_end[p]):
                refrac[i] = 0
            nch = _pop_chunks(CUBA, pop_end[p] - pop_start[p], n_threads)
            for ch in range(nch):
                lo = _bound(pop_start[p], pop_end[p], ch, nch)
                size = _bound(pop_start[p], pop_end[p], ch + 1, nch) - lo
                for q in range(rq[p, ch, 1]):
                    pos = _ring(lo, rq[p, ch, 0], q, size)
                    i = ref_i[pos]
                    refrac[i] = ref_e[pos] - t_last
                    if pop_direct[p] == 0:
                        v[i] = v_hold[i]
    return done




@njit(cache=True)
def run_steps(
    t0, n_steps, dt, seed,
    # threads (Network.threads; Numba's thread count is set by the caller): the loop's workers, see the threads section
    n_threads,
    # populations
    pop_start, pop_end, pop_model, pop_par, pop_extra, pop_iext, npop,
    # per-neuron state and parameters
    v, u, x1, x2, isyn, xdrive, refrac, i_ext, sigma, rate, na, nb, nc, nd,
    # external current per step, for neurons with a current array: (column index or -1), table [T_total, n_cols]
    cur_col, cur_table, cur_t0,
    # spike generators: sorted steps and neuron indices, read pointer (1-element array)
    gen_steps, gen_idx, gen_ptr,
    # synapses (CSR by pre, then delay): off[pre, d] .. off[pre, d + 1]; synapse s adds syn_w[s] to tgt[syn_tgt[s]],
    # tgt being the rows x1, x2, isyn, v of one matrix, flattened; seg_code[pre, d]: 0 no synapse, 1 some, 2 contiguous targets,
    # 3 / 4 the same scaled into one current frame, 5 scaled into several (Network._segment_codes)
    # 6 / 7 plastic synapses of projection seg_proj[pre, d] whose presynaptic events run in the delivery pass (Network._fuse_pre_events)
    off, syn_w, syn_tgt, syn_proj, tgt, seg_code, seg_proj,
    # the partitioned delivery's cut of each segment between the workers (delivery_splits; threads only)
    syn_split,
    # current frames of current-based LIF populations (Network._build_frames): frame of each population (-1 none),
    # periods, factors F[f, channel, phase] and 1 / F; syn_fk[s]: 0 or the frame key 1 + 2 f + channel of synapse s
    pop_fr, fr_P, fr_F, fr_G, syn_fk,
    # per population: 1 where synapses add to v directly (its refractory neurons cannot be parked, see below)
    pop_direct,
    # user-defined models (Network._layout_models): the addresses of their generated kernels (uint64, neuro.dynamics.codegen), the uint64 table of
    # the addresses of their arrays (a population's kernel slot, table offset and table length in pop_par[p, 0:3]), their spike flags
    # (uint8, by global neuron) and the float64 block of their variables and parameters (read by state monitors)
    gen_fns, gen_tab, gen_fired, gen_state,
    # user-defined plasticity rules (Network._layout_rules): the addresses of their generated event functions (on_pre of slot k at 2 k, on_post at
    # 2 k + 1), their loops (clock-driven at 3 k, periodic at 3 k + 1, summed at 3 k + 2), the uint64 table of their arrays' addresses and the
    # float64 block of their variables (read by synapse monitors)
    syn_ev_fns, syn_loop_fns, syn_tab, syn_state,
    # plasticity: the traces are per neuron (trace banks, see the module doc); the events list plastic synapses
    # pre_off[pre, a] .. : rows of pre_ev for the synapses reached by a spike of `pre` after axonal delay a; a row is
    #   (synapse, projection, the postsynaptic neuron's index in its bank, the synapse's dendritic delay)
    # post_off[post, d] .. : rows of post_ev for the synapses reached by a spike of `post` after dendritic delay d:
    #   (synapse, projection, the presynaptic neuron's index in its bank, the synapse's axonal delay)
    # One row per event, its four fields side by side: a spike's run of events is one or two cache lines, not four
    # separate arrays' worth (the event lists outgrow L2 in plastic networks; each run starts with cache misses)
    # proj_bank[proj, m]: trace bank of trace m of the projection (pair: 0 pre, 1 post; triplet: r1, r2, o1, o2)
    # elig: eligibility increments of presynaptic events (by synapse); elig_post: of postsynaptic events (by position in
    # post_syn, so those events write sequentially); syn_postpos[s]: synapse s's position there. The periodic rule sums them.
    # proj_shift[pr]: a synapse's flat target index minus this is its postsynaptic neuron's place in the post trace bank
    # (segments of seg_code 6 run their presynaptic events in the delivery pass, Network._fuse_pre_events)
    proj_kind, proj_par, proj_ptr, proj_syn, elig, elig_post, syn_postpos, proj_bank, proj_shift,
    # post_one[post, d]: the projection of a list whose events all belong to one pair / eligibility projection, read in
    # compact form: post_pk[e] = axonal delay << 24 | presynaptic neuron's place in its bank, post_syn[e] the synapse
    # (Network._compact_post_events); -1: the rows of post_ev
    pre_off, pre_code, pre_ev, post_off, post_ev, post_one, post_pk, post_syn,
    ntr, bank_base, bank_len, bank_n, bank_lo, bank_decay, bank_nearest,
    modulator, mod_decay, period_next, period_last,
    # ring buffer of the last D + 1 steps' spikes
    hist_idx, hist_n, hist_step,
    # outputs
    rec_mask, spk_step, spk_idx, spk_count, pop_counts, ev_count,
    st_idx, st_var, st_every, st_out, st_count,
    # synapse / modulator sampling: (synapse position or modulator index, SV_* kind), every sm_every steps
    sm_idx, sm_kind, sm_aux, sm_every, sm_out, sm_count,
):
    """Advance ``n_steps`` from global step ``t0`` on the calling thread; returns the number of steps done (< n_steps
    when the spike buffer filled). :func:`run_threads` runs the same loop on ``n_threads`` threads."""
    ws = _workspace(t0, n_steps, n_threads, pop_start, pop_end, pop_model, pop_par, v, refrac, pop_direct, gen_tab, fr_P, proj_kind,
                    bank_len, hist_idx, rec_mask)
    (fired, chunk_buf, chunk_n, gk, ref_i, ref_e, v_hold, th_hold, rq, pnext, pblk, elig_scale, rows_now, rows_prev, ctab, ctl, evs,
     bar, rec_pop) = ws
    _steps(0, 1, t0, n_steps, dt, seed, n_threads, pop_start, pop_end, pop_model, pop_par, pop_extra, pop_iext, npop, v, u, x1, x2, isyn,
           xdrive, refrac, i_ext, sigma, rate, na, nb, nc, nd, cur_col, cur_table, cur_t0, gen_steps, gen_idx, gen_ptr, off, syn_w,
           syn_tgt, syn_proj, tgt, seg_code, seg_proj, syn_split, pop_fr, fr_P, fr_F, fr_G, syn_fk, pop_direct, gen_fns, gen_tab, gen_fired,
           gen_state, syn_ev_fns, syn_loop_fns, syn_tab, syn_state, proj_kind, proj_par, proj_ptr, proj_syn, elig, elig_post,
           syn_postpos, proj_bank, proj_shift, pre_off, pre_code, pre_ev, post_off, post_ev, post_one, post_pk, post_syn, ntr, bank_base,
           bank_len, bank_n, bank_lo, bank_decay, bank_nearest, modulator, mod_decay, period_next, period_last, hist_idx, hist_n,
           hist_step, rec_mask, spk_step, spk_idx, spk_count, pop_counts, ev_count, st_idx, st_var, st_every, st_out, st_count, sm_idx,
           sm_kind, sm_aux, sm_every, sm_out, sm_count, fired, chunk_buf, chunk_n, gk, ref_i, ref_e, v_hold, th_hold, rq, pnext, pblk,
           elig_scale, rows_now, rows_prev, ctab, ctl, evs, bar, rec_pop)
    return _finish(t0, n_threads, pop_start, pop_end, pop_model, pop_direct, v, refrac, ev_count, ws)


# the names of run_steps' arguments, in order: Network.run passes each by name (its layout's array, or a per-run buffer)
LOOP_ARGS = tuple(inspect.signature(run_steps.py_func).parameters)


def run_threads(n_threads: int, args) -> int:
    """:func:`run_steps` on ``n_threads`` threads: the loop's arguments ``args`` (in :data:`LOOP_ARGS` order) shared by
    ``n_threads`` workers (:func:`_steps`, compiled without the GIL), worker 0 on the calling thread, the others on
    threads of their own started for the run (about 0.1 ms), which meet at spin barriers between the phases of each
    step (see the threads section). Returns the steps done."""
    import threading

    a = dict(zip(LOOP_ARGS, args))
    ws = _workspace(a["t0"], a["n_steps"], n_threads, a["pop_start"], a["pop_end"], a["pop_model"], a["pop_par"], a["v"], a["refrac"],
                    a["pop_direct"], a["gen_tab"], a["fr_P"], a["proj_kind"], a["bank_len"], a["hist_idx"],
                    a["rec_mask"])
    full = (*args, *ws)
    workers = [threading.Thread(target=_steps, args=(c, n_threads, *full), name=f"neuro-sim-{c}", daemon=True) for c in range(1, n_threads)]
    for w in workers:
        w.start()
    _steps(0, n_threads, *full)
    for w in workers:
        w.join()
    return _finish(a["t0"], n_threads, a["pop_start"], a["pop_end"], a["pop_model"], a["pop_direct"], a["v"], a["refrac"], a["ev_count"], ws)
