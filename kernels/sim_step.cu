// The simulator's time step on the GPU, neuron side: step control, neuron updates (all models in one
// launch), the step's spike list, spike and state recording. The synapse side is sim_synapses.cu.
// The order of the kernels in a step, and every update law, are those of neuro/sim/engine_cpu.py
// (read there first); neuro/sim/engine_gpu.py launches them, one step after the other, from a CUDA graph.
//
// Every kernel reads the step t from the control block ctl (device memory) and returns at once when the
// run is halted, so a captured graph of G steps can be replayed whatever the chunk length:
//   ctl[0] t (global step)   ctl[1] halt (0 running, 1 reached stop, 2 spike buffer full)   ctl[2] t0 (first
//   step of the chunk)   ctl[3] stop step   ctl[4] recorded neurons   ctl[5] spike buffer capacity
//   ctl[6] state rows capacity   ctl[7] synapse-sample rows capacity
// Counters cnt: [0] recorded spikes  [1] state rows  [2] synapse-sample rows  [3] synaptic events; per step (reset by
// step_begin): [4] spikes recorded in this step  [5] delivery targets touched  [6] delivery events placed; [7] delivery
// ranges past the event buffer (an error, never expected).
//
// The spike list of step t (row t % R of hist_idx) is in a fixed order, the CPU loop's: the neurons that fired, by
// index (a compaction of the fired flags: count_spikes, then write_spikes), then the generators' spikes of step t in
// their sorted order (by neuron; a neuron of a SpikeSource with repeats="multiplicity" appears several times, its
// copies adjacent). The recorded spikes follow the same order.
#include "neuro_device.cuh"
#include "rng.cuh"
#include "fastmath.cuh"

// population models and recordable variables (neuro/sim/engine_cpu.py)
#define M_POISSON 0
#define M_GENERATOR 1
#define M_CUBA 2
#define M_COBA 3
#define M_IZHIKEVICH 4
#define M_DISCRETE_LIF 5
#define PL_ELIGIBILITY 2
#define PL_GENERIC 4

// Current frames (neuro/sim/network.py Network._build_frames): frame f has period fr_P[f] and factors
// fr_F[(f * 2 + channel) * FW + phase], FW = FRAME_MAX + 1 (likewise 1 / F in fr_G).
NEURO_KERNEL void step_begin(i64* ctl, i64* cnt, i64* hist_n, i64* hist_step, i64 R,
                             i64 P, const i64* proj_kind, const double* proj_par, i64 npar,
                             const double* period_last, double* elig_scale, double dt,
                             i64 NF, const i64* fr_P, const double* fr_G, i64 FW, double* gk) {
    if (!FIRST_THREAD || ctl[1]) return;
    i64 t = ctl[0];
    if (t >= ctl[3]) { ctl[1] = 1; return; }
    if (cnt[0] + ctl[4] > ctl[5]) { ctl[1] = 2; return; }  // this step's worst case would not fit
    i64 slot = t % R;
    hist_n[slot] = 0;
    hist_step[slot] = t;
    cnt[4] = 0;
    cnt[5] = 0;
    cnt[6] = 0;
    // the factor of each frame key for inputs arriving for step t + 1 (key 0: 1)
    gk[0] = 1.0;
    for (i64 f = 0; f < NF; ++f) {
        i64 ph = (t + 1) % fr_P[f];
        gk[1 + 2 * f] = fr_G[(f * 2) * FW + ph];
        gk[2 + 2 * f] = fr_G[(f * 2 + 1) * FW + ph];
    }
    double now = t * dt;
    for (i64 pr = 0; pr < P; ++pr) {
        if (proj_kind[pr] != PL_ELIGIBILITY) continue;
        const double* pp = proj_par + pr * npar;
        // weight of an eligibility increment made now, stored as of period_last (periodic decay: 1)
        elig_scale[pr] = pp[28] != 0.0 ? 1.0 : exp((now - period_last[pr]) / pp[10]);
    }
}

// One step of every neuron (Poisson, current- and conductance-based LIF, Izhikevich, discrete LIF); fired[i]: 1 where
// neuron i spikes (the spike list is made from these flags by count_spikes / write_spikes).
NEURO_KERNEL void update_neurons(
    const i64* ctl, i64 n, unsigned char* fired, u64 seed, double dt,
    const i64* npop, const i64* pop_model, const double* pop_par, i64 npar, const i64* pop_extra,
    double* v, double* u, double* x1, double* x2, double* isyn, i64* refrac,
    const double* i_ext, const double* sigma, const double* rate,
    const double* na, const double* nb, const double* nc, const double* nd,
    const i64* cur_col, const double* cur_table, i64 cur_rows, i64 cur_cols, i64 cur_t0,
    const i64* pop_fr, const i64* fr_P, const double* fr_F, i64 FW, unsigned char* blocked) {
    if (ctl[1]) return;
    const i64 t = ctl[0];
    const i64 row = t - cur_t0;
    for (i64 i = GRID_START; i < n; i += GRID_STRIDE) {
        const i64 p = npop[i];
        const i64 model = pop_model[p];
        const double* par = pop_par + p * npar;
        const i64 extra = pop_extra[p];
        double xd = 0.0;
        if (extra != 0) {  // noise (stream 1 normal, 2 uniform) and the injected table, as engine_cpu._extra_drive
            if (extra == 2)
                xd = sigma[i] * 1.7320508075688772 * (2.0 * rng_uniform(seed, t, 2, i) - 1.0);
            else
                xd = rng_normal(seed, t, 1, i) * sigma[i];
            if (row >= 0 && row < cur_rows && cur_col[i] >= 0) xd += cur_table[row * cur_cols + cur_col[i]];
        }
        bool fire = false;
        if (model == M_POISSON) {  // refrac: steps to the next spike + 1 (engine_cpu.poisson_schedule); a spike draws the next
            const i64 r = refrac[i];
            fire = r == 1;
            refrac[i] = fire ? 1 + rng_geometric(seed, t, 0, i, rate[i] * dt) : r - 1;
        } else if (model == M_CUBA) {
            // par: v_rest, v_th, v_reset, t_ref_steps, p_mm, p_em, p_ee, p_im, p_ii, theta decay, theta jump
            // the currents are stored in the population's frame: I = x F[t % P], renormalised at the period's end
            const i64 f = pop_fr[p], P = fr_P[f], ph = t % P;
            const double* Fe = fr_F + (f * 2) * FW;
            const double* Fi = fr_F + (f * 2 + 1) * FW;
            double drive = i_ext[i];
            if (extra != 0) drive += xd;
            i64 r = refrac[i];
            r = r > 0 ? r - 1 : r;
            bool frozen = r > 0;
            double vi = v[i];
            const double a1 = x1[i], a2 = x2[i];
            double vf = par[0] + drive + (vi - par[0] - drive) * par[4] + a1 * (par[5] * Fe[ph]) + a2 * (par[7] * Fi[ph]);
            vi = frozen ? vi : vf;
            if (ph == P - 1) {
                const double y1 = a1 * Fe[P], y2 = a2 * Fi[P];
                x1[i] = fabs(y1) >= 1e-290 ? y1 : 0.0;
                x2[i] = fabs(y2) >= 1e-290 ? y2 : 0.0;
            }
            if (par[10] != 0.0) {  // adaptive threshold in u
                double th = u[i] * par[9];
                fire = !frozen && (vi > par[1] + th);
                u[i] = fire ? th + par[10] : th;
            } else {
                fire = !frozen && (vi > par[1]);
            }
            v[i] = fire ? par[2] : vi;
            refrac[i] = fire ? (i64)par[3] : r;
            // par[11]: jumps of v delivered in the spike step or while refractory are lost (the CPU loop parks these neurons)
            blocked[i] = par[11] != 0.0 && (fire || refrac[i] > 0);
        } else if (model == M_COBA) {
            // par: v_rest, v_th, v_reset, t_ref_steps, tau_m, exp(-dt/tau_e), exp(-dt/tau_i), e_e, e_i, -, -, pin
            // pin: a neuron refractory in the previous step starts from v_reset (engine_cpu._coba_update)
            const bool pin = par[11] != 0.0;
            double drive = i_ext[i] + xd;
            const i64 r0 = refrac[i];
            i64 r = r0;
            if (r > 0) r -= 1;
            double vi = (pin && r0 > 0) ? par[2] : v[i];
            if (r <= 0) {
                double g_tot = 1.0 + x1[i] + x2[i];
                double v_inf = (par[0] + x1[i] * par[7] + x2[i] * par[8] + drive) / g_tot;
                vi = v_inf + (vi - v_inf) * fm_exp(-dt * g_tot / par[4]);  // fastmath.exp64's bits, as the CPU loop
            }
            x1[i] *= par[5];
            x2[i] *= par[6];
            fire = r <= 0 && vi > par[1];
            v[i] = fire ? par[2] : vi;
            const i64 t_ref = (pin && (i64)par[3] < 1) ? 1 : (i64)par[3];
            refrac[i] = fire ? t_ref : r;
        } else if (model == M_IZHIKEVICH) {
            // par[0]: 0 Izhikevich's two half-steps for v, 1 Euler
            double current = i_ext[i] + xd + isyn[i];
            isyn[i] = 0.0;
            double vi = v[i], ui = u[i];
            if (par[0] == 0.0) {
                double half = 0.5 * dt;
                vi += half * (0.04 * vi * vi + 5.0 * vi + 140.0 - ui + current);
                vi += half * (0.04 * vi * vi + 5.0 * vi + 140.0 - ui + current);
                ui += dt * na[i] * (nb[i] * vi - ui);
            } else {
                double dv = 0.04 * vi * vi + 5.0 * vi + 140.0 - ui + current;
                ui += dt * na[i] * (nb[i] * vi - ui);
                vi += dt * dv;
            }
            fire = vi >= 30.0;
            v[i] = fire ? nc[i] : vi;
            u[i] = fire ? ui + nd[i] : ui;
        } else if (model == M_DISCRETE_LIF) {
            // neuro.ops.lif.step_cpu.discrete_lif_update; par: v_th, v_reset, v_leak, soft, decay_input, strict, reset_delay
            double x = x1[i] + x2[i] + i_ext[i];
            if (extra != 0) x += xd;
            x1[i] = 0.0;
            x2[i] = 0.0;
            if (u[i] < 0.0) {  // held: waits for its first input
                u[i] += 1.0;
                fired[i] = 0;
                continue;
            }
            double bt = na[i];
            double c = par[4] != 0.0 ? (1.0 - bt) : 1.0;
            double vi = v[i], h;
            bool delayed = par[6] != 0.0, soft = par[3] != 0.0;
            if (delayed && u[i] != 0.0)
                h = soft ? bt * vi + (1.0 - bt) * par[2] + c * x - par[0] : bt * par[1] + (1.0 - bt) * par[2] + c * x;
            else
                h = bt * vi + (1.0 - bt) * par[2] + c * x;
            fire = par[5] != 0.0 ? (h > par[0]) : (h >= par[0]);
            if (delayed) {
                v[i] = h;
                u[i] = fire ? 1.0 : 0.0;
            } else {
                v[i] = fire ? (soft ? h - par[0] : par[1]) : h;
            }
        }
        fired[i] = fire ? 1 : 0;
    }
}

// The generator spikes of step t: gen_steps[lo .. hi) == t (gen_steps sorted).
NEURO_DEVICE void generator_range(const i64* gen_steps, i64 G, i64 t, i64* lo, i64* hi) {
    i64 a = 0, b = G;  // first g with gen_steps[g] >= t
    while (a < b) { i64 mid = (a + b) / 2; if (gen_steps[mid] < t) a = mid + 1; else b = mid; }
    *lo = a;
    b = G;  // first g with gen_steps[g] > t
    while (a < b) { i64 mid = (a + b) / 2; if (gen_steps[mid] <= t) a = mid + 1; else b = mid; }
    *hi = a;
}

// The step's spike list is a compaction of the sequence x = 0 .. n + m - 1: neuron x where x < n and fired[x], then
// generator spike lo + x - n (m = hi - lo of them), cut in chunks of C. count_spikes: per chunk c, the spikes in it
// (ccnt[2 c]) and the recorded ones (ccnt[2 c + 1]); write_spikes: each chunk's place from the counts of the chunks
// before it (summed by each chunk's thread: C ~ sqrt(n) keeps that sum short), so the order is the sequence's,
// whatever the threads' order.
NEURO_DEVICE i64 spike_of(i64 x, i64 n, const unsigned char* fired, const i64* gen_idx, i64 lo) {
    if (x < n) return fired[x] ? x : -1;
    return gen_idx[lo + x - n];
}

// Eight 0/1 flags at once (fired and rec_mask are padded to a multiple of 8 bytes; C is a multiple of 8, so p is
// 8-byte aligned): most of a step's flags are 0, so a chunk is mostly skipped a word at a time.
NEURO_DEVICE u64 flags8(const unsigned char* p) {
#if defined(__CUDACC__) || defined(__CUDACC_RTC__)
    return *reinterpret_cast<const u64*>(p);
#else
    u64 w;
    std::memcpy(&w, p, 8);
    return w;
#endif
}
NEURO_DEVICE i64 count8(u64 w) { return (i64)((w * 0x0101010101010101ULL) >> 56); }  // bytes 0/1: their sum

NEURO_KERNEL void count_spikes(const i64* ctl, i64 n, i64 C, const unsigned char* fired, const unsigned char* rec_mask,
                               const i64* gen_steps, const i64* gen_idx, i64 G, i64* ccnt) {
    if (ctl[1]) return;
    const i64 t = ctl[0];
    i64 lo, hi;
    generator_range(gen_steps, G, t, &lo, &hi);
    const i64 N = n + hi - lo, nch = (N + C - 1) / C;
    for (i64 c = GRID_START; c < nch; c += GRID_STRIDE) {
        i64 f = 0, r = 0;
        const i64 end = N < (c + 1) * C ? N : (c + 1) * C;
        const i64 nend = end < n ? end : n;
        i64 x = c * C;
        for (; x + 8 <= nend; x += 8) {
            const u64 w = flags8(fired + x);
            if (w == 0) continue;
            f += count8(w);
            r += count8(w & flags8(rec_mask + x));
        }
        for (; x < end; ++x) {
            const i64 i = spike_of(x, n, fired, gen_idx, lo);
            if (i < 0) continue;
            f += 1;
            r += rec_mask[i] ? 1 : 0;
        }
        ccnt[2 * c] = f;
        ccnt[2 * c + 1] = r;
    }
}

// Writes row t % R of hist_idx (at most stride spikes: Network sizes a row for n neurons plus the repeated spikes of
// sources; the bound keeps a wrong size from writing into the next row), hist_n, the population counts and the
// recorded spikes (at most the buffer's capacity ctl[5]; the count of this step goes to cnt[4], added to cnt[0] by
// step_end, so every thread here reads the same cnt[0]).
NEURO_KERNEL void write_spikes(const i64* ctl, i64* cnt, i64 n, i64 C, const unsigned char* fired, const unsigned char* rec_mask,
                               const i64* gen_steps, const i64* gen_idx, i64 G, const i64* ccnt,
                               i64 R, i64* hist_idx, i64* hist_n, i64 stride, const i64* npop, i64 n_pops, i64* pop_counts,
                               i64* spk_step, i64* spk_idx) {
    if (ctl[1]) return;
    const i64 t = ctl[0];
    const i64 slot = t % R;
    i64 lo, hi;
    generator_range(gen_steps, G, t, &lo, &hi);
    const i64 N = n + hi - lo, nch = (N + C - 1) / C;
    const i64 rec0 = cnt[0], cap = ctl[5];
    i64* row = hist_idx + slot * stride;
    i64* counts = pop_counts + (t - ctl[2]) * n_pops;
    for (i64 c = GRID_START; c < nch; c += GRID_STRIDE) {
        i64 pos = 0, r = 0;
        for (i64 b = 0; b < c; ++b) {
            pos += ccnt[2 * b];
            r += ccnt[2 * b + 1];
        }
        if (c == nch - 1) {  // the totals: this step's list length and recorded spikes
            hist_n[slot] = pos + ccnt[2 * c] < stride ? pos + ccnt[2 * c] : stride;
            cnt[4] = r + ccnt[2 * c + 1];
        }
        const i64 end = N < (c + 1) * C ? N : (c + 1) * C;
        const i64 nend = end < n ? end : n;
        for (i64 x = c * C; x < end; ++x) {
            if ((x & 7) == 0 && x + 8 <= nend && flags8(fired + x) == 0) {  // eight silent neurons
                x += 7;
                continue;
            }
            const i64 i = spike_of(x, n, fired, gen_idx, lo);
            if (i < 0) continue;
            if (pos < stride) row[pos] = i;
            pos += 1;
            atomic_add(&counts[npop[i]], 1LL);
            if (rec_mask[i]) {
                const i64 k = rec0 + r;
                if (k < cap) {
                    spk_step[k] = t;
                    spk_idx[k] = i;
                }
                r += 1;
            }
        }
    }
}

// Sampled state variables (v, u, x1, x2, or a variable of a user-defined model: st_idx its place in gen) at the end of
// step t, every st_every steps.
#define VAR_GEN 4
NEURO_KERNEL void record_state(const i64* ctl, const i64* cnt, const i64* st_idx, const i64* st_var, i64 ncols, i64 st_every,
                               double* st_out, const double* v, const double* u, const double* x1, const double* x2,
                               const double* gen, const i64* npop, const i64* pop_fr, const i64* fr_P, const double* fr_F, i64 FW) {
    if (ctl[1]) return;
    const i64 t = ctl[0];
    const i64 r = cnt[1];
    if (t % st_every != 0 || r >= ctl[6]) return;
    for (i64 c = GRID_START; c < ncols; c += GRID_STRIDE) {
        i64 i = st_idx[c], var = st_var[c];
        double val;
        if (var <= 1) {
            val = var == 0 ? v[i] : u[i];
        } else if (var == VAR_GEN) {
            val = gen[i];
        } else {  // a synaptic current: in its frame for step t + 1 where its population has one
            const i64 ch = var - 2, f = pop_fr[npop[i]];
            val = ch == 0 ? x1[i] : x2[i];
            if (f >= 0) val *= fr_F[(f * 2 + ch) * FW + (t + 1) % fr_P[f]];
        }
        st_out[r * ncols + c] = val;
    }
}

// End of step t: row counters, the periodic rules' clocks, modulator decay, t + 1. One thread.
NEURO_KERNEL void step_end(i64* ctl, i64* cnt, i64 P, const i64* proj_kind, const double* proj_par, i64 npar,
                           i64* period_next, double* period_last, double* modulator, const double* mod_decay, i64 M,
                           i64 has_st, i64 st_every, i64 has_sm, i64 sm_every, double dt) {
    if (!FIRST_THREAD || ctl[1]) return;
    const i64 t = ctl[0];
    cnt[0] += cnt[4];
    if (has_sm && t % sm_every == 0 && cnt[2] < ctl[7]) cnt[2] += 1;
    for (i64 pr = 0; pr < P; ++pr) {
        if (proj_kind[pr] == PL_ELIGIBILITY && t + 1 >= period_next[pr]) {
            period_last[pr] = t * dt;
            period_next[pr] += (i64)proj_par[pr * npar + 11];
        }
        // user-defined rules with periodic code: it ran at the start of this step (their generated _periodic kernel,
        // kernels/synapse_model.cu.in) where t >= period_next; the next time is one period later (proj_par[pr, 2] steps)
        if (proj_kind[pr] == PL_GENERIC && proj_par[pr * npar + 2] > 0.0 && t >= period_next[pr]) {
            period_next[pr] += (i64)proj_par[pr * npar + 2];
        }
    }
    for (i64 m = 0; m < M; ++m) modulator[m] *= mod_decay[m];
    if (has_st && t % st_every == 0 && cnt[1] < ctl[6]) cnt[1] += 1;
    ctl[0] = t + 1;
}

NEURO_THREADED(step_begin)
NEURO_THREADED(update_neurons)
NEURO_THREADED(count_spikes)
NEURO_THREADED(write_spikes)
NEURO_THREADED(record_state)
NEURO_THREADED(step_end)
