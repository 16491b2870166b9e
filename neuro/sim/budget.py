r"""Does a network fit a neuromorphic processor? Per-core budgets, a layer-wise mapping onto cores, weight quantisation.

A :class:`Processor` states a chip's limits: ``cores``, ``neurons_per_core``, ``synapses_per_core``,
``fan_in_per_core`` (distinct presynaptic neurons whose spikes one core receives), ``memory_per_core`` (bytes of
synaptic memory), ``weight_bits`` and ``events_per_step`` (synaptic events the chip processes per time step). A limit
left ``None`` is not checked (the sources we could read did not state it). :data:`PROFILES` holds named chips, each
with its sources.

:func:`map_to_cores` places each population's neurons on cores with a greedy **layer-wise packing**: cores are not
shared between layers, and a layer fills a core in neuron order until one more neuron would break one of the core's
limits (neurons, incoming synapses, distinct presynaptic neurons, synaptic memory), then opens the next core. This is
the partitioning of Stewart et al. (2020)'s deployment as we read it (each layer of the network on cores of its own,
mapped by the Loihi toolchain); their compiler's exact placement was not available to us. A synapse takes
``weight_bits`` plus the bits of its target's index within the core (:math:`\lceil \log_2 n_{core} \rceil`) of
memory: our model of a synapse's storage, not a datasheet's.

:func:`check_budget` returns a :class:`BudgetReport`: ``fits`` and, for each broken limit, a :class:`Violation`
naming the population (or ``"network"``), the limit, the value the network needs and the value the chip allows.
:func:`quantize_weights` rounds each projection's weights to a symmetric grid of ``bits`` bits (sign included) scaled
to its largest weight, and reports the error.

Example::

    net = sim.from_nn(model, (64,))
    report = sim.check_budget(net, sim.PROFILES["loihi"])
    print(report)                      # fits / the violated limits, expected vs got
    errors = sim.quantize_weights(net, report.processor.weight_bits)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Processor", "PROFILES", "CoreMap", "Violation", "BudgetReport", "map_to_cores", "check_budget", "quantize_weights",
           "quantize"]


@dataclass(frozen=True)
class Processor:
    """A neuromorphic chip's budget; ``None``: not stated, not checked. ``memory_per_core`` in bytes."""

    name: str
    cores: int
    neurons_per_core: int
    synapses_per_core: int | None = None
    fan_in_per_core: int | None = None
    memory_per_core: int | None = None
    weight_bits: int | None = None
    events_per_step: float | None = None
    source: str = ""

    def __post_init__(self):
        for key in ("cores", "neurons_per_core", "synapses_per_core", "fan_in_per_core", "memory_per_core", "weight_bits"):
            value = getattr(self, key)
            if value is not None and (not isinstance(value, int | np.integer) or value < 1):
                raise ValueError(f"Processor.{key} must be a positive integer or None, got {value!r}")
        if self.weight_bits is not None and self.weight_bits < 2:
            raise ValueError(f"Processor.weight_bits must be >= 2 (a sign and a magnitude bit), got {self.weight_bits}")
        if self.events_per_step is not None and not self.events_per_step > 0:
            raise ValueError(f"Processor.events_per_step must be > 0 or None, got {self.events_per_step!r}")


PROFILES: dict[str, Processor] = {
    # Davies et al., "Loihi: a neuromorphic manycore processor with on-chip learning", IEEE Micro 38(1), 2018: 128
    # neuromorphic cores, 131,072 neurons (1,024 per core), 16 MB of synaptic memory in all (128 KiB per core).
    # Weight bits: 8, the default num_weight_bits of Lava's Loihi Dense process (lava.proc.dense.process.Dense).
    "loihi": Processor("loihi", cores=128, neurons_per_core=1024, memory_per_core=128 * 1024, weight_bits=8,
                       source="Davies et al. 2018 (IEEE Micro): 128 cores, 1,024 neurons per core, 16 MB synaptic memory; "
                              "Lava Dense: num_weight_bits=8"),
    # tinyODIN (github.com/ChFrenkel/tinyODIN, README), reduced from ODIN (Frenkel, Lefebvre, Legat & Bol, IEEE TBioCAS
    # 13(1), 2019): "256 12-bit leaky integrate-and-fire (LIF) neurons and 64k 4-bit synapses", a crossbar array (one
    # core; each neuron's fan-in is the crossbar's 256 rows).
    "tinyodin": Processor("tinyodin", cores=1, neurons_per_core=256, synapses_per_core=65536, fan_in_per_core=256, weight_bits=4,
                          source="tinyODIN README (Frenkel et al.): 256 LIF neurons, 64k 4-bit synapses, a 256 x 256 crossbar"),
}


@dataclass
class CoreMap:
    """Where each population went: ``cores[name]`` lists, per core, the population's neuron indices placed there;
    ``usage[name]`` lists, per core, its (neurons, synapses, fan-in, memory bytes)."""

    cores: dict = field(default_factory=dict)
    usage: dict = field(default_factory=dict)

    @property
    def n_cores(self) -> int:
        return sum(len(c) for c in self.cores.values())


@dataclass(frozen=True)
class Violation:
    """One broken limit: ``where`` (a population's name or ``"network"``), the ``limit``, what the network needs
    (``required``) and what the chip allows (``allowed``)."""

    where: str
    limit: str
    required: float
    allowed: float
    detail: str = ""

    def __str__(self) -> str:
        req = f"{self.required:.4g}" if isinstance(self.required, float) else str(self.required)
        return f"{self.where}: {self.limit} needs {req}, the processor allows {self.allowed}" + (f" ({self.detail})" if self.detail else "")


@dataclass
class BudgetReport:
    processor: Processor
    mapping: CoreMap
    violations: list
    weight_errors: dict = field(default_factory=dict)

    @property
    def fits(self) -> bool:
        return not self.violations

    def __str__(self) -> str:
        head = f"{'fits' if self.fits else 'does not fit'} {self.processor.name}: {self.mapping.n_cores} of {self.processor.cores} cores"
        return "\n".join([head, *(f"  {v}" for v in self.violations)])


def _incoming(net, pop) -> list:
    """The projections into ``pop`` (a deployed network's bias sources excluded: on chip a bias is a neuron parameter)."""
    return [p for p in net.projections if p.post is pop and not p.name.startswith("bias->")]


def _bits_per_synapse(proc: Processor) -> int:
    return (proc.weight_bits or 8) + max(1, math.ceil(math.log2(proc.neurons_per_core)))


def map_to_cores(net, proc: Processor, populations=None) -> tuple[CoreMap, list]:
    """Greedy layer-wise packing (module docstring) of ``populations`` (default: a deployed network's ``layers``, else
    every population that receives a projection); returns the map and the violations of single neurons that no core
    can hold (a neuron whose incoming synapses alone exceed a per-core limit)."""
    pops = populations if populations is not None else (getattr(net, "layers", None) or [p for p in net.populations if _incoming(net, p)])
    cmap, bad = CoreMap(), []
    bits = _bits_per_synapse(proc)
    for pop in pops:
        projs = _incoming(net, pop)
        # per post neuron: its presynaptic (projection, index) pairs as global keys
        offsets, keys, posts = 0, [], []
        for p in projs:
            keys.append(p.pre_index + offsets)
            posts.append(p.post_index)
            offsets += p.pre.n
        keys = np.concatenate(keys) if keys else np.zeros(0, np.int64)
        posts = np.concatenate(posts) if posts else np.zeros(0, np.int64)
        order = np.argsort(posts, kind="stable")
        bounds = np.searchsorted(posts[order], np.arange(pop.n + 1))
        limits = {"synapses per core": proc.synapses_per_core, "fan-in per core": proc.fan_in_per_core,
                  "synaptic memory per core (bytes)": proc.memory_per_core}
        cores, usage = [], []
        seen = np.zeros(max(offsets, 1), dtype=bool)
        cur, n_syn, n_fan = [], 0, 0
        for j in range(pop.n):
            mine = keys[order[bounds[j]:bounds[j + 1]]]
            alone = {"synapses per core": mine.size, "fan-in per core": np.unique(mine).size,
                     "synaptic memory per core (bytes)": math.ceil(mine.size * bits / 8)}
            for name, lim in limits.items():
                if lim is not None and alone[name] > lim:
                    bad.append(Violation(pop.name, name, alone[name], lim, f"neuron {j} alone; a neuron's synapses cannot be split"))
            new = np.unique(mine[~seen[mine]]).size
            need = {"synapses per core": n_syn + mine.size, "fan-in per core": n_fan + new,
                    "synaptic memory per core (bytes)": math.ceil((n_syn + mine.size) * bits / 8)}
            full = len(cur) + 1 > proc.neurons_per_core or any(lim is not None and need[k] > lim for k, lim in limits.items())
            if full and cur:
                cores.append(np.array(cur))
                usage.append((len(cur), n_syn, n_fan, math.ceil(n_syn * bits / 8)))
                seen[:] = False
                cur, n_syn, n_fan = [], 0, 0
                new = np.unique(mine).size
            cur.append(j)
            n_syn += mine.size
            n_fan += new
            seen[mine] = True
        if cur:
            cores.append(np.array(cur))
            usage.append((len(cur), n_syn, n_fan, math.ceil(n_syn * bits / 8)))
        cmap.cores[pop.name] = cores
        cmap.usage[pop.name] = usage
    return cmap, bad


def quantize(w: np.ndarray, bits: int, scale: float | None = None) -> tuple[np.ndarray, float]:
    """``w`` on the symmetric grid :math:`\\{-q_{max}, ..., q_{max}\\} \\cdot s`, :math:`q_{max} = 2^{bits-1} - 1`,
    :math:`s` = ``scale`` or :math:`\\max |w| / q_{max}`; returns the rounded weights and :math:`s`."""
    if not isinstance(bits, int | np.integer) or bits < 2:
        raise ValueError(f"bits must be an integer >= 2 (a sign and a magnitude bit), got {bits!r}")
    w = np.asarray(w, dtype=np.float64)
    qmax = 2 ** (bits - 1) - 1
    if scale is None:
        top = float(np.abs(w).max(initial=0.0))
        scale = top / qmax if top > 0 else 1.0
    return np.clip(np.rint(w / scale), -qmax, qmax) * scale, float(scale)


def quantize_weights(net, bits: int, projections=None) -> dict:
    """Round each projection's weights (default: every projection of a deployed network's ``synapses``, else all) to
    ``bits`` bits in place (:func:`quantize`, one scale per projection); returns per projection name
    ``{"scale", "max_abs_error", "rms_error", "relative_rms_error"}`` (RMS error over RMS weight)."""
    projs = projections if projections is not None else (getattr(net, "synapses", None) or net.projections)
    out = {}
    for p in projs:
        w = p.weights
        q, scale = quantize(w, bits)
        p.weights = q
        err = q - w
        rms_w = float(np.sqrt(np.mean(w**2))) if w.size else 0.0
        rms = float(np.sqrt(np.mean(err**2))) if w.size else 0.0
        out[p.name] = {"scale": scale, "max_abs_error": float(np.abs(err).max(initial=0.0)), "rms_error": rms,
                       "relative_rms_error": rms / rms_w if rms_w > 0 else 0.0}
    return out


def check_budget(net, proc: Processor, events_per_step: float | None = None, weight_bits: int | None = None,
                 max_weight_error: float = 0.05, populations=None) -> BudgetReport:
    """Map ``net`` on ``proc`` (:func:`map_to_cores`) and list every broken limit.

    ``events_per_step``: the synaptic events per step the network needs (measured from a run), checked against
    ``proc.events_per_step``. ``weight_bits`` (default ``proc.weight_bits``): the weights are rounded, on copies, to
    that many bits; a projection whose relative RMS error exceeds ``max_weight_error`` is a violation of the weight
    precision (its error is in ``report.weight_errors`` either way). The network's weights are not changed."""
    if not isinstance(proc, Processor):
        raise TypeError(f"proc must be a neuro.sim.Processor, got {type(proc).__name__}")
    cmap, violations = map_to_cores(net, proc, populations)
    if cmap.n_cores > proc.cores:
        per = ", ".join(f"{k}: {len(v)}" for k, v in cmap.cores.items())
        violations.append(Violation("network", "cores", cmap.n_cores, proc.cores, f"layer-wise packing: {per}"))
    if events_per_step is not None and proc.events_per_step is not None and events_per_step > proc.events_per_step:
        violations.append(Violation("network", "synaptic events per step", float(events_per_step), proc.events_per_step))
    bits = weight_bits if weight_bits is not None else proc.weight_bits
    errors = {}
    if bits is not None:
        projs = getattr(net, "synapses", None) or net.projections
        for p in projs:
            w = p.weights
            q, scale = quantize(w, bits)
            rms_w = float(np.sqrt(np.mean(w**2))) if w.size else 0.0
            rel = float(np.sqrt(np.mean((q - w) ** 2))) / rms_w if rms_w > 0 else 0.0
            errors[p.name] = rel
            if rel > max_weight_error:
                violations.append(Violation(p.post.name, f"weight precision ({bits} bits): relative RMS error", rel, max_weight_error,
                                            f"projection {p.name}"))
    return BudgetReport(proc, cmap, violations, errors)
