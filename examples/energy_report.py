"""Estimate the energy and bit budget of a spiking model: a named model, any factory, or a trained checkpoint.

A thin wrapper around ``neuro energy`` (:mod:`neuro.energy.cli`, whose factory loading, BatchNorm calibration and
argument parsing it reuses) that adds three things: named models (``spikformer:cifar10-4-384``,
``sdt:cifar10-2-512``, ``qsd:imagenet-8M``, ``meta:imagenet-15M``; ``MODULE:FACTORY`` or ``file.py:FACTORY`` as in
the CLI), **real inputs** (``--data digits``: scikit-learn's bundled digits, rate-coded; ``--data NAME``: frames of
a neuromorphic test set through :func:`neuro.data.load`, under ``--root`` or generated with ``--synthetic``), and a
larger chart of the bit budget vs time steps, SNN against its quantized-ANN counterpart (Shen et al., CVPR 2024).

The report itself is :func:`neuro.energy.estimate` (counts per layer and step from the real activity, three
energy models, bit budget) written by ``Report.save``: ``<stem>.txt`` (the table), ``<stem>.json``, ``<stem>.png``;
this script adds ``<stem>_bitbudget.png``.

    python examples/energy_report.py                                              # Spikformer-4-384, CIFAR-size input
    python examples/energy_report.py --checkpoint runs/qsd_distill/student.pt --data digits --direct \\
        --input-shape 16,1,1,32,32                 # the student of qsd_distill.py (its checkpoint names factory and kwargs)
    python examples/energy_report.py --model qsd:imagenet-8M --kwarg embed_dims=16,32,64,64 --kwarg depth=2 --kwarg num_heads=4 \\
        --kwarg mlp_ratio=2 --kwarg img_size=32 --kwarg in_channels=1 --kwarg num_classes=10 --input-shape 16,1,1,32,32
    python examples/energy_report.py --model sdt:dvsgesture-2-256 --data dvsgesture --root /data/neuromorphic \\
        --input-shape 4,16,2,128,128                                              # real DVS Gesture frames
    python examples/energy_report.py --model neuro.demo:DigitsSNN --input-shape 8,16,64 --layout TB --spikes

``--input-shape`` is ``B,T,...`` (``--layout BT``, the default here: the transformers' layout) or ``T,B,...``.
Random weights often fall silent: without ``--checkpoint`` the BatchNorm statistics are first set from the inputs
(``--calibrate-bn``, 2 passes by default), as a trained network's would be.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import torch.nn.functional as F

from neuro.energy import EnergyOptions, estimate
from neuro.energy.cli import _load_factory, _shape, _value, calibrate_batchnorm

#: ``NAME:CONFIG`` shorthands: the model families of :mod:`neuro.nn.models` with published sizes.
NAMED = {"spikformer": "neuro.nn.models:spikformer", "sdt": "neuro.nn.models:spike_driven_transformer",
         "qsd": "neuro.nn.models:qsd_transformer", "meta": "neuro.nn.models:meta_spikformer"}


def kwarg_value(text: str):
    """``4`` -> int, ``0.5`` -> float, ``true`` -> bool, ``16,32,64`` -> a tuple (config fields such as ``embed_dims``)."""
    return tuple(_value(v) for v in text.split(",")) if "," in text else _value(text)


def build_model(spec: str | None, kwargs: dict, checkpoint: str | None, seed: int) -> torch.nn.Module:
    """``spikformer:cifar10-4-384`` (a named size) or ``MODULE:FACTORY``; loads ``checkpoint`` (a state dict or ``{'model': ...}``).

    Without ``spec``, a checkpoint that names its ``factory`` and ``kwargs`` (as ``qsd_distill.py`` writes) builds itself;
    otherwise the default is ``spikformer:cifar10-4-384``."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=True) if checkpoint else None
    if spec is None:
        if isinstance(state, dict) and "factory" in state:
            spec, kwargs = state["factory"], {**state.get("kwargs", {}), **kwargs}
        else:
            spec = "spikformer:cifar10-4-384"
    family, _, config = spec.partition(":")
    if family in NAMED:
        factory, kwargs = _load_factory(NAMED[family]), {"name": config, **kwargs} if config else kwargs
    else:
        factory = _load_factory(spec)
    torch.manual_seed(seed)
    model = factory(**kwargs)
    if state is not None:
        model.load_state_dict(state.get("model", state) if isinstance(state, dict) else state)
    return model


def real_inputs(data: str, shape: tuple[int, ...], layout: str, root: str | None, synthetic: bool, seed: int, direct: bool = False) -> torch.Tensor:
    """A batch of real inputs of ``shape``: digits rate-coded over T (``direct``: the intensities at every step), or frames
    of a neuromorphic test set resized to ``H x W``."""
    b, t = (shape[0], shape[1]) if layout == "BT" else (shape[1], shape[0])
    rest = shape[2:]
    if len(rest) != 3:
        raise ValueError(f"--data needs an image input shape (B,T,C,H,W or T,B,C,H,W), got {shape}")
    c, h, w = rest
    g = torch.Generator().manual_seed(seed)
    if data == "digits":
        from sklearn.datasets import load_digits

        d = load_digits()
        x = torch.tensor(d.images[:b], dtype=torch.float32).unsqueeze(1) / 16.0
        x = F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False).clamp(0, 1).expand(-1, c, -1, -1)
        frames = x.unsqueeze(1).expand(-1, t, -1, -1, -1).contiguous() if direct else (torch.rand((b, t, c, h, w), generator=g) < x.unsqueeze(1)).float()
    else:
        from neuro.data import fixtures, load

        if synthetic:
            import tempfile

            root = tempfile.mkdtemp(prefix="neuro_energy_")
            split = "all" if data == "cifar10dvs" else "test"
            fixtures.make_fixture(data, root, split=split, n_samples=max(b, 2), extract=True)
        ds = load(data, "all" if data == "cifar10dvs" else "test", root=root, frames=dict(n_time_bins=t), progress=False)
        xs = [torch.as_tensor(ds[i][0], dtype=torch.float32) for i in range(min(b, len(ds)))]
        frames = torch.stack(xs)  # [B, T, P, H', W']
        if frames.dim() != 5:
            raise ValueError(f"{data} frames are {tuple(frames.shape[1:])} per sample; --data needs an image dataset (or use --input-shape alone)")
        if frames.shape[2] != c:
            raise ValueError(f"{data} frames have {frames.shape[2]} channels but --input-shape asks for {c}")
        if frames.shape[-2:] != (h, w):
            frames = F.interpolate(frames.flatten(0, 1), size=(h, w), mode="area").unflatten(0, frames.shape[:2])
        frames = frames[torch.arange(b) % len(frames)]
    return frames if layout == "BT" else frames.transpose(0, 1).contiguous()


def plot_bit_budget(rep: dict, path: Path, title: str) -> Path:
    """Bit-operations and storage per sample of the SNN and of its quantized ANN at each number of time steps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bb = rep["bit_budget"]
    sweep = bb["sweep"]
    ts = [s["time_steps"] for s in sweep]
    fig, (ax, ax_ratio) = plt.subplots(1, 2, figsize=(10, 3.8))
    ax.plot(ts, [s["snn_bit_ops"] for s in sweep], "o-", label="SNN: M T b_w (binary spikes)")
    ax.plot(ts, [s["ann_bit_ops"] for s in sweep], "s-", label="quantized ANN: M b_w ceil(log2(T+1))")
    ax.axhline(bb["snn_effective_bit_ops"], color="C0", ls="--", lw=0.8, label=f"SNN effective at T = {rep['time_steps']} (measured spikes)")
    ax.axvline(rep["time_steps"], color="k", lw=0.8, ls=":")
    ax.set(xlabel="time steps T", ylabel="bit-operations per sample", xscale="log", yscale="log", title="Bit budget vs T")
    ax.legend(fontsize=7)
    ax_ratio.plot(ts, [s["snn_bit_ops"] / max(s["ann_bit_ops"], 1) for s in sweep], "o-", color="C3")
    ax_ratio.axhline(1.0, color="grey", lw=0.8)
    ax_ratio.set(xlabel="time steps T", ylabel="SNN / quantized-ANN bit-ops", xscale="log",
                 title="SNN / quantized ANN (T / ceil(log2(T+1)) where spikes enter)")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--model", default=None,
                   help=f"NAME:CONFIG ({', '.join(NAMED)}), MODULE:FACTORY or path/to/file.py:FACTORY (default: the checkpoint's own "
                        "factory if it names one, else spikformer:cifar10-4-384)")
    p.add_argument("--kwarg", action="append", default=[], help="factory keyword KEY=VALUE (repeatable; 16,32 gives a tuple)")
    p.add_argument("--checkpoint", help="state dict (or {'model': state dict}) to load, e.g. runs/qsd_distill/student.pt")
    p.add_argument("--input-shape", type=_shape, default=(2, 4, 3, 32, 32), help="B,T,... (--layout BT) or T,B,...")
    p.add_argument("--layout", choices=("BT", "TB"), default="BT")
    p.add_argument("--data", help="real inputs: 'digits' (scikit-learn, rate-coded) or a dataset of neuro.data (dvsgesture, nmnist, cifar10dvs)")
    p.add_argument("--direct", action="store_true", help="--data digits as intensities at every step (direct encoding, as qsd_distill.py trains)")
    p.add_argument("--root", help="data root of --data NAME (default $NEURO_DATA or datasets/)")
    p.add_argument("--synthetic", action="store_true", help="--data NAME from format-exact generated files (no download)")
    p.add_argument("--spikes", action="store_true", help="without --data: Bernoulli spikes (--input-rate) instead of uniform values")
    p.add_argument("--input-rate", type=float, default=0.2)
    p.add_argument("--calibrate-bn", type=int, default=None, metavar="N", help="BatchNorm calibration passes (default 2 without --checkpoint, else 0)")
    p.add_argument("--table", default="horowitz45nm", help="energy table name or .json path")
    p.add_argument("--precision", default="fp32")
    p.add_argument("--weight-bits", type=int, help="weight width of layers without weight_bits")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("runs/energy_report"))
    p.add_argument("--stem", default="energy")
    a = p.parse_args(argv)
    kwargs = {}
    for item in a.kwarg:
        key, sep, value = item.partition("=")
        if not sep or not key:
            p.error(f"--kwarg must be KEY=VALUE, got {item!r}")
        kwargs[key] = kwarg_value(value)
    model = build_model(a.model, kwargs, a.checkpoint, a.seed)
    if a.data:
        inputs = real_inputs(a.data, a.input_shape, a.layout, a.root, a.synthetic, a.seed, a.direct)
    else:
        g = torch.Generator().manual_seed(a.seed)
        inputs = (torch.rand(a.input_shape, generator=g) < a.input_rate).float() if a.spikes else torch.rand(a.input_shape, generator=g)
    passes = a.calibrate_bn if a.calibrate_bn is not None else (0 if a.checkpoint else 2)
    if passes:
        calibrate_batchnorm(model, inputs, passes)
    report = estimate(model.eval(), inputs, table=a.table, layout=a.layout, options=EnergyOptions(precision=a.precision, weight_bits=a.weight_bits))
    print(report.format_table())
    paths = report.save(a.out, stem=a.stem)
    rep = report.to_dict()
    source = f"{a.data}{' (direct)' if a.direct else ''}" if a.data else ("random spikes" if a.spikes else "random values")
    name = a.model or (Path(a.checkpoint).name if a.checkpoint else "spikformer:cifar10-4-384")
    paths["bitbudget"] = plot_bit_budget(rep, a.out / f"{a.stem}_bitbudget.png", f"{name} on {source}, input {tuple(inputs.shape)} ({a.layout})")
    print("wrote " + ", ".join(str(v) for v in paths.values()))
    return rep


if __name__ == "__main__":
    main()
