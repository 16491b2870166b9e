"""``neuro energy MODULE:FACTORY --input-shape T,B,...``: the energy report of a model from the command line.

The factory (a class or function, ``--kwarg KEY=VALUE`` passed to it) builds the model; ``--checkpoint`` loads a
state dict (or a checkpoint with a ``model`` entry). Inputs are random: Bernoulli spikes with ``--spikes``, else
uniform values. ``--layout`` (``TB`` or ``BT``) defaults to the layout the model declares (:mod:`neuro.energy.layouts`;
``TB`` when none) and must agree with it. A network with random weights often falls silent, so, as in
``examples/energy_report.py``, without ``--checkpoint`` every BatchNorm's running statistics are first set from the
inputs (``--calibrate-bn N``: N passes in training mode, no gradients; default 2 without ``--checkpoint``, 0 with
one), as a trained network's would be, then the model is counted in evaluation mode. A model that still barely fires
(below :data:`~neuro.energy.report.SILENT_RATE` spikes per neuron per step) is refused with the reason and the silent
layers named, unless ``--allow-silent``; spiking layers that never fired are named in a warning. The report (table,
assumptions, three energy models, bit budget) is printed; ``--rates FILE.json`` adds the convention priced with published firing rates per layer
(:mod:`neuro.energy.rates`); ``--out DIR`` also writes ``<stem>.txt``, ``<stem>.json`` and ``<stem>.png`` (``--stem``, default ``energy``).

Example (a Spikformer on CIFAR-size frames, [B, T, C, H, W])::

    python -m neuro energy neuro.nn.models:spikformer --kwarg name=cifar10-4-384 --input-shape 2,4,3,32,32 \
        --calibrate-bn 4 --out docs/figures --stem energy_spikformer
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path


def _load_factory(spec: str):
    if ":" not in spec:
        raise ValueError(f"model must be given as MODULE:FACTORY (e.g. neuro.demo:DigitsSNN), got {spec!r}")
    module_name, attr = spec.rsplit(":", 1)
    module_path = Path(module_name)
    if module_path.suffix == ".py":
        sys.path.insert(0, str(module_path.resolve().parent))
        module_name = module_path.stem
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise ValueError(f"cannot import {module_name!r} (from {spec!r}): {exc}") from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ValueError(f"{module_name!r} has no attribute {attr!r}") from None


def _shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--input-shape must be comma-separated integers like 4,8,64, got {text!r}") from None
    if len(shape) < 2 or min(shape) < 1:
        raise argparse.ArgumentTypeError(f"--input-shape needs at least T,B (all >= 1), got {text!r}")
    return shape


def _value(text: str):
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"true": True, "false": False, "none": None}.get(text.lower(), text)


def calibrate_batchnorm(model, inputs, passes: int) -> int:
    """Set every BatchNorm's running statistics to the average over ``passes`` forward passes of ``inputs`` in training
    mode (no gradients); the model is left in evaluation mode. Returns the number of BatchNorm layers calibrated."""
    import torch
    from torch import nn

    from .estimate import layer_errors

    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    if passes < 1 or not bns:
        return 0
    momenta = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the passes
    model.train()
    try:
        with torch.no_grad():
            for _ in range(passes):
                with layer_errors(model, inputs):
                    model(inputs)
    finally:
        for m, mom in zip(bns, momenta):
            m.momentum = mom
        model.eval()
    return len(bns)


def run(args: argparse.Namespace) -> int:
    import warnings

    import torch

    from .estimate import estimate
    from .layouts import resolve_layout
    from .models import EnergyOptions
    from .report import SILENT_RATE, SilentNetworkWarning

    factory = _load_factory(args.model)
    kwargs = {}
    for item in args.kwarg or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--kwarg must be KEY=VALUE, got {item!r}")
        kwargs[key] = _value(value)
    torch.manual_seed(args.seed)  # the same random weights at every run
    model = factory(**kwargs)
    if args.checkpoint:
        state = torch.load(args.checkpoint, map_location="cpu", weights_only=True)
        model.load_state_dict(state.get("model", state) if isinstance(state, dict) else state)
    layout = resolve_layout(model, args.layout)  # before any forward pass: a contradicting --layout fails fast
    gen = torch.Generator().manual_seed(args.seed)
    shape = args.input_shape
    inputs = (torch.rand(shape, generator=gen) < args.input_rate).float() if args.spikes else torch.rand(shape, generator=gen)
    options = EnergyOptions(precision=args.precision, weight_bits=args.weight_bits, activation_bits=args.activation_bits,
                            state_bits=args.state_bits, first_layer_once=not args.first_layer_every_step)
    passes = args.calibrate_bn if args.calibrate_bn is not None else (0 if args.checkpoint else 2)
    calibrated = calibrate_batchnorm(model, inputs, passes) if passes else 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SilentNetworkWarning)  # said below, on stderr, with what to do about it
        report = estimate(model.eval(), inputs, table=args.table, layout=layout, options=options)
    silence = report.silence()
    rate = report.spike_rate()
    if calibrated:
        how = f"BatchNorm statistics of {calibrated} layers set from these inputs ({passes} passes)"
    elif passes:
        how = "no BatchNorm to calibrate"
    else:
        how = "BatchNorm not calibrated (" + ("--calibrate-bn 0" if args.calibrate_bn == 0 else "trained weights from --checkpoint") + ")"
    if rate is not None and rate < SILENT_RATE and not args.allow_silent:
        raise ValueError(f"refusing to report the energy of a {silence} [{how}]. Run with --allow-silent to print it anyway")
    print(report.format_table())
    print(f"inputs: {'Bernoulli spikes' if args.spikes else 'uniform random values'} {tuple(shape)} ({layout}); {how}")
    if silence:
        print(f"neuro energy: WARNING: {silence}", file=sys.stderr)
    if args.rates:
        import json

        try:
            rates = json.loads(Path(args.rates).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"--rates must be a JSON file mapping layer names or patterns to rates (or null), got {args.rates!r}: {exc}") from None
        if not isinstance(rates, dict):
            raise ValueError(f"--rates must hold a JSON object (layer name or pattern -> rate), got {type(rates).__name__}")
        e = report.energy_from_rates(rates, args.rate_steps)
        print(f"convention with the rates of {args.rates} over T = {e.time_steps}: {e.per_sample_mj():.4e} mJ per sample "
              f"({e.sops:.4e} SOPs, {e.macs:.4e} MACs)"
              + (f"; measured rates used for {', '.join(e.measured)}" if e.measured else "")
              + (f"; rates matching no layer: {', '.join(e.unmatched)}" if e.unmatched else ""))
    if args.out:
        paths = report.save(args.out, stem=args.stem)
        print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0


def add_cli(subparsers) -> None:
    p = subparsers.add_parser("energy", help="operation counts, energy (three models) and bit budget of a model on random inputs")
    p.add_argument("model", help="MODULE:FACTORY or path/to/file.py:FACTORY returning an nn.Module")
    p.add_argument("--input-shape", type=_shape, required=True, help="input shape, T,B,... (e.g. 16,8,64); B,T,... with --layout BT")
    p.add_argument("--layout", choices=("TB", "BT"), default=None,
                   help="where time and batch are in the input (default: as the model declares, e.g. BT for neuro.nn.models; else TB)")
    p.add_argument("--kwarg", action="append", help="factory keyword argument KEY=VALUE (repeatable)")
    p.add_argument("--checkpoint", help="state dict (or a checkpoint with a 'model' entry) to load")
    p.add_argument("--spikes", action="store_true", help="feed Bernoulli spikes instead of uniform real values")
    p.add_argument("--input-rate", type=float, default=0.2, help="spike probability with --spikes (default 0.2)")
    p.add_argument("--table", default="horowitz45nm", help="energy table name or .json path (default horowitz45nm)")
    p.add_argument("--precision", default="fp32", help="arithmetic of the table to price operations with (default fp32)")
    p.add_argument("--weight-bits", type=int, help="weight width for layers without weight_bits (default: the precision's)")
    p.add_argument("--activation-bits", type=int, help="width of real-valued activations (default: the precision's)")
    p.add_argument("--state-bits", type=int, help="width of membrane potentials and partial sums (default: the precision's)")
    p.add_argument("--first-layer-every-step", action="store_true", help="convention model: count a real-input first layer T times")
    p.add_argument("--calibrate-bn", type=int, default=None, metavar="N",
                   help="first run N batches in training mode so BatchNorm statistics match the inputs (random weights often fall silent; "
                        "default 2 without --checkpoint, 0 with one)")
    p.add_argument("--allow-silent", action="store_true",
                   help=f"report a model that barely fires (below {1e-3:g} spikes per neuron per step) instead of refusing")
    p.add_argument("--rates", help="JSON file {layer name or pattern: input firing rate or null}: also price the convention with these rates")
    p.add_argument("--rate-steps", type=int, help="time steps T of --rates (default: those of the input)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="folder for <stem>.txt, <stem>.json and <stem>.png")
    p.add_argument("--stem", default="energy", help="file name stem of the --out files (default energy)")
    p.set_defaults(func=run)
