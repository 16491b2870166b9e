r"""Multi-step runs of a neuron law (:class:`~neuro.dynamics.discrete.StepLaw`) on torch tensors: the fused Numba
kernels as the torch custom op ``neuro::neuron_multi_step`` (with a fake implementation, so ``torch.compile`` traces
it, and an autograd rule calling ``neuro::neuron_multi_step_backward``), and the generated torch reference, autograd
through a loop over steps (double backward works there, not through the fused op). On CUDA tensors the same ops run
the generated CUDA kernels (:mod:`neuro.dynamics.torchgen_cuda`; float32, float64, and float16 / bfloat16 computed
in float32).

Shapes of the fused op: ``x [T, N]``, the initial state ``z0 [k, N]`` (one row per state variable), the parameters
read once ``scal [P]`` and those read per neuron ``arr [Q, N]`` (in the input's dtype, or float32 for float16 /
bfloat16 inputs on CUDA; their gradients come back in their dtype). It returns the spikes ``[T, N]``, the final state
``[k, N]`` and, when asked, the state after every step ``[k, T, N]`` (a record: no gradient flows back through it).
The kernels of a law are found through a string key (:func:`register`), as custom ops take no Python objects.

Saved for the backward pass: ``x``, ``z0`` and the parameters only; the backward kernel recomputes the states.
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch

from ..ops import buffers
from ..ops._host import block_size, broadcast_scalar, threads_for
from ..ops.surrogate.reference import heaviside
from . import torchgen
from .discrete import StepLaw

__all__ = ["register", "fused_multi_step", "reference_multi_step", "kernel_calls"]

_REGISTRY: dict[str, tuple[StepLaw, tuple[str, ...], tuple[str, ...], int, bool]] = {}

#: calls into the fused kernels by name (tests prove the kernel path ran; nothing reads it otherwise)
kernel_calls: dict[str, int] = {"forward": 0, "backward": 0, "cuda_forward": 0, "cuda_backward": 0}


def register(law: StepLaw, arrays: tuple[str, ...], grads: tuple[str, ...], surrogate: int, detach: bool) -> str:
    """The key of ``law``'s kernels with parameters ``arrays`` read per neuron, gradients for ``grads``, surrogate id
    ``surrogate`` and a detached reset or not (the same arguments give the same key)."""
    cfg = (tuple(arrays), tuple(grads), int(surrogate), bool(detach))
    key = f"{law.key}-{hashlib.sha256(repr(cfg).encode()).hexdigest()[:12]}"
    _REGISTRY.setdefault(key, (law, *cfg))
    return key


def _registered(key: str):
    try:
        return _REGISTRY[key]
    except KeyError:
        raise RuntimeError(f"no neuron law registered under {key!r} in this process (build the layer first)") from None


def _kernels(key: str, dtype: torch.dtype, param_grads: bool):
    law, arrays, grads, kind, detach = _registered(key)
    if dtype not in (torch.float32, torch.float64):
        raise TypeError(f"the fused neuron kernels compute in float32 or float64, got {dtype}")
    v = torchgen.Variant(arrays=arrays, grads=grads if param_grads else (), surrogate=kind, detach=detach, float32=dtype == torch.float32)
    return law, torchgen.kernels(law, v)


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().contiguous().numpy()


@torch.library.custom_op("neuro::neuron_multi_step", mutates_args=())
def _forward_op(x: torch.Tensor, z0: torch.Tensor, scal: torch.Tensor, arr: torch.Tensor, law: str, alpha: float,
                need_states: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    step_law, mod = _kernels(law, x.dtype, False)
    T, N = x.shape
    k = z0.shape[0]
    s = buffers.empty_like(x)
    zT = torch.empty((k, N), dtype=x.dtype)
    zseq = torch.empty((k, T, N) if need_states else (k, 0, N), dtype=x.dtype)
    fn = mod.forward_states if need_states else mod.forward
    kernel_calls["forward"] += 1
    with threads_for(T * N):
        fn(_np(x), _np(z0.to(x.dtype)), _np(scal.to(x.dtype)).reshape(-1), _np(arr.to(x.dtype)).reshape(-1, N), s.numpy(), zT.numpy(),
           zseq.numpy(), block_size(T, N, x.element_size(), tiles=k + 1))
    return s, zT, zseq


@_forward_op.register_fake
def _(x, z0, scal, arr, law, alpha, need_states):
    T, N = x.shape
    k = z0.shape[0]
    return torch.empty_like(x), x.new_empty((k, N)), x.new_empty((k, T, N) if need_states else (k, 0, N))


@torch.library.custom_op("neuro::neuron_multi_step_backward", mutates_args=())
def _backward_op(gs: torch.Tensor, gzT: torch.Tensor, x: torch.Tensor, z0: torch.Tensor, scal: torch.Tensor, arr: torch.Tensor, law: str,
                 alpha: float, param_grads: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    step_law, mod = _kernels(law, x.dtype, param_grads)
    T, N = x.shape
    k = z0.shape[0]
    gx = buffers.empty_like(x)
    gz0 = torch.empty((k, N), dtype=x.dtype)
    P, Q = scal.numel(), arr.shape[0]
    gscal = torch.zeros((P, N) if param_grads else (P, 0), dtype=x.dtype)
    garr = torch.zeros((Q, N) if param_grads else (Q, 0), dtype=x.dtype)
    if broadcast_scalar(gs):
        fn, g = mod.backward_gs1, gs.reshape(-1)[:1].to(x.dtype).reshape(1, 1).numpy()
    else:
        fn, g = mod.backward, _np(gs.to(x.dtype))
    kernel_calls["backward"] += 1
    with threads_for(T * N):
        fn(g, _np(gzT.to(x.dtype)), _np(x), _np(z0.to(x.dtype)), _np(scal.to(x.dtype)).reshape(-1), _np(arr.to(x.dtype)).reshape(-1, N),
           (np.float32 if x.dtype == torch.float32 else np.float64)(alpha), gx.numpy(), gz0.numpy(), gscal.numpy(), garr.numpy(),
           block_size(T, N, x.element_size(), tiles=k + 1))
    return (gx, gz0, gscal.sum(dim=1).to(scal.dtype) if param_grads else torch.zeros(P, dtype=scal.dtype),
            garr.to(arr.dtype) if param_grads else torch.zeros((Q, N), dtype=arr.dtype))


@_backward_op.register_fake
def _(gs, gzT, x, z0, scal, arr, law, alpha, param_grads):
    return torch.empty_like(x), torch.empty_like(z0), scal.new_empty(scal.shape[0]), torch.empty_like(arr)


# ------------------------------------------------------------------------------------------------------------ on CUDA
def _cuda_variant(key: str, dtype: torch.dtype):
    from . import torchgen_cuda

    law, arrays, grads, kind, detach = _registered(key)
    if dtype not in torchgen_cuda.SCALAR:
        raise TypeError(f"the generated CUDA neuron kernels take {list(torchgen_cuda.SCALAR)}, got {dtype}")
    return torchgen_cuda, law, torchgen.Variant(arrays=arrays, grads=grads, surrogate=kind, detach=detach, float32=False)


@_forward_op.register_kernel("cuda")
def _forward_cuda(x, z0, scal, arr, law, alpha, need_states):
    gen, step_law, v = _cuda_variant(law, x.dtype)
    kernel_calls["cuda_forward"] += 1
    return gen.forward(step_law, v, x, z0, scal, arr, need_states)


@_backward_op.register_kernel("cuda")
def _backward_cuda(gs, gzT, x, z0, scal, arr, law, alpha, param_grads):
    gen, step_law, v = _cuda_variant(law, x.dtype)
    kernel_calls["cuda_backward"] += 1
    gx, gz0, gscal, garr = gen.backward(step_law, v, gs, broadcast_scalar(gs), gzT, x, z0, scal, arr, alpha, param_grads)
    P, Q, N = scal.numel(), arr.shape[0], x.shape[1]
    if not param_grads:
        return gx, gz0, scal.new_zeros(P), arr.new_zeros((Q, N))
    return gx, gz0, gscal.sum(dim=1).to(scal.dtype), garr.to(arr.dtype)


def _setup_context(ctx, inputs, output):
    x, z0, scal, arr, law, alpha, _need_states = inputs
    ctx.save_for_backward(x, z0, scal, arr)
    ctx.law, ctx.alpha = law, alpha
    ctx.set_materialize_grads(False)


def _backward(ctx, gs, gzT, _gzseq):
    x, z0, scal, arr = ctx.saved_tensors
    if gs is None:
        gs = x.new_zeros(()).expand_as(x)
    if gzT is None:
        gzT = torch.zeros_like(z0)
    need = ctx.needs_input_grad
    gx, gz0, gscal, garr = _backward_op(gs, gzT, x, z0, scal, arr, ctx.law, ctx.alpha, bool(need[2] or need[3]))
    return gx, gz0, gscal.reshape(scal.shape) if need[2] else None, garr if need[3] else None, None, None, None


_forward_op.register_autograd(_backward, setup_context=_setup_context)


def fused_multi_step(key: str, x: torch.Tensor, z0: torch.Tensor, scal: torch.Tensor, arr: torch.Tensor, alpha: float,
                     need_states: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(spikes [T, N], final state [k, N], states [k, T, N] or [k, 0, N])`` of the law registered under ``key``."""
    return _forward_op(x, z0, scal, arr, key, float(alpha), bool(need_states))


def reference_multi_step(law: StepLaw, x: torch.Tensor, z0: list[torch.Tensor], params: dict[str, torch.Tensor], surrogate: int,
                         alpha: float, detach: bool, spike=None, need_states: bool = False):
    """Autograd through the generated torch step over ``x [T, ...]``: ``(spikes [T, ...], final states, states or None)``.

    ``z0``: one tensor per state variable; ``params``: every parameter of the law (derived ones included), each
    broadcasting against one step. ``spike`` replaces the Heaviside with surrogate derivative (a smooth function makes
    the loop differentiable for ``gradcheck``)."""
    step = torchgen.load_reference(law).step
    if spike is None:
        def spike(f):
            return heaviside(f, surrogate, alpha, law.strict)
    pv = [params[p] for p in list(law.params) + list(law.derived)]
    z = list(z0)
    spikes, record = [], []
    for xt in x:
        s, *z = step(xt, *z, *pv, spike, detach)
        spikes.append(s)
        if need_states:
            record.append(z)
    states = [torch.stack([r[i] for r in record]) for i in range(len(z))] if need_states else None
    return torch.stack(spikes), z, states
