"""A small Spikformer and a small Spike-driven Transformer learn scikit-learn's bundled digits, spike-encoded.

The 8x8 digit images (1797 of them, shipped with scikit-learn: no download) are scaled to 16x16
and rate-coded into T = 4 binary frames (Poisson: a pixel of intensity p spikes with probability p
at each step). Each model sees the frames as event input ``[B, T, 1, H, W]``, exactly as it would
see DVS frames. 80 % of the images train it (AdamW, cosine schedule), 20 % test it.

    python examples/digits_transformers.py                 # both models, full run
    python examples/digits_transformers.py --quick         # a few seconds, for CI
    python examples/digits_transformers.py --model sdt --epochs 40 --out results/
    python examples/digits_transformers.py --out results/ --resume     # continue from the checkpoints in results/

Prints one JSON line per model: test accuracy, training time, epochs, parameters, threads.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from neuro.nn import poisson_encode
from neuro.nn.models import SDTConfig, SpikeDrivenTransformer, Spikformer, SpikformerConfig, count_parameters

TIME_STEPS = 4


def load(size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Digits as intensities in [0, 1], ``[N, 1, size, size]``, split 80/20 (stratified)."""
    digits = load_digits()
    x = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
    x = F.interpolate(x, size=(size, size), mode="nearest")
    y = torch.tensor(digits.target)
    i_train, i_test = train_test_split(range(len(y)), test_size=0.2, stratify=y.numpy(), random_state=seed)
    return x[i_train], y[i_train], x[i_test], y[i_test]


def encode(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Rate-coded frames ``[B, T, 1, H, W]``."""
    return poisson_encode(x, TIME_STEPS, generator=generator).transpose(0, 1).contiguous()


def build(name: str, size: int, dim: int, depth: int) -> torch.nn.Module:
    if name == "spikformer":
        return Spikformer(SpikformerConfig("cifar", size, 1, 10, dim, depth, num_heads=4, time_steps=TIME_STEPS))
    return SpikeDrivenTransformer(SDTConfig(size, 1, 10, dim, depth, num_heads=4, time_steps=TIME_STEPS, pooling="0011"))


@torch.no_grad()
def accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, seed: int, batch: int = 256) -> float:
    model.eval()
    g = torch.Generator().manual_seed(seed)
    correct = sum(int((model(encode(x[i:i + batch], g)).argmax(1) == y[i:i + batch]).sum()) for i in range(0, len(y), batch))
    return correct / len(y)


def train(name: str, epochs: int, dim: int, depth: int, batch: int, lr: float, seed: int, size: int = 16, limit: int | None = None,
          checkpoint: Path | None = None, resume: bool = False, stop_after: int | None = None) -> dict:
    """Train one model; with ``checkpoint``, save everything after each epoch (atomically) and, with ``resume``,
    continue from it: the resumed run ends with the same weights as an uninterrupted one."""
    torch.manual_seed(seed)
    x_train, y_train, x_test, y_test = load(size, seed)
    if limit:
        x_train, y_train, x_test, y_test = x_train[:limit], y_train[:limit], x_test[:limit], y_test[:limit]
    model = build(name, size, dim, depth)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    steps = epochs * ((len(y_train) + batch - 1) // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.15)
    g = torch.Generator().manual_seed(seed + 1)
    start = time.perf_counter()
    history, first, spent = [], 0, 0.0
    if resume and checkpoint is not None and checkpoint.is_file():
        state = torch.load(checkpoint, weights_only=True)  # tensors and plain values only: loading runs no code from the file
        if (state["epochs"], state["dim"], state["depth"], state["seed"]) != (epochs, dim, depth, seed):
            raise SystemExit(f"{checkpoint} was made with other settings (epochs, dim, depth, seed = "
                             f"{state['epochs']}, {state['dim']}, {state['depth']}, {state['seed']}); remove it or match them")
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        g.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        history, first, spent = state["history"], state["epoch"], state["seconds"]
        print(f"{name}: resuming after epoch {first} from {checkpoint}")
    for epoch in range(first, epochs):
        model.train()
        order = torch.randperm(len(y_train), generator=g)
        total, correct = 0.0, 0
        for i in range(0, len(order), batch):
            idx = order[i:i + batch]
            logits = model(encode(x_train[idx], g))
            loss = F.cross_entropy(logits, y_train[idx], label_smoothing=0.1)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
            correct += int((logits.argmax(1) == y_train[idx]).sum())
        history.append((total / len(y_train), correct / len(y_train)))
        print(f"{name:10s} epoch {epoch + 1:3d}/{epochs}  loss {total / len(y_train):.3f}  train acc {correct / len(y_train):.3f}"
              f"  {spent + time.perf_counter() - start:6.1f} s", flush=True)
        if checkpoint is not None:
            tmp = checkpoint.with_name(checkpoint.name + ".tmp")
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(), "generator": g.get_state(),
                        "torch_rng": torch.get_rng_state(), "history": history, "epoch": epoch + 1, "epochs": epochs, "dim": dim,
                        "depth": depth, "seed": seed, "seconds": spent + time.perf_counter() - start}, tmp)
            os.replace(tmp, checkpoint)
        if stop_after is not None and epoch + 1 >= stop_after and epoch + 1 < epochs:
            print(f"{name}: stopping after epoch {epoch + 1} (--stop-after); continue with --resume")
            break
    seconds = spent + time.perf_counter() - start
    return {"model": name, "test_accuracy": round(accuracy(model, x_test, y_test, seed + 2), 4), "train_seconds": round(seconds, 1),
            "epochs": epochs, "embed_dim": dim, "depth": depth, "time_steps": TIME_STEPS, "params": count_parameters(model),
            "train_images": len(y_train), "test_images": len(y_test), "threads": torch.get_num_threads(),
            "history": [[round(a, 4), round(b, 4)] for a, b in history], "final_weights_sum": float(sum(p.double().sum() for p in model.parameters()))}


def plot(results: list[dict], path: Path) -> None:
    """Training loss and accuracy per epoch of each model, with its test accuracy in the legend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from neuro.viz.axes import epoch_axis

    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.6))
    for r in results:
        epochs = range(1, len(r["history"]) + 1)
        label = f"{r['model']} (test {100 * r['test_accuracy']:.1f} %, {r['train_seconds']:.0f} s)"
        ax_loss.plot(epochs, [h[0] for h in r["history"]], label=label)
        ax_acc.plot(epochs, [h[1] for h in r["history"]], label=label)
    ax_loss.set(xlabel="epoch", ylabel="training loss (label smoothing 0.1)")
    ax_acc.set(xlabel="epoch", ylabel="training accuracy", ylim=(0, 1.02))
    ax_acc.legend(loc="lower right", fontsize=8)
    for ax in (ax_loss, ax_acc):
        epoch_axis(ax)  # --quick trains 2 epochs: ticks at 1 and 2, not 1.2, 1.4 ...
    fig.suptitle(f"Spiking transformers on scikit-learn digits, T = {TIME_STEPS}")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", choices=("spikformer", "sdt", "both"), default="both")
    p.add_argument("--epochs", type=int, default=None, help="default 30 (2 with --quick)")
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--depth", type=int, default=2)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="tiny run (CI): 2 epochs, 128 images, dim 32, depth 1")
    p.add_argument("--out", type=Path, default=None, help="write digits_transformers.json/.png and per-model checkpoints here")
    p.add_argument("--resume", action="store_true", help="continue each model from its checkpoint in --out")
    p.add_argument("--stop-after", type=int, default=None, help="stop each model after this many epochs (a checkpoint stays; see --resume)")
    a = p.parse_args(argv)
    epochs = a.epochs or (2 if a.quick else 30)
    dim, depth, limit = (32, 1, 128) if a.quick else (a.dim, a.depth, None)
    names = ("spikformer", "sdt") if a.model == "both" else (a.model,)
    results = []
    for name in names:
        ckpt = None
        if a.out is not None:
            a.out.mkdir(parents=True, exist_ok=True)
            ckpt = a.out / f"{name}_checkpoint.pt"
        r = train(name, epochs, dim, depth, a.batch, a.lr, a.seed, limit=limit, checkpoint=ckpt, resume=a.resume, stop_after=a.stop_after)
        print(json.dumps(r), flush=True)
        results.append(r)
    if a.out is not None:
        a.out.mkdir(parents=True, exist_ok=True)
        path = a.out / "digits_transformers.json"
        path.write_text(json.dumps(results, indent=1) + "\n")
        plot(results, a.out / "digits_transformers.png")
        print(f"wrote {path} and {a.out / 'digits_transformers.png'}")
    return results


if __name__ == "__main__":
    main()
