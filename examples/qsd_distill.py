"""A QSD-Transformer (4-bit weights, multi-level spikes) learns scikit-learn's digits, distilled from its ANN twin.

Qiu et al., *Quantized Spike-driven Transformer*, ICLR 2025. Three models of the same architecture
(a tiny Meta-SpikeFormer skeleton, :func:`neuro.nn.models.qsd_transformer` with config overrides) are trained
in turn on the 1797 bundled 8x8 digits (no download), scaled to 32x32 (so that the attention stages see
2x2 = 4 tokens: at 16x16 they would see one token and the token-similarity loss would be empty):

1. the **teacher**: the full-precision ANN counterpart (``ann=True``: float weights, ReLU where the SNN spikes);
2. the **student**: LSQ ``--bits``-bit weights in every conv / linear layer and multi-level spiking neurons,
   trained with :math:`\\mathcal{L}_{CE} + \\lambda\\,\\mathcal{L}_{FGD}`, the paper's fine-grained distillation
   (:func:`neuro.nn.models.distillation.fine_grained_distillation_loss` on the row-normalised token-similarity
   matrices of Q and K of every attention layer, recorded with ``record_attention`` / ``attention_qk``);
3. the **baseline**: the same student from the same initial weights, cross-entropy only (skip with ``--no-baseline``;
   ``--no-distill`` trains only this one and no teacher).

Input: direct encoding (the intensities, T = 1 step, as the paper's QSD models use) or ``--encoding rate``
(Bernoulli frames over ``--time-steps``). 80 % of the images train (AdamW, one-cycle), 20 % test.

    python examples/qsd_distill.py                          # teacher, distilled student, baseline (a few minutes)
    python examples/qsd_distill.py --bits 2 --lam 2         # 2-bit weights, stronger distillation
    python examples/qsd_distill.py --resume                 # continue from the last checkpoint in --out
    python examples/qsd_distill.py --quick                  # CI size: under a minute on 2 cores, barely learns

Measured with the defaults (seed 0, ``--threads 1``, 2-core machine, ~4.5 min in all): teacher 98.9 %, 4-bit student
with FGD 97.5 %, CE-only student 95.8 % test accuracy (360 test images; one image is 0.28 %, so one seed is suggestive, not
conclusive); lambda = 1 gave 95.6 %. ``--resume`` after an interruption continues the same run bit for bit.

Writes ``--out``/qsd_distill.json (accuracies, bits, curves), qsd_distill.png (learning curves) and
checkpoint.pt (saved atomically after every epoch; ``--resume`` continues from it), and each trained model as
``<stage>.pt`` (``{"model": state dict, "kwargs": of qsd_transformer}``) for ``examples/energy_report.py --checkpoint``.
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
from tqdm.auto import tqdm

from neuro.energy.cli import calibrate_batchnorm
from neuro.nn.models import count_parameters, qsd_transformer
from neuro.nn.models.distillation import attention_qk, fine_grained_distillation_loss, record_attention

STAGES = ("teacher", "student", "baseline")


def load(size: int, seed: int, limit: int | None = None) -> tuple[torch.Tensor, ...]:
    """Digits as intensities in [0, 1], ``[N, 1, size, size]``, split 80/20 (stratified); ``limit`` caps both splits."""
    digits = load_digits()
    x = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False).clamp(0, 1)
    y = torch.tensor(digits.target)
    i_train, i_test = train_test_split(range(len(y)), test_size=0.2, stratify=y.numpy(), random_state=seed)
    out = x[i_train], y[i_train], x[i_test], y[i_test]
    if limit:
        out = tuple(t[:limit] for t in out)
    return out


def encode(x: torch.Tensor, encoding: str, steps: int, generator: torch.Generator) -> torch.Tensor:
    """Direct: the intensities ``[B, 1, H, W]`` (the model repeats them over its T). Rate: Bernoulli frames ``[B, T, 1, H, W]``."""
    if encoding == "direct":
        return x
    return (torch.rand((x.shape[0], steps, *x.shape[1:]), generator=generator) < x.unsqueeze(1)).float()


def model_kwargs(a: argparse.Namespace, ann: bool) -> dict:
    """Arguments of ``qsd_transformer``: the 8M layout with every size overridden to a tiny one."""
    return dict(name="imagenet-8M", bits=a.bits, levels=a.levels, ann=ann, embed_dims=tuple(a.dim * m for m in (1, 2, 4, 4)), depth=a.depth,
                num_heads=a.heads, mlp_ratio=2, img_size=a.size, in_channels=1, num_classes=10, time_steps=a.time_steps)


def build(a: argparse.Namespace, ann: bool) -> torch.nn.Module:
    return qsd_transformer(**model_kwargs(a, ann))


def weight_bits(model: torch.nn.Module) -> dict:
    """Bits of every layer's weights: the quantized layers' ``weight_bits``, 32 for the rest; the model's weight storage."""
    quantized = [m for m in model.modules() if hasattr(m, "weight_bits")]
    q_ids = {id(m.weight) for m in quantized}
    q_bits = sum(m.weight.numel() * m.weight_bits for m in quantized)
    fp_bits = 32 * sum(p.numel() for p in model.parameters() if id(p) not in q_ids and p.requires_grad)
    levels = sorted({int(torch.unique(torch.round(m.quantized_weight().detach() / m.alpha.detach().view(-1, *[1] * (m.weight.dim() - 1)))).numel())
                     for m in quantized}) if quantized else []
    return {"quantized_layers": len(quantized), "weight_bits": sorted({m.weight_bits for m in quantized}) or [32],
            "distinct_levels_per_layer": levels, "storage_kib": round((q_bits + fp_bits) / 8 / 1024, 1),
            "fp32_storage_kib": round(32 * sum(p.numel() for p in model.parameters() if p.requires_grad) / 8 / 1024, 1)}


@torch.no_grad()
def accuracy(model, x, y, a, seed: int, batch: int = 256, calibrate: torch.Tensor | None = None) -> float:
    """Test accuracy; with ``calibrate`` (training images) the BatchNorm statistics are first recomputed on them: the running
    averages lag far behind weights that move this fast in a few hundred steps, and the test accuracy would sit near chance."""
    if calibrate is not None:
        calibrate_batchnorm(model, encode(calibrate, a.encoding, a.time_steps, torch.Generator().manual_seed(seed)), 1)
    model.eval()
    g = torch.Generator().manual_seed(seed)
    correct = sum(int((model(encode(x[i:i + batch], a.encoding, a.time_steps, g)).argmax(1) == y[i:i + batch]).sum())
                  for i in range(0, len(y), batch))
    return correct / len(y)


def _time_mean(x: torch.Tensor) -> torch.Tensor:
    return x.float().mean(0) if x.dim() == 5 else x.float()


def distillation_loss(student_qk, teacher_qk) -> torch.Tensor:
    """:func:`fine_grained_distillation_loss`, with the tokens whose student query (key) is silent removed from both sides.

    A token that emitted no spike has a zero row in :math:`Q Q^\top`; its row normalisation divides by ``eps`` = 1e-8, and
    the gradient reaching the other tokens through it is ~1e8 times the cross-entropy's: one such batch wrecks Adam's
    second moments and the student stops learning (59 % instead of 96 % on digits, even with lambda = 0.01). Zeroing those
    tokens in the teacher's Q (K) too makes both rows (and columns) zero: the silent token adds no loss and no gradient,
    every other entry is compared as the paper says. A non-silent row has norm >= its own ``q_i . q_i``, so stays well scaled.
    """
    pairs = []
    for s_pair, t_pair in zip(student_qk, teacher_qk):
        masked = []
        for s, t in zip(s_pair, t_pair):
            silent = _time_mean(s.detach()).abs().sum(-1, keepdim=True) == 0
            masked.append(_time_mean(t.detach()).masked_fill(silent, 0.0))
        pairs.append(tuple(masked))
    return fine_grained_distillation_loss(student_qk, pairs)


def save_atomic(obj, path: Path) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def train_stage(stage: str, model, teacher, data, a, ckpt: dict, path: Path) -> dict:
    """Train one model for ``a.epochs`` (continuing ``ckpt['current']`` if it is this stage); checkpoint after every epoch."""
    x_train, y_train, x_test, y_test = data
    batches = (len(y_train) + a.batch - 1) // a.batch
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=a.lr, total_steps=a.epochs * batches, pct_start=0.15)
    g = torch.Generator().manual_seed(a.seed + 1)
    history, start_epoch, seconds = [], 0, 0.0
    cur = ckpt.get("current")
    if cur and cur["stage"] == stage:
        model.load_state_dict(cur["model"])
        opt.load_state_dict(cur["opt"])
        sched.load_state_dict(cur["sched"])
        g.set_state(cur["generator"])
        torch.set_rng_state(cur["torch_rng"])
        history, start_epoch, seconds = cur["history"], cur["epoch"], cur["seconds"]
        print(f"resuming {stage} after epoch {start_epoch}", flush=True)
    distill = stage == "student" and teacher is not None
    if distill:
        record_attention(model)
        record_attention(teacher)
        teacher.eval()
    for epoch in range(start_epoch, a.epochs):
        t0 = time.perf_counter()
        model.train()
        order = torch.randperm(len(y_train), generator=g)
        tot_ce = tot_fgd = 0.0
        correct = 0
        bar = tqdm(range(0, len(order), a.batch), desc=f"{stage:8s} epoch {epoch + 1}/{a.epochs}", leave=False, disable=not a.progress)
        for i in bar:
            idx = order[i:i + a.batch]
            x = encode(x_train[idx], a.encoding, a.time_steps, g)
            logits = model(x)
            ce = F.cross_entropy(logits, y_train[idx])
            loss = ce
            if distill:
                with torch.no_grad():
                    teacher(x)
                fgd = distillation_loss(attention_qk(model), attention_qk(teacher))
                loss = ce + a.lam * fgd
                tot_fgd += fgd.item() * len(idx)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            tot_ce += ce.item() * len(idx)
            correct += int((logits.argmax(1) == y_train[idx]).sum())
            bar.set_postfix(ce=f"{ce.item():.3f}")
        seconds += time.perf_counter() - t0
        n = len(y_train)
        test = accuracy(model, x_test, y_test, a, a.seed + 2, calibrate=x_train[:a.calib])
        history.append({"epoch": epoch + 1, "ce": round(tot_ce / n, 4), "fgd": round(tot_fgd / n, 5) if distill else None,
                        "train_acc": round(correct / n, 4), "test_acc": round(test, 4)})
        print(f"{stage:8s} epoch {epoch + 1:3d}/{a.epochs}  ce {tot_ce / n:.3f}" + (f"  fgd {tot_fgd / n:.4f}" if distill else "")
              + f"  train {correct / n:.3f}  test {test:.3f}  {seconds:6.1f} s", flush=True)
        ckpt["current"] = {"stage": stage, "epoch": epoch + 1, "model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                           "generator": g.get_state(), "torch_rng": torch.get_rng_state(), "history": history, "seconds": seconds}
        save_atomic(ckpt, path)
    if distill:
        record_attention(model, False)
        record_attention(teacher, False)
    return {"stage": stage, "ann": getattr(model, "ann", False), "distilled": distill, "test_accuracy": history[-1]["test_acc"] if history else None,
            "train_seconds": round(seconds, 1), "params": count_parameters(model), **weight_bits(model), "history": history}


def plot(results: dict, path: Path, title: str) -> None:
    """Test accuracy and cross-entropy per epoch of each trained model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from neuro.viz.axes import epoch_axis, plain_log_axis

    fig, (ax_acc, ax_ce) = plt.subplots(1, 2, figsize=(10, 3.8))
    names = {"teacher": "ANN teacher (fp32, ReLU)", "student": "QSD student + FGD", "baseline": "QSD student, CE only"}
    for stage, r in results.items():
        ep = [h["epoch"] for h in r["history"]]
        label = f"{names[stage]}: test {100 * r['test_accuracy']:.1f} %"
        ax_acc.plot(ep, [h["test_acc"] for h in r["history"]], marker="o", ms=3, label=label)
        ax_ce.plot(ep, [h["ce"] for h in r["history"]], label=names[stage])
    ax_acc.axhline(0.1, color="grey", lw=0.8, ls=":")
    ax_acc.set(xlabel="epoch", ylabel="test accuracy", ylim=(0, 1.02))
    ax_acc.legend(loc="center right", fontsize=8)
    ax_ce.set(xlabel="epoch", ylabel="training cross-entropy", yscale="log")
    ax_ce.legend(fontsize=8)
    for ax in (ax_acc, ax_ce):
        epoch_axis(ax)  # a --quick run has 3-4 epochs: no ticks at 0.5, 1.5
    plain_log_axis(ax_ce)  # 2.3 rather than 2.3×10⁰ on an axis spanning less than a decade
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


#: ``--quick`` (CI size, well under a minute on 2 cores): width 8, 24x24 (24 -> 12 -> 6 -> 3 -> 2x2 = 4 attention tokens
#: still), the first 384 training images in the usual batches of 64 (a step's cost is nearly all per-layer overhead at
#: this size: batches of 32 would cost twice as much per epoch), 3 teacher and 4 student epochs at twice the peak
#: learning rate (24 steps per student), BatchNorm calibrated on 128 images, one torch thread (two spinning threads per
#: process on a shared 2-core machine slow these tiny convolutions down many times).
QUICK = dict(epochs=4, teacher_epochs=3, dim=8, size=24, lr=6e-3, train_images=384, calib=128, threads=1)
FULL = dict(epochs=15, teacher_epochs=None, dim=16, size=32, lr=3e-3, train_images=None, calib=256, threads=None)


class _Help(argparse.ArgumentDefaultsHelpFormatter):
    """Shows defaults, except the ``None`` of the options whose default depends on ``--quick`` (their help says it)."""

    def _get_help_string(self, action):
        return action.help if action.default is None else super()._get_help_string(action)


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=_Help)
    p.add_argument("--bits", type=int, default=4, help="weight bits of the student (LSQ, per output channel)")
    p.add_argument("--levels", type=int, default=4, help="spike levels D of the multi-level neurons")
    p.add_argument("--lam", type=float, default=0.1, help="weight lambda of the fine-grained distillation loss")
    p.add_argument("--epochs", type=int, default=None, help=f"epochs per model (default {FULL['epochs']}; {QUICK['epochs']} with --quick)")
    p.add_argument("--teacher-epochs", type=int, default=None,
                   help=f"epochs of the ANN teacher (default: --epochs; {QUICK['teacher_epochs']} with --quick)")
    p.add_argument("--dim", type=int, default=None, help=f"stage widths dim x (1, 2, 4, 4) (default {FULL['dim']}; {QUICK['dim']} with --quick)")
    p.add_argument("--depth", type=int, default=2, help="attention blocks (3/4 in stage 3, the rest in stage 4)")
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--size", type=int, default=None,
                   help=f"image side the 8x8 digits are scaled to (default {FULL['size']} -> 4 attention tokens; {QUICK['size']} with --quick)")
    p.add_argument("--encoding", choices=("direct", "rate"), default="direct")
    p.add_argument("--time-steps", type=int, default=1, help="time steps T (QSD uses T = 1 with multi-level spikes)")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=None, help=f"peak learning rate (default {FULL['lr']}; {QUICK['lr']} with --quick)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--train-images", type=int, default=None,
                   help=f"use only the first N training (and test) images (default all; {QUICK['train_images']} with --quick)")
    p.add_argument("--calib", type=int, default=None,
                   help=f"training images that set the BatchNorm statistics before each test (default {FULL['calib']}; {QUICK['calib']} with --quick)")
    p.add_argument("--no-distill", action="store_true", help="train only the CE-only student (no teacher)")
    p.add_argument("--no-baseline", action="store_true", help="skip the CE-only student")
    p.add_argument("--quick", action="store_true", help="CI size, under a minute on 2 cores: " + ", ".join(f"{k} {v}" for k, v in QUICK.items()))
    p.add_argument("--resume", action="store_true", help="continue from --out/checkpoint.pt")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    p.add_argument("--threads", type=int, default=None, help=f"torch threads (default: torch's; {QUICK['threads']} with --quick)")
    p.add_argument("--out", type=Path, default=Path("runs/qsd_distill"))
    a = p.parse_args(argv)
    for key, value in (QUICK if a.quick else FULL).items():  # what the command line leaves unset
        if getattr(a, key) is None:
            setattr(a, key, value)
    a.teacher_epochs = a.teacher_epochs or a.epochs
    if a.no_distill and a.no_baseline:
        p.error("--no-distill trains only the baseline; --no-baseline removes it: nothing left to train")
    if a.encoding == "direct" and a.time_steps != 1:
        print(f"note: direct encoding repeats the image over T = {a.time_steps} steps", flush=True)
    return a


def main(argv: list[str] | None = None) -> dict:
    a = parse(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    a.out.mkdir(parents=True, exist_ok=True)
    path = a.out / "checkpoint.pt"
    ckpt: dict = {"results": {}, "teacher": None}
    if a.resume:
        if path.is_file():
            ckpt = torch.load(path, map_location="cpu", weights_only=True)  # tensors and plain values only: loading runs no code
            print(f"resuming from {path} (done: {', '.join(ckpt['results']) or 'nothing'})", flush=True)
        else:
            print(f"no checkpoint at {path}: starting afresh", flush=True)
    data = load(a.size, a.seed, a.train_images)
    stages = [s for s in STAGES if not (a.no_distill and s in ("teacher", "student")) and not (a.no_baseline and s == "baseline")]
    teacher = None
    for stage in stages:
        torch.manual_seed(a.seed + (0 if stage == "teacher" else 1))  # the student and the baseline start from the same weights
        model = build(a, ann=stage == "teacher")
        if stage in ckpt["results"]:
            if stage == "teacher":
                model.load_state_dict(ckpt["teacher"])
                teacher = model
            continue
        epochs = a.epochs
        if stage == "teacher":
            a.epochs = a.teacher_epochs
        ckpt["results"][stage] = train_stage(stage, model, teacher, data, a, ckpt, path)
        a.epochs = epochs
        if stage == "teacher":
            teacher, ckpt["teacher"] = model, model.state_dict()
        torch.save({"model": model.state_dict(), "factory": "neuro.nn.models:qsd_transformer", "kwargs": model_kwargs(a, stage == "teacher")},
                   a.out / f"{stage}.pt")  # for examples/energy_report.py --checkpoint
        ckpt["current"] = None
        save_atomic(ckpt, path)
    results = {s: ckpt["results"][s] for s in stages}
    summary = {"config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(a).items()},
               "train_images": len(data[1]), "test_images": len(data[3]), "threads": torch.get_num_threads(),
               **{f"{s}_accuracy": r["test_accuracy"] for s, r in results.items()},
               "student_weight_bits": a.bits, "results": results}
    (a.out / "qsd_distill.json").write_text(json.dumps(summary, indent=1) + "\n")
    plot(results, a.out / "qsd_distill.png",
         f"QSD-Transformer on digits ({a.size}x{a.size}, {a.encoding}, T = {a.time_steps}): {a.bits}-bit weights, {a.levels}-level spikes")
    for s, r in results.items():
        print(f"{s:8s} test accuracy {100 * r['test_accuracy']:5.1f} %  weights {'/'.join(map(str, r['weight_bits']))} bit  "
              f"storage {r['storage_kib']} KiB (fp32 {r['fp32_storage_kib']} KiB)  {r['train_seconds']} s")
    print(f"wrote {a.out / 'qsd_distill.json'} and {a.out / 'qsd_distill.png'}")
    return summary


if __name__ == "__main__":
    main()
