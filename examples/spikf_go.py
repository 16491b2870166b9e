"""SpikF-GO and the same Fourier graph operator without spikes forecast a generated VAR(2) series with known coupling.

The series (:func:`var2_series`): ``N`` damped oscillators, each an AR(2) with its own period, coupled in a chain with a
two-step lag (variable ``i > 0`` is driven by variable ``i - 1`` two steps earlier), Gaussian noise, one seed:

    x_t = A1 x_{t-1} + A2 x_{t-2} + eps_t,   A1 = diag(2 r cos w_i),   A2 = -r^2 I + c P,   eps_t ~ N(0, sigma^2 I)

(``P`` ones on the first subdiagonal). Stability is checked on the companion matrix. The series is split by time (70 % train,
10 % validation, 20 % test), standardised with the training statistics, and cut into windows of ``L`` steps predicting
the next ``H`` steps. Reported on the test windows: MSE and MAE of SpikF-GO (:class:`neuro.nn.models.spikf_go.SpikFGO`),
of the non-spiking model (``spiking=False``: same layers, same parameter count, same seed, batches and optimiser), of
the naive last-value forecast, and of the true VAR(2) conditional mean (the floor no model can beat on average).
The checkpoint with the best validation MSE of each model is the one tested.

    python examples/spikf_go.py --quick              # < 30 s on 2 cores
    python examples/spikf_go.py --out runs/spikf_go  # longer training

Writes ``result.json`` and ``spikf_go.png`` (forecast against truth for two variables, and the error table) into
``--out``; prints one JSON line last.
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from neuro.nn.models import count_parameters
from neuro.nn.models.spikf_go import SpikFGO


def var2_coefficients(num_vars: int, radius: float = 0.97, coupling: float = 0.3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``A1, A2`` of the ring-coupled oscillators (periods drawn between 8 and 40 steps); raises if the process is unstable."""
    if num_vars < 2:
        raise ValueError(f"num_vars must be >= 2, got {num_vars}")
    rng = np.random.default_rng(seed)
    periods = rng.uniform(8.0, 40.0, size=num_vars)
    a1 = np.diag(2.0 * radius * np.cos(2.0 * np.pi / periods))
    chain = np.eye(num_vars, k=-1)                                # chain[i, i-1] = 1: i is driven by i-1
    a2 = -radius**2 * np.eye(num_vars) + coupling * chain
    companion = np.block([[a1, a2], [np.eye(num_vars), np.zeros((num_vars, num_vars))]])
    rho = float(np.abs(np.linalg.eigvals(companion)).max())
    if rho >= 1.0:
        raise ValueError(f"the VAR(2) process is unstable (spectral radius {rho:.3f} >= 1); lower radius or coupling")
    return a1, a2


def var2_series(length: int, num_vars: int = 8, noise: float = 0.1, seed: int = 0, **kw) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``[length, num_vars]`` samples of the VAR(2) process (after a burn-in of 500 steps), and its ``A1, A2``."""
    if length < 1:
        raise ValueError(f"length must be >= 1, got {length}")
    a1, a2 = var2_coefficients(num_vars, seed=seed, **kw)
    rng = np.random.default_rng(seed + 1)
    burn = 500
    x = np.zeros((length + burn, num_vars))
    eps = rng.normal(0.0, noise, size=x.shape)
    for t in range(2, len(x)):
        x[t] = a1 @ x[t - 1] + a2 @ x[t - 2] + eps[t]
    return x[burn:].astype(np.float32), a1, a2


def windows(series: np.ndarray, window: int, horizon: int) -> tuple[torch.Tensor, torch.Tensor]:
    """All windows ``[W, L, N]`` and their next ``H`` steps ``[W, H, N]`` (stride 1)."""
    n = len(series) - window - horizon + 1
    if n < 1:
        raise ValueError(f"a series of {len(series)} steps holds no window of {window} + {horizon} steps")
    idx = np.arange(n)[:, None]
    x = series[idx + np.arange(window)]
    y = series[idx + window + np.arange(horizon)]
    return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(np.ascontiguousarray(y))


def split_by_time(series: np.ndarray, window: int, horizon: int, fractions=(0.7, 0.1, 0.2)) -> dict:
    """Train/validation/test windows from consecutive segments, standardised with the training segment's statistics.

    Validation and test segments start ``window`` steps early so that their first target follows the previous segment.
    """
    n = len(series)
    a, b = int(fractions[0] * n), int((fractions[0] + fractions[1]) * n)
    mean, std = series[:a].mean(0), series[:a].std(0)
    z = (series - mean) / std
    parts = {"train": z[:a], "valid": z[a - window:b], "test": z[b - window:]}
    return {k: windows(v, window, horizon) for k, v in parts.items()} | {"mean": mean, "std": std, "bounds": (a, b)}


def var2_oracle(x: torch.Tensor, a1: np.ndarray, a2: np.ndarray, horizon: int, mean: np.ndarray, std: np.ndarray) -> torch.Tensor:
    """The true conditional mean ``E[x_{t+h} | past]`` of the VAR(2), on standardised windows ``[W, L, N]``."""
    raw = x.numpy() * std + mean
    prev, cur = raw[:, -2], raw[:, -1]
    out = []
    for _ in range(horizon):
        nxt = cur @ a1.T + prev @ a2.T
        out.append(nxt)
        prev, cur = cur, nxt
    return torch.from_numpy(((np.stack(out, 1) - mean) / std).astype(np.float32))


def errors(pred: torch.Tensor, target: torch.Tensor) -> dict:
    return {"mse": float(((pred - target) ** 2).mean()), "mae": float((pred - target).abs().mean())}


@torch.no_grad()
def predict(model: torch.nn.Module, x: torch.Tensor, batch: int = 512) -> torch.Tensor:
    model.eval()
    return torch.cat([model(x[i:i + batch]) for i in range(0, len(x), batch)])


def train(model: torch.nn.Module, data: dict, steps: int, batch: int, lr: float, seed: int, label: str = "",
          eval_every: int = 50) -> dict:
    """Adam on the MSE for ``steps`` batches (drawn with ``seed``); returns the losses and the best-validation model."""
    xs, ys = data["train"]
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    losses, best, best_state = [], float("inf"), None
    for step in tqdm(range(steps), desc=label, leave=False):
        model.train()
        idx = torch.randint(len(xs), (batch,), generator=gen)
        loss = torch.nn.functional.mse_loss(model(xs[idx]), ys[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
        if (step + 1) % eval_every == 0 or step + 1 == steps:
            val = errors(predict(model, data["valid"][0]), data["valid"][1])["mse"]
            if val < best:
                best, best_state = val, copy.deepcopy(model.state_dict())
    model.load_state_dict(best_state)
    return {"train_loss": losses, "best_valid_mse": best}


def spike_rate(model: SpikFGO, x: torch.Tensor) -> float:
    """Mean firing rate of the encoder LIF neurons on ``x``."""
    rates = []
    hook = model.encoder.register_forward_hook(lambda m, i, o: rates.append(float(o.mean())))
    predict(model, x)
    hook.remove()
    return float(np.mean(rates))


def figure(path: Path, truth: np.ndarray, preds: dict, table: dict, variables=(0, 1)) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8), gridspec_kw={"width_ratios": [2, 2, 1.3]})
    steps = np.arange(len(truth))
    for ax, v in zip(axes[:2], variables):
        ax.plot(steps, truth[:, v], color="k", lw=1.5, label="truth")
        for name, p in preds.items():
            ax.plot(steps, p[:, v], lw=1, label=name)
        ax.set_xlabel("test step")
        ax.set_ylabel(f"variable {v} (standardised)")
        ax.set_title(f"variable {v}: test targets {table['horizon']} steps ahead")
    axes[0].legend(fontsize=7, loc="upper right")
    axes[2].axis("off")
    rows = [[k, f"{r['mse']:.4f}", f"{r['mae']:.4f}"] for k, r in table["rows"].items()]
    t = axes[2].table(cellText=rows, colLabels=["test", "MSE", "MAE"], loc="center")
    t.scale(1, 1.5)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--quick", action="store_true", help="CI size: 3000 steps of 8 variables, 150 training steps per model")
    p.add_argument("--length", type=int, default=None, help="series length; default 6000 (3000 with --quick)")
    p.add_argument("--vars", type=int, default=8)
    p.add_argument("--window", type=int, default=24, help="L, input steps")
    p.add_argument("--horizon", type=int, default=4, help="H, forecast steps")
    p.add_argument("--embed", type=int, default=16)
    p.add_argument("--time-steps", type=int, default=4, help="spiking steps T")
    p.add_argument("--steps", type=int, default=None, help="training steps per model; default 1500 (150 with --quick)")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("runs/spikf_go"))
    a = p.parse_args(argv)
    length = a.length or (3000 if a.quick else 6000)
    steps = a.steps or (150 if a.quick else 1500)
    a.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()

    series, a1, a2 = var2_series(length, a.vars, seed=a.seed)
    data = split_by_time(series, a.window, a.horizon)
    x_test, y_test = data["test"]
    rows = {"naive last value": errors(x_test[:, -1:].expand_as(y_test), y_test),
            "VAR(2) oracle": errors(var2_oracle(x_test, a1, a2, a.horizon, data["mean"], data["std"]), y_test)}
    results, preds = {}, {}
    for name, spiking in (("SpikF-GO", True), ("FGO (no spikes)", False)):
        torch.manual_seed(a.seed)
        model = SpikFGO(a.vars, a.window, a.horizon, embed=a.embed, time_steps=a.time_steps, spiking=spiking)
        log = train(model, data, steps, a.batch, a.lr, a.seed, label=name)
        pred = predict(model, x_test)
        rows[name] = errors(pred, y_test)
        preds[name] = pred[:, -1].numpy()
        results[name] = {"params": count_parameters(model), "best_valid_mse": log["best_valid_mse"],
                         "final_train_loss": float(np.mean(log["train_loss"][-20:])), **rows[name],
                         "encoder_spike_rate": spike_rate(model, x_test[:256]) if spiking else None}
    show = slice(0, 120)
    figure(a.out / "spikf_go.png", y_test[show, -1].numpy(), {k: v[show] for k, v in preds.items()},
           {"rows": rows, "horizon": a.horizon})
    summary = {"name": "spikf_go", "config": {"length": length, "vars": a.vars, "window": a.window, "horizon": a.horizon,
                                              "embed": a.embed, "time_steps": a.time_steps, "steps": steps, "batch": a.batch,
                                              "lr": a.lr, "seed": a.seed, "windows": {k: len(data[k][0]) for k in ("train", "valid", "test")}},
               "test": rows, "models": results, "wall_s": round(time.perf_counter() - t0, 2)}
    (a.out / "result.json").write_text(json.dumps(summary, indent=1) + "\n")
    line = {"name": "spikf_go", "spikf_go_mse": rows["SpikF-GO"]["mse"], "fgo_mse": rows["FGO (no spikes)"]["mse"],
            "naive_mse": rows["naive last value"]["mse"], "oracle_mse": rows["VAR(2) oracle"]["mse"],
            "params": results["SpikF-GO"]["params"], "wall_s": summary["wall_s"]}
    print(json.dumps(line), flush=True)
    return summary


if __name__ == "__main__":
    main()
