"""A spiking diffusion model (SDDPM with TSM neurons) and its non-spiking twin generate the bundled 8x8 digits.

Both denoisers (:class:`neuro.nn.models.spiking_diffusion.SpikingDenoiser`, ``spiking=True`` and ``False``: same layers,
same parameter count, same seed, initial weights, batches and Adam schedule) are trained on the noise-prediction loss
of a DDPM on the training split of sklearn's digits (scaled to [-1, 1]) and sample from pure noise by ancestral steps.
The spiking model samples again under threshold guidance (every threshold moved by ``delta``, no retraining).

Quality is judged by a classifier trained on the real training digits (an MLP, 64 -> hidden -> 10; its held-out
accuracy is reported):

* ``fid``: the Frechet distance between the classifier's penultimate features of a set of images and of the training
  digits (an FID computed with this small classifier in place of Inception; 0 for identical distributions);
* ``confidence``: the mean largest class probability; ``coverage``: the number of classes predicted for at least 5 %
  of the images; ``inception_score``: :math:`\\exp E_x[KL(p(y|x) \\| p(y))]` (1 to 10).

Reference points, scored the same way and with the same number of images: real held-out digits (the floor), pure noise
(N(0, 1) clipped to [-1, 1], the sampler's start) and the untrained spiking model's samples.

    python examples/spiking_diffusion.py --quick                 # CI size, a few seconds
    python examples/spiking_diffusion.py --out runs/spiking_diffusion

Writes ``result.json`` and ``spiking_diffusion.png`` (sample grids) into ``--out``; prints one JSON line last.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from neuro.demo import load_digits_split
from neuro.nn.models import count_parameters
from neuro.nn.models.spiking_diffusion import DDPM, SpikingDenoiser, spike_counts, threshold_guidance

SHAPE = (1, 8, 8)
QUICK = dict(width=64, blocks=1, time_steps=4, diffusion_steps=40, train_steps=150, batch=64, samples=150, classifier_steps=150,
             guidance=(-0.1, 0.1))
FULL = dict(width=128, blocks=2, time_steps=4, diffusion_steps=100, train_steps=3000, batch=128, samples=359, classifier_steps=400,
            guidance=(-0.2, -0.1, -0.05, 0.05, 0.1, 0.2))


def digits(seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Train and held-out digits as ``[N, 1, 8, 8]`` in [-1, 1], with their labels."""
    xtr, ytr, xte, yte = load_digits_split(seed)
    return (xtr * 2 - 1).view(-1, *SHAPE), ytr, (xte * 2 - 1).view(-1, *SHAPE), yte


class DigitClassifier(nn.Module):
    """64 -> hidden (ReLU; the features the FID is computed on) -> 10."""

    def __init__(self, hidden: int = 64):
        super().__init__()
        self.hidden = nn.Linear(64, hidden)
        self.out = nn.Linear(hidden, 10)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.hidden(x.flatten(1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.features(x))


def train_classifier(x: torch.Tensor, y: torch.Tensor, steps: int, seed: int) -> DigitClassifier:
    """Full-batch Adam on the training digits, with light Gaussian input noise so generated images stay in its domain."""
    torch.manual_seed(seed)
    clf = DigitClassifier()
    opt = torch.optim.Adam(clf.parameters(), 1e-2)
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        noisy = x + 0.1 * torch.randn(x.shape, generator=g)
        loss = F.cross_entropy(clf(noisy), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return clf.eval()


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """:math:`\\lVert\\mu_a-\\mu_b\\rVert^2 + \\mathrm{tr}(\\Sigma_a + \\Sigma_b - 2(\\Sigma_a\\Sigma_b)^{1/2})` of two feature sets ``[N, D]``."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    ca, cb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    # tr (Sa Sb)^(1/2) = tr (Sa^(1/2) Sb Sa^(1/2))^(1/2): symmetric PSD square roots by eigh, stable for singular covariances
    w, v = np.linalg.eigh(ca)
    ra = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    inner = np.linalg.eigvalsh(ra @ cb @ ra)
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(ca) + np.trace(cb) - 2 * np.sqrt(np.clip(inner, 0, None)).sum())


@torch.no_grad()
def quality(clf: DigitClassifier, images: torch.Tensor, reference_features: np.ndarray) -> dict:
    """FID against the reference features, mean confidence, class coverage and inception score of ``images``."""
    probs = F.softmax(clf(images), dim=1)
    marginal = probs.mean(0, keepdim=True)
    kl = (probs * (torch.log(probs + 1e-12) - torch.log(marginal + 1e-12))).sum(1).mean()
    counts = torch.bincount(probs.argmax(1), minlength=10).float() / len(images)
    return {"fid": frechet_distance(clf.features(images).numpy().astype(np.float64), reference_features),
            "confidence": float(probs.max(1).values.mean()), "coverage": int((counts >= 0.05).sum()),
            "inception_score": float(torch.exp(kl))}


def train_denoiser(model: SpikingDenoiser, ddpm: DDPM, x: torch.Tensor, steps: int, batch: int, lr: float, seed: int,
                   label: str, progress: bool = True) -> list[float]:
    """Adam with a cosine learning rate on the noise-prediction loss; returns the loss per step."""
    opt = torch.optim.Adam(model.parameters(), lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    g = torch.Generator().manual_seed(seed + 1)
    losses = []
    model.train()
    for _ in tqdm(range(steps), desc=label, disable=not progress, leave=False):
        idx = torch.randint(0, len(x), (batch,), generator=g)
        loss = ddpm.loss(model, x[idx], g)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
    return losses


def sample(model: SpikingDenoiser, ddpm: DDPM, n: int, seed: int) -> tuple[torch.Tensor, float | None]:
    """``n`` samples (same noise for every model) and the spike rate of the denoiser's neurons while sampling."""
    g = torch.Generator().manual_seed(seed + 2)
    with spike_counts(model) as c:
        x = ddpm.sample(model, n, SHAPE, generator=g)
    return x, (c["spikes"] / c["neuron_steps"] if c["neuron_steps"] else None)


def figure(path: Path, grids: dict[str, torch.Tensor], rows: dict[str, dict], per_side: int = 6) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(grids), figsize=(2.6 * len(grids), 3.0))
    for ax, (name, imgs) in zip(np.atleast_1d(axes), grids.items()):
        k = per_side
        tiles = imgs[: k * k, 0].numpy().reshape(k, k, 8, 8).transpose(0, 2, 1, 3)
        tiles = np.pad(tiles, ((0, 0), (0, 1), (0, 0), (0, 1)), constant_values=-1).reshape(k * 9, k * 9)
        ax.imshow(tiles, cmap="gray", vmin=-1, vmax=1)
        ax.set_title(f"{name}\nclassifier FID {rows[name]['fid']:.1f}", fontsize=9)
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--quick", action="store_true", help="CI size (width 64, 1 block, 40 diffusion steps, 150 training steps)")
    p.add_argument("--train-steps", type=int, default=None)
    p.add_argument("--width", type=int, default=None)
    p.add_argument("--time-steps", type=int, default=None, help="spiking steps T")
    p.add_argument("--lr", type=float, default=1e-2)
    p.add_argument("--variance", choices=["fixedlarge", "fixedsmall"], default="fixedlarge", help="sampler variance (the paper's: fixedlarge)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch and Numba threads (one: spinning threads slow tiny ops on a shared machine)")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--out", type=Path, default=Path("runs/spiking_diffusion"))
    a = p.parse_args(argv)
    cfg = dict(QUICK if a.quick else FULL)
    for key in ("train_steps", "width", "time_steps"):
        if getattr(a, key) is not None:
            cfg[key] = getattr(a, key)
    torch.set_num_threads(a.threads)
    try:
        import numba

        numba.set_num_threads(min(a.threads, numba.config.NUMBA_NUM_THREADS))
    except ImportError:
        pass
    a.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    progress = not a.no_progress

    xtr, ytr, xte, yte = digits(a.seed)
    clf = train_classifier(xtr, ytr, cfg["classifier_steps"], a.seed)
    with torch.no_grad():
        clf_accuracy = float((clf(xte).argmax(1) == yte).float().mean())
        ref = clf.features(xtr).numpy().astype(np.float64)
    n = min(cfg["samples"], len(xte))
    noise = torch.randn((n, *SHAPE), generator=torch.Generator().manual_seed(a.seed + 3)).clamp(-1, 1)
    grids = {"real held-out": xte[:n], "pure noise": noise}
    ddpm = DDPM(cfg["diffusion_steps"], variance=a.variance)
    build = dict(image_shape=SHAPE, width=cfg["width"], blocks=cfg["blocks"], time_steps=cfg["time_steps"],
                 diffusion_steps=cfg["diffusion_steps"])
    models, rates, params, losses = {}, {}, {}, {}
    torch.manual_seed(a.seed)
    untrained = SpikingDenoiser(spiking=True, **build)
    grids["untrained spiking"], rates["untrained spiking"] = sample(untrained, ddpm, n, a.seed)
    for name, spiking in (("spiking (TSM)", True), ("non-spiking", False)):
        torch.manual_seed(a.seed)
        model = SpikingDenoiser(spiking=spiking, **build)
        params[name] = count_parameters(model)
        losses[name] = train_denoiser(model, ddpm, xtr, cfg["train_steps"], cfg["batch"], a.lr, a.seed, name, progress)
        grids[name], rates[name] = sample(model, ddpm, n, a.seed)
        models[name] = model
    for delta in cfg["guidance"]:
        name = f"spiking + guidance {delta:+g}"
        with threshold_guidance(models["spiking (TSM)"], delta):
            grids[name], rates[name] = sample(models["spiking (TSM)"], ddpm, n, a.seed)
    rows = {name: {**quality(clf, imgs, ref), "spike_rate": rates.get(name)} for name, imgs in grids.items()}
    guided = [k for k in rows if k.startswith("spiking + guidance")]
    best = min(guided, key=lambda k: rows[k]["fid"]) if guided else None
    shown = ["real held-out", "non-spiking", "spiking (TSM)", *([best] if best else []), "untrained spiking"]
    figure(a.out / "spiking_diffusion.png", {k: grids[k] for k in shown}, rows)
    tsm = models["spiking (TSM)"]
    summary = {"name": "spiking_diffusion",
               "config": {**{k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg.items()}, "lr": a.lr, "variance": a.variance, "seed": a.seed,
                          "threads": a.threads, "images_scored": n, "train_digits": len(xtr)},
               "classifier_accuracy": clf_accuracy, "params": params, "rows": rows, "best_guidance": best,
               "final_loss": {k: float(np.mean(v[-20:])) for k, v in losses.items()},
               "tsm_factors_first_layer": [round(float(v), 4) for v in tsm.stem.p.detach()],
               "wall_s": round(time.perf_counter() - t0, 2)}
    (a.out / "result.json").write_text(json.dumps(summary, indent=1) + "\n")
    line = {"name": "spiking_diffusion", **{f"fid_{k.split(' ')[0].replace('-', '_')}": round(rows[k]["fid"], 3)
                                           for k in ("spiking (TSM)", "non-spiking", "real held-out", "pure noise", "untrained spiking")},
            "fid_best_guidance": round(rows[best]["fid"], 3) if best else None, "best_guidance": best,
            "params": params["spiking (TSM)"], "wall_s": summary["wall_s"]}
    print(json.dumps(line), flush=True)
    return summary


if __name__ == "__main__":
    main()
