"""Export of a deployed network: to HDF5 (:func:`save_h5` / :func:`load_h5`), back to ``neuro.nn`` (:func:`to_nn`) and to NIR (:func:`to_nir`).

**HDF5 layout** (``h5py``; format ``neuro.sim.network``, version 1)::

    /                attrs: format, version, dt (ms), seed, step, input_shape (deployed networks)
    /populations/<k> attrs: type ("DiscreteLIF" | "SpikeSource"), name, n and the neuron parameters;
                     datasets: beta, bias, v (membrane now), u (DiscreteLIF); times, indices (SpikeSource)
    /projections/<k> attrs: name, pre, post (population positions), receptor, sources (nn layer names);
                     datasets: pre_index, post_index, weight, delay (ms)
    /layers          dataset: positions of the neuron layers in /populations; attrs: shapes (JSON)

It holds what the network *is now* (the weights after on-line learning included), not its run history.
Populations other than :class:`~neuro.sim.discrete.DiscreteLIF` and :class:`~neuro.sim.SpikeSource`, and
plastic projections, raise ``NotImplementedError``: their state (traces, eligibility) has no slot here yet.

:func:`to_nn` turns a deployed network back into an ``nn.Sequential`` of dense ``nn.Linear`` (from the synapses;
a ``DelayedLinear`` where delays are not all zero) and :class:`neuro.nn.LIF` layers, which
:func:`neuro.nn.nir.export_nir` writes as NIR; a convolution comes back as its dense matrix.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from .deploy import DeployedNetwork
from .discrete import DiscreteLIF
from .network import Network
from .populations import SpikeSource
from .projections import Projection

__all__ = ["load_h5", "save_h5", "to_nir", "to_nn"]

FORMAT, VERSION = "neuro.sim.network", 1


def save_h5(net: Network, path: str | Path) -> Path:
    """Write ``net`` (populations, synapses with weights and delays, neuron parameters, membranes) to ``path``."""
    import h5py

    path = Path(path)
    for pop in net.populations:
        if not isinstance(pop, DiscreteLIF | SpikeSource):
            raise NotImplementedError(f"save_h5 writes DiscreteLIF and SpikeSource populations; {pop.name} is a {type(pop).__name__}")
    for proj in net.projections:
        if proj.plasticity is not None:
            raise NotImplementedError(f"save_h5 does not write plasticity state yet ({proj.name} has {type(proj.plasticity).__name__})")
    index = {id(p): k for k, p in enumerate(net.populations)}
    tmp = path.with_name(path.name + ".tmp")
    with h5py.File(tmp, "w") as f:
        f.attrs.update(format=FORMAT, version=VERSION, dt=net.dt, seed=net.seed, step=net.step)
        pops = f.create_group("populations")
        for k, pop in enumerate(net.populations):
            g = pops.create_group(str(k))
            g.attrs.update(type=type(pop).__name__, name=pop.name, n=pop.n)
            if isinstance(pop, DiscreteLIF):
                cfg = pop.config()
                g.attrs.update(v_th=cfg["v_th"], v_reset=np.nan if cfg["v_reset"] is None else cfg["v_reset"], v_leak=cfg["v_leak"],
                               decay_input=cfg["decay_input"], strict_threshold=cfg["strict_threshold"], reset_delay=cfg["reset_delay"])
                for key in ("beta", "bias", "v", "u"):
                    g.create_dataset(key, data=np.asarray(getattr(pop, key), dtype=np.float64))
            else:
                g.create_dataset("times", data=pop.times)
                g.create_dataset("indices", data=pop.indices)
        projs = f.create_group("projections")
        for k, proj in enumerate(net.projections):
            g = projs.create_group(str(k))
            g.attrs.update(name=proj.name, pre=index[id(proj.pre)], post=index[id(proj.post)], receptor=proj.receptor)
            for key, value in (("pre_index", proj.pre_index), ("post_index", proj.post_index), ("weight", proj.weights), ("delay", proj.delays)):
                g.create_dataset(key, data=value, compression="gzip" if value.size > 4096 else None)
        if isinstance(net, DeployedNetwork):
            f.attrs["input_shape"] = np.asarray(net.input_shape, dtype=np.int64)
            f.create_dataset("layers", data=np.array([index[id(p)] for p in net.layers], dtype=np.int64))
            f["layers"].attrs["shapes"] = json.dumps([list(s) for s in net.shapes])
            f["layers"].attrs["sources"] = json.dumps([list(s) for s in net.sources])
            f["layers"].attrs["synapses"] = np.array([net.projections.index(p) for p in net.synapses], dtype=np.int64)
    tmp.replace(path)
    return path


def load_h5(path: str | Path) -> Network:
    """A network from a file written by :func:`save_h5` (a :class:`~neuro.sim.deploy.DeployedNetwork` if it was one)."""
    import h5py

    path = Path(path)
    with h5py.File(path, "r") as f:
        if f.attrs.get("format") != FORMAT:
            raise ValueError(f"{path}: not a neuro.sim network file (format {f.attrs.get('format')!r})")
        if int(f.attrs["version"]) > VERSION:
            raise ValueError(f"{path}: format version {int(f.attrs['version'])} is newer than this reader ({VERSION})")
        dt, seed = float(f.attrs["dt"]), int(f.attrs["seed"])
        deployed = "layers" in f
        net = DeployedNetwork(tuple(int(s) for s in f.attrs["input_shape"]), dt=dt, seed=seed) if deployed else Network(dt=dt, seed=seed)
        pops = []
        for k in range(len(f["populations"])):
            g = f["populations"][str(k)]
            kind, name, n = g.attrs["type"], str(g.attrs["name"]), int(g.attrs["n"])
            if kind == "DiscreteLIF":
                v_reset = float(g.attrs["v_reset"])
                pop = DiscreteLIF(n, beta=g["beta"][:], v_th=float(g.attrs["v_th"]), v_reset=None if math.isnan(v_reset) else v_reset,
                                  v_leak=float(g.attrs["v_leak"]), decay_input=bool(g.attrs["decay_input"]),
                                  strict_threshold=bool(g.attrs["strict_threshold"]), reset_delay=bool(g.attrs["reset_delay"]),
                                  bias=g["bias"][:], v_init=g["v"][:], name=name)
                pop._init["u"] = g["u"][:].astype(np.float64)
            elif kind == "SpikeSource":
                if deployed and k == 0:
                    pop = net.source
                    pop.times, pop.indices = g["times"][:], g["indices"][:].astype(np.int64)
                else:
                    pop = SpikeSource(n, g["times"][:], g["indices"][:], name=name)
            else:
                raise ValueError(f"{path}: unknown population type {kind!r}")
            pops.append(pop)
        projs = []
        for k in range(len(f["projections"])):
            g = f["projections"][str(k)]
            pre, post = pops[int(g.attrs["pre"])], pops[int(g.attrs["post"])]
            pre_i, post_i = g["pre_index"][:].astype(np.int64), g["post_index"][:].astype(np.int64)
            multi = pre_i.size > 0 and np.unique(pre_i * post.n + post_i).size != pre_i.size
            projs.append(Projection(pre, post, (pre_i, post_i), weight=g["weight"][:], delay=g["delay"][:], receptor=str(g.attrs["receptor"]),
                                    multapses=multi, name=str(g.attrs["name"])))
        if deployed:
            layers = [int(i) for i in f["layers"][:]]
            shapes = [tuple(s) for s in json.loads(f["layers"].attrs["shapes"])]
            sources = [tuple(s) for s in json.loads(f["layers"].attrs["sources"])]
            synapses = [int(i) for i in f["layers"].attrs["synapses"]]
            for pos, shape, src, syn in zip(layers, shapes, sources, synapses):
                net.add_layer(pops[pos], shape, projs[syn], src)
            rest_p = [p for k, p in enumerate(pops) if k not in layers and p is not net.source]
            rest_j = [p for k, p in enumerate(projs) if k not in synapses]
            net.add(*rest_p, *rest_j)
        else:
            net.add(*pops, *projs)
        net.step = int(f.attrs["step"])
    return net


def to_nn(net: DeployedNetwork):
    """The deployed network as an ``nn.Sequential`` (float64): per layer a dense ``nn.Linear`` (or ``DelayedLinear``) and an LIF."""
    import torch
    from torch import nn

    from ..nn import LIF

    if not isinstance(net, DeployedNetwork):
        raise TypeError(f"to_nn needs a network built by from_nn or load_h5, got {type(net).__name__}")
    mods: list = []
    for proj, pop in zip(net.synapses, net.layers):
        n_in, n_out = proj.pre.n, pop.n
        w, d = proj.weights, np.rint(proj.delays / net.dt).astype(np.int64)
        if np.any(d > 0):
            from ..nn.delays import DelayedLinear

            if np.unique(proj.pre_index * n_out + proj.post_index).size != len(proj):
                raise ValueError(f"{proj.name}: a (pre, post) pair with several delays has no DelayedLinear form")
            lin = DelayedLinear(n_in, n_out, max_delay=int(d.max()), delays=torch.zeros(n_out, n_in, dtype=torch.long), bias=True)
            delays = np.zeros((n_out, n_in), dtype=np.int64)
            delays[proj.post_index, proj.pre_index] = d
            lin.delays.copy_(torch.as_tensor(delays))
        else:
            lin = nn.Linear(n_in, n_out)
        dense = np.zeros((n_out, n_in))
        np.add.at(dense, (proj.post_index, proj.pre_index), w)
        with torch.no_grad():
            lin.weight.copy_(torch.as_tensor(dense))
            lin.bias.copy_(torch.as_tensor(np.asarray(pop.bias)))
        beta = np.asarray(pop.beta)
        if not np.all(beta == beta[0]):
            raise ValueError(f"{pop.name}: per-neuron decays have no neuro.nn.LIF form (a per-channel ParametricLIF would need the layer's shape)")
        lif = LIF(beta=float(beta[0]), v_threshold=pop.v_th, v_reset=pop.v_reset, v_leak=pop.v_leak, decay_input=pop.decay_input,
                  strict_threshold=pop.strict_threshold, reset_delay=pop.reset_delay)
        lif._beta = torch.tensor([float(beta[0])], dtype=torch.float64)
        mods += [lin.double(), lif.double()]
    model = nn.Sequential(nn.Flatten(2), *mods) if len(net.input_shape) > 1 else nn.Sequential(*mods)
    return model.double()


def to_nir(net: DeployedNetwork, dt: float = 1e-4):
    """The NIR graph of the deployed network now (:func:`to_nn`, then :func:`neuro.nn.nir.export_nir`; ``dt`` in seconds)."""
    from ..nn.nir import export_nir

    return export_nir(to_nn(net), net.input_shape, dt=dt)
