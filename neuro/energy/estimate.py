r"""``estimate(model, inputs)``: run the model on real inputs with hooks, count every layer's work, price it.

Forward hooks on the modules count synaptic layers (Linear, Conv1d/2d/3d), spiking neurons
(:func:`neuro.energy.recognise.is_spiking`), normalisation, pooling and element-wise activations; a
``TorchFunctionMode`` sees the matrix products written inside ``forward`` (``@``, ``torch.matmul``,
``bmm``, ``scaled_dot_product_attention``, a functional ``F.linear``) and charges them to the
module that ran them (``attn.matmul0``, ``attn.matmul1`` ...). The counting rules are in
:mod:`neuro.energy.counting`, the energy models in :mod:`neuro.energy.models`. What cannot be
counted is listed in ``Report.uncounted``, never skipped silently.

Inputs are ``[T, B, ...]`` or ``[B, T, ...]``: the layout is taken from the model when it declares one (the
models of :mod:`neuro.nn.models` take ``[B, T, ...]``; see :mod:`neuro.energy.layouts`), and a ``layout`` that
contradicts it is an error, never a silent swap of time and batch. A model that (almost) never fires gives
a :class:`~neuro.energy.report.SilentNetworkWarning` naming the silent layers, repeated in the report.

Example::

    report = estimate(model, spikes)            # spikes: [T, B, ...], or [B, T, ...] for neuro.nn.models
    print(report.format_table())
    report.energy("convention").total_pj, report.energy("memory").total_pj
"""

from __future__ import annotations

import contextlib
import math
import warnings
import weakref
from collections.abc import Iterable, Iterator

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from . import counting as C
from .layouts import resolve_layout
from .models import EnergyOptions
from .recognise import SYNAPTIC, bits_attr, foreign_family, role
from .report import Report, SilentNetworkWarning
from .simulation import SimCounts, simulation_energy
from .tables import EnergyTable

_MATMUL = {torch.matmul, torch.Tensor.matmul, torch.Tensor.__matmul__, torch.bmm, torch.Tensor.bmm, torch.mm, torch.Tensor.mm}
_ELEMENTWISE_NOTE = ("element-wise tensor arithmetic written inside forward() (residual additions, masks, scalings) "
                     "is not counted; only layers (modules) and matrix products are")


class _Recorder:
    """Accumulators (float64 vectors of T + 1 slots on the device) for every counted layer."""

    def __init__(self, model: nn.Module, count_matmul: bool):
        self.model = model
        self.count_matmul = count_matmul
        self.layers: dict[str, C.LayerCounts] = {}
        self.modules: dict[str, nn.Module] = {}
        self.acc: dict[str, dict[str, torch.Tensor]] = {}
        self.spike_calls: dict[str, torch.Tensor] = {}
        self.single_calls: dict[str, int] = {}
        self.membrane: dict[str, torch.Tensor] = {}
        self.mem_pre: dict[str, torch.Tensor | None] = {}
        self.order: list[str] = []
        self.uncounted: dict[str, str] = {}
        self.notes: list[str] = []
        self.fanout: dict[str, torch.Tensor] = {}
        self.dense_item: dict[tuple, int] = {}
        self.stack: list[str] = []
        self.mm_index: dict[str, int] = {}
        self.reducer: C.StepReducer | None = None
        self.paused = False
        self.hooks: list = []
        self.scratch: dict = {}
        self.memo: dict[int, dict] = {}

    # -- accumulation -----------------------------------------------------------------------------
    def _first_call(self, key: str) -> None:
        if key not in self.acc:
            self.acc[key] = {}
            self.order.append(key)

    def add(self, key: str, name: str, value, where: tuple[str, int, int], device) -> None:
        buf = self.acc[key].get(name)
        if buf is None:
            buf = self.acc[key][name] = torch.zeros(self.reducer.t + 1, dtype=torch.float64, device=device)
        _, slot, n = where
        buf[slot: slot + n] += value

    def _where(self, key: str, shape, n_feature_dims: int) -> tuple[str, int, int]:
        where = self.reducer.locate(tuple(shape), n_feature_dims, self.single_calls.get(key, 0))
        if where[0] == "single":
            self.single_calls[key] = self.single_calls.get(key, 0) + 1
        elif where[0] == "none":
            self.layers[key].unattributed_calls += 1
        self.layers[key].calls += 1
        return where

    def _spiking_call(self, key: str, flag: torch.Tensor) -> None:
        prev = self.spike_calls.get(key)
        self.spike_calls[key] = flag.to(torch.int64) if prev is None else prev + flag.to(torch.int64)

    # -- statistics of one tensor, shared by every layer that reads it --------------------------------
    def _entry(self, x: torch.Tensor) -> dict:
        """The memo of ``x`` (its non-zero sums per reduction, whether it is binary, its spike flag). Entries hold a
        weak reference: a freed tensor whose address is reused by a new one never matches an old entry."""
        e = self.memo.get(id(x))
        if e is not None and e["ref"]() is x and e["version"] == x._version:
            return e
        e = {"ref": weakref.ref(x), "version": x._version, "red": {}, "binary": None, "spk": None}
        self.memo[id(x)] = e
        return e

    @staticmethod
    def _may_be_binary(x: torch.Tensor) -> bool:
        # decided with a host-side branch: only where that costs no device synchronisation
        return x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64) and x.numel() > 0

    @staticmethod
    def _is_binary(x: torch.Tensor, total: float) -> bool:
        """Every value 0 or 1, given ``total`` = the sum of ``x``: values in [0, 1] with :math:`\\sum x^2 = \\sum x`
        (squares summed in chunks of 2**23, each exact in float32 for 0/1 values, accumulated in float64)."""
        lo, hi = torch.aminmax(x)
        if lo < 0 or hi > 1:
            return False
        flat = x.reshape(-1)
        chunk = 2**23
        squares = sum(float(torch.dot(flat[i:i + chunk], flat[i:i + chunk])) for i in range(0, flat.numel(), chunk))
        return squares == total

    def _nz_sums(self, x: torch.Tensor, nf: int, where: tuple[str, int, int], need_spike_flag: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(sums, spike_flag)``: the non-zero mask of ``x`` reduced by the step reducer (``nf`` feature dims kept),
        and (when asked) whether every value is -1, 0 or 1. A binary tensor is its own mask: no mask pass. The sums
        are float counts, exact while each stays below 2**24."""
        e = self._entry(x)
        key = (nf, where[0])
        red = e["red"].get(key)
        if red is None:
            if e["binary"] is None and self._may_be_binary(x):
                red = self.reducer.reduce(x, nf, where)
                e["binary"] = self._is_binary(x, float(red.sum(dtype=torch.float64)))
                if not e["binary"]:
                    red = None
            elif e["binary"]:
                red = self.reducer.reduce(x, nf, where)
            if red is None:
                nz = C.nonzero_mask(x, self.scratch)
                red = self.reducer.reduce(nz, nf, where)
                if need_spike_flag and e["spk"] is None:
                    e["spk"] = C.spike_valued(x, nz, red.sum(dtype=torch.float64))
            e["red"][key] = red
        if e["binary"]:
            return red, torch.ones((), dtype=torch.bool, device=x.device)
        if need_spike_flag and e["spk"] is None:
            e["spk"] = C.spike_valued(x, C.nonzero_mask(x, self.scratch), red.sum(dtype=torch.float64))
        return red, e["spk"]

    def _nz_source(self, x: torch.Tensor) -> tuple[torch.Tensor, bool]:
        """A tensor whose sums count the non-zeros of ``x`` (``x`` itself when binary, else a fresh mask), and
        whether ``x`` is binary."""
        e = self._entry(x)
        if e["binary"] is None and self._may_be_binary(x):
            e["binary"] = self._is_binary(x, float(x.sum(dtype=torch.float64)))
        if e["binary"]:
            return x, True
        return C.nonzero_mask(x), False

    # -- layer rules ------------------------------------------------------------------------------
    def synaptic(self, key: str, module: nn.Module, x: torch.Tensor, out: torch.Tensor) -> None:
        linear = isinstance(module, nn.Linear)
        nf = 1 if linear else 1 + len(module.kernel_size)
        if x.dim() < nf:
            self.notes.append(f"{key}: input of shape {tuple(x.shape)} not understood; call not counted")
            return
        self._first_call(key)
        where = self._where(key, x.shape, nf)
        n = where[2]
        sums, spk = self._nz_sums(x, nf, where)
        nonzeros = sums.reshape(n, -1).sum(1, dtype=torch.float64)
        fan = self.fanout.get(key)
        if fan is None:
            fan = self.fanout[key] = C.weight_nonzero_fanout(module).to(x.device)
        items = x.numel() // math.prod(x.shape[x.dim() - nf:]) // n
        if linear:
            eff = sums.to(torch.float64) @ fan
            dense = items * module.in_features * module.out_features
            synops = dense
        else:
            eff = C.conv_effective(module, sums, fan)
            dense = out.numel() // n * C.fan_in(module)
            spatial = tuple(x.shape[x.dim() - nf + 1:])
            per_item = self.dense_item.get((key, spatial))
            if per_item is None:
                per_item = self.dense_item[(key, spatial)] = C.conv_dense_synops_per_item(module, spatial, x.device)
            synops = items * per_item
        dev = x.device
        self.add(key, "dense_macs", dense, where, dev)
        self.add(key, "dense_synops", synops, where, dev)
        self.add(key, "effective_acs", eff * spk, where, dev)
        self.add(key, "effective_macs", eff * ~spk, where, dev)
        self.add(key, "input_elements", x.numel() // n, where, dev)
        self.add(key, "input_nonzeros", nonzeros, where, dev)
        self.add(key, "output_elements", out.numel() // n, where, dev)
        self._spiking_call(key, spk)

    def neuron(self, key: str, module: nn.Module, out) -> None:
        s = out[0] if isinstance(out, (tuple, list)) else out
        if not isinstance(s, torch.Tensor):
            self.notes.append(f"{key}: neuron output of type {type(s).__name__} not understood; call not counted")
            return
        self._first_call(key)
        where = self._where(key, s.shape, 0)
        n = where[2]
        spikes = self._nz_sums(s, 0, where, need_spike_flag=False)[0]
        self.add(key, "neuron_updates", s.numel() // n, where, s.device)
        self.add(key, "output_elements", s.numel() // n, where, s.device)
        self.add(key, "spikes", spikes, where, s.device)
        self.add(key, "output_nonzeros", spikes, where, s.device)
        mem = getattr(module, "mem", None)
        if isinstance(mem, torch.Tensor) and key in self.mem_pre:
            pre = self.mem_pre.pop(key)
            first = key not in self.membrane
            if first or pre is None or pre.shape != mem.shape:
                changed = torch.tensor(mem.numel(), device=mem.device)
            else:
                changed = torch.count_nonzero(mem - pre)
            self.membrane[key] = changed if first else self.membrane[key] + changed

    def elementwise(self, key: str, module: nn.Module, kind: str, x: torch.Tensor, out: torch.Tensor) -> None:
        self._first_call(key)
        where = self._where(key, x.shape, 0)
        n = where[2]
        dev = x.device
        self.add(key, "other_ops", C.other_ops(module, kind, x, out) // n, where, dev)
        self.add(key, "input_elements", x.numel() // n, where, dev)
        self.add(key, "output_elements", out.numel() // n, where, dev)
        if kind == "activation":
            self.add(key, "output_nonzeros", self._nz_sums(out, 0, where, need_spike_flag=False)[0], where, dev)

    def matmul(self, a: torch.Tensor, b: torch.Tensor, kind: str = "matmul", a_dense: bool = False, key: str | None = None) -> None:
        """``a @ b``; with ``a_dense`` the values of ``a`` are taken as all non-zero (an attention matrix that
        ``scaled_dot_product_attention`` never materialises; ``a`` may then be an expanded view). ``key``: charge the
        product to that (already registered) layer instead of a new ``<owner>.<kind><i>`` entry."""
        owner = self.stack[-1] if self.stack else type(self.model).__name__
        if a.dim() < 2 or b.dim() < 2:
            self.uncounted.setdefault(f"{owner}: matrix-vector product", "1-D operand")
            return
        if key is None:
            i = self.mm_index.get(owner, 0)
            self.mm_index[owner] = i + 1
            key = f"{owner}.{kind}{i}"
        if key not in self.layers:
            self.layers[key] = C.LayerCounts(key, kind, "matmul")
        self._first_call(key)
        lead = torch.broadcast_shapes(a.shape[:-2], b.shape[:-2])
        n, k, m = a.shape[-2], a.shape[-1], b.shape[-1]
        where = self._where(key, lead, 0)
        ns = where[2]
        dev = b.device
        nzb, bin_b = self._nz_source(b)
        cb = nzb.sum(-1).to(torch.float64)
        b_rows = cb.sum(-1)
        spk_b = torch.ones((), dtype=torch.bool, device=dev) if bin_b else C.spike_valued(b, nzb, b_rows.sum())
        if a_dense:
            pairs = (b_rows * n).expand(lead)
            spk_a = torch.zeros((), dtype=torch.bool, device=dev)
            a_nz = math.prod(lead) * n * k // ns
        else:
            nza, bin_a = self._nz_source(a)
            ca = nza.sum(-2).to(torch.float64)
            pairs = (ca * cb).sum(-1).expand(lead)
            a_rows = ca.sum(-1)
            spk_a = torch.ones((), dtype=torch.bool, device=dev) if bin_a else C.spike_valued(a, nza, a_rows.sum())
            a_nz = self.reducer.reduce(a_rows, 0, where) if tuple(a_rows.shape) == tuple(lead) else a_rows.sum() / ns
        spk = spk_a | spk_b
        eff = self.reducer.reduce(pairs, 0, where)
        b_nz = self.reducer.reduce(b_rows, 0, where) if tuple(b_rows.shape) == tuple(lead) else b_rows.sum() / ns
        dense = math.prod(lead) // ns * n * k * m
        self.add(key, "dense_macs", dense, where, dev)
        self.add(key, "dense_synops", dense, where, dev)
        self.add(key, "effective_acs", eff * spk, where, dev)
        self.add(key, "effective_macs", eff * ~spk, where, dev)
        # the left operand is the layer's input, the right one its operand (in place of a linear map's weights)
        self.add(key, "input_elements", math.prod(lead) * n * k // ns, where, dev)
        self.add(key, "input_nonzeros", a_nz, where, dev)
        self.add(key, "operand_elements", b.numel() / ns, where, dev)
        self.add(key, "operand_nonzeros", b_nz, where, dev)
        self.add(key, "output_elements", math.prod(lead) // ns * n * m, where, dev)
        self._spiking_call(key, spk_a)
        self._spiking_call(key + "\0operand", spk_b)

    # -- registration -----------------------------------------------------------------------------
    def register(self) -> None:
        root_name = type(self.model).__name__
        self._register(self.model, "", root_name, inside_neuron=False)
        # a layer whose weight is used in a functional call (F.conv1d(x, layer.weight...)) is charged with that call
        self.weight_owner = {id(m.weight): k for k, m in self.modules.items() if isinstance(m, SYNAPTIC)}
        if self.count_matmul:
            for name, module in self.model.named_modules():
                self.hooks.append(module.register_forward_pre_hook(self._push(name or root_name)))
                self.hooks.append(module.register_forward_hook(self._pop))

    def _register(self, module: nn.Module, name: str, root_name: str, inside_neuron: bool) -> None:
        key = name or root_name
        r = role(module)
        if inside_neuron and r != "synaptic":
            r = "none"
        if r in ("synaptic", "neuron", "norm", "pool", "activation"):
            params = sum(p.numel() for p in module.parameters(recurse=r != "neuron"))
            kind = type(module).__name__
            fam = foreign_family(module) if r == "neuron" else None
            self.layers[key] = C.LayerCounts(key, kind + (f" ({fam})" if fam else ""), r, params=params,
                                             weight_bits=bits_attr(module, "weight_bits"), act_bits=bits_attr(module, "act_bits"))
            ops = getattr(module, "update_ops", None) if r == "neuron" else None
            if callable(ops):  # a layer that knows its law's arithmetic (neuro.nn.Neuron): the memory model prices it
                ops = dict(ops())
                self.layers[key].state_variables = int(ops.get("states", 1))
                self.layers[key].neuron_ops = {k: float(ops.get(k, 0)) for k in ("macs", "acs", "reset_macs", "reset_acs")}
            self.modules[key] = module
            self.hooks.append(module.register_forward_hook(self._hook(key, module, r)))
            if r == "neuron":
                if isinstance(getattr(module, "mem", None), torch.Tensor):
                    self.hooks.append(module.register_forward_pre_hook(self._mem_pre(key, module)))
                for cname, child in module.named_children():
                    self._register(child, f"{name}.{cname}" if name else cname, root_name, inside_neuron=True)
            return
        children = list(module.named_children())
        if r is None and not children and name:
            self.uncounted[key] = type(module).__name__
        for cname, child in children:
            self._register(child, f"{name}.{cname}" if name else cname, root_name, inside_neuron)

    def _hook(self, key: str, module: nn.Module, r: str):
        def hook(mod, args, output):
            if not args or not isinstance(args[0], torch.Tensor):
                self.notes.append(f"{key}: called without a tensor input; call not counted")
                return
            self.paused = True
            try:
                with torch._C.DisableTorchFunction():  # the recorder's own arithmetic bypasses the Python mode
                    self._count(key, mod, r, args[0], output)
            finally:
                self.paused = False
        return hook

    def _count(self, key: str, mod: nn.Module, r: str, x: torch.Tensor, output) -> None:
        if r == "synaptic":
            self.synaptic(key, mod, x, output)
        elif r == "neuron":
            self.neuron(key, mod, output)
        else:
            self.elementwise(key, mod, r, x, output)

    def _mem_pre(self, key: str, module: nn.Module):
        def hook(mod, args):
            mem = getattr(mod, "mem", None)
            # a reference, not a copy: NeuroBench's definition (snntorch assigns a new tensor each step)
            self.mem_pre[key] = mem if isinstance(mem, torch.Tensor) else None
        return hook

    def _push(self, name: str):
        def hook(mod, args):
            self.stack.append(name)
            self.mm_index[name] = 0
        return hook

    def _pop(self, mod, args, output):
        if self.stack:
            self.stack.pop()

    def remove(self) -> None:
        for h in self.hooks:
            h.remove()
        self.hooks.clear()

    # -- results ----------------------------------------------------------------------------------
    def finish(self) -> list[C.LayerCounts]:
        t = self.reducer.t
        out = []
        keys = [k for k in self.order]
        flat = []
        for key in keys:
            for name, buf in self.acc[key].items():
                flat.append((key, name, buf))
        values = torch.stack([b.cpu() for _, _, b in flat]).tolist() if flat else []
        per_key: dict[str, dict[str, list[float]]] = {}
        for (key, name, _), vals in zip(flat, values):
            per_key.setdefault(key, {})[name] = vals
        spike_calls = {k: int(v.item()) for k, v in self.spike_calls.items()}
        for key in keys:
            c = self.layers[key]
            steps = {}
            for name in C.STEP_KEYS:
                vals = per_key.get(key, {}).get(name)
                if vals is None:
                    continue
                setattr(c, name, int(round(sum(vals))))
                steps[name] = [int(round(v)) for v in vals[:t]]
            c.steps = steps
            c.spike_input_calls = spike_calls.get(key, 0)
            c.spike_operand_calls = spike_calls.get(key + "\0operand", 0)
            if key in self.membrane:
                c.membrane_changes = int(self.membrane[key].item())
            out.append(c)
        return out


class _MatmulMode(TorchFunctionMode):
    """Sees the matrix products of ``forward`` and hands them to the recorder."""

    def __init__(self, rec: _Recorder):
        super().__init__()
        self.rec = rec

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        rec = self.rec
        if not rec.paused:
            if func in _MATMUL:
                rec.matmul(args[0], args[1])
            elif func is torch.Tensor.__rmatmul__:
                rec.matmul(args[1], args[0])
            elif func is F.linear:
                owner = rec.modules.get(rec.stack[-1]) if rec.stack else None
                if not isinstance(owner, SYNAPTIC):
                    rec.matmul(args[0], args[1].transpose(0, 1) if args[1].dim() == 2 else args[1], kind="linear")
            elif func is F.scaled_dot_product_attention:
                q, k, v = args[:3]
                rec.matmul(q, k.transpose(-2, -1), kind="attn_qk")
                probs = torch.ones((), dtype=q.dtype, device=q.device).expand(*q.shape[:-1], k.shape[-2])
                rec.matmul(probs, v, kind="attn_av", a_dense=True)
            elif func in (torch.einsum, F.conv1d, F.conv2d, F.conv3d, F.conv_transpose2d):
                owner = rec.stack[-1] if rec.stack else "model"
                if not isinstance(rec.modules.get(owner), SYNAPTIC) and not _pointwise_conv1d(rec, func, args, kwargs):
                    rec.uncounted.setdefault(f"{owner}: {getattr(func, '__name__', str(func))}", "functional call")
        return func(*args, **kwargs)


def _pointwise_conv1d(rec: _Recorder, func, args, kwargs) -> bool:
    """``F.conv1d(x, w, bias)`` with a kernel of size 1 on the weight of a registered layer (a token-wise map written
    functionally, as the spiking transformers' MLPs do): counted as ``x^T @ w^T``, charged to that layer. True if counted."""
    if func is not F.conv1d or len(args) < 2:
        return False
    x, w = args[0], args[1]
    root = w._base if w._base is not None else w
    key = rec.weight_owner.get(id(root))
    extra = dict(zip(("stride", "padding", "dilation", "groups"), args[3:]), **{k: v for k, v in kwargs.items() if k != "bias"})
    plain = all(v in (1, (1,), 0, (0,)) for v in extra.values())
    if key is None or not plain or w.dim() != 3 or w.shape[-1] != 1 or x.dim() != 3:
        return False
    rec.matmul(x.transpose(-1, -2), w[..., 0].transpose(0, 1), key=key)
    return True


def _shapes(args: tuple, kwargs: dict) -> str:
    """The shapes of a call's tensor arguments, as an error message shows them."""
    def one(v):
        if isinstance(v, torch.Tensor):
            return str(tuple(v.shape))
        if isinstance(v, (tuple, list)) and any(isinstance(u, torch.Tensor) for u in v):
            return "[" + ", ".join(one(u) for u in v) + "]"
        return type(v).__name__
    parts = [one(a) for a in args] + [f"{k}={one(v)}" for k, v in kwargs.items()]
    return ", ".join(parts) or "no arguments"


class _LayerTrail:
    """Forward pre-hooks on every module keep the layers being run (name and input shapes): when the forward pass
    raises, the last one entered and not left is the layer that failed."""

    def __init__(self, model: nn.Module):
        root = type(model).__name__
        self.stack: list[tuple[str, nn.Module, tuple, dict]] = []
        self.hooks = []
        for name, module in model.named_modules():
            self.hooks.append(module.register_forward_pre_hook(self._enter(name or root), with_kwargs=True))
            self.hooks.append(module.register_forward_hook(self._leave))

    def _enter(self, name: str):
        def hook(mod, args, kwargs):
            self.stack.append((name, mod, args, kwargs))
        return hook

    def _leave(self, mod, args, output):
        if self.stack:
            self.stack.pop()

    def remove(self) -> None:
        for h in self.hooks:
            h.remove()
        self.hooks.clear()


@contextlib.contextmanager
def layer_errors(model: nn.Module, inputs: torch.Tensor | None = None) -> Iterator[None]:
    """Run a forward pass of ``model`` inside: an error raised in it (a shape mismatch, a ``ValueError`` of a layer)
    becomes a ``ValueError`` naming the layer that failed (its name in ``named_modules()``), its type and its input
    shapes, chained to the original."""
    trail = _LayerTrail(model)
    try:
        yield
    except (RuntimeError, ValueError, IndexError, TypeError) as exc:
        if isinstance(exc, getattr(torch, "OutOfMemoryError", ())) or not trail.stack:
            raise
        name, mod, args, kwargs = trail.stack[-1]
        text = str(exc).strip().splitlines()
        where = "the model itself" if mod is model else f"layer {name!r}"
        given = f" (model input shape {tuple(inputs.shape)})" if inputs is not None else ""
        raise ValueError(f"{where} ({type(mod).__name__}) failed on input shape {_shapes(args, kwargs)}{given}: "
                         f"{type(exc).__name__}: {text[0] if text else ''}") from exc
    finally:
        trail.remove()


def _batches(inputs, max_batches: int | None) -> Iterable[torch.Tensor]:
    if isinstance(inputs, torch.Tensor):
        yield inputs
        return
    if isinstance(inputs, tuple) and len(inputs) == 2 and isinstance(inputs[0], torch.Tensor):
        yield inputs[0]  # one (inputs, targets) pair; a list is a sequence of batches
        return
    for i, batch in enumerate(inputs):
        if max_batches is not None and i >= max_batches:
            return
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
        if not isinstance(x, torch.Tensor):
            raise ValueError(f"batch {i} of inputs is a {type(x).__name__}; expected a tensor or an (inputs, targets) pair")
        yield x


@torch.no_grad()
def estimate(model: nn.Module, inputs, table: EnergyTable | str = "horowitz45nm", precision: str = "fp32",
             time_steps: int | None = None, layout: str | None = None, count_matmul: bool = True, max_batches: int | None = None,
             reset=None, options: EnergyOptions | None = None, warn_silent: bool = True) -> Report:
    """Run ``model`` on ``inputs`` and count every layer's work (see :mod:`neuro.energy.counting`).

    ``inputs``: a ``[T, B, ...]`` tensor (``layout="BT"``: ``[B, T, ...]``), an ``(inputs, targets)`` tuple, or an
    iterable (list, DataLoader) of either (``max_batches`` limits it). ``layout=None`` (default) takes the layout the
    model declares (:func:`neuro.energy.layouts.resolve_layout`; ``"TB"`` when it declares none); a given ``layout``
    that contradicts the model's is a ``ValueError``. ``time_steps`` overrides T. ``reset(model)`` is
    called before each batch (for models whose neurons keep state between calls). ``count_matmul`` counts the
    matrix products written inside ``forward`` (attention). ``precision`` is the default arithmetic of the energy
    models (a layer with ``weight_bits`` is priced at the narrowest integer precision that holds them); ``options``
    (:class:`EnergyOptions`) sets every assumption of the models at once and then takes precedence over ``precision``.
    ``warn_silent``: a :class:`~neuro.energy.report.SilentNetworkWarning` when the model (almost) never fired or some of
    its spiking layers never did (``Report.silence()`` says which; the table repeats it).
    """
    layout = resolve_layout(model, layout)
    table = EnergyTable.load(table)
    options = options or EnergyOptions(precision=precision)
    table.mac(options.precision)
    table.bits(options.precision)
    rec = _Recorder(model, count_matmul)
    rec.register()
    samples, t_seen = 0, None
    mode = _MatmulMode(rec) if count_matmul else None
    try:
        for x in _batches(inputs, max_batches):
            if x.dim() < 2:
                raise ValueError(f"inputs must be [T, B, ...] (or [B, T, ...] with layout='BT'), got shape {tuple(x.shape)}")
            t = time_steps if time_steps is not None else (x.shape[0] if layout == "TB" else x.shape[1])
            b = x.shape[1] if layout == "TB" else x.shape[0]
            if t_seen is not None and t != t_seen:
                raise ValueError(f"every batch must have the same number of time steps; got {t_seen} then {t}")
            if rec.reducer is None:
                rec.reducer = C.StepReducer(t, b, layout)
            rec.reducer.b = b
            t_seen = t
            rec.single_calls.clear()
            rec.memo.clear()
            if reset is not None:
                reset(model)
            rec.stack.clear()
            with layer_errors(model, x), (mode if mode is not None else contextlib.nullcontext()):
                model(x)
            samples += b
    finally:
        rec.remove()
    if rec.reducer is None:
        raise ValueError("inputs gave no batch")
    layers = rec.finish()
    counted = {id(p) for key in rec.modules for p in rec.modules[key].parameters()}
    loose = [(n, p.numel()) for n, p in model.named_parameters() if id(p) not in counted]
    # a module whose work was seen as matrix products is counted (its element-wise arithmetic falls under the note)
    owners = {c.name.rsplit(".", 1)[0] for c in layers if c.role == "matmul"}
    uncounted = [f"{k} ({v})" for k, v in rec.uncounted.items() if k not in owners]
    notes = list(dict.fromkeys(rec.notes))
    if count_matmul:
        notes.append(_ELEMENTWISE_NOTE)
    unattributed = [f"{c.name} ({c.unattributed_calls} calls)" for c in layers if c.unattributed_calls]
    if unattributed:
        notes.append("calls whose input shape matched neither [T, B, ...], [T*B, ...] nor [B, ...]: counted in the totals, "
                     "not in the per-step rows: " + ", ".join(unattributed))
    report = Report(layers=layers, table=table, time_steps=t_seen, batch=samples, uncounted=uncounted, notes=notes,
                    precision=options.precision, total_params=sum(p.numel() for p in model.parameters()), loose_params=loose, options=options)
    silence = report.silence() if warn_silent else None
    if silence:
        warnings.warn(silence, SilentNetworkWarning, stacklevel=3)
    return report


__all__ = ["estimate", "layer_errors", "simulation_energy", "SimCounts", "Report"]
