"""Learnable synaptic delays on the Spiking Heidelberg Digits (SHD): the DCLS-Delays recipe.

Hammouamri, Khalfaoui-Hassani & Masquelier, "Learning Delays in Spiking Neural Networks using Dilated
Convolutions with Learnable Spacings", ICLR 2024. A feed-forward network, 700 channels (binned by 5 to 140)
-> 2 hidden layers of 256 LIF neurons -> 20 non-spiking leaky outputs, every synapse with its own delay
learned with the weights (:class:`neuro.nn.delays.LearnableDelayLinear`: a Gaussian temporal kernel of
width sigma centred on the delay; sigma shrinks over the first quarter of training; evaluation rounds the
delays to whole steps). Data through :func:`neuro.data.load` (tonic's reader, frames cached in HDF5);
training through :class:`neuro.train.Trainer` (checkpoints, exact resume).

    python examples/shd_delays.py --data /data/neuromorphic            # SHD under <data>/SHD (tonic's layout)
    python examples/shd_delays.py --resume                             # continue the last run in --out
    python examples/shd_delays.py --fixed-delays                       # ablation: random delays, not learned
    python examples/shd_delays.py --synthetic --tiny                   # format-exact generated files, tiny net (CI)

Defaults are the official SHD configuration (github.com/Thvnvtos/SNN-delays, ``best_config_SHD.py``, and the
paper's Sec. 4 / appendix): 10 ms time steps; 700 channels summed in groups of 5; 2 hidden layers of 256;
LIF tau = 10.05 ms (1.005 steps), threshold 1, hard reset to 0, no input decay, detached reset, ATan
surrogate (alpha 5); BatchNorm before and dropout 0.4 (one mask for all steps) after each LIF layer; no
bias; delay kernels of 250 ms / 10 ms = 25 taps (delays 0..24 steps), the input of each delay layer padded
with 12 zero steps at the end; positions uniform over the taps; sigma from 12 (+0.27) decayed
exponentially to 0.23 (+0.27) over the first 150 // 4 = 37 epochs; readout "sum": the cross-entropy of
the summed per-step softmax of the output membranes; kaiming-uniform weights; 150 epochs, batch 256,
weight decay 1e-5.

What differs (the trainer has one optimizer and one schedule): the official code uses Adam for the weights
with a one-cycle schedule peaking at 5e-3 and Adam for the positions at 100x the weights' rate with cosine
annealing. Here AdamW runs both with one schedule: linear warm-up from 0.04 x 5e-3 over the first 30 % of
the epochs, then cosine to 0 (one-cycle's shape), and the delays are parametrised as ``20 * raw`` so
their Adam steps are 20x larger: a peak position rate of 0.1 = 100 x 1e-3, the official initial rate.
Without ``--resume`` the run starts afresh in ``--out``; the paper reports 95.07 % test accuracy on SHD (2
hidden layers, 256 neurons).
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from neuro.data import fixtures, load, pad_time
from neuro.nn import LIF
from neuro.nn.delays import LearnableDelayLinear, dcls_sigma
from neuro.train import TrainConfig, Trainer
from neuro.train.config import parse_override

N_CHANNELS = 700
N_CLASSES = 20


class ChannelBinned:
    """Collate: sum each group of ``n_bins`` neighbouring channels, zero-pad to the batch's longest
    sample; ``(x [B, T, 700 / n_bins], labels [B])`` (the trainer's ``time_first`` layout makes it ``[T, B, C]``)."""

    def __init__(self, n_bins: int):
        if N_CHANNELS % n_bins:
            raise ValueError(f"n_bins must divide {N_CHANNELS}, got {n_bins}")
        self.n_bins = n_bins

    def __call__(self, batch):
        x, y, _, _ = pad_time(batch)  # [T, B, 700]
        x = x.unflatten(-1, (N_CHANNELS // self.n_bins, self.n_bins)).sum(-1)
        return x.transpose(0, 1).contiguous(), y.long()


class TimeDropout(nn.Module):
    """Dropout with one mask per sample and neuron shared by all time steps (SpikingJelly's multi-step dropout)."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        mask = torch.bernoulli(torch.full_like(x[0], 1.0 - self.p)) / (1.0 - self.p)
        return x * mask


class LeakyOutput(nn.Module):
    r"""Non-spiking output neurons: :math:`v_t = \beta v_{t-1} + x_t` (a LIF with no threshold, no input decay);
    returns the membranes ``[T, B, C]``."""

    def __init__(self, tau: float):
        super().__init__()
        self.beta = 1.0 - 1.0 / tau

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = torch.zeros_like(x[0])
        out = []
        for xt in x:
            v = self.beta * v + xt
            out.append(v)
        return torch.stack(out)


class DelaySNN(nn.Module):
    """``[T, B, n_in]`` -> logits ``[B, classes]``: delay layer, BatchNorm, LIF, dropout per hidden layer; a delay
    layer and leaky non-spiking outputs read out by ``readout`` ("sum", "mean" or "max" of the membranes).

    In training mode every forward counts a batch and sets every layer's sigma from :func:`dcls_sigma` for
    the current epoch (``batches // steps_per_epoch``); the count is a buffer, so a checkpoint resumes the schedule.
    """

    def __init__(self, n_in: int, hidden: int = 256, layers: int = 2, classes: int = N_CLASSES, taps: int = 25, tau: float = 1.005,
                 dropout: float = 0.4, readout: str = "sum", learn_delays: bool = True, steps_per_epoch: int = 1, final_epoch: int = 37,
                 delay_lr_scale: float = 20.0, alpha: float = 5.0):
        super().__init__()
        if readout not in ("sum", "mean", "max"):
            raise ValueError(f"readout must be 'sum', 'mean' or 'max', got {readout!r}")
        self.readout, self.steps_per_epoch, self.final_epoch = readout, max(1, steps_per_epoch), final_epoch
        self.max_delay = taps - 1
        self.pad_right = (taps - 1) // 2
        self.sigma_init = float(taps // 2)
        sigma0 = dcls_sigma(0, final_epoch, self.sigma_init) if learn_delays else 0.0
        sizes = [n_in] + [hidden] * layers
        self.delays = nn.ModuleList()
        self.blocks = nn.ModuleList()
        for a, b in zip(sizes[:-1], sizes[1:]):
            self.delays.append(LearnableDelayLinear(a, b, self.max_delay, sigma=sigma0, delay_lr_scale=delay_lr_scale, round_in_eval=True))
            self.blocks.append(nn.ModuleDict(dict(
                bn=nn.BatchNorm1d(b),
                lif=LIF(tau=tau, v_threshold=1.0, v_reset=0.0, decay_input=False, detach_reset=True, surrogate="atan", alpha=alpha),
                drop=TimeDropout(dropout))))
        self.delays.append(LearnableDelayLinear(hidden, classes, self.max_delay, sigma=sigma0, delay_lr_scale=delay_lr_scale, round_in_eval=True))
        self.out = LeakyOutput(tau)
        for layer in self.delays:
            nn.init.kaiming_uniform_(layer.weight, nonlinearity="relu")
            layer.delay_raw.requires_grad_(learn_delays)
        self.learn_delays = learn_delays
        self.register_buffer("batches_seen", torch.zeros((), dtype=torch.long))

    def sigma(self) -> float:
        if not self.learn_delays:
            return 0.0
        return dcls_sigma(int(self.batches_seen) // self.steps_per_epoch, self.final_epoch, self.sigma_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            s = self.sigma()
            for layer in self.delays:
                layer.sigma = s
            self.batches_seen += 1
        for delay, blk in zip(self.delays, self.blocks):
            x = delay(F.pad(x, (0, 0, 0, 0, 0, self.pad_right)))
            x = blk["bn"](x.flatten(0, 1)).unflatten(0, x.shape[:2])
            x = blk["drop"](blk["lif"](x))
        v = self.out(self.delays[-1](F.pad(x, (0, 0, 0, 0, 0, self.pad_right))))
        if self.readout == "sum":
            return torch.softmax(v, dim=-1).sum(0)
        if self.readout == "mean":
            return v.mean(0)
        return v.amax(0)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--data", type=Path, default=None, help="data root holding SHD/ in tonic's layout (default $NEURO_DATA or datasets/)")
    p.add_argument("--synthetic", action="store_true", help="write format-exact generated SHD files first (no real data needed)")
    p.add_argument("--tiny", action="store_true", help="a tiny run (CI): 2x16 neurons, 50 ms steps, 5 taps, 2 epochs, batch 4")
    p.add_argument("--out", type=Path, default=Path("runs/shd_delays"), help="run folder: checkpoints, metrics.csv, result.json")
    p.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --out")
    p.add_argument("--epochs", type=int, default=None, help="default 150 (the paper's)")
    p.add_argument("--batch-size", type=int, default=None, help="default 256")
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--layers", type=int, default=2, help="hidden layers")
    p.add_argument("--time-step-ms", type=float, default=10.0, help="frame width = simulation time step")
    p.add_argument("--n-time-bins", type=int, default=None,
                   help="this many frames per sample instead of fixed-width ones (neuro.data Frames); taps and tau still count --time-step-ms steps")
    p.add_argument("--channel-bins", type=int, default=5, help="sum this many neighbouring channels (700 / 5 = 140 inputs)")
    p.add_argument("--max-delay-ms", type=float, default=250.0, help="kernel span: round(max_delay_ms / time_step) taps, made odd")
    p.add_argument("--tau-ms", type=float, default=10.05, help="LIF membrane time constant")
    p.add_argument("--dropout", type=float, default=0.4)
    p.add_argument("--readout", choices=("sum", "mean", "max"), default="sum")
    p.add_argument("--fixed-delays", action="store_true", help="random delays, not learned (the paper's 'fixed random delays' ablation)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override any TrainConfig key")
    a = p.parse_args(argv)

    epochs = a.epochs or (2 if a.tiny else 150)
    batch = a.batch_size or (4 if a.tiny else 256)
    step_ms = 50.0 if a.tiny else a.time_step_ms
    max_delay_ms = 200.0 if a.tiny and a.max_delay_ms == 250.0 else a.max_delay_ms
    hidden = 16 if a.tiny else a.hidden
    taps = max(1, int(round(max_delay_ms / step_ms)))
    taps = taps if taps % 2 == 1 else taps + 1  # the official code keeps the kernel odd
    tau = max(1.0, a.tau_ms / step_ms)
    frames = dict(n_time_bins=a.n_time_bins) if a.n_time_bins else dict(time_window=step_ms * 1000.0)
    cfg = dict(optimizer="adamw", lr=5e-3, weight_decay=1e-5, schedule="cosine", warmup_epochs=0.3 * epochs, warmup_start_factor=0.04, min_lr=0.0,
               epochs=epochs, batch_size=batch, input_layout="time_first", amp=False, out_dir=str(a.out), checkpoint_every=0 if not a.tiny else 1,
               keep_checkpoints=2 if not a.tiny else 100, seed=0)
    cfg.update(dict(parse_override(s) for s in a.set))
    cfg = TrainConfig.from_dict(cfg, source="shd_delays")

    with tempfile.TemporaryDirectory() as tmp:
        root = a.data
        if a.synthetic:
            root = root or Path(tmp)
            fixtures.make_fixture("shd", root)  # 8 samples per split, format-exact
        progress = cfg.progress
        train = load("shd", "train", root=root, frames=frames, progress=progress)
        test = load("shd", "test", root=root, frames=frames, progress=progress)
        steps_per_epoch = len(train) // cfg.batch_size if cfg.drop_last else math.ceil(len(train) / cfg.batch_size)
        torch.manual_seed(cfg.seed)
        model = DelaySNN(N_CHANNELS // a.channel_bins, hidden=hidden, layers=a.layers, taps=taps, tau=tau, dropout=a.dropout, readout=a.readout,
                         learn_delays=not a.fixed_delays, steps_per_epoch=steps_per_epoch, final_epoch=max(1, epochs // 4))
        steps = f"{a.n_time_bins} frames per sample" if a.n_time_bins else f"{step_ms:g} ms steps"
        sigma_end = dcls_sigma(epochs, model.final_epoch, model.sigma_init)
        schedule = "fixed random delays" if a.fixed_delays else f"learned delays, sigma {model.sigma():.3g} -> {sigma_end:.3g} over {model.final_epoch} epochs"
        print(f"SHD delays: {len(train)} train / {len(test)} test samples, {steps}, {N_CHANNELS // a.channel_bins} inputs, "
              f"{a.layers}x{hidden} LIF, {taps} taps (delays 0..{taps - 1} steps), {schedule}; run folder {a.out}")
        result = Trainer(model, train, cfg, eval_data=test, collate_fn=ChannelBinned(a.channel_bins)).fit(resume=a.resume)
    delays = torch.cat([layer.integer_delays().flatten() for layer in model.delays]).float()
    result.update(sigma=model.sigma(), mean_delay_steps=float(delays.mean()), taps=taps, time_step_ms=step_ms)
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "result.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result))
    print(f"wrote {a.out / 'result.json'}")
    return result


if __name__ == "__main__":
    main()
