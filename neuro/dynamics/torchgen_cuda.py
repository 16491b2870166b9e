r"""CUDA C generated from a :class:`~neuro.dynamics.discrete.StepLaw` for the training layer (:class:`neuro.nn.Neuron`
on CUDA tensors): the GPU twins of the fused Numba kernels of :mod:`neuro.dynamics.torchgen`, and their CuPy launchers.

The template ``kernels/nn_neuron.cu.in`` is filled from the law: one thread per neuron runs all T steps (the time
loop inside, as ``kernels/alif.cu``). ``nn_forward`` writes the spikes, the final state and, when asked, the state
after every step; ``nn_backward`` first recomputes the state before every step into a scratch array ``[T, k, N]`` with
the forward's code (so the same spikes), then runs backwards in time with the partial derivatives of the Numba
backward (``sympy.diff`` of the substituted step, shared terms by ``sympy.cse``: the same expressions, printed as C).
A law with learned parameters also gets ``nn_backward_nograd`` (the input and state gradients only), as the Numba
kernels are generated for that case separately.

Bits. The expressions are printed operation for operation as the Numba printer prints them (the same literals, cast
to the arithmetic type as ``np.float32(...)`` casts them; small integer powers as the same products; ``min`` / ``max``
as Numba's selects), ``exp`` as the Numba kernels' (``exp32``'s arithmetic in float32, ``fm_exp`` in float64) and the
surrogate derivative as :mod:`neuro.ops.surrogate.cpu` computes it. Compiled without fused multiply-adds (NVRTC
``--fmad=false``; the tests' host emulation ``-ffp-contract=off``), float32 and float64 kernels give the Numba kernels'
spikes, states and gradients bit for bit where the law uses ``+ - * /``, ``sqrt``, ``exp``, integer powers, ``abs``,
``min`` / ``max`` and ``floor`` / ``ceil``, and the surrogate is not the sigmoid or erf in float64 (those call libm's
``exp``, which on a GPU may differ from glibc's in the last bit). ``log``, ``sin`` and the other functions are the
platform's libm. The parameters' gradients are per-neuron sums over T in the arithmetic type, summed over neurons
by the caller in the same order as the Numba path.

Storage types (``-DSCALAR_T``, ``kernels/scalar.cuh``): float32 and float64 compute in their own precision; float16 and
bfloat16 tensors are stored in their type and computed in float32 (parameters arrive in float32, the state is kept
in float32 across steps and rounded once when written), so their spikes are the float32 kernels' on the upcast input.

The source of a law and variant is written to ``$NEURO_CACHE/cuda_neurons/`` (default
``~/.cache/neuro/cuda_neurons``) under a hash of its text and compiled by CuPy (NVRTC) at first use through
:mod:`neuro.kernel_loader`, once per source, options and device.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from string import Template

import sympy
import torch

from ..paths import kernel_dir
from .cudagen import CBooleans
from .discrete import StepLaw
from .equations import DefinitionError
from .torchgen import Variant, _backward_parts, _layout, _Printer, _step_parts

__all__ = ["CudaPrinter", "kernel_source", "write", "forward", "backward", "TEMPLATE", "SCALAR"]

TEMPLATE = "nn_neuron.cu.in"

#: the storage type of each torch dtype the kernels take
SCALAR = {torch.float32: "float", torch.float64: "double", torch.float16: "__half", torch.bfloat16: "__nv_bfloat16"}


class CudaPrinter(CBooleans, _Printer):
    """C for the kernels, operation for operation what :mod:`~neuro.dynamics.torchgen`'s Numba printer gives (see the
    module doc): literals as ``lit(...)`` (the arithmetic type), functions as the template's ``nn_*`` overloads."""

    literal = "lit({})"
    _FUNCS = {"exp": "nn_exp", "log": "nn_log", "sin": "nn_sin", "cos": "nn_cos", "tan": "nn_tan", "tanh": "nn_tanh", "sinh": "nn_sinh",
              "cosh": "nn_cosh", "Abs": "nn_fabs", "sign": "nn_sign", "floor": "nn_floor", "ceiling": "nn_ceil"}
    # functions Numba's printer writes as math.<name> (sympy's known functions), and their C twins
    _KNOWN = {"asin", "acos", "atan", "asinh", "acosh", "atanh", "erf", "erfc", "expm1", "log1p", "log2", "log10"}

    def __init__(self):
        super().__init__({"fully_qualified_modules": True})

    def _sqrt(self, s):
        return f"nn_sqrt({s})"

    def _select(self, cond, a, b):
        return f"(({cond}) ? ({a}) : ({b}))"

    def _print_Pow(self, expr):
        e = expr.exp
        if e in (sympy.S.Half, -sympy.S.Half) or (e.is_Integer and abs(int(e)) <= 4):
            return super()._print_Pow(expr)
        return f"nn_pow({self._print(expr.base)}, {self._print(e)})"

    def _print_Function(self, expr):
        name = type(expr).__name__
        if name in self._FUNCS:
            return f"{self._FUNCS[name]}({self._print(expr.args[0])})"
        raise DefinitionError(f"the generated CUDA kernel has no function {name!r}")

    _print_exp = _print_log = _print_sin = _print_cos = _print_tan = _print_tanh = _print_sinh = _print_cosh = _print_Function
    _print_Abs = _print_sign = _print_floor = _print_ceiling = _print_Function

    def _print_known_func(self, expr):
        name = type(expr).__name__
        if name in self._KNOWN and len(expr.args) == 1:
            return f"nn_{name}({self._print(expr.args[0])})"
        raise DefinitionError(f"the generated CUDA kernel has no function {name!r}")

    def _print_Mod(self, expr):  # Python's % on floats (the sign of the divisor) is not C's fmod
        raise DefinitionError(f"the generated CUDA kernel has no % (in {expr})")

    def _print_Min(self, expr):  # Numba's min(a, b, c) reduces from the left
        out = self._print(expr.args[0])
        for a in expr.args[1:]:
            out = f"nn_min({out}, {self._print(a)})"
        return out

    def _print_Max(self, expr):
        out = self._print(expr.args[0])
        for a in expr.args[1:]:
            out = f"nn_max({out}, {self._print(a)})"
        return out

    def _print_Heaviside(self, expr):  # derivative of Max / Min / Abs pieces
        return f"(({self._print(expr.args[0])}) > 0 ? {self._num(1)} : {self._num(0)})"

    def _print_DiracDelta(self, expr):  # derivative of sign / Heaviside: zero almost everywhere
        return self._num(0)


# ------------------------------------------------------------------------------------------------------------ the source
def _step(law: StepLaw, pr: CudaPrinter, ind: str) -> list[str]:
    """The forward step as C statements (``torchgen._step_lines`` for the kernels, declarations added): the state
    ``z_<state>`` must be declared before; leaves ``f``, ``fire`` and the new state in ``z_*``."""
    update, f, resets, written = _step_parts(law, pr)
    declared = {f"z_{s}" for s in law.states}
    out = []

    def assign(name, rhs):
        out.append(f"{ind}{'' if name in declared else 'acc_t '}{name} = {rhs};")
        declared.add(name)

    for name, rhs in update:
        assign(name, rhs)
    out.append(f"{ind}const acc_t f = {f};")
    out.append(f"{ind}const bool fire = f {'>' if law.strict else '>='} {pr._num(0)};")
    for name, rhs in resets:
        assign(name, rhs)
    out += [f"{ind}z_{s} = fire ? r_{s} : z_{s};" for s in written]
    out.append(f"{ind}(void)fire;")
    return out


def _backward_step(law: StepLaw, v: Variant, pr: CudaPrinter, ind: str) -> list[str]:
    """``torchgen._backward_lines`` as C: reads ``o_*``, ``x_in``, ``p_*``, ``g_*`` (set here from ``cg_*``), ``gspk``,
    ``sg``, ``fire``; writes ``gx_out[k]``, adds to ``gp_*`` and moves ``cg_*`` one step back."""
    shared, gf, results = _backward_parts(law, v, pr)
    out = [f"{ind}const acc_t g_{s} = cg_{s};" for s in law.states]
    out += [f"{ind}const acc_t {name} = {rhs};" for name, rhs in shared]
    out.append(f"{ind}const acc_t gf = ({gf}) * sg;")

    def grad(key):
        no_fire, fire, ef = results[key]
        parts = []
        if fire is None:
            if no_fire is not None:
                parts.append(f"({no_fire})")
        else:
            parts.append(f"(fire ? ({fire}) : ({no_fire}))")
        if ef is not None:
            parts.append(f"gf * ({ef})")
        return " + ".join(parts) if parts else pr._num(0)

    out += [f"{ind}const acc_t ng_{s} = {grad(('state', s))};" for s in law.states]
    out.append(f"{ind}store(gx_out + k, {grad(('input', 'x'))});")
    out += [f"{ind}gp_{p} += {grad(('param', p))};" for p in v.grads]
    out += [f"{ind}cg_{s} = ng_{s};" for s in law.states]
    out.append(f"{ind}(void)gf;")
    return out


def kernel_source(law: StepLaw, v: Variant) -> str:
    """The CUDA C source of ``law`` for variant ``v`` (its ``float32`` is ignored: the storage type is a compile
    option): ``nn_forward``, ``nn_backward`` and, where ``v.grads``, ``nn_backward_nograd``."""
    pr = CudaPrinter()
    scal, arr = _layout(law, v)
    k = len(law.states)
    i8 = " " * 8
    try:
        step = "\n".join(_step(law, pr, i8))
        params = [f"    const acc_t p_{p} = scal[{j}];" for j, p in enumerate(scal)]
        params += [f"    const acc_t p_{p} = arr[{j}LL * N + i];" for j, p in enumerate(arr)]
        fill = dict(
            k=k, states=", ".join(law.states), n_scal=len(scal), n_arr=len(arr), params="\n".join(params) or "    // (no parameters)",
            load_state="\n".join(f"    acc_t c_{s} = load(z0 + {j}LL * N + i);" for j, s in enumerate(law.states)),
            forward_step="\n".join([f"{i8}acc_t z_{s} = c_{s};" for s in law.states] + [step] + [f"{i8}c_{s} = z_{s};" for s in law.states]),
            surrogate=int(v.surrogate))
        head, tail = (kernel_dir() / TEMPLATE).read_text().split("//@backward", 1)
        tail = Template(tail.split("\n", 2)[2])  # (the marker's comment dropped)
        backwards = []
        for grads, suffix in ((v.grads, ""), ((), "_nograd")) if v.grads else ((v.grads, ""),):
            w = Variant(arrays=v.arrays, grads=grads, surrogate=v.surrogate, detach=v.detach, float32=False)
            store = [f"    store(gz0_out + {j}LL * N + i, cg_{s});" for j, s in enumerate(law.states)]
            for p in grads:
                where = f"garr_out[{arr.index(p)}LL * N + i]" if p in arr else f"gscal_out[{scal.index(p)}LL * N + i]"
                store.append(f"    {where} = gp_{p};")
            backwards.append(tail.substitute(
                fill, suffix=suffix,
                save_state="\n".join(f"{i8}zs[((long long)t * {k} + {j}) * N + i] = c_{s};" for j, s in enumerate(law.states)),
                restore_state="\n".join(f"{i8}const acc_t o_{s} = zs[((long long)t * {k} + {j}) * N + i];\n{i8}acc_t c_{s} = o_{s};"
                                        for j, s in enumerate(law.states)),
                load_grads="\n".join([f"    acc_t cg_{s} = load(gzT + {j}LL * N + i);" for j, s in enumerate(law.states)]
                                     + [f"    acc_t gp_{p} = 0;" for p in grads]),
                backward_step="\n".join(_backward_step(law, w, pr, i8)),
                store_grads="\n".join(store)))
    except DefinitionError as err:
        raise DefinitionError(f"{law.name}: {err}") from None
    definition = "\n".join(f"//   {line}" for line in law.describe().splitlines())
    learned = f"learned: {', '.join(v.grads) or 'none'}; per neuron: {', '.join(v.arrays) or 'none'}"
    return Template(head).substitute(
        fill, name=law.name, key=law.key, definition=definition, backward="".join(backwards),
        variant=f"Surrogate {v.surrogate}, {'detached' if v.detach else 'differentiable'} reset; {learned}.",
        store_step="\n".join(f"            store(zseq_out + ({j}LL * T + t) * N + i, c_{s});" for j, s in enumerate(law.states)),
        store_final="\n".join(f"    store(zT_out + {j}LL * N + i, c_{s});" for j, s in enumerate(law.states)))


def cache_dir() -> Path:
    from .codegen import cache_dir as _cache_dir

    return _cache_dir("cuda_neurons")


_WRITTEN: dict[tuple[str, Variant], Path] = {}


def write(law: StepLaw, v: Variant) -> Path:
    """The source of ``law`` and ``v`` in the cache, named by a hash of its text (written atomically once)."""
    v = Variant(arrays=v.arrays, grads=v.grads, surrogate=v.surrogate, detach=v.detach, float32=False)
    path = _WRITTEN.get((law.key, v))
    if path is not None and path.exists():
        return path
    src = kernel_source(law, v)
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"nn_neuron_{law.key}_{hashlib.sha256(src.encode()).hexdigest()[:16]}.cu"
    if not path.exists() or path.read_text() != src:
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        tmp.write_text(src)
        os.replace(tmp, path)
    _WRITTEN[(law.key, v)] = path
    return path


# -------------------------------------------------------------------------------------------------------------- launchers
def to_cupy(t: torch.Tensor):
    from ..backend import to_cupy as _to_cupy

    return _to_cupy(t)


def get_kernel(source: str, function: str, options=(), device=None):
    """``function`` of the generated ``source`` (a path), compiled by NVRTC without fused multiply-adds."""
    from ..kernel_loader import get_kernel as _get_kernel

    return _get_kernel(source, function, tuple(options) + ("--fmad=false",), device)


def _launch(kernel, n: int, device: torch.device, args) -> None:
    from ..kernel_loader import launch

    launch(kernel, n, device, args)  # on the tensors' device, on torch's current stream


def _kernel(law: StepLaw, v: Variant, function: str, dtype: torch.dtype, device: torch.device):
    try:
        scalar = SCALAR[dtype]
    except KeyError:
        raise TypeError(f"the generated CUDA neuron kernels take {list(SCALAR)}, got {dtype}") from None
    return get_kernel(str(write(law, v)), function, (f"-DSCALAR_T={scalar}",), device.index)


def _acc(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype == torch.float64 else torch.float32


def _arg(t: torch.Tensor):
    """``t`` for a kernel; an empty one (no parameter of that kind) as one unread element, never a null view."""
    return to_cupy(t if t.numel() else t.new_zeros(1))


def forward(law: StepLaw, v: Variant, x: torch.Tensor, z0: torch.Tensor, scal: torch.Tensor, arr: torch.Tensor, need_states: bool):
    """``(spikes [T, N], final state [k, N], states [k, T, N] or [k, 0, N])`` (the fused op's forward on CUDA)."""
    import numpy as np

    x = x.contiguous()
    T, N = x.shape
    k = z0.shape[0]
    acc = _acc(x.dtype)
    s = torch.empty_like(x)
    zT = torch.empty((k, N), dtype=x.dtype, device=x.device)
    zseq = torch.empty((k, T, N) if need_states else (k, 0, N), dtype=x.dtype, device=x.device)
    if N == 0 or T == 0:
        zT.copy_(z0)
        return s, zT, zseq
    args = (to_cupy(x), to_cupy(z0.to(x.dtype).contiguous()), _arg(scal.to(acc).reshape(-1).contiguous()),
            _arg(arr.to(acc).reshape(-1, N).contiguous()), to_cupy(s), to_cupy(zT), to_cupy(zseq if need_states else zT),
            np.int32(T), np.int32(N), np.int32(bool(need_states)))
    _launch(_kernel(law, v, "nn_forward", x.dtype, x.device), N, x.device, args)
    return s, zT, zseq


def backward(law: StepLaw, v: Variant, gs: torch.Tensor, gs_bcast: bool, gzT: torch.Tensor, x: torch.Tensor, z0: torch.Tensor,
             scal: torch.Tensor, arr: torch.Tensor, alpha: float, param_grads: bool):
    """``(grad x [T, N], grad z0 [k, N], grad scal [P, N], grad arr [Q, N])`` with the parameters' gradients per
    neuron in the arithmetic type (float64 for float64 tensors, float32 otherwise; zero rows for parameters not learned,
    ``[P, 0]`` / ``[Q, 0]`` without ``param_grads``). ``gs_bcast``: ``gs`` holds one value for every step and neuron."""
    import numpy as np

    x = x.contiguous()
    T, N = x.shape
    k = z0.shape[0]
    acc = _acc(x.dtype)
    P, Q = scal.numel(), arr.shape[0]
    gx = torch.empty_like(x)
    gz0 = torch.empty((k, N), dtype=x.dtype, device=x.device)
    gscal = torch.zeros((P, N) if param_grads else (P, 0), dtype=acc, device=x.device)
    garr = torch.zeros((Q, N) if param_grads else (Q, 0), dtype=acc, device=x.device)
    if N == 0 or T == 0:
        gz0.copy_(gzT)
        return gx, gz0, gscal, garr
    zs = torch.empty((T, k, N), dtype=acc, device=x.device)
    g = gs.reshape(-1)[:1].to(x.dtype).contiguous() if gs_bcast else gs.to(x.dtype).contiguous()
    function = "nn_backward" if param_grads or not v.grads else "nn_backward_nograd"
    args = (to_cupy(g), np.int32(bool(gs_bcast)), to_cupy(gzT.to(x.dtype).contiguous()), to_cupy(x), to_cupy(z0.to(x.dtype).contiguous()),
            _arg(scal.to(acc).reshape(-1).contiguous()), _arg(arr.to(acc).reshape(-1, N).contiguous()), np.float64(alpha),
            to_cupy(zs), to_cupy(gx), to_cupy(gz0), _arg(gscal if param_grads else zs), _arg(garr if param_grads else zs),
            np.int32(T), np.int32(N))
    _launch(_kernel(law, v, function, x.dtype, x.device), N, x.device, args)
    return gx, gz0, gscal, garr
