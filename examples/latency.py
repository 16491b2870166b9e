"""Fewer time steps: Dynamic Confidence (early exit per sample) and IIR-SNN (retraining down to T = 1).

Two data sets, each with both methods (:mod:`neuro.train.latency`):

* scikit-learn's bundled digits (8x8, 1797 samples): for Dynamic Confidence the spiking MLP of ``neuro demo``
  (:class:`neuro.demo.DigitsSNN`, Poisson-coded as in the demo, read-out = mean output current); for IIR-SNN the same
  network with direct coding (the analog pixels at every step, as in the IIR-SNN paper);
* a small DVS fixture in DVS128-Gesture format (11 classes, written here as ``ibmGesture<Split>/userNN_<light>/<label>.npy``
  event files with columns x, y, p, t in ms, and read back by :func:`neuro.data.load` through tonic, 8x downsampled,
  binned into T frames): each class is a blob of events crossing the sensor in its own direction, with uniform noise
  events; the network (Flatten -> Linear -> LIF -> Linear) returns per-step logits.

Dynamic Confidence: the threshold is calibrated on a held-out part of the training split (the fewest mean steps whose
accuracy is within ``--max-drop`` of the full-T accuracy there) and then applied to the test split; the curve sweeps
the threshold, and the fixed-T curve stops every sample at the same step. IIR-SNN: trained at ``--iir-start`` steps,
then copied and retrained at each smaller T down to 1; the controls are the untrained network and the network trained
at T = 1 from scratch for as many epochs as the whole IIR schedule. Energies are :func:`neuro.energy.estimate`'s
counted-operations model (45 nm table), per test sample, each sample charged the steps it used.

    python examples/latency.py                 # full run (about a minute on 2 cores)
    python examples/latency.py --quick         # smaller and shorter, for CI
    python examples/latency.py --out runs/latency --epochs 20

Writes ``result.json`` and ``latency.png`` into ``--out``; prints the result as its last line (JSON).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from neuro.train.latency import (
    calibrate_confidence,
    candidate_thresholds,
    early_exit,
    early_exit_energy,
    iir_retrain,
    iir_schedule,
    step_outputs,
)

N_GESTURES = 11
LIGHTINGS = ("fluorescent", "lab", "led", "natural")


@dataclass(frozen=True)
class Config:
    seed: int = 0
    hidden: int = 128
    epochs: int = 15  # Dynamic Confidence models
    time_steps: int = 16  # digits, Poisson-coded
    dvs_time_steps: int = 12
    dvs_per_class: int = 24  # train + calibration samples per class (test: half as many)
    dvs_downsample: int = 8
    iir_start: int = 5
    iir_epochs: int = 8  # at iir_start
    iir_retrain_epochs: int = 4  # at each smaller T
    max_drop: float = 0.005
    confidence_scale: float = 4.0  # k_s: the confidence is max softmax(accumulated output / k_s)
    curve_points: int = 12
    lr: float = 2e-3
    batch: int = 64
    digits_limit: int | None = None  # fewer training digits (quick)


QUICK = Config(hidden=64, epochs=4, time_steps=8, dvs_time_steps=6, dvs_per_class=8, iir_epochs=3, iir_retrain_epochs=1, curve_points=5,
               digits_limit=600)


# ------------------------------------------------------------------------------------------- models
class GestureSNN(nn.Module):
    """[T, B, 2, H, W] event frames -> Flatten -> Linear -> LIF -> Linear: per-step logits [T, B, classes]."""

    def __init__(self, in_features: int, hidden: int, classes: int = N_GESTURES):
        super().__init__()
        from neuro.nn import LIF

        self.fc1 = nn.Linear(in_features, hidden)
        self.lif1 = LIF(tau=2.0, v_threshold=1.0, v_reset=0.0, surrogate="sigmoid", alpha=4.0)
        self.fc2 = nn.Linear(hidden, classes)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.lif1(self.fc1(frames.flatten(2))))


def _readout(out: torch.Tensor) -> torch.Tensor:
    return out.mean(0) if out.dim() == 3 else out


def fit(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int, cfg: Config, gen: torch.Generator, encode=None) -> None:
    """Adam + cross-entropy on the time-averaged output; ``x`` is [N, ...] for ``encode`` (called per batch) or [T, N, ...]."""
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    model.train()
    n = x.shape[0] if encode is not None else x.shape[1]
    for _ in range(epochs):
        perm = torch.randperm(n, generator=gen)
        for i in range(0, n, cfg.batch):
            idx = perm[i: i + cfg.batch]
            xb = encode(x[idx]) if encode is not None else x[:, idx]
            loss = nn.functional.cross_entropy(_readout(model(xb)), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float((_readout(model(x)).argmax(-1) == y).float().mean())


def per_sample_mj(model: nn.Module, x: torch.Tensor) -> float:
    from neuro.energy import estimate

    with torch.no_grad():
        return estimate(model, x, warn_silent=False).per_sample_mj("ops")


# ------------------------------------------------------------------------------------------- data
def load_digits_sets(cfg: Config):
    from neuro.demo import load_digits_split

    xtr, ytr, xte, yte = load_digits_split(cfg.seed)
    n_cal = len(xtr) // 5  # held out of the training split to calibrate the threshold
    xcal, ycal, xtr, ytr = xtr[:n_cal], ytr[:n_cal], xtr[n_cal:], ytr[n_cal:]
    if cfg.digits_limit is not None:
        xtr, ytr = xtr[: cfg.digits_limit], ytr[: cfg.digits_limit]
    return xtr, ytr, xcal, ycal, xte, yte


def gesture_events(label: int, rng: np.random.Generator, n_events: int = 1200, noise: float = 0.2, duration_ms: int = 1500) -> np.ndarray:
    """One sample, (N, 4) int64 columns x, y, p, t (ms) on the 128x128 sensor: a blob (sd 8 px) crossing the sensor
    in direction ``2 pi label / 11`` (start jittered), ON events on its leading side and OFF on its trailing side,
    plus a fraction ``noise`` of uniform events."""
    angle = 2 * np.pi * label / N_GESTURES + rng.normal(0, 0.1)
    d = np.array([np.cos(angle), np.sin(angle)])
    start = 64 - 40 * d + rng.normal(0, 4, 2)
    n_sig = int(n_events * (1 - noise))
    t = rng.uniform(0, duration_ms, n_events)
    centre = start + 80 * d * (t[:n_sig, None] / duration_ms)
    off = rng.normal(0, 8, (n_sig, 2))
    xy = np.concatenate([centre + off, rng.uniform(0, 128, (n_events - n_sig, 2))])
    p = np.concatenate([(off @ d > 0).astype(np.int64), rng.integers(0, 2, n_events - n_sig)])
    ev = np.stack([np.clip(xy[:, 0], 0, 127).astype(np.int64), np.clip(xy[:, 1], 0, 127).astype(np.int64), p,
                   np.floor(t).astype(np.int64)], axis=1)
    return ev[np.argsort(ev[:, 3], kind="stable")]


def write_gesture_fixture(root: Path, per_class: int, seed: int) -> None:
    """``<root>/DVSGesture/ibmGestureTrain`` (``per_class`` samples per class, users 1..) and ``ibmGestureTest``
    (``per_class // 2``, users 24..) in DVS128 Gesture's extracted layout."""
    rng = np.random.default_rng(seed)
    for folder, n, first_user in (("ibmGestureTrain", per_class, 1), ("ibmGestureTest", max(per_class // 2, 1), 24)):
        for k in range(n):
            d = root / "DVSGesture" / folder / f"user{first_user + k:02d}_{LIGHTINGS[k % len(LIGHTINGS)]}"
            d.mkdir(parents=True, exist_ok=True)
            for label in range(N_GESTURES):
                np.save(d / f"{label}.npy", gesture_events(label, rng))


def load_gesture_frames(root: Path, split: str, time_steps: int, downsample: int) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Frames [T, N, 2, H, W] (sorted by file path, so the order does not depend on the file system), labels, paths."""
    from neuro.data import Downsample, load

    ds = load("dvsgesture", split, root=root, frames=dict(n_time_bins=time_steps), transform=Downsample(downsample), cache=False,
              progress=False, verify=False)
    paths = [str(ds.events.sample_path(i)) for i in range(len(ds))]
    order = sorted(range(len(ds)), key=lambda i: paths[i])
    items = [ds[i] for i in order]
    frames = torch.stack([torch.as_tensor(f) for f, _ in items], dim=1).float()
    return frames, torch.tensor([int(lbl) for _, lbl in items]), [paths[i] for i in order]


# ------------------------------------------------------------------------------------------- experiments
def confidence_study(model: nn.Module, x_cal: torch.Tensor, y_cal: torch.Tensor, x_test: torch.Tensor, y_test: torch.Tensor,
                     cfg: Config) -> dict:
    """Calibrate on (x_cal, y_cal); on the test set: the calibrated point, the threshold sweep and fixed-T truncation."""
    k = cfg.confidence_scale
    out_cal = step_outputs(model, x_cal)
    cal = calibrate_confidence(out_cal, y_cal, max_accuracy_drop=cfg.max_drop, scale=k)
    out = step_outputs(model, x_test)
    res = early_exit(out, cal.threshold, scale=k)
    energy = early_exit_energy(model, x_test, res.steps)
    cands = candidate_thresholds(out_cal, scale=k)
    picks = sorted({cands[int(round(i))] for i in np.linspace(0, len(cands) - 1, cfg.curve_points)} | {cal.threshold})
    sweep = []
    for th in picks:
        r = early_exit(out, th, scale=k)
        sweep.append({"threshold": th, "accuracy": r.accuracy(y_test), "mean_steps": r.mean_steps(),
                      "energy_mj": early_exit_energy(model, x_test, r.steps)["per_sample_mj"]})
    t_max = x_test.shape[0]
    fixed = [{"time_steps": t, "accuracy": float((out[t - 1].argmax(-1) == y_test).float().mean()), "energy_mj": per_sample_mj(model, x_test[:t])}
             for t in range(1, t_max + 1)]
    return {"threshold": cal.threshold, "scale": k, "calibration": {"accuracy": cal.accuracy, "mean_steps": cal.mean_steps, "full_accuracy": cal.full_accuracy},
            "test": {"accuracy": res.accuracy(y_test), "mean_steps": res.mean_steps(), "energy_mj": energy["per_sample_mj"],
                     "full_T_accuracy": fixed[-1]["accuracy"], "full_T_energy_mj": energy["full_per_sample_mj"], "time_steps": t_max},
            "sweep": sweep, "fixed_T": fixed}


def iir_study(make_model, data_at, cfg: Config, gen: torch.Generator) -> dict:
    """IIR-SNN from ``cfg.iir_start`` down to 1, with the controls. ``data_at(T)`` -> (x_train, y_train, x_test, y_test), [T, N, ...]."""
    torch.manual_seed(cfg.seed + 7)
    model = make_model()
    untrained = accuracy(model, *data_at(1)[2:])
    results: dict[int, dict] = {}

    def fit_at(m: nn.Module, t: int) -> dict:
        xtr, ytr, xte, yte = data_at(t)
        fit(m, xtr, ytr, cfg.iir_epochs if t == cfg.iir_start else cfg.iir_retrain_epochs, cfg, gen)
        results[t] = {"accuracy": accuracy(m, xte, yte), "energy_mj": per_sample_mj(m, xte)}
        return results[t]

    stages = iir_retrain(model, fit_at, iir_schedule(cfg.iir_start), progress=False)
    total_epochs = cfg.iir_epochs + cfg.iir_retrain_epochs * (len(stages) - 1)
    torch.manual_seed(cfg.seed + 7)
    direct = make_model()
    xtr, ytr, xte, yte = data_at(1)
    fit(direct, xtr, ytr, total_epochs, cfg, gen)
    return {"stages": [{"time_steps": s.time_steps, **s.metrics} for s in stages], "untrained_T1_accuracy": untrained,
            "direct_T1": {"accuracy": accuracy(direct, xte, yte), "epochs": total_epochs, "energy_mj": per_sample_mj(direct, xte)},
            "chance": 1.0 / int(yte.max() + 1)}


def run_digits(cfg: Config) -> dict:
    from neuro.demo import DigitsSNN
    from neuro.nn import poisson_encode, repeat_encode

    xtr, ytr, xcal, ycal, xte, yte = load_digits_sets(cfg)
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    torch.manual_seed(cfg.seed)
    model = DigitsSNN(cfg.hidden, 2.0)
    fit(model, xtr, ytr, cfg.epochs, cfg, gen, encode=lambda xb: poisson_encode(xb, cfg.time_steps, gen))
    enc = torch.Generator().manual_seed(cfg.seed + 2)
    dc = confidence_study(model, poisson_encode(xcal, cfg.time_steps, enc), ycal, poisson_encode(xte, cfg.time_steps, enc), yte, cfg)
    iir = iir_study(lambda: DigitsSNN(cfg.hidden, 2.0), lambda t: (repeat_encode(xtr, t), ytr, repeat_encode(xte, t), yte), cfg, gen)
    return {"dynamic_confidence": dc, "iir": iir, "samples": {"train": len(xtr), "calibration": len(xcal), "test": len(xte)}}


def run_gestures(cfg: Config, root: Path) -> dict:
    write_gesture_fixture(root, cfg.dvs_per_class, cfg.seed)
    cache: dict[int, tuple] = {}

    def data_at(t: int):
        if t not in cache:
            x, y, paths = load_gesture_frames(root, "train", t, cfg.dvs_downsample)
            xte, yte, _ = load_gesture_frames(root, "test", t, cfg.dvs_downsample)
            # the last quarter of the training users calibrate the threshold
            users = [int(Path(p).parent.name[4:6]) for p in paths]
            cal = torch.tensor([u > cfg.dvs_per_class * 3 // 4 for u in users])
            cache[t] = (x[:, ~cal], y[~cal], x[:, cal], y[cal], xte, yte)
        return cache[t]

    xtr, ytr, xcal, ycal, xte, yte = data_at(cfg.dvs_time_steps)
    in_features = int(np.prod(xtr.shape[2:]))
    gen = torch.Generator().manual_seed(cfg.seed + 3)
    torch.manual_seed(cfg.seed)
    model = GestureSNN(in_features, cfg.hidden)
    fit(model, xtr, ytr, cfg.epochs, cfg, gen)
    dc = confidence_study(model, xcal, ycal, xte, yte, cfg)
    iir = iir_study(lambda: GestureSNN(in_features, cfg.hidden), lambda t: (data_at(t)[0], data_at(t)[1], data_at(t)[4], data_at(t)[5]), cfg, gen)
    return {"dynamic_confidence": dc, "iir": iir, "samples": {"train": int(xtr.shape[1]), "calibration": int(xcal.shape[1]), "test": int(xte.shape[1])},
            "frame_shape": list(xtr.shape[2:])}


# ------------------------------------------------------------------------------------------- figure
def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sets = [("digits", "digits", "Poisson coding", "direct coding"),
            ("dvs_gesture", "DVS-Gesture-format fixture", "frames", "events re-binned into T frames")]
    fig, axes = plt.subplots(2, 2, figsize=(10, 7))
    for row, (key, name, dc_coding, iir_coding) in enumerate(sets):
        r = result[key]
        dc, iir = r["dynamic_confidence"], r["iir"]
        for col, metric in enumerate(("accuracy", "energy_mj")):
            ax = axes[row, col]
            k = 1.0 if metric == "accuracy" else 1e6  # mJ -> nJ
            fx, sw, t, st = dc["fixed_T"], dc["sweep"], dc["test"], iir["stages"]
            ax.plot([p["time_steps"] for p in fx], [k * p[metric] for p in fx], "o-", color="0.5", ms=3,
                    label=f"every sample stops at step t (T = {t['time_steps']}, {dc_coding})")
            ax.plot([p["mean_steps"] for p in sw], [k * p[metric] for p in sw], "s-", color="tab:blue", ms=4,
                    label="Dynamic Confidence, threshold swept")
            ax.plot([t["mean_steps"]], [k * t[metric]], "*", color="tab:red", ms=14,
                    label=f"Dynamic Confidence, threshold {dc['threshold']:.3f} calibrated on held-out data")
            ax.plot([s["time_steps"] for s in st], [k * s[metric] for s in st], "D--", color="tab:green", ms=5,
                    label=f"IIR-SNN stages T = {st[0]['time_steps']}..1 ({iir_coding})")
            ax.plot([1], [k * iir["direct_T1"][metric]], "x", color="tab:purple", ms=9, mew=2,
                    label=f"trained at T = 1 only, {iir['direct_T1']['epochs']} epochs")
            if metric == "accuracy":
                lo = min(p[metric] for p in fx + sw + st)
                ax.set_ylim(max(0.0, lo - 0.05), 1.0)
                ax.set_ylabel("test accuracy")
                ax.set_title(f"{name}: accuracy (untrained at T = 1: {iir['untrained_T1_accuracy']:.2f}, chance {iir['chance']:.2f})", fontsize=9)
            else:
                ax.set_ylim(0, None)
                ax.set_ylabel("energy per test sample (nJ)")
                ax.set_title(f"{name}: energy, counted operations, 45 nm", fontsize=9)
            ax.set_xlabel("mean time steps per sample")
        axes[row, 0].legend(fontsize=6.5, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def summary(result: dict) -> dict:
    out = {}
    for key in ("digits", "dvs_gesture"):
        dc, iir = result[key]["dynamic_confidence"]["test"], result[key]["iir"]
        t1 = next(s for s in iir["stages"] if s["time_steps"] == 1)
        out[key] = {"dc_accuracy": round(dc["accuracy"], 4), "dc_mean_steps": round(dc["mean_steps"], 3), "full_T": dc["time_steps"],
                    "full_T_accuracy": round(dc["full_T_accuracy"], 4), "dc_energy_mj": dc["energy_mj"], "full_T_energy_mj": dc["full_T_energy_mj"],
                    "iir_T1_accuracy": round(t1["accuracy"], 4), "direct_T1_accuracy": round(iir["direct_T1"]["accuracy"], 4),
                    "untrained_T1_accuracy": round(iir["untrained_T1_accuracy"], 4)}
    return out


def parse(argv=None) -> tuple[Config, argparse.Namespace]:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="smaller models, fewer epochs and samples (CI)")
    p.add_argument("--out", type=Path, default=Path("runs/latency"))
    for f, default in asdict(Config()).items():
        if f != "digits_limit":
            p.add_argument("--" + f.replace("_", "-"), type=type(default), default=None)
    args = p.parse_args(argv)
    cfg = QUICK if args.quick else Config()
    over = {f: getattr(args, f) for f in asdict(cfg) if getattr(args, f, None) is not None}
    return replace(cfg, **over), args


def main(argv=None) -> dict:
    cfg, args = parse(argv)
    torch.set_num_threads(min(torch.get_num_threads(), 2))
    t0 = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    result = {"config": asdict(cfg), "quick": bool(args.quick), "digits": run_digits(cfg)}
    with tempfile.TemporaryDirectory() as tmp:
        result["dvs_gesture"] = run_gestures(cfg, Path(tmp))
    result["seconds"] = round(time.perf_counter() - t0, 1)
    result["summary"] = summary(result)
    (args.out / "result.json").write_text(json.dumps(result, indent=1))
    plot(result, args.out / "latency.png")
    print(json.dumps({"out": str(args.out), "seconds": result["seconds"], **result["summary"]}))
    return result


if __name__ == "__main__":
    main()
