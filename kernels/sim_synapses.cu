// The simulator's time step on the GPU, synapse side: event-driven delivery through the delay ring buffer,
// plasticity at presynaptic arrivals and postsynaptic spikes (lazy trace decay), the periodic
// eligibility -> weight rule, and synapse / modulator samples. Same laws and order as
// neuro/sim/engine_cpu.py; control block and counters as in sim_step.cu.
//
// Work split: one block per spike (the spikes of step t - d for each delay d), its threads over that
// neuron's synapses with delay d (CSR off[pre, d] .. off[pre, d + 1]). A synapse belongs to one
// (pre, delay) segment, so within a kernel no two threads touch the same synapse; targets are shared
// and take atomic adds.
#include "neuro_device.cuh"
#include "stdp.cuh"

#define PL_NONE 0
#define PL_PAIR 1
#define PL_ELIGIBILITY 2
#define PL_TRIPLET 3
#define TINY 1e-290

NEURO_KERNEL void deliver(const i64* ctl, i64* cnt, i64 R, i64 D, const i64* hist_idx, const i64* hist_n,
                          const i64* hist_step, i64 stride, const i64* off, const TGT_T* syn_tgt,
                          const double* syn_w, double* tgt) {
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
            for (i64 s = a + LANE_START; s < b; s += LANE_STRIDE) atomic_add(&tgt[syn_tgt[s]], syn_w[s]);
        }
    }
}

NEURO_DEVICE double decayed(double x, double elapsed, double tau) {
    double arg = -elapsed / tau;
    if (arg < -650.0) return 0.0;
    double y = x * exp(arg);
    return fabs(y) >= TINY ? y : 0.0;
}

// x exp(-k dt / tau) from the table row (exp beyond the table), as engine_cpu._decayed_steps
NEURO_DEVICE double decayed_steps(double x, i64 k, double elapsed, const double* tab_row, i64 tab_len, double tau) {
    if (k >= tab_len) return decayed(x, elapsed, tau);
    double y = x * tab_row[k];
    return fabs(y) >= TINY ? y : 0.0;
}

struct Plastic {
    i64 kind;
    const double* pp;   // the projection's parameter row
    const double* tab;  // its decay table [4, tab_len]
};

NEURO_DEVICE Plastic plastic_of(i64 s, const i64* syn_proj, const i64* proj_kind, const double* proj_par, i64 npar,
                                const double* decay_tab, i64 tab_len) {
    Plastic p;
    i64 pr = syn_proj[s];
    p.kind = proj_kind[pr];
    p.pp = proj_par + pr * npar;
    p.tab = decay_tab + pr * 4 * tab_len;
    return p;
}

// bring synapse s's traces from t_last to now (2 traces, or the triplet's 4)
NEURO_DEVICE void decay_to(i64 s, double now, const Plastic& p, i64 tab_len, double inv_dt, double* tr_pre, double* tr_post,
                           double* tr_pre2, double* tr_post2, double* t_last) {
    double el = now - t_last[s];
    i64 k = (i64)(el * inv_dt + 0.5);
    if (p.kind == PL_TRIPLET) {
        tr_pre[s] = decayed_steps(tr_pre[s], k, el, p.tab, tab_len, p.pp[0]);
        tr_pre2[s] = decayed_steps(tr_pre2[s], k, el, p.tab + tab_len, tab_len, p.pp[1]);
        tr_post[s] = decayed_steps(tr_post[s], k, el, p.tab + 2 * tab_len, tab_len, p.pp[2]);
        tr_post2[s] = decayed_steps(tr_post2[s], k, el, p.tab + 3 * tab_len, tab_len, p.pp[3]);
    } else {
        tr_pre[s] = decayed_steps(tr_pre[s], k, el, p.tab, tab_len, p.pp[0]);
        tr_post[s] = decayed_steps(tr_post[s], k, el, p.tab + tab_len, tab_len, p.pp[1]);
    }
    t_last[s] = now;
}

// Plastic synapses reached now by a presynaptic spike (post = 0; CSR by pre and axonal delay) or by a
// postsynaptic one (post = 1; CSR by post and dendritic delay).
NEURO_KERNEL void plastic_events(const i64* ctl, i64 post, i64 R, i64 DX, const i64* hist_idx, const i64* hist_n,
                                 const i64* hist_step, i64 stride, const i64* x_off, const i64* x_syn,
                                 const i64* syn_proj, double* syn_w, const i64* proj_kind, const double* proj_par, i64 npar,
                                 double* tr_pre, double* tr_post, double* tr_pre2, double* tr_post2, double* elig,
                                 double* t_last, const double* decay_tab, i64 tab_len, const double* elig_scale, double dt) {
    if (ctl[1]) return;
    const i64 t = ctl[0];
    const double now = t * dt, inv_dt = 1.0 / dt;
    const i64 ow = DX + 2;
    for (i64 d = 0; d <= DX && d <= t; ++d) {
        const i64 src = (t - d) % R;
        if (hist_step[src] != t - d) continue;
        const i64 ns = hist_n[src];
        for (i64 q = BLOCK_START; q < ns; q += BLOCK_STRIDE) {
            const i64 i = hist_idx[src * stride + q];
            const i64 a = x_off[i * ow + d], b = x_off[i * ow + d + 1];
            for (i64 e = a + LANE_START; e < b; e += LANE_STRIDE) {
                const i64 s = x_syn[e];
                Plastic p = plastic_of(s, syn_proj, proj_kind, proj_par, npar, decay_tab, tab_len);
                decay_to(s, now, p, tab_len, inv_dt, tr_pre, tr_post, tr_pre2, tr_post2, t_last);
                if (p.kind == PL_TRIPLET) {
                    syn_w[s] = post ? triplet_on_post(syn_w[s], tr_pre[s], tr_pre2[s], &tr_post[s], &tr_post2[s], p.pp)
                                    : triplet_on_pre(syn_w[s], &tr_pre[s], &tr_pre2[s], tr_post[s], tr_post2[s], p.pp);
                } else if (p.kind == PL_PAIR) {
                    syn_w[s] = post ? pair_on_post(syn_w[s], tr_pre[s], &tr_post[s], p.pp)
                                    : pair_on_pre(syn_w[s], &tr_pre[s], tr_post[s], p.pp);
                } else {  // eligibility: the unbounded pair law's change goes to elig, stored as of period_last
                    double inc = post ? pair_on_post(0.0, tr_pre[s], &tr_post[s], p.pp)
                                      : pair_on_pre(0.0, &tr_pre[s], tr_post[s], p.pp);
                    elig[s] += inc * elig_scale[syn_proj[s]];
                }
            }
        }
    }
}

// Periodic rule of eligibility projections whose period ends with step t (step_end advances the clocks).
NEURO_KERNEL void periodic(const i64* ctl, i64 P, const i64* proj_kind, const double* proj_par, i64 npar,
                           const i64* proj_ptr, const i64* proj_syn, const i64* period_next, const double* period_last,
                           const double* modulator, double* elig, double* syn_w, double dt) {
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
            double c;
            if (periodic_decay) { c = elig[s]; elig[s] = c * f_period; }
            else { c = elig[s] * f; elig[s] = c; }
            double w = syn_w[s] + pp[24] + gain * c;
            syn_w[s] = fmin(fmax(w, pp[25]), pp[26]);
        }
    }
}

// Synapse / modulator samples at the start of step t (state at t dt): columns (index, kind) as engine_cpu._sample_synapses.
NEURO_KERNEL void sample_synapses(const i64* ctl, const i64* cnt, const i64* sm_idx, const i64* sm_kind, i64 ncols, i64 sm_every,
                                  double* sm_out, const i64* syn_proj, const double* syn_w, const i64* proj_kind,
                                  const double* proj_par, i64 npar, const double* tr_pre, const double* tr_post,
                                  const double* elig, const double* t_last, const double* modulator,
                                  const double* period_last, double dt) {
    if (ctl[1]) return;
    const i64 t = ctl[0];
    const i64 r = cnt[2];
    if (t % sm_every != 0 || r >= ctl[7]) return;
    const double now = t * dt;
    for (i64 c = GRID_START; c < ncols; c += GRID_STRIDE) {
        i64 i = sm_idx[c], kind = sm_kind[c];
        double val;
        if (kind == 4) val = modulator[i];
        else if (kind == 0) val = syn_w[i];
        else {
            i64 pr = syn_proj[i], pk = proj_kind[pr];
            const double* pp = proj_par + pr * npar;
            if (pk == PL_NONE) val = 0.0;
            else if (kind == 1) {
                if (pk != PL_ELIGIBILITY) val = 0.0;
                else if (pp[28] != 0.0) val = elig[i];
                else val = elig[i] * exp(-(now - period_last[pr]) / pp[10]);
            } else if (kind == 2) val = tr_pre[i] * exp(-(now - t_last[i]) / pp[0]);
            else val = tr_post[i] * exp(-(now - t_last[i]) / (pk == PL_TRIPLET ? pp[2] : pp[1]));
        }
        sm_out[r * ncols + c] = val;
    }
}
