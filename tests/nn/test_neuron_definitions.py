"""neuro.nn.Neuron: layers built from definitions. The fused generated kernels against autograd through the generated
torch reference (float64, tight), gradcheck of the reference with a smooth spike, the LIF and ALIF definitions equal to
the hand-written neuro.nn.LIF / ALIF, a neuron the project did not have (quadratic integrate-and-fire with adaptation),
parameters learned shared / per neuron / per channel in the layer's dtype, and bad definitions named in their errors."""

from __future__ import annotations

import math

import pytest
import torch

from neuro import nn as snn
from neuro.dynamics import DefinitionError, NeuronModel, torchgen, torchop
from neuro.dynamics.discrete import DiscreteNeuron
from neuro.nn import Neuron

F64 = torch.float64

LIF_HARD = DiscreteNeuron(update="v = beta * v + (1 - beta) * x", threshold="v >= v_th", reset="v = v_reset",
                          parameters={"beta": 0.5, "v_th": 1.0, "v_reset": 0.0}, name="lif_hard")
LIF_SOFT = DiscreteNeuron(update="v = beta * v + (1 - beta) * x", threshold="v >= v_th", reset="v -= v_th",
                          parameters={"beta": 0.5, "v_th": 1.0}, name="lif_soft")
# Bellec et al.'s adaptive threshold (neuro.nn.ALIF's law), written as a user would
ADAPTIVE = DiscreteNeuron(update="b = v_th + beta_a * a; v = beta * v + x; a = rho * a", threshold="v >= b",
                          reset="v = v - v_th; a = a + gamma",
                          parameters={"beta": math.exp(-1 / 10), "rho": math.exp(-1 / 20), "beta_a": 0.5, "v_th": 1.0, "gamma": 1.0},
                          states=["v", "a"], name="adaptive_lif")
# new to the project: quadratic integrate-and-fire with adaptation, continuous, Euler at dt = 1 ms, input = injected I
QIF = NeuronModel("""
    dv/dt = (v**2 + I - w) / tau : 1
    dw/dt = (a * v - w) / tau_w : 1
    I : 1
    tau : second
    tau_w : second
    a : 1
    b : 1
    v_peak : 1
    v_reset : 1
""", threshold="v > v_peak", reset="v = v_reset; w += b", name="qif_adaptation",
    defaults=dict(tau=10.0, tau_w=30.0, a=0.5, b=0.3, v_peak=1.0, v_reset=-0.5))
# continuous LIF with a synaptic current (exact method), input jumps the current
LIF_SYN = NeuronModel("""
    dv/dt = (v_rest - v + R * I_e) / tau : 1
    dI_e/dt = -I_e / tau_e : 1
    v_rest : 1
    R : 1
    tau : second
    tau_e : second
    v_th : 1
""", threshold="v > v_th", reset="v = v_rest", inputs={"exc": "I_e"}, name="lif_syn",
    defaults=dict(v_rest=0.0, R=1.0, tau=10.0, tau_e=3.0, v_th=1.0))

# (definition, layer options, input scale)
CASES = {
    "lif_hard": (LIF_HARD, dict(learnable={"beta": "neuron", "v_th": "shared"}, shape=(5,)), 3.0),
    "lif_soft": (LIF_SOFT, dict(learnable=["beta"], surrogate="atan", alpha=2.0), 3.0),
    "adaptive": (ADAPTIVE, dict(learnable={"beta": "shared", "rho": "neuron", "beta_a": "shared", "gamma": "shared"}, shape=(5,),
                                surrogate="triangle", alpha=1.0), 0.6),
    "qif": (QIF, dict(dt=1.0, input="I", learnable=["tau", "a", "b", "v_peak"], surrogate="fast_sigmoid", alpha=2.0), 1.5),
    "lif_syn_exact": (LIF_SYN, dict(dt=0.5, learnable={"tau": "neuron", "R": "shared"}, shape=(5,)), 1.5),
}


def _run(definition, opts, backend, x, state=None, w=None):
    layer = Neuron(definition, backend=backend, dtype=x.dtype, **opts)
    s, final = layer.run(x, state)
    w = torch.ones_like(s) if w is None else w
    loss = (s * w).sum() + sum((v * (k + 1)).pow(2).sum() for k, v in enumerate(final.values()))
    return layer, s, final, loss


@pytest.mark.parametrize("case,detach", [(c, False) for c in CASES] + [(c, True) for c in ("lif_hard", "adaptive", "qif")])
def test_fused_kernel_equals_autograd_through_the_reference(case, detach):
    definition, opts, scale = CASES[case]
    opts = dict(opts, detach_reset=detach)
    torch.manual_seed(3)
    x = (torch.rand(40, 3, 5, dtype=F64) * scale).requires_grad_()
    w = torch.randn(40, 3, 5, dtype=F64)
    states = Neuron(definition, **opts).law.states
    state = {k: (0.3 * torch.rand(3, 5, dtype=F64)).requires_grad_() for k in states}
    ref_layer, ref_s, ref_final, ref_loss = _run(definition, opts, "torch", x, state, w)
    before = dict(torchop.kernel_calls)
    layer, s, final, loss = _run(definition, opts, "numba", x, state, w)
    assert torchop.kernel_calls["forward"] > before["forward"]
    assert 0.02 < float(s.detach().mean()) < 0.9, "the case must spike, and not always"
    assert torch.equal(s, ref_s)
    for k in final:
        torch.testing.assert_close(final[k], ref_final[k], rtol=1e-12, atol=1e-12)
    wrt = [x, *state.values(), *layer.learned.values()]
    ref_wrt = [x, *state.values(), *ref_layer.learned.values()]
    grads = torch.autograd.grad(loss, wrt)
    assert torchop.kernel_calls["backward"] > before["backward"]
    ref_grads = torch.autograd.grad(ref_loss, ref_wrt)
    for g, r in zip(grads, ref_grads):
        assert g.dtype == F64
        torch.testing.assert_close(g, r, rtol=1e-9, atol=1e-10)
    assert any(float(g.abs().max()) > 0 for g in grads[1 + len(state):]), "the learned parameters get gradients"


def test_spike_sum_loss_reads_the_broadcast_gradient_as_one_value():
    torch.manual_seed(4)
    definition, opts, scale = CASES["adaptive"]
    x = (torch.rand(30, 4, 5, dtype=F64) * scale).requires_grad_()
    grads = []
    for backend in ("numba", "torch"):
        layer = Neuron(definition, backend=backend, dtype=F64, **opts)
        grads.append(torch.autograd.grad(layer(x).sum(), [x, *layer.learned.values()]))
    for g, r in zip(*grads):
        torch.testing.assert_close(g, r, rtol=1e-9, atol=1e-10)


def test_float32_kernel_spikes_equal_the_reference():
    torch.manual_seed(5)
    definition, opts, scale = CASES["adaptive"]
    x = (torch.rand(50, 4, 5) * scale).requires_grad_()
    out = {}
    for backend in ("numba", "torch"):
        layer = Neuron(definition, backend=backend, **opts)
        s = layer(x)
        out[backend] = (s, torch.autograd.grad(s.sum(), x)[0])
    assert torch.equal(out["numba"][0], out["torch"][0])
    torch.testing.assert_close(out["numba"][1], out["torch"][1], rtol=1e-4, atol=1e-5)


def _smooth(alpha):
    return lambda f: torch.sigmoid(alpha * f)  # sigmoid surrogate's primitive: the loop becomes differentiable


@pytest.mark.parametrize("case", ["adaptive", "qif", "lif_syn_exact"])
def test_gradcheck_of_the_generated_reference(case):
    definition, opts, scale = CASES[case]
    layer = Neuron(definition, dtype=F64, backend="torch", **opts)
    law = layer.law
    torch.manual_seed(6)
    x = (torch.rand(12, 2, 5, dtype=F64) * scale).requires_grad_()
    learned = list(layer.learned)
    ps0 = [layer.learned[p].detach().clone().requires_grad_() for p in learned]

    def f(x, *ps):
        params = {p: layer._param(p, x) for p in list(law.params) + list(law.derived)}
        params.update({p: v for p, v in zip(learned, ps)})
        z0 = [torch.full((2, 5), 0.1, dtype=F64) for _ in law.states]
        s, zT, _ = torchop.reference_multi_step(law, x, z0, params, 0, 4.0, False, spike=_smooth(4.0))
        return s.sum(0), *zT

    assert torch.autograd.gradcheck(f, (x, *ps0))


@pytest.mark.parametrize("v_reset,tau", [(0.0, 2.0), (None, 4.0), (0.5, 4.0)])
def test_lif_definition_equals_neuro_nn_lif(v_reset, tau):
    beta = 1.0 - 1.0 / tau  # exact in float32 too: LIF keeps beta in a float32 buffer
    reset = "v -= v_th" if v_reset is None else "v = v_reset"
    d = DiscreteNeuron(update="v = beta * v + (1 - beta) * v_leak + (1 - beta) * x", threshold="v >= v_th", reset=reset,
                       parameters={"beta": beta, "v_th": 1.0, "v_leak": 0.0 if v_reset is None else v_reset}
                       | ({} if v_reset is None else {"v_reset": v_reset}),
                       states={"v": 0.0 if v_reset is None else v_reset})
    torch.manual_seed(7)
    x = (torch.rand(60, 4, 9, dtype=F64) * 3.0).requires_grad_()
    lif = snn.LIF(tau=tau, v_reset=v_reset, store_v=True)
    s_lif = lif(x)
    for backend in ("numba", "torch"):
        ours = Neuron(d, surrogate="sigmoid", alpha=4.0, store_state=True, backend=backend, dtype=F64)
        s = ours(x)
        assert torch.equal(s, s_lif), backend
        torch.testing.assert_close(ours.state_seq["v"], lif.v_seq.detach(), rtol=0, atol=1e-15 if v_reset else 0)
        g, g_lif = (torch.autograd.grad((out * torch.arange(9.0, dtype=F64)).sum(), x)[0] for out in (s, lif(x)))
        torch.testing.assert_close(g, g_lif, rtol=1e-12, atol=1e-13)


def test_adaptive_definition_equals_neuro_nn_alif():
    torch.manual_seed(8)
    x = torch.rand(80, 3, 6, dtype=F64) * 0.6
    alif = snn.ALIF(tau_mem=10.0, tau_adapt=20.0, beta_a=0.5, surrogate="triangle", alpha=1.0).double()
    ours = Neuron(ADAPTIVE, surrogate="triangle", alpha=1.0, dtype=F64)
    xs = [x.clone().requires_grad_() for _ in range(2)]
    s, s_alif = ours(xs[0]), alif(xs[1])
    assert torch.equal(s, s_alif) and 0 < float(s.detach().mean()) < 0.5
    w = torch.randn_like(x)
    g, g_alif = (torch.autograd.grad((out * w).sum(), xi)[0] for out, xi in ((s, xs[0]), (s_alif, xs[1])))
    torch.testing.assert_close(g, g_alif, rtol=1e-10, atol=1e-12)


def test_qif_with_adaptation_adapts_and_trains():
    """The new neuron: under constant drive its interspike intervals lengthen (adaptation), and a few Adam steps of its
    learned parameters move the firing rate toward a target."""
    layer = Neuron(QIF, dt=1.0, input="I", store_state=True, dtype=F64)
    s = layer(torch.full((300, 1, 1), 0.6, dtype=F64))[:, 0, 0]
    times = torch.nonzero(s).flatten()
    isi = times.diff()
    assert len(isi) >= 3 and isi[-1] > isi[0]
    assert float(layer.state_seq["w"].max()) > 0
    torch.manual_seed(9)
    layer = Neuron(QIF, dt=1.0, input="I", learnable={"tau": "neuron", "b": "shared"}, shape=(8,), surrogate="fast_sigmoid", alpha=2.0)
    opt = torch.optim.Adam(layer.parameters(), lr=0.2)
    x = torch.rand(50, 16, 8) * 1.5
    losses = []
    for _ in range(8):
        rate = layer(x).mean()
        loss = (rate - 0.02) ** 2
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.5 * losses[0]


def test_parameters_follow_the_layer_dtype_and_keep_float64_exactly():
    beta = math.exp(-1 / 3.7)
    d = DiscreteNeuron(update="v = beta * v + x", threshold="v >= 1", reset="v = 0", parameters={"beta": beta})
    layer = Neuron(d, learnable=["beta"], dtype=F64)
    assert layer.learned["beta"].dtype == F64 and float(layer.learned["beta"]) == beta
    assert Neuron(d, learnable=["beta"]).learned["beta"].dtype == torch.float32
    assert Neuron(d, learnable=["beta"]).double().learned["beta"].dtype == F64
    fixed = Neuron(d, store_state=True)  # a fixed value is kept as a float64 number, cast to the input's dtype
    fixed(torch.zeros(2, 1, 1, dtype=F64) + torch.tensor([1.0, 0.0], dtype=F64).view(2, 1, 1) * 0.5)
    assert float(fixed.state_seq["v"][1, 0, 0]) == 0.5 * beta


def test_per_channel_parameters_on_images():
    torch.manual_seed(10)
    opts = dict(learnable={"beta": "channel", "v_th": "shared"}, channels=3)
    x = (torch.rand(10, 2, 3, 4, 4, dtype=F64) * 3.0).requires_grad_()
    grads = []
    for backend in ("numba", "torch"):
        layer = Neuron(LIF_HARD, backend=backend, dtype=F64, **opts)
        assert layer.learned["beta"].shape == (3,)
        s = layer(x)
        grads.append((s, *torch.autograd.grad((s * torch.arange(16.0, dtype=F64).view(4, 4)).sum(), [x, *layer.learned.values()])))
    assert torch.equal(grads[0][0], grads[1][0])
    for g, r in zip(grads[0][1:], grads[1][1:]):
        torch.testing.assert_close(g, r, rtol=1e-9, atol=1e-10)
    with pytest.raises(ValueError, match="per channel"):
        Neuron(LIF_HARD, **opts)(torch.rand(10, 2, 5))


def test_state_carries_across_calls_and_time_major_checks():
    layer = Neuron(ADAPTIVE, dtype=F64)
    x = torch.rand(20, 2, 5, dtype=F64) * 0.6
    s_all, _ = layer.run(x)
    s1, state = layer.run(x[:8])
    s2, _ = layer.run(x[8:], state)
    assert torch.equal(torch.cat([s1, s2]), s_all)
    with pytest.raises(ValueError, match="2-D input"):
        layer(torch.rand(20, 5))
    assert torch.equal(Neuron(ADAPTIVE, dtype=F64, input_layout="TN")(x[:, 0]), s_all[:, 0])


def test_generated_code_is_cached_on_disk_by_the_definition_hash():
    layer = Neuron(ADAPTIVE, dtype=F64)
    layer(torch.rand(3, 1, 2, dtype=F64))
    key = layer.law.key
    files = [p.name for p in torchgen.cache_dir().glob(f"neuro_neuron_{key}_*.py")]
    assert len(files) >= 1  # the fused kernels, under the definition's hash
    src = torchgen.reference_source(layer.law)
    assert "t_b = p_beta_a*z_a + p_v_th" in src and "spike(f)" in src
    same = DiscreteNeuron(update=ADAPTIVE.update, threshold=ADAPTIVE.threshold, reset=ADAPTIVE.reset, parameters=dict(ADAPTIVE.parameters),
                          states=list(ADAPTIVE.states), name=ADAPTIVE.name)
    assert same.law.key == key
    other = DiscreteNeuron(update=ADAPTIVE.update, threshold="v > b", reset=ADAPTIVE.reset, parameters=dict(ADAPTIVE.parameters),
                           states=list(ADAPTIVE.states), name=ADAPTIVE.name)
    assert other.law.key != key


def test_custom_op_traces_under_torch_compile():
    layer = Neuron(ADAPTIVE, dtype=F64, nonfinite="ignore")
    x = torch.rand(6, 2, 5, dtype=F64) * 0.6
    compiled = torch.compile(layer, backend="aot_eager", fullgraph=True)
    xs = [x.clone().requires_grad_() for _ in range(2)]
    s_c, s = compiled(xs[0]), layer(xs[1])
    assert torch.equal(s_c, s)
    (g_c,), (g,) = torch.autograd.grad(s_c.sum(), xs[0]), torch.autograd.grad(s.sum(), xs[1])
    torch.testing.assert_close(g_c, g)


def test_custom_op_registration_opcheck():
    definition, opts, _ = CASES["adaptive"]
    layer = Neuron(definition, dtype=F64, **opts)  # the kernels of the gradient test above
    x = torch.rand(6, 10, dtype=F64, requires_grad=True)
    z0 = torch.zeros(2, 10, dtype=F64, requires_grad=True)
    scal = torch.tensor([layer._fixed.get(p, 0.9) for p in layer._scalars], dtype=F64, requires_grad=True)
    arr = torch.full((1, 10), 0.95, dtype=F64, requires_grad=True)
    torch.library.opcheck(torch.ops.neuro.neuron_multi_step.default, (x, z0, scal, arr, layer._key, 1.0, False),
                          test_utils=("test_schema", "test_autograd_registration", "test_faketensor"))


BAD = [
    (lambda: DiscreteNeuron(update="v = beta * v + x", threshold=None, parameters={"beta": 0.9}), r"has no threshold"),
    (lambda: DiscreteNeuron(update="v = beta * v + x", threshold="v > 1", reset="v = v - w", parameters={"beta": 0.9}),
     r"reset 'v = v - w': 'w' is not a state variable"),
    (lambda: DiscreteNeuron(update="v = beta * v + y", threshold="v > 1", parameters={"beta": 0.9}), r"update .*'y' is not a state"),
    (lambda: DiscreteNeuron(update="beta = 2; v = v + x", threshold="v > 1", parameters={"beta": 0.9}), r"writes the parameter 'beta'"),
    (lambda: DiscreteNeuron(update="v = v + x", threshold="v + 1", parameters={}), r"threshold 'v \+ 1'.*one comparison"),
    (lambda: DiscreteNeuron(update="v = v + x", threshold="v > 1", reset="b = 0", parameters={"b": 1.0}), r"reset 'b = 0': writes 'b' \(a parameter\)"),
    (lambda: Neuron(LIF_HARD, surrogate="sigmoidal"), r"unknown surrogate 'sigmoidal'"),
    (lambda: Neuron(DiscreteNeuron(update="v = beta * v + x", threshold="v > 1", parameters={"beta": 0.9, "gamma": 1.0}),
                    learnable=["gamma"]), r"learnable 'gamma': the law of .* does not use it"),
    (lambda: Neuron(LIF_HARD, learnable=["tau"]), r"learnable 'tau': not a parameter"),
    (lambda: Neuron(LIF_HARD, gain=2.0), r"unknown parameter\(s\) \['gain'\]"),
    (lambda: Neuron(DiscreteNeuron(update="v = beta * v + x", threshold="v > 1", parameters={"beta": None})), r"parameter 'beta' has no value"),
    (lambda: Neuron(QIF, input="I"), r"needs the time step dt"),
    (lambda: Neuron(NeuronModel("dv/dt = -v / tau : 1\ntau : second", name="leak"), dt=1.0), r"leak has no threshold"),
    (lambda: Neuron(NeuronModel("dv/dt = -v / tau : 1\ntau : second\nt_ref : second", threshold="v > 1", reset="v = 0", refractory="t_ref"),
                    dt=1.0, input="v"), r"refractory periods are not supported"),
    (lambda: Neuron(LIF_HARD, learnable={"beta": "neuron"}), r"needs the sample shape"),
]


@pytest.mark.parametrize("make,match", BAD)
def test_bad_definitions_are_named(make, match):
    with pytest.raises((DefinitionError, ValueError), match=match):
        make()
