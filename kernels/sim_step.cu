// The simulator's time step on the GPU, neuron side: step control, neuron updates (all models in one
// launch), spike generators, spike and state recording. The synapse side is sim_synapses.cu.
// The order of the kernels in a step, and every update law, are those of neuro/sim/engine_cpu.py
// (read there first); neuro/sim/engine_gpu.py launches them, one step after the other, from a CUDA graph.
//
// Every kernel reads the step t from the control block ctl (device memory) and returns at once when the
// run is halted, so a captured graph of G steps can be replayed whatever the chunk length:
//   ctl[0] t (global step)   ctl[1] halt (0 running, 1 reached stop, 2 spike buffer full)   ctl[2] t0 (first
//   step of the chunk)   ctl[3] stop step   ctl[4] recorded neurons   ctl[5] spike buffer capacity
//   ctl[6] state rows capacity   ctl[7] synapse-sample rows capacity
// Counters cnt: [0] recorded spikes  [1] state rows  [2] synapse-sample rows  [3] synaptic events.
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

// Current frames (neuro/sim/network.py Network._build_frames): frame f has period fr_P[f] and factors
// fr_F[(f * 2 + channel) * FW + phase], FW = FRAME_MAX + 1 (likewise 1 / F in fr_G).
NEURO_KERNEL void step_begin(i64* ctl, const i64* cnt, i64* hist_n, i64* hist_step, i64 R,
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

// A row of hist_idx holds one step's spikes: n neurons plus the repeated spikes of sources (Network.build sizes it),
// so pos < stride always; the bound keeps a wrong size from writing into the next row.
NEURO_DEVICE void emit(i64* hist_idx, i64* hist_n, i64 slot, i64 stride, i64 i) {
    i64 pos = atomic_add(&hist_n[slot], 1LL);
    if (pos < stride) hist_idx[slot * stride + pos] = i;
}

// One step of every neuron (Poisson, current- and conductance-based LIF, Izhikevich, discrete LIF).
NEURO_KERNEL void update_neurons(
    const i64* ctl, i64 n, i64 R, i64* hist_idx, i64* hist_n, i64 stride, u64 seed, double dt,
    const i64* npop, const i64* pop_model, const double* pop_par, i64 npar, const i64* pop_extra,
    double* v, double* u, double* x1, double* x2, double* isyn, i64* refrac,
    const double* i_ext, const double* sigma, const double* rate,
    const double* na, const double* nb, const double* nc, const double* nd,
    const i64* cur_col, const double* cur_table, i64 cur_rows, i64 cur_cols, i64 cur_t0,
    const i64* pop_fr, const i64* fr_P, const double* fr_F, i64 FW, unsigned char* blocked) {
    if (ctl[1]) return;
    const i64 t = ctl[0];
    const i64 slot = t % R;
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
        if (fire) emit(hist_idx, hist_n, slot, stride, i);
    }
}

// Spikes of the generators (sorted steps gen_steps, neurons gen_idx) at step t.
NEURO_KERNEL void generators(const i64* ctl, i64 R, i64* hist_idx, i64* hist_n, i64 stride,
                             const i64* gen_steps, const i64* gen_idx, i64 G) {
    if (ctl[1]) return;
    const i64 t = ctl[0];
    i64 lo = 0, hi = G;  // first g with gen_steps[g] >= t
    while (lo < hi) { i64 mid = (lo + hi) / 2; if (gen_steps[mid] < t) lo = mid + 1; else hi = mid; }
    for (i64 g = lo + GRID_START; g < G && gen_steps[g] == t; g += GRID_STRIDE)
        emit(hist_idx, hist_n, t % R, stride, gen_idx[g]);
}

// Population counts of this step and the recorded spikes (step, neuron).
NEURO_KERNEL void record_spikes(const i64* ctl, i64* cnt, i64 R, const i64* hist_idx, const i64* hist_n, i64 stride,
                                const i64* npop, i64 n_pops, i64* pop_counts, const unsigned char* rec_mask,
                                i64* spk_step, i64* spk_idx) {
    if (ctl[1]) return;
    const i64 t = ctl[0];
    const i64 slot = t % R;
    const i64 ns = hist_n[slot];
    for (i64 q = GRID_START; q < ns; q += GRID_STRIDE) {
        i64 i = hist_idx[slot * stride + q];
        atomic_add(&pop_counts[(t - ctl[2]) * n_pops + npop[i]], 1LL);
        if (rec_mask[i]) {
            i64 c = atomic_add(&cnt[0], 1LL);
            spk_step[c] = t;
            spk_idx[c] = i;
        }
    }
}

// Sampled state variables (v, u, x1, x2) at the end of step t, every st_every steps.
NEURO_KERNEL void record_state(const i64* ctl, const i64* cnt, const i64* st_idx, const i64* st_var, i64 ncols, i64 st_every,
                               double* st_out, const double* v, const double* u, const double* x1, const double* x2,
                               const i64* npop, const i64* pop_fr, const i64* fr_P, const double* fr_F, i64 FW) {
    if (ctl[1]) return;
    const i64 t = ctl[0];
    const i64 r = cnt[1];
    if (t % st_every != 0 || r >= ctl[6]) return;
    for (i64 c = GRID_START; c < ncols; c += GRID_STRIDE) {
        i64 i = st_idx[c], var = st_var[c];
        double val;
        if (var <= 1) {
            val = var == 0 ? v[i] : u[i];
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
    if (has_sm && t % sm_every == 0 && cnt[2] < ctl[7]) cnt[2] += 1;
    for (i64 pr = 0; pr < P; ++pr) {
        if (proj_kind[pr] == PL_ELIGIBILITY && t + 1 >= period_next[pr]) {
            period_last[pr] = t * dt;
            period_next[pr] += (i64)proj_par[pr * npar + 11];
        }
    }
    for (i64 m = 0; m < M; ++m) modulator[m] *= mod_decay[m];
    if (has_st && t % st_every == 0 && cnt[1] < ctl[6]) cnt[1] += 1;
    ctl[0] = t + 1;
}
