"""Network construction through its compiled passes (counting sorts, one-pass scans) lays out exactly the arrays of the
straightforward construction it replaced (kept below as the reference: lexsorts, searchsorted grids, reduceat), and the
FixedProbability draw (geometric gaps between connected pairs) follows the Bernoulli law of the per-pair draw."""

from __future__ import annotations

import numpy as np
import pytest

from neuro import sim
from neuro.ops.stdp import PairSTDP, TripletSTDP
from neuro.ops.stdp.cpu import pack as pack_stdp
from neuro.ops.three_factor import RewardModulatedSTDP
from neuro.sim import engine_cpu as E
from neuro.sim import projections as proj_mod
from neuro.sim.network import _N_PAR, FRAME_FLOOR, FRAME_MAX, Network  # noqa: F401  (the reference's names)
from neuro.sim.projections import RECEPTORS

_METHODS = ("_synapse_targets", "_build_frames", "_segment_codes", "_fuse_pre_events", "_dense_segments", "_csr", "_build_synapses",
            "_build_traces")


class _Reference:
    """The synapse layout as built before the compiled passes (neuro 19783a7), verbatim."""

    @staticmethod
    def _synapse_targets(s, stride: int) -> np.ndarray:
        """Flat index into ``s.tgt`` of the variable each synapse adds its weight to.

        Izhikevich neurons take every synapse into ``isyn`` (cleared each step); other models take
        excitatory synapses into ``x1``, inhibitory ones into ``x2`` and direct ones into ``v``.
        """
        row = np.select([s.syn_chan == E.CH_EXC, s.syn_chan == E.CH_INH], [0, 1], default=3).astype(np.int64)
        if s.syn_post.size:
            izh = s.pop_model[s.npop[s.syn_post]] == E.IZHIKEVICH
            row[izh] = 2
        tgt = row * stride + s.syn_post
        # int32 when it fits: 4 bytes less to stream per synaptic event
        return tgt.astype(np.int32) if stride * 4 < 2**31 else tgt
    def _build_frames(self, s) -> None:
        r"""Decaying frames of the synaptic currents of current-based LIF populations, and the key of each synapse.

        A current that only decays between inputs, :math:`I(t + 1) = p\, I(t) + \text{inputs}`, is stored as
        :math:`X` with :math:`I(t) = X\, F[t \bmod P]`, :math:`F[k] = p^k`: the neuron update reads :math:`X` and
        writes nothing back, an input arriving for step :math:`t + 1` adds :math:`w / F[(t + 1) \bmod P]`, and at
        the end of each period (the step with :math:`(t + 1) \bmod P = 0`) :math:`X` is multiplied by :math:`F[P]`
        (values below 1e-290 set to 0). Two stores per neuron-step fewer than decaying the currents in place.
        ``s.x1`` / ``s.x2`` (and :meth:`state`) hold :math:`X` for these populations; ``pop.i_e`` / ``pop.i_i``
        and the state monitors give :math:`I`. The phase is the global step modulo ``P``, so runs cut anywhere,
        saved and restored, or run on another backend give the same numbers.
        """
        frames, keys = [], np.zeros(len(self.populations), dtype=np.int64)
        s.pop_fr = np.full(max(1, len(self.populations)), -1, dtype=np.int64)
        periods = []
        for p, pop in enumerate(self.populations):
            if pop.model != E.CUBA:
                continue
            par = s.pop_par[p]
            P, F = self._frame_period([par[6], par[8]])
            s.pop_fr[p] = len(frames)
            keys[p] = 1 + 2 * len(frames)
            frames.append(F)
            periods.append(P)
        s.fr_P = np.array(periods or [1], dtype=np.int64)
        s.fr_F = np.stack(frames) if frames else np.ones((1, 2, FRAME_MAX + 1))
        s.fr_G = np.divide(1.0, s.fr_F, out=np.ones_like(s.fr_F), where=s.fr_F >= FRAME_FLOOR)  # used below the period only
        # per synapse: 0 (weight added as it is) or 1 + 2 f + c (scaled by 1 / F of frame f, channel c)
        kt = np.int16 if 1 + 2 * len(frames) < 2**15 else np.int32
        fk = np.zeros(s.syn_post.shape[0], dtype=kt)
        row = np.asarray(s.syn_tgt, dtype=np.int64) // max(s.v.shape[0], 1)  # the target row of each synapse (_TARGET_ROWS)
        if s.syn_post.size and frames:
            k0 = keys[s.npop[s.syn_post]]
            into = (k0 > 0) & (row < 2)  # the x1 / x2 rows of a framed population
            fk[into] = (k0[into] + row[into]).astype(kt)
        s.syn_fk = fk
        # populations with synapses onto v itself (receptor "v"). By default (refractory_input=False) a jump of v that
        # arrives in a neuron's spike step or while it is refractory is lost, as in Brian2 and NEST: the CPU loop parks
        # such neurons (from the spike step on, at t_ref = 0 too: pop_par[p, 11]), the GPU drops their jumps at delivery,
        # conductance-based neurons start again from v_reset. With refractory_input=True the jumps apply to the held
        # potential; those populations cannot park (pop_direct = 1, engine_cpu)
        direct = np.zeros(max(1, len(self.populations)), dtype=np.int64)
        if s.syn_post.size:
            direct[np.unique(s.npop[s.syn_post[row == 3]])] = 1
        s.pop_direct = np.zeros_like(direct)
        for p, pop in enumerate(self.populations):
            keep = getattr(pop, "refractory_input", True)
            s.pop_direct[p] = direct[p] if keep else 0
            if direct[p] and not keep:
                s.pop_par[p, 11] = 1.0
    def _segment_codes(self, s) -> np.ndarray:
        """``[n, D + 1]`` delivery codes: 0 no synapse, 1 synapses, 2 one contiguous run of targets (vectorised add),
        3 / 4 the same with every weight scaled into one frame, 5 weights scaled into several frames (per synapse)."""
        a, b = s.off[:, :-1], s.off[:, 1:]
        some = b > a
        code = np.where(some, 1 + self._dense_segments(s), 0).astype(np.uint8)
        if not np.any(s.syn_fk):
            return code
        starts = a[some]
        fk = s.syn_fk.astype(np.int64)
        kmax, kmin = np.zeros(a.shape, np.int64), np.zeros(a.shape, np.int64)
        kmax[some] = np.maximum.reduceat(fk, starts)  # non-empty segments tile the synapses in order
        kmin[some] = np.minimum.reduceat(fk, starts)
        scaled = some & (kmax > 0)
        code[scaled] += 2
        code[scaled & (kmax != kmin)] = 5  # synapses into several frames (or into one and elsewhere): per-synapse factors
        return code

    @staticmethod
    def _fuse_pre_events(s, stride: int) -> None:
        """Code 6 (7: into one current frame) for the segments (pre, delay) whose synapses are all plastic synapses of one pair or eligibility
        projection without dendritic delay, where the presynaptic event list of (pre, axonal delay = delay) holds just
        them: the CPU loop runs each synapse's event and then its delivery in one pass (3b) and skips that event list
        (``pre_code`` 0). The same numbers as two passes: an event reads the traces (unchanged during 3a-3b) and changes
        its own synapse only, and still comes before that synapse's delivery. ``s.proj_shift[pr]``: subtracted from a
        synapse's flat target index it gives the postsynaptic neuron's place in the projection's post trace bank."""
        P = s.proj_kind.shape[0]
        s.proj_shift = np.zeros(max(P, 1), dtype=np.int64)
        s.seg_proj = np.zeros(s.seg_code.shape, dtype=np.int32)  # the projection of a code 6 / 7 segment
        S = s.syn_w.shape[0]
        DA = s.pre_off.shape[1] - 2
        if S == 0 or DA < 0:
            return
        pr = s.syn_proj.astype(np.int64)
        ok = np.isin(s.proj_kind[pr], (E.PL_PAIR, E.PL_ELIGIBILITY)) & (s.syn_trace[:, 3] == 0)
        for k in range(P):
            if s.proj_kind[k] in (E.PL_PAIR, E.PL_ELIGIBILITY) and s.proj_bank[k, 1] >= 0:
                mine = np.flatnonzero(pr == k)
                row = s.syn_tgt[mine[0]] // stride if mine.size else 0
                s.proj_shift[k] = row * stride + s.bank_lo[s.proj_bank[k, 1]]
        a, b = s.off[:, : DA + 1], s.off[:, 1 : DA + 2]
        some = b > a
        starts = a[some]
        all_ok = np.zeros(a.shape, bool)
        one_proj = np.zeros(a.shape, bool)
        all_ok[some] = np.minimum.reduceat(ok.astype(np.int8), starts) == 1  # non-empty segments tile the synapses in order
        one_proj[some] = np.minimum.reduceat(pr, starts) == np.maximum.reduceat(pr, starts)
        exact = (s.pre_off[:, 1:] - s.pre_off[:, :-1]) == (b - a)
        fuse = some & all_ok & one_proj & exact & (s.seg_code[:, : DA + 1] > 0)
        # a neuron that can spike several times in one step (SpikeSource repeats="multiplicity") keeps the two passes:
        # all its copies' events, then their deliveries of the final weight (as the GPU); the fused pass would deliver
        # the weights in between
        fuse &= ~s.repeats[: fuse.shape[0], None]
        framed = np.zeros(a.shape, bool)
        framed[some] = np.maximum.reduceat(s.syn_fk.astype(np.int64), starts) > 0
        s.seg_code[:, : DA + 1][fuse] = np.where(framed[fuse], 7, 6)
        s.pre_code[fuse] = 0
        s.seg_proj[:, : DA + 1][fuse] = pr[a[fuse]]

    @staticmethod
    def _dense_segments(s, min_len: int = 8) -> np.ndarray:
        """``[n, D + 1]`` flags: the segment (pre, delay) targets one contiguous run of ``s.tgt`` (all-to-all, blocks).

        Such a segment is delivered by a loop over contiguous memory, which vectorises (the per-target
        order of additions is the same as in the scalar loop). Segments shorter than ``min_len`` are not flagged.
        """
        off = s.off
        a, b = off[:, :-1], off[:, 1:]
        length = b - a
        dense = np.zeros(a.shape, dtype=np.uint8)
        if s.syn_tgt.size == 0:
            return dense
        cand = length >= min_len
        if not cand.any():
            return dense
        tgt = s.syn_tgt.astype(np.int64)
        first = tgt[a[cand]]
        last = tgt[b[cand] - 1]
        span_ok = last - first == length[cand] - 1
        # ascending by one everywhere inside the segment (the span alone would miss a repeated target)
        step_ok = np.diff(tgt) == 1
        bad_prefix = np.concatenate([[0], np.cumsum(~step_ok)])  # number of non-unit steps before each synapse
        inner_ok = bad_prefix[b[cand] - 1] - bad_prefix[a[cand]] == 0
        dense[cand] = (span_ok & inner_ok).astype(np.uint8)
        return dense

    @staticmethod
    def _csr(owner: np.ndarray, steps: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """``(off [n, K + 2], order)``: entries grouped by owner neuron, then by delay in steps (``K`` the largest):
        neuron ``i``'s entries with delay ``k`` are ``order[off[i, k] : off[i, k + 1]]``."""
        K = int(steps.max()) if steps.size else 0
        order = np.lexsort((steps, owner))
        key = owner[order] * (K + 1) + steps[order]
        grid = np.arange(max(n, 1), dtype=np.int64)[:, None] * (K + 1) + np.arange(K + 2, dtype=np.int64)[None, :]
        return np.searchsorted(key, grid).astype(np.int64), order
    def _build_synapses(self, s, n: int) -> None:
        dt = self.dt
        pres, posts, ws, delays, chans, projs = [], [], [], [], [], []
        for k, proj in enumerate(self.projections):
            pres.append(proj.pre.start + proj.pre_index)
            posts.append(proj.post.start + proj.post_index)
            ws.append(proj._w if proj._order is None else self._s.syn_w[proj._order])
            delays.append(proj.delay_steps(dt))
            chans.append(np.full(len(proj), RECEPTORS[proj.receptor], dtype=np.int64))
            projs.append(np.full(len(proj), k, dtype=np.int64))
        if pres:
            pre, post, w = np.concatenate(pres), np.concatenate(posts), np.concatenate(ws).astype(np.float64)
            delay, chan, proj_of = np.concatenate(delays), np.concatenate(chans), np.concatenate(projs)
        else:
            pre = post = delay = chan = proj_of = np.zeros(0, np.int64)
            w = np.zeros(0)
        D = int(delay.max()) if delay.size else 0
        if (D + 2) * max(n, 1) > 2**31:
            k = int(np.argmax([p.delay_steps(dt).max(initial=0) for p in self.projections]))
            raise ValueError(f"projection {self.projections[k].name}: a delay of {D} steps ({D * dt:g} ms) needs a delay table of "
                             f"{(D + 2) * max(n, 1) * 8 / 2**30:.1f} GiB for {n} neurons; delays that long are not supported")
        order = np.lexsort((post, delay, pre))  # CSR by pre, then delay; targets ascending inside a segment
        inv = np.empty_like(order)
        inv[order] = np.arange(order.size)
        base = 0
        for proj in self.projections:
            proj._order = inv[base : base + len(proj)]
            base += len(proj)
        key = pre[order] * (D + 1) + delay[order]
        grid = np.arange(max(n, 1), dtype=np.int64)[:, None] * (D + 1) + np.arange(D + 2, dtype=np.int64)[None, :]
        s.off = np.searchsorted(key, grid).astype(np.int64)
        s.syn_post, s.syn_w, s.syn_chan, s.syn_proj = post[order], w[order], chan[order], proj_of[order]
        S = order.size
        s.elig = np.zeros(S)
        P = max(1, len(self.projections))
        s.proj_kind = np.zeros(P, dtype=np.int64)
        s.proj_par = np.zeros((P, _N_PAR))
        s.period_next = np.zeros(P, dtype=np.int64)
        s.period_last = np.full(P, self.step * self.dt)  # time (ms) eligibility traces are stored at
        names = list(self.modulators)
        for k, proj in enumerate(self.projections):
            rule = proj.plasticity
            if isinstance(rule, PairSTDP):
                s.proj_kind[k] = E.PL_PAIR
                s.proj_par[k, :10] = pack_stdp(rule)
                s.proj_par[k, 29] = rule.delivery == "before_update"
            elif isinstance(rule, TripletSTDP):
                s.proj_kind[k] = E.PL_TRIPLET
                s.proj_par[k, :11] = pack_stdp(rule)
                s.proj_par[k, 29] = rule.delivery == "before_update"
            elif isinstance(rule, RewardModulatedSTDP):
                s.proj_kind[k] = E.PL_ELIGIBILITY
                st = rule.stdp
                period = int(round(rule.update_interval / dt))
                if period < 1 or abs(period * dt - rule.update_interval) > 1e-9:
                    raise ValueError(f"{proj.name}: update_interval {rule.update_interval} ms is not a whole number of steps of dt = {dt} ms")
                s.proj_par[k, 10], s.proj_par[k, 11] = rule.tau_c, period
                unbounded = PairSTDP(tau_plus=st.tau_plus, tau_minus=st.tau_minus, eta_plus=st.eta_plus, eta_minus=st.eta_minus,
                                     w_min=-1e300, w_max=1e300, pairing=st.pairing, symmetric=st.symmetric)
                # the events use the unbounded law (at 0..9, so the loop reads no slice); the bounds apply to w at 25, 26
                s.proj_par[k, :10] = s.proj_par[k, 12:22] = pack_stdp(unbounded)
                s.proj_par[k, 22:29] = [rule.baseline, rule.weight_rate, rule.drift, st.w_min, st.w_max, names.index(proj.modulator),
                                        1.0 if rule.eligibility_decay == "periodic" else 0.0]
                s.period_next[k] = self.step + period
        plastic = np.flatnonzero(s.proj_kind[s.syn_proj] != E.PL_NONE) if S else np.zeros(0, np.int64)
        # delays of plastic synapses: the dendritic part (post spike back to the synapse) is the rule's
        # dendritic_fraction of the delay, rounded to whole steps; the axonal part is the rest
        fraction = np.zeros(P)
        for k, proj in enumerate(self.projections):
            rule = proj.plasticity.stdp if isinstance(proj.plasticity, RewardModulatedSTDP) else proj.plasticity
            fraction[k] = rule.dendritic_fraction if rule is not None else 0.0
        total = delay[order][plastic]
        dend = np.rint(fraction[s.syn_proj[plastic]] * total).astype(np.int64)
        axon = total - dend
        self._build_traces(s, pre[order][plastic], s.syn_post[plastic], axon, dend, plastic, n)
        by_proj = np.argsort(s.syn_proj, kind="stable") if S else np.zeros(0, np.int64)
        s.proj_syn = by_proj.astype(np.int64)
        s.proj_ptr = np.searchsorted(s.syn_proj[by_proj], np.arange(P + 1)).astype(np.int64)
        if not np.any(np.isin(s.proj_kind, (E.PL_PAIR, E.PL_ELIGIBILITY))):  # read by those rules only: not kept otherwise
            s.proj_syn, s.proj_ptr = np.zeros(0, np.int64), np.zeros(P + 1, np.int64)

    def _build_traces(self, s, pre: np.ndarray, post: np.ndarray, axon: np.ndarray, dend: np.ndarray, plastic: np.ndarray, n: int) -> None:
        """Per-neuron trace banks and the event lists of the plastic synapses (``pre``, ``post``, delays: theirs).

        Bank: one trace of one projection's pre- or postsynaptic population, kept for the last ``delay + 2`` steps
        (a ring ``[L, n_pop]``, all banks in the flat ``s.ntr``), so a synapse reads its presynaptic trace as it was
        one axonal delay ago and its postsynaptic trace one dendritic delay ago.
        """
        P = s.proj_kind.shape[0]
        s.proj_bank = np.full((P, 4), -1, dtype=np.int64)
        base, lo, nn, ln, dec, near = [], [], [], [], [], []
        off_all = 0
        proj_of = s.syn_proj[plastic]
        # a bank covers the neurons its projection's plastic synapses use (first .. last), not the whole population
        P_lo_pre, P_lo_post = np.zeros(max(P, 1), dtype=np.int64), np.zeros(max(P, 1), dtype=np.int64)
        for k in range(len(self.projections)):
            kind = s.proj_kind[k]
            mine = proj_of == k
            if kind == E.PL_NONE or not mine.any():
                continue
            max_a, max_d = int(axon[mine].max()), int(dend[mine].max())
            P_lo_pre[k], P_lo_post[k] = pre[mine].min(), post[mine].min()
            span = {"pre": int(pre[mine].max()) - P_lo_pre[k] + 1, "post": int(post[mine].max()) - P_lo_post[k] + 1}
            sides = ("pre", "pre", "post", "post") if kind == E.PL_TRIPLET else ("pre", "post")
            nearest = float(s.proj_par[k, 10 if kind == E.PL_TRIPLET else 8])
            for m, side in enumerate(sides):
                L = (max_a if side == "pre" else max_d) + 2
                s.proj_bank[k, m] = len(base)
                base.append(off_all)
                lo.append(P_lo_pre[k] if side == "pre" else P_lo_post[k])
                nn.append(span[side])
                ln.append(L)
                dec.append(np.exp(-self.dt / s.proj_par[k, m]))
                near.append(nearest)
                off_all += L * span[side]
        s.bank_base, s.bank_lo, s.bank_n, s.bank_len = (np.array(x, dtype=np.int64) for x in (base, lo, nn, ln))
        s.bank_decay, s.bank_nearest = np.array(dec, dtype=np.float64), np.array(near, dtype=np.float64)
        s.ntr = np.zeros(max(off_all, 1))
        # event lists in int32 where they fit: 16 instead of 32 bytes streamed per plastic event
        it = np.int32 if s.syn_post.shape[0] < 2**31 and n < 2**31 else np.int64
        s.pre_off, o = self._csr(pre, axon, n)
        s.pre_code = (s.pre_off[:, 1:] > s.pre_off[:, :-1]).astype(np.uint8)  # (neuron, axonal delay) has plastic synapses
        s.pre_syn, s.pre_proj = plastic[o].astype(it), proj_of[o].astype(it)
        s.pre_other, s.pre_dly = (post[o] - P_lo_post[proj_of[o]]).astype(it), dend[o].astype(it)
        # within a (post, dendritic delay) list: by axonal delay, then presynaptic neuron, so consecutive events read
        # the same ring row of presynaptic traces in ascending order (cache lines shared, prefetch-friendly)
        by_row = np.lexsort((pre, axon))
        s.post_off, o = self._csr(post[by_row], dend[by_row], n)
        o = by_row[o]
        s.post_syn, s.post_proj = plastic[o].astype(it), proj_of[o].astype(it)
        s.post_other, s.post_dly = (pre[o] - P_lo_pre[proj_of[o]]).astype(it), axon[o].astype(it)
        # the CPU loop reads the same lists as rows of four (see engine_cpu.run_steps)
        s.pre_ev = np.stack([s.pre_syn, s.pre_proj, s.pre_other, s.pre_dly], axis=1).astype(it)
        s.post_ev = np.stack([s.post_syn, s.post_proj, s.post_other, s.post_dly], axis=1).astype(it)
        s.elig_post = np.zeros(max(plastic.size, 1))  # eligibility increments of postsynaptic events, in post_syn order
        s.syn_postpos = np.zeros(s.syn_post.shape[0], dtype=it)
        s.syn_postpos[plastic[o]] = np.arange(plastic.size, dtype=it)
        # per plastic synapse (by position): bank-local pre / post index and the delay parts (for sampling x_pre / x_post)
        s.syn_trace = np.full((s.syn_post.shape[0], 4), -1, dtype=np.int64)
        s.syn_trace[plastic] = np.stack([pre - P_lo_pre[proj_of], axon, post - P_lo_post[proj_of], dend], axis=1) if plastic.size else 0


def _reference(monkeypatch):
    for name in _METHODS:
        monkeypatch.setattr(Network, name, _Reference.__dict__[name])


def _mixed():
    """Every receptor and model, all-to-all blocks, random connectivity, several delays, plastic rules of every kind
    (axonal and dendritic delays, one shared with a static projection), spike sources that repeat in a step."""
    rng = np.random.default_rng(0)
    net = sim.Network(dt=0.5, seed=3)
    net.add_modulator("da", tau=50.0, initial=0.5)
    izh = sim.Izhikevich(60, preset="regular_spiking", noise=3.0, name="izh")
    lif = sim.LIF(50, tau_m=10.0, v_rest=-60.0, v_th=-50.0, v_reset=-65.0, t_ref=2.0, tau_e=3.0, tau_i=6.0, name="lif")
    lif2 = sim.LIF(20, tau_e=2.0, tau_i=4.0, refractory_input=True, name="lif2")
    coba = sim.ConductanceLIF(30, name="coba")
    src = sim.PoissonInput(40, rate=60.0, name="src")
    src2 = sim.PoissonInput(10, rate=30.0, name="src2")
    rep = sim.SpikeSource(6, times=[1.0, 1.2, 3.0, 3.0], indices=[0, 0, 2, 5], repeats="multiplicity", name="rep")
    dly = lambda r, n: r.integers(0, 6, n) * 0.5  # noqa: E731
    stdp = PairSTDP(tau_plus=15.0, tau_minus=20.0, eta_plus=0.05, eta_minus=0.06, w_min=0.0, w_max=5.0)
    elig = RewardModulatedSTDP(stdp=PairSTDP(eta_plus=0.1, eta_minus=0.12, w_min=0.0, w_max=8.0), tau_c=40.0, update_interval=25.0)
    net.add(izh, lif, lif2, coba, src, src2, rep,
            sim.Projection(src, izh, "all_to_all", weight=rng.uniform(0.5, 2.0, 40 * 60), delay=3.5, name="dense_izh"),
            sim.Projection(src, lif, "all_to_all", weight=1.5, receptor="exc", delay=0.5, name="dense_exc"),
            sim.Projection(src, lif, "all_to_all", weight=-1.0, receptor="inh", delay=0.5, name="dense_inh"),
            sim.Projection(src2, lif2, "all_to_all", weight=0.7, delay=0.5, name="dense_framed"),
            sim.Projection(izh, lif, sim.FixedProbability(0.1), weight=-1.0, receptor="inh", delay=dly, name="sparse_inh"),
            sim.Projection(lif, izh, sim.FixedProbability(0.2), weight=2.0, delay=1.5, name="sparse_izh"),
            sim.Projection(lif, lif, sim.FixedProbability(0.1), weight=0.5, receptor="v", autapses=False, name="direct"),
            sim.Projection(src, lif2, sim.FixedInDegree(5), weight=0.3, receptor="v", delay=dly, name="direct2"),
            sim.Projection(src, coba, sim.FixedOutDegree(4), weight=0.2, delay=dly, name="coba_exc"),
            sim.Projection(src, lif, sim.FixedProbability(0.4), weight=3.5, delay=dly, plasticity=stdp, name="pair"),
            sim.Projection(src, izh, sim.FixedProbability(0.3), weight=4.0, delay=dly, plasticity=elig, modulator="da", name="elig"),
            sim.Projection(src, izh, sim.FixedProbability(0.3), weight=3.0, delay=2.0, plasticity=PairSTDP(w_max=6.0, dendritic_fraction=0.5),
                           name="dendritic"),
            sim.Projection(izh, lif, sim.FixedProbability(0.3), weight=1.0, delay=1.0, plasticity=TripletSTDP(w_max=4.0), name="triplet"),
            sim.Projection(rep, lif, "all_to_all", weight=1.0, delay=dly, plasticity=PairSTDP(w_max=3.0), name="repeats"),
            sim.Projection(rep, coba, sim.FixedProbability(0.0), weight=1.0, plasticity=PairSTDP(w_max=3.0), name="empty_plastic"),
            sim.SpikeMonitor(lif), sim.SpikeMonitor(izh))
    return net


def _unsorted():
    """Index arrays in no order, repeated pairs (multapses), several projections onto interleaved targets at one delay:
    the layout needs the pass by target before the pass by (pre, delay)."""
    rng = np.random.default_rng(7)
    net = sim.Network(dt=0.1, seed=1)
    a, b = sim.LIF(300, name="a"), sim.Izhikevich(200, preset="chattering", name="b")
    net.add(a, b)
    for k in range(4):
        pre, post = rng.integers(0, 300, 5000), rng.integers(0, 200, 5000)
        plast = PairSTDP(w_max=10.0, dendritic_fraction=0.3 * k) if k % 2 else None
        net.add(sim.Projection(a, b, (pre, post), weight=rng.uniform(0, 1, 5000), delay=rng.integers(0, 4, 5000) * 0.1 * (k % 3),
                               multapses=True, plasticity=plast, name=f"p{k}"))
    pre, post = rng.integers(0, 200, 3000), rng.integers(0, 300, 3000)
    net.add(sim.Projection(b, a, (pre, post), weight=0.5, delay=0.3, multapses=True, receptor="inh", name="back"),
            sim.Projection(b, b, sim.FixedProbability(0.05), weight=0.1, delay=0.2, plasticity=TripletSTDP(w_max=1.0), name="rec"))
    return net


def _rebuilt():
    """The mixed network run for a while (plastic weights moved), then laid out again with a model defined by equations
    (its input is v) and synapse monitors (x_pre, x_post read through the synapses' trace places): the rebuild path."""
    from neuro.dynamics import library

    net = _mixed()
    net.run(20.0, progress=False)
    adex = sim.Population(12, library.adex(I=500.0), name="adex")
    pair = next(p for p in net.projections if p.name == "pair")
    net.add(adex, sim.Projection(net.populations[4], adex, sim.FixedProbability(0.5), weight=2.0, delay=1.0, receptor="v", name="into_model"),
            sim.SynapseMonitor(pair, "x_pre", synapses=[0, 3]), sim.SynapseMonitor(pair, "x_post", synapses=[1]))
    return net


def _large():
    """The benchmark's network, small: one random recurrent projection of each sign."""
    net = sim.Network(dt=0.1, seed=2)
    pop = sim.LIF(3000, tau_m=20.0, v_rest=-49.0, v_th=-50.0, v_reset=-60.0, t_ref=5.0, tau_e=5.0, tau_i=10.0)
    net.add(pop, sim.Projection(pop, pop, sim.FixedProbability(0.02), weight=1.62, delay=0.1),
            sim.Projection(pop, pop, sim.FixedProbability(0.02), weight=-9.0, receptor="inh", delay=0.1))
    return net


def _empty():
    net = sim.Network(dt=0.1)
    a = sim.LIF(5)
    net.add(a, sim.Projection(a, a, sim.FixedProbability(0.0), plasticity=PairSTDP(w_max=1.0), seed=0))
    return net


def _no_synapses():
    net = sim.Network(dt=0.1)
    net.add(sim.LIF(3), sim.PoissonInput(2, rate=5.0))
    return net


def _layout(net):
    net.build()
    s = net._s
    arrays = {k: v for k, v in vars(s).items() if isinstance(v, np.ndarray)}
    arrays.update({f"order:{k}": p._order for k, p in enumerate(net.projections)})
    return arrays


@pytest.mark.parametrize("make", [_mixed, _unsorted, _rebuilt, _large, _empty, _no_synapses])
def test_layout_equals_the_reference_construction(make, monkeypatch):
    fast = _layout(make())
    with monkeypatch.context() as m:
        _reference(m)
        ref = _layout(make())
    assert fast.keys() == ref.keys()
    for key in ref:
        # the layout's targets and the synapses' places are kept in 32 bits since (the reference: 64)
        narrowed = key == "syn_post" or key.startswith("order:")
        assert fast[key].dtype == (np.int32 if narrowed else ref[key].dtype), key
        assert fast[key].shape == ref[key].shape, key
        np.testing.assert_array_equal(fast[key], ref[key], err_msg=key)


def test_the_mixed_network_reaches_every_delivery_code():
    code = _layout(_mixed())["seg_code"]
    for c in range(8):
        assert (code == c).any(), c


@pytest.mark.parametrize("ascending", [True, False])
def test_synapse_layout_is_lexsort(ascending):
    """Both ways of the counting sort: one pass by (pre, delay) when targets already ascend inside every segment, else a
    pass by target first; ties (multapses) in input order, as np.lexsort. Three projections, the second with one weight."""
    rng = np.random.default_rng(4)
    n, D, S, dt = 50, 4, 20000, 0.1
    pre, delay, post = rng.integers(0, n, S), rng.integers(0, D + 1, S), rng.integers(0, n, S)
    if ascending:  # projections onto disjoint target ranges, each sorted
        post = np.sort(post)
    w = rng.uniform(0, 1, S)
    cut = [0, 5000, 12000, S]
    parts = [(pre[a:b], 0, delay[a:b] * dt, post[a:b], 0, w[a:b] if k != 1 else np.broadcast_to(np.array(0.5), (b - a,)), k)
             for k, (a, b) in enumerate(zip(cut[:-1], cut[1:]))]
    w[cut[1] : cut[2]] = 0.5
    inv, starts, syn_post, syn_w, syn_chan, syn_proj = proj_mod._synapse_layout(parts, n, D, dt)
    order = np.lexsort((post, delay, pre))
    np.testing.assert_array_equal(inv[order], np.arange(S))
    np.testing.assert_array_equal(syn_post, post[order])
    np.testing.assert_array_equal(syn_w, w[order])
    proj_of = np.repeat([0, 1, 2], np.diff(cut))
    np.testing.assert_array_equal(syn_proj, proj_of[order])
    np.testing.assert_array_equal(syn_chan, proj_of[order])
    key = pre[order] * (D + 1) + delay[order]
    np.testing.assert_array_equal(starts, np.searchsorted(key, np.arange(n * (D + 1) + 1)))
    order, starts = proj_mod._counting_order(post, n)
    np.testing.assert_array_equal(order, np.argsort(post, kind="stable"))
    np.testing.assert_array_equal(starts, np.searchsorted(np.sort(post), np.arange(n + 1)))


def test_runs_after_the_compiled_layout_equal_the_reference(monkeypatch):
    """A short run of the mixed network: same spikes and weights bit for bit with either construction."""
    def run(net):
        mons = [m for m in net.monitors]
        net.run(60.0, progress=False)
        return [(m.t.copy(), m.i.copy()) for m in mons], [p.weights for p in net.projections]

    spikes, weights = run(_mixed())
    with monkeypatch.context() as m:
        _reference(m)
        spikes_ref, weights_ref = run(_mixed())
    assert sum(t.size for t, _ in spikes) > 20
    for (t, i), (tr, ir) in zip(spikes, spikes_ref):
        np.testing.assert_array_equal(t, tr)
        np.testing.assert_array_equal(i, ir)
    for w, wr in zip(weights, weights_ref):
        np.testing.assert_array_equal(w, wr)


# ---------------------------------------------------------------------------------------------- FixedProbability draw
@pytest.mark.parametrize("p, n_pre, n_post", [(0.0125, 37, 101), (0.2, 37, 101), (0.33, 37, 101), (0.3, 2000, 2000)])
def test_gaps_are_numpy_geometric_draws(p, n_pre, n_post):
    """Below p = 1/3 NumPy draws geometric numbers by the same inversion: the gaps between connected pairs (row-major,
    across rows) are exactly ``rng.geometric(p)`` from the same seed, also when the exponentials come in several
    chunks (1.2 M synapses, chunks of 1 M)."""
    pre, post = proj_mod._bernoulli_pairs(p, n_pre, n_post, np.random.default_rng(11))
    flat = pre * n_post + post
    gaps = np.diff(np.concatenate([[-1], flat]))
    np.testing.assert_array_equal(gaps, np.random.default_rng(11).geometric(p, gaps.size))


@pytest.mark.parametrize("p", [0.05, 0.5, 0.9])
def test_fixed_probability_law(p):
    """Each pair connected independently with probability p: the total is binomial, every row and column gets its share
    (chi-square), and two cells of the matrix are connected together as often as p**2 says."""
    n_pre, n_post, reps = 40, 50, 200
    hits = np.zeros((n_pre, n_post))
    both = 0
    totals = []
    rng = np.random.default_rng(5)
    for _ in range(reps):
        pre, post = proj_mod._bernoulli_pairs(p, n_pre, n_post, rng)
        assert np.all(np.diff(pre * n_post + post) > 0)  # row-major, no pair twice
        m = np.zeros((n_pre, n_post), bool)
        m[pre, post] = True
        hits += m
        both += m[3, 7] & m[3, 8]
        totals.append(pre.size)
    N = n_pre * n_post
    sd = np.sqrt(N * p * (1 - p))
    assert abs(np.mean(totals) - N * p) < 5 * sd / np.sqrt(reps)
    assert abs(np.std(totals) - sd) < 0.25 * sd
    # chi-square of the per-pair counts against reps * p (each a binomial): mean ~ 1 per degree of freedom
    chi2 = np.sum((hits - reps * p) ** 2 / (reps * p * (1 - p))) / N
    assert abs(chi2 - 1.0) < 5 * np.sqrt(2.0 / N)
    assert abs(both / reps - p * p) < 5 * np.sqrt(p * p * (1 - p * p) / reps)


def test_fixed_probability_edges_and_autapses():
    rng = np.random.default_rng(0)
    assert proj_mod._bernoulli_pairs(0.0, 10, 10, rng)[0].size == 0
    pre, post = proj_mod._bernoulli_pairs(1.0, 3, 4, rng)
    np.testing.assert_array_equal(pre * 4 + post, np.arange(12))
    assert proj_mod._bernoulli_pairs(0.5, 0, 10, rng)[0].size == 0
    pre, post = proj_mod._bernoulli_pairs(0.7, 1, 1, np.random.default_rng(1))
    assert pre.size <= 1
    a = sim.LIF(60)
    net = sim.Network(seed=4)
    p = sim.Projection(a, a, sim.FixedProbability(0.5), autapses=False)
    net.add(a, p)
    assert len(p) > 0 and not np.any(p.pre_index == p.post_index)
    off_diag = 60 * 59
    assert abs(len(p) - 0.5 * off_diag) < 5 * np.sqrt(off_diag * 0.25)
    pre, post = proj_mod._bernoulli_pairs(0.9, 3000, 2000, np.random.default_rng(2))  # several chunks, NumPy's search method above 1/3
    assert abs(pre.size - 0.9 * 6e6) < 5 * np.sqrt(6e6 * 0.09)


def test_fixed_probability_follows_its_seed():
    a, b = sim.LIF(100), sim.LIF(80)
    p1, p2, p3 = (sim.Projection(a, b, sim.FixedProbability(0.1), weight=lambda r, n: r.uniform(0, 1, n), seed=s) for s in (3, 3, 4))
    np.testing.assert_array_equal(p1.pre_index, p2.pre_index)
    np.testing.assert_array_equal(p1.post_index, p2.post_index)
    np.testing.assert_array_equal(p1.weights, p2.weights)
    assert not np.array_equal(p1.post_index[:50], p3.post_index[:50])


def test_compact_indices_inside_64_bit_copies_outside():
    """Drawn pairs are kept in 32 bits (and the layout's targets and places), but ``pre_index`` / ``post_index`` hand out
    64-bit copies: index arithmetic past 2**31 stays exact and writing to them changes nothing inside."""
    a, b = sim.LIF(70_000), sim.LIF(50_000)
    net = sim.Network(seed=2)
    p = sim.Projection(a, b, sim.FixedProbability(2e-6), weight=0.1)
    net.add(a, b, p)
    assert p._pre.dtype == np.int32 and p.pre_index.dtype == np.int64 and p.post_index.dtype == np.int64
    linear = p.pre_index * b.n + p.post_index  # up to 3.5e9: would wrap in 32 bits
    assert linear.max() > 2**31 and np.all(linear // b.n == p._pre) and np.all(linear % b.n == p._post)
    p.pre_index[:] = 0
    assert p.pre_index.max() > 0
    net.build()
    s = net._s
    assert s.syn_post.dtype == np.int32 and p._order.dtype == np.int32
    np.testing.assert_array_equal(s.syn_post[p._order], b.start + p.post_index)


def test_repeated_pairs_are_refused_in_any_order():
    a, b = sim.LIF(10), sim.LIF(10)
    for pre, post in (([0, 1, 1], [3, 2, 2]), ([5, 1, 5], [2, 2, 2])):
        with pytest.raises(ValueError, match="repeated"):
            sim.Projection(a, b, (np.array(pre), np.array(post)))
        assert len(sim.Projection(a, b, (np.array(pre), np.array(post)), multapses=True)) == 3
    assert len(sim.Projection(a, b, (np.array([3, 1, 2]), np.array([0, 0, 0])))) == 3


def test_delay_steps_refuses_delays_off_the_grid():
    a = sim.LIF(3)
    p = sim.Projection(a, a, "all_to_all", delay=np.array([0.2, 0.3, 0.25, 0.1, 0, 0, 0, 0, 0]))
    with pytest.raises(ValueError, match="delay 0.25 ms is not a whole number of steps of dt = 0.1 ms"):
        p.delay_steps(0.1)
    np.testing.assert_array_equal(p.delay_steps(0.05), [4, 6, 5, 2, 0, 0, 0, 0, 0])
