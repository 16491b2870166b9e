// The simulator's time step on the GPU, synapse side: event-driven delivery through the delay ring buffer,
// plasticity at presynaptic arrivals and postsynaptic spikes (lazy trace decay), the periodic
// eligibility -> weight rule, and synapse / modulator samples. Same laws and order as
// neuro/sim/engine_cpu.py; control block and counters as in sim_step.cu.
//
// Work split: one block per spike (the spikes of step t - d for each delay d), its threads over that
// neuron's synapses with delay d (CSR off[pre, d] .. off[pre, d + 1]). A synapse belongs to one
// (pre, delay) segment, so a synapse is written by one thread per kernel, provided each neuron is handled by one
// block: the copies of a neuron that spikes several times in a step (a SpikeSource with repeats="multiplicity")
// are adjacent in the step's list, and the block of the first copy applies all of them, in order (spike_repeats()).
// Delivery adds into shared targets in a fixed order, the CPU loop's (see deliver_count .. deliver_sum).
#include "neuro_device.cuh"
#include "stdp.cuh"
#include "generated.cuh"  // spike_repeats

#define PL_NONE 0
#define PL_PAIR 1
#define PL_ELIGIBILITY 2
#define PL_TRIPLET 3
#define PL_GENERIC 4  // user-defined rules: their generated kernels (kernels/synapse_model.cu.in), not these
#define TINY 1e-290

// ---- delivery, in four passes, so that each target adds its inputs in the CPU loop's order whatever the threads' order
// (for each delay d = 0 .. D, the spikes of step t - d in list order, each one's synapses in CSR order): the events are
// counted per target, each touched target gets a contiguous range of the event buffer, the events are written there
// with a key giving their place in that order, and one thread per target sorts its keys and adds the weights.
// key = ((d * stride + q) * L + j): the spike at place q of step t - d's list, its synapse off[i, d] + j (L: the longest
// segment, so the key is unique). cnt[5]: targets touched (listed in touched), cnt[6]: events placed.
// A synapse with frame key k adds w * gk[k] (key 0: w; see step_begin in sim_step.cu); a jump onto v of a neuron that
// spiked now or is refractory (blocked, written by update_neurons) is dropped.
NEURO_KERNEL void deliver_count(const i64* ctl, i64* cnt, i64 R, i64 D, const i64* hist_idx, const i64* hist_n,
                                const i64* hist_step, i64 stride, const i64* off, const TGT_T* syn_tgt,
                                const unsigned char* blocked, i64 v_lo, i64* tcount, i64* touched) {
    if (ctl[1]) return;
    const i64 t = ctl[0];
    const i64 ow = D + 2;
    for (i64 d = 0; d <= D && d <= t; ++d) {
        const i64 src = (t - d) % R;
        if (hist_step[src] != t - d) continue;
        const i64 ns = hist_n[src];
        for (i64 q = BLOCK_START; q < ns; q += BLOCK_STRIDE) {
            const i64 i = hist_idx[src * stride + q];
            const i64 a = off[i * ow + d], b = off[i * ow + d + 1];
            if (FIRST_LANE && b > a) atomic_add(&cnt[3], b - a);
            for (i64 s = a + LANE_START; s < b; s += LANE_STRIDE) {
                const i64 k_t = (i64)syn_tgt[s];
                if (k_t >= v_lo && blocked[k_t - v_lo]) continue;
                if (atomic_add(&tcount[k_t], 1LL) == 0) touched[atomic_add(&cnt[5], 1LL)] = k_t;
            }
        }
    }
}

// Each touched target's range [tbase, tbase + tcount) of the event buffer (ranges in any order; their contents are
// sorted). cnt[7] counts ranges past the buffer's end: never (GPUEngine sizes it for a step's worst case), else an error.
NEURO_KERNEL void deliver_place(const i64* ctl, i64* cnt, const i64* touched, const i64* tcount, i64* tbase, i64* tfill, i64 ev_cap) {
    if (ctl[1]) return;
    const i64 m = cnt[5];
    for (i64 j = GRID_START; j < m; j += GRID_STRIDE) {
        const i64 k = touched[j];
        tbase[k] = atomic_add(&cnt[6], tcount[k]);
        tfill[k] = 0;
        if (tbase[k] + tcount[k] > ev_cap) atomic_add(&cnt[7], 1LL);
    }
}

NEURO_KERNEL void deliver_scatter(const i64* ctl, i64 R, i64 D, const i64* hist_idx, const i64* hist_n,
                                  const i64* hist_step, i64 stride, const i64* off, const TGT_T* syn_tgt,
                                  const unsigned char* blocked, i64 v_lo, i64 L, const i64* tbase, i64* tfill,
                                  i64* ev, i64 ev_cap) {
    if (ctl[1]) return;
    const i64 t = ctl[0];
    const i64 ow = D + 2;
    for (i64 d = 0; d <= D && d <= t; ++d) {
        const i64 src = (t - d) % R;
        if (hist_step[src] != t - d) continue;
        const i64 ns = hist_n[src];
        for (i64 q = BLOCK_START; q < ns; q += BLOCK_STRIDE) {
            const i64 i = hist_idx[src * stride + q];
            const i64 a = off[i * ow + d], b = off[i * ow + d + 1];
            const i64 key0 = (d * stride + q) * L - a;
            for (i64 s = a + LANE_START; s < b; s += LANE_STRIDE) {
                const i64 k_t = (i64)syn_tgt[s];
                if (k_t >= v_lo && blocked[k_t - v_lo]) continue;
                const i64 pos = tbase[k_t] + atomic_add(&tfill[k_t], 1LL);
                if (pos < ev_cap) ev[pos] = key0 + s;
            }
        }
    }
}

// ascending keys: insertion sort for short ranges (most targets get few events per step), heapsort beyond
NEURO_DEVICE void sort_keys(i64* a, i64 m) {
    if (m <= 32) {
        for (i64 x = 1; x < m; ++x) {
            const i64 v = a[x];
            i64 y = x;
            while (y > 0 && a[y - 1] > v) { a[y] = a[y - 1]; --y; }
            a[y] = v;
        }
        return;
    }
    for (i64 end = m, start = m / 2;;) {  // heapsort: build the heap (start > 0), then pop (end > 1)
        i64 root;
        if (start > 0) root = --start;
        else {
            if (--end == 0) return;
            const i64 v = a[end]; a[end] = a[0]; a[0] = v;
            root = 0;
        }
        for (i64 child; (child = 2 * root + 1) < end; root = child) {
            if (child + 1 < end && a[child + 1] > a[child]) ++child;
            if (a[root] >= a[child]) break;
            const i64 v = a[root]; a[root] = a[child]; a[child] = v;
        }
    }
}

NEURO_KERNEL void deliver_sum(const i64* ctl, const i64* cnt, i64 R, i64 D, const i64* hist_idx, i64 stride,
                              const i64* off, const double* syn_w, double* tgt, const FK_T* syn_fk, const double* gk,
                              i64 L, const i64* touched, i64* tcount, const i64* tbase, i64* ev, i64 ev_cap) {
    if (ctl[1]) return;
    const i64 t = ctl[0];
    const i64 ow = D + 2;
    const i64 m = cnt[5];
    for (i64 j = GRID_START; j < m; j += GRID_STRIDE) {
        const i64 k_t = touched[j];
        const i64 base = tbase[k_t];
        i64 len = tcount[k_t];
        tcount[k_t] = 0;
        if (base + len > ev_cap) len = base < ev_cap ? ev_cap - base : 0;  // never (the buffer holds a step's worst case)
        i64* keys = ev + base;
        sort_keys(keys, len);
        double acc = tgt[k_t];
        for (i64 e = 0; e < len; ++e) {
            const i64 key = keys[e];
            const i64 dq = key / L, jj = key - dq * L;
            const i64 d = dq / stride, q = dq - d * stride;
            const i64 i = hist_idx[((t - d) % R) * stride + q];
            const i64 s = off[i * ow + d] + jj;
            const int k = syn_fk[s];
            acc += k == 0 ? syn_w[s] : syn_w[s] * gk[k];
        }
        tgt[k_t] = acc;
    }
}

// Trace banks (neuro/sim/network.py _build_traces): bank b keeps one trace of one projection's pre- or
// postsynaptic population for its last bank_len[b] steps, ntr[bank_base[b] + (step % len) * n + k].
NEURO_DEVICE i64 ring_index(const i64* bank_base, const i64* bank_len, const i64* bank_n, i64 b, i64 step, i64 loc) {
    i64 L = bank_len[b];
    i64 r = step % L;
    if (r < 0) r += L;  // Python's modulo, as the Numba loop
    return bank_base[b] + r * bank_n[b] + loc;
}

// the value of `step` decayed by one step (what a synapse sees one step later), subnormals as 0
NEURO_DEVICE double ring_seen(const double* ntr, const i64* bank_base, const i64* bank_len, const i64* bank_n,
                              const double* bank_decay, i64 b, i64 step, i64 loc) {
    double y = ntr[ring_index(bank_base, bank_len, bank_n, b, step, loc)] * bank_decay[b];
    return fabs(y) >= TINY ? y : 0.0;
}

// Step t of every bank, first part: the row of step t - 1 decayed into the row of step t (one thread per neuron of a bank).
NEURO_KERNEL void decay_traces(const i64* ctl, i64 n_banks, i64 total, double* ntr, const i64* bank_base, const i64* bank_len,
                               const i64* bank_n, const double* bank_decay) {
    if (ctl[1]) return;
    const i64 t = ctl[0];
    for (i64 g = GRID_START; g < total; g += GRID_STRIDE) {
        i64 b = 0, k = g;
        while (k >= bank_n[b]) { k -= bank_n[b]; ++b; }
        double y = ntr[ring_index(bank_base, bank_len, bank_n, b, t - 1, k)] * bank_decay[b];
        ntr[ring_index(bank_base, bank_len, bank_n, b, t, k)] = fabs(y) >= TINY ? y : 0.0;
    }
}

// Second part: this step's spikes set their traces to 1 (nearest pairing) or add 1 (all-to-all).
NEURO_KERNEL void bump_traces(const i64* ctl, i64 R, const i64* hist_idx, const i64* hist_n, i64 stride, i64 n_banks,
                              double* ntr, const i64* bank_base, const i64* bank_len, const i64* bank_n, const i64* bank_lo,
                              const double* bank_nearest) {
    if (ctl[1]) return;
    const i64 t = ctl[0];
    const i64 slot = t % R;
    const i64 ns = hist_n[slot];
    const i64* row = hist_idx + slot * stride;
    for (i64 q = GRID_START; q < ns; q += GRID_STRIDE) {
        const i64 i = row[q];
        const i64 rep = spike_repeats(row, q, ns, i);  // a source neuron spiking several times in the step: its first copy
        if (rep == 0) continue;
        for (i64 b = 0; b < n_banks; ++b) {
            i64 k = i - bank_lo[b];
            if (k < 0 || k >= bank_n[b]) continue;
            double* x = &ntr[ring_index(bank_base, bank_len, bank_n, b, t, k)];
            for (i64 r = 0; r < rep; ++r) *x = bank_nearest[b] != 0.0 ? 1.0 : *x + 1.0;
        }
    }
}

// Plastic synapses reached now by a presynaptic spike (post = 0: x_off / x_syn by pre and axonal delay, x_other the
// post neuron in its bank, x_dly the dendritic delay) or by a postsynaptic one (post = 1: by post and dendritic delay,
// x_other the pre neuron, x_dly the axonal delay). Traces as in engine_cpu.run_steps, phases 3a and 4.
// late (presynaptic side only): 0 the rules that deliver the weight after their update (launched before deliver),
// 1 those that deliver it before (proj_par[29], launched after deliver); -1 every rule.
// A neuron listed k times in a step's list (adjacent copies) is handled by the block of its first copy, which applies
// the k events to each synapse one after another, as the CPU loop does; so each synapse has one writer.
NEURO_KERNEL void plastic_events(const i64* ctl, i64 post, i64 late, i64 R, i64 DX, const i64* hist_idx, const i64* hist_n,
                                 const i64* hist_step, i64 stride, const i64* x_off, const EV_T* x_syn, const EV_T* x_proj,
                                 const EV_T* x_other, const EV_T* x_dly, double* syn_w, const i64* proj_kind,
                                 const double* proj_par, i64 npar, const i64* proj_bank, double* elig, double* elig_post,
                                 const double* ntr,
                                 const i64* bank_base, const i64* bank_len, const i64* bank_n, const i64* bank_lo,
                                 const double* bank_decay, const double* elig_scale) {
    if (ctl[1]) return;
    const i64 t = ctl[0];
    const i64 ow = DX + 2;
    for (i64 d = 0; d <= DX && d <= t; ++d) {
        const i64 src = (t - d) % R;
        if (hist_step[src] != t - d) continue;
        const i64 ns = hist_n[src];
        const i64* row = hist_idx + src * stride;
        for (i64 q = BLOCK_START; q < ns; q += BLOCK_STRIDE) {
            const i64 i = row[q];  // the neuron that spiked (pre, or post when post = 1)
#ifndef NEURO_TEST_RACE_REPEATED_SPIKES
            const i64 rep = spike_repeats(row, q, ns, i);
#else  // tests only (tests/sim/test_gpu_concurrent.py): each copy by its own block, the lost-update race of issue 22
            const i64 rep = 1;
#endif
            if (rep == 0) continue;
            const i64 a = x_off[i * ow + d], b = x_off[i * ow + d + 1];
            for (i64 e = a + LANE_START; e < b; e += LANE_STRIDE) {
                const i64 s = x_syn[e], pr = x_proj[e], other = x_other[e], kind = proj_kind[pr];
                if (kind == PL_GENERIC) continue;
                const double* pp = proj_par + pr * npar;
                if (late >= 0 && (pp[29] != 0.0) != (late != 0)) continue;
                const i64* bk = proj_bank + pr * 4;
                double dummy = 0.0, dummy2 = 0.0;
                for (i64 r = 0; r < rep; ++r) {
                    if (!post) {
                        const i64 t_post = t - 1 - x_dly[e];
                        if (kind == PL_TRIPLET) {
                            double o1 = ring_seen(ntr, bank_base, bank_len, bank_n, bank_decay, bk[2], t_post, other);
                            double r2 = ring_seen(ntr, bank_base, bank_len, bank_n, bank_decay, bk[1], t - 1 - d, i - bank_lo[bk[1]]);
                            syn_w[s] = triplet_on_pre(syn_w[s], &dummy, &r2, o1, 0.0, pp);
                        } else {
                            double x_post = ring_seen(ntr, bank_base, bank_len, bank_n, bank_decay, bk[1], t_post, other);
                            if (kind == PL_PAIR) syn_w[s] = pair_on_pre(syn_w[s], &dummy, x_post, pp);
                            else elig[s] += pair_on_pre(0.0, &dummy, x_post, pp) * elig_scale[pr];
                        }
                    } else {
                        double r1 = ntr[ring_index(bank_base, bank_len, bank_n, bk[0], t - x_dly[e], other)];
                        if (kind == PL_TRIPLET) {
                            double o2 = ring_seen(ntr, bank_base, bank_len, bank_n, bank_decay, bk[3], t - 1 - d, i - bank_lo[bk[3]]);
                            syn_w[s] = triplet_on_post(syn_w[s], r1, 0.0, &dummy, &o2, pp);
                        } else if (kind == PL_PAIR) {
                            syn_w[s] = pair_on_post(syn_w[s], r1, &dummy2, pp);
                        } else {
                            elig_post[e] += pair_on_post(0.0, r1, &dummy2, pp) * elig_scale[pr];  // by event position
                        }
                    }
                }
            }
        }
    }
}

// Periodic rule of eligibility projections whose period ends with step t (step_end advances the clocks).
NEURO_KERNEL void periodic(const i64* ctl, i64 P, const i64* proj_kind, const double* proj_par, i64 npar,
                           const i64* proj_ptr, const i64* proj_syn, const i64* period_next, const double* period_last,
                           const double* modulator, double* elig, double* elig_post, const EV_T* syn_postpos,
                           double* syn_w, double dt) {
    if (ctl[1]) return;
    const i64 t = ctl[0];
    const double now = t * dt;
    for (i64 pr = 0; pr < P; ++pr) {
        if (proj_kind[pr] != PL_ELIGIBILITY || t + 1 < period_next[pr]) continue;
        const double* pp = proj_par + pr * npar;
        // pp: 10 tau_c, 11 period_steps, 22 baseline, 23 rate, 24 drift, 25 w_min, 26 w_max, 27 modulator, 28 periodic decay
        double da = modulator[(i64)pp[27]];
        double f = exp(-(now - period_last[pr]) / pp[10]);
        double gain = pp[23] * (pp[22] + da);
        bool periodic_decay = pp[28] != 0.0;
        double f_period = exp(-pp[11] * dt / pp[10]);
        for (i64 e = proj_ptr[pr] + GRID_START; e < proj_ptr[pr + 1]; e += GRID_STRIDE) {
            i64 s = proj_syn[e];
            i64 pos = syn_postpos[s];
            double c = elig[s] + elig_post[pos];  // the two sides' increments, merged once per period
            elig_post[pos] = 0.0;
            if (periodic_decay) { elig[s] = c * f_period; }
            else { c = c * f; elig[s] = c; }
            double w = syn_w[s] + pp[24] + gain * c;
            syn_w[s] = fmin(fmax(w, pp[25]), pp[26]);
        }
    }
}

// Synapse / modulator samples at the start of step t (state at t dt): columns (index, kind) as engine_cpu._sample_synapses;
// sm_aux[c]: (bank, neuron within it, delay part) of a trace column, bank -1 where there is none.
NEURO_KERNEL void sample_synapses(const i64* ctl, const i64* cnt, const i64* sm_idx, const i64* sm_kind, const i64* sm_aux,
                                  i64 ncols, i64 sm_every, double* sm_out, const i64* syn_proj, const double* syn_w,
                                  const i64* proj_kind, const double* proj_par, i64 npar, const double* elig,
                                  const double* elig_post, const EV_T* syn_postpos,
                                  const double* modulator, const double* period_last, const double* ntr, const i64* bank_base,
                                  const i64* bank_len, const i64* bank_n, const double* bank_decay, const double* syn_state,
                                  double dt) {
    if (ctl[1]) return;
    const i64 t = ctl[0];
    const i64 r = cnt[2];
    if (t % sm_every != 0 || r >= ctl[7]) return;
    const double now = t * dt;
    for (i64 c = GRID_START; c < ncols; c += GRID_STRIDE) {
        i64 i = sm_idx[c], kind = sm_kind[c];
        double val;
        if (kind == 4) val = modulator[i];
        else if (kind == 5) val = syn_state[i];  // a variable of a user-defined rule (sm_idx: its place in syn_state)
        else if (kind == 0) val = syn_w[i];
        else if (kind == 1) {
            i64 pr = syn_proj[i];
            const double* pp = proj_par + pr * npar;
            if (proj_kind[pr] != PL_ELIGIBILITY) val = 0.0;
            else if (pp[28] != 0.0) val = elig[i] + elig_post[syn_postpos[i]];
            else val = (elig[i] + elig_post[syn_postpos[i]]) * exp(-(now - period_last[pr]) / pp[10]);
        } else {
            i64 b = sm_aux[c * 3];
            val = b < 0 ? 0.0 : ring_seen(ntr, bank_base, bank_len, bank_n, bank_decay, b, t - 1 - sm_aux[c * 3 + 2], sm_aux[c * 3 + 1]);
        }
        sm_out[r * ncols + c] = val;
    }
}

NEURO_THREADED(deliver_count)
NEURO_THREADED(deliver_place)
NEURO_THREADED(deliver_scatter)
NEURO_THREADED(deliver_sum)
NEURO_THREADED(decay_traces)
NEURO_THREADED(bump_traces)
NEURO_THREADED(plastic_events)
NEURO_THREADED(periodic)
NEURO_THREADED(sample_synapses)
