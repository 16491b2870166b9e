"""Export of a deployed network: to HDF5 (:func:`save_h5` / :func:`load_h5`), back to ``neuro.nn`` (:func:`to_nn`) and to NIR (:func:`to_nir`).

**HDF5 layout** (``h5py``; format ``neuro.sim.network``, version 1)::

    /                attrs: format, version, dt (ms), seed, step, input_shape (deployed networks)
    /populations/<k> attrs: type ("DiscreteLIF" | "SpikeSource" | "ModelPopulation"), name, n and the neuron parameters;
                     datasets: beta, bias, v (membrane now), u (DiscreteLIF); times, indices (SpikeSource)
                     ModelPopulation: attrs model (JSON: the definition's equations, threshold, reset, refractory,
                     method, inputs, defaults, name); group values: one dataset per state variable and parameter
                     (internal units, the values now) and the held values _hold_<v> of (unless refractory) variables
    /projections/<k> attrs: name, pre, post (population positions), receptor, sources (nn layer names);
                     datasets: pre_index, post_index, weight, delay (ms)
    /layers          dataset: positions of the neuron layers in /populations; attrs: shapes, sources (JSON), synapses,
                     constant ([bias source position, layer] pairs); group rest/<i>: each layer's state at the start of
                     a sample

It holds what the network *is now* (the weights and a model's variables after a run included), not its run history:
refractory counters and spikes still in flight are not kept. A :class:`~neuro.sim.Population` of a user-defined
:class:`~neuro.dynamics.NeuronModel` is rebuilt from its stored definition (the same equations give the same generated
kernel). Other populations and plastic projections raise ``NotImplementedError``: their state (traces, eligibility)
has no slot here yet.

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
from .populations import ModelPopulation, Population, SpikeSource
from .projections import Projection

__all__ = ["load_h5", "save_h5", "to_nir", "to_nn"]

FORMAT, VERSION = "neuro.sim.network", 1


def save_h5(net: Network, path: str | Path) -> Path:
    """Write ``net`` (populations, synapses with weights and delays, neuron parameters, membranes) to ``path``."""
    import h5py

    path = Path(path)
    for pop in net.populations:
        if not isinstance(pop, DiscreteLIF | SpikeSource | ModelPopulation):
            raise NotImplementedError(f"save_h5 writes DiscreteLIF, SpikeSource and user-model (Population(n, NeuronModel)) populations; "
                                      f"{pop.name} is a {type(pop).__name__}")
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
            elif isinstance(pop, ModelPopulation):
                g.attrs["model"] = json.dumps(_definition_record(pop.definition))
                vals = g.create_group("values")
                for key, value in _model_values(pop).items():
                    vals.create_dataset(key, data=value)
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
            f["layers"].attrs["constant"] = np.array([[index[id(src)], k] for src, k in net._constant], dtype=np.int64).reshape(-1, 2)
            rest = f.create_group("rest")
            for i, values in enumerate(net.rest):
                g = rest.create_group(str(i))
                for key, value in values.items():
                    g.create_dataset(key, data=np.asarray(value, dtype=np.float64))
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
            elif kind == "ModelPopulation":
                pop = Population(n, _definition_from(json.loads(g.attrs["model"]), path, name), name=name,
                                 **{key: ds[:] for key, ds in g["values"].items() if not key.startswith("_hold_")})
                for key, ds in g["values"].items():
                    if key.startswith("_hold_"):
                        pop._values[key] = ds[:].astype(np.float64)
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
            # everything in the saved order (the order in which a step visits populations and projections)
            net.add(*(p for p in pops if p is not net.source), *projs)
            for i, (pos, shape, src, syn) in enumerate(zip(layers, shapes, sources, synapses)):
                pop = pops[pos]
                net.layers.append(pop)
                net.shapes.append(shape)
                net.synapses.append(projs[syn])
                net.sources.append(src)
                if "rest" in f and str(i) in f["rest"]:
                    net.rest.append({key: _scalar_or_array(ds[()]) for key, ds in f["rest"][str(i)].items()})
                else:  # files written before the rest states were kept: DiscreteLIF layers start at v_rest
                    net.rest.append({"v": pop.v_rest})
            for pos, k in np.asarray(f["layers"].attrs.get("constant", np.zeros((0, 2), dtype=np.int64))).reshape(-1, 2):
                net._constant.append((pops[int(pos)], int(k)))
        else:
            net.add(*pops, *projs)
        net.step = int(f.attrs["step"])
    return net


def _definition_record(model) -> dict:
    """What rebuilds a :class:`~neuro.dynamics.NeuronModel`: its declaration (the integration method as chosen), JSON-able."""
    from ..dynamics import units as U

    defaults = {}
    for key, value in model.defaults.items():  # in internal units; drawn initial values (f(rng, n)) are not kept
        if callable(value):
            continue
        arr = np.asarray(U.to_internal(value, model.dims[key], key), dtype=np.float64)
        defaults[key] = float(arr) if arr.ndim == 0 else arr.tolist()
    return {"equations": model.equations, "threshold": model.threshold, "reset": model.reset, "refractory": model.refractory,
            "method": model.method, "inputs": dict(model.inputs), "defaults": defaults, "name": model.name, "key": model.key}


def _definition_from(record: dict, path: Path, name: str):
    from ..dynamics import NeuronModel

    model = NeuronModel(record["equations"], threshold=record["threshold"], reset=record["reset"], refractory=record["refractory"],
                        method=record["method"], inputs=record["inputs"], defaults=record["defaults"], name=record["name"])
    if model.key != record["key"]:
        raise ValueError(f"{path}: population {name!r}: its definition reads back as another model (key {model.key}, "
                         f"saved {record['key']}); the file was written by another version of neuro.dynamics")
    return model


def _model_values(pop: ModelPopulation) -> dict[str, np.ndarray]:
    """A user-model population's variables and parameters now (and the held values of its (unless refractory) variables)."""
    from ..dynamics.codegen import held

    model = pop.definition
    keys = list(model.states) + list(model.params) + [f"_hold_{v}" for v in held(model)]
    laid_out = pop.network is not None and getattr(pop, "_laid_out", False)
    out = {}
    for key in keys:
        if not laid_out and key not in pop._values:
            continue  # a held value before the first layout: the network copies the variable then
        out[key] = np.array(pop._var(key), dtype=np.float64)
    return out


def _scalar_or_array(value):
    arr = np.asarray(value, dtype=np.float64)
    return float(arr) if arr.ndim == 0 else arr


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
