"""Forward/backward at tiny sizes: static images (direct encoding) and 2-polarity event frames; input checks; attention equations."""

from __future__ import annotations

from functools import partial

import pytest
import torch

from neuro.nn import models as M

LIF = partial(M.make_lif, backend="torch")  # the reference LIF: no JIT warm-up at these sizes

TINY = {
    "spikformer-cifar": lambda **k: M.spikformer("cifar10-4-384", embed_dim=32, num_heads=4, depth=1, neuron=LIF, **k),
    "spikformer-imagenet": lambda **k: M.spikformer("imagenet-8-384", embed_dim=32, num_heads=4, depth=1, num_classes=10, img_size=32, neuron=LIF, **k),
    "sdt": lambda **k: M.spike_driven_transformer("cifar10-2-512", embed_dim=32, num_heads=4, depth=1, neuron=LIF, **k),
    "sdt-dvs": lambda **k: M.spike_driven_transformer("cifar10-2-512", embed_dim=32, num_heads=4, depth=1, dvs=True, neuron=LIF, **k),
    "meta-spikformer": lambda **k: M.meta_spikformer("imagenet-15M", embed_dims=(8, 16, 32, 40), num_classes=10, img_size=32, neuron=LIF, **k),
    "qsd": lambda **k: M.qsd_transformer("imagenet-8M", embed_dims=(8, 16, 32, 40), num_classes=10, img_size=32, **k),
    "maxformer-cifar": lambda **k: M.maxformer("cifar10-4-384", embed_dim=32, img_size=16, neuron=LIF, **k),
    "maxformer-imagenet": lambda **k: M.maxformer("imagenet-10-384", embed_dim=64, num_classes=10, img_size=32, neuron=LIF, **k),
}


@pytest.mark.parametrize("name", sorted(TINY))
def test_static_images_forward_backward(name):
    torch.manual_seed(0)
    model = TINY[name](time_steps=2)
    size = model.cfg.img_size
    x = torch.rand(3, 3, size, size, requires_grad=True)
    y = model(x)
    assert y.shape == (3, 10)
    torch.nn.functional.cross_entropy(y, torch.tensor([0, 1, 2])).backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    for n, p in model.named_parameters():
        if p.requires_grad:  # every trainable parameter is used (DDP needs no find_unused_parameters)
            assert p.grad is not None, f"{n} got no gradient"
            assert torch.isfinite(p.grad).all(), n


@pytest.mark.parametrize("name", ["spikformer-cifar", "sdt", "maxformer-cifar"])
def test_direct_encoding_equals_repeated_frames(name):
    torch.manual_seed(0)
    model = TINY[name](time_steps=3).eval()
    x = torch.rand(2, 3, model.cfg.img_size, model.cfg.img_size)
    torch.testing.assert_close(model(x), model(x[:, None].repeat(1, 3, 1, 1, 1)), rtol=0, atol=0)


@pytest.mark.parametrize(("build", "size"), [
    (lambda: M.spikformer("cifar10dvs-2-256", embed_dim=32, num_heads=4, depth=1, img_size=64, neuron=LIF), 64),
    (lambda: M.spike_driven_transformer("dvsgesture-2-256", embed_dim=32, num_heads=4, depth=1, img_size=64, neuron=LIF), 64),
    (lambda: M.maxformer("dvsgesture-2-256", embed_dim=32, img_size=64, neuron=LIF), 64),
    (lambda: M.meta_spikformer("imagenet-15M", embed_dims=(8, 16, 32, 40), in_channels=2, num_classes=11, img_size=64, neuron=LIF), 64),
], ids=["spikformer", "sdt", "maxformer", "meta-spikformer"])
def test_event_frames_forward_backward(build, size):
    torch.manual_seed(0)
    model = build()
    frames = (torch.rand(2, 4, 2, size, size) < 0.1).float()  # [B, T, polarity, H, W]
    y = model(frames)
    assert y.shape == (2, model.cfg.num_classes)
    y.sum().backward()
    first = next(p for p in model.parameters() if p.requires_grad)
    assert first.grad is not None and first.grad.abs().sum() > 0


def test_tet_returns_per_step_logits():
    model = M.spike_driven_transformer("cifar10dvs-2-256", embed_dim=32, num_heads=4, depth=1, img_size=32, neuron=LIF)
    assert model((torch.rand(2, 5, 2, 32, 32) < 0.2).float()).shape == (5, 2, 10)


def test_kd_head():
    model = TINY["meta-spikformer"](kd_head=True)
    x = torch.rand(2, 3, 32, 32)
    y, y_kd = model.forward_heads(x)
    torch.testing.assert_close(model(x), (y + y_kd) / 2)
    with pytest.raises(ValueError, match="kd_head"):
        TINY["meta-spikformer"]().forward_heads(x)


def test_every_neuron_is_marked_spiking():
    model = TINY["spikformer-cifar"]()
    lifs = [m for m in model.modules() if getattr(m, "is_spiking", False)]
    assert len(lifs) == 5 + 7  # SPS: 4 stages + RPE; block: q, k, v, attention, projection, 2 MLP
    assert all(type(m).__name__ == "LIF" for m in lifs)


def test_neuron_factory_builds_every_spiking_layer():
    calls = []

    def factory(**kw):
        calls.append(kw.get("v_threshold", 1.0))
        return M.make_lif(backend="torch", **kw)

    M.spike_driven_transformer("cifar10-2-512", embed_dim=32, num_heads=4, depth=2, neuron=factory)
    # stem 4, per block: shortcut + q k v + talking-heads (0.5) + 2 MLP = 7, head 1
    assert len(calls) == 4 + 2 * 7 + 1
    assert calls.count(0.5) == 2


@pytest.mark.parametrize(("img", "dim", "heads"), [(32, 32, 4), (16, 64, 2)], ids=["N>d", "N<=d"])
def test_spikformer_attention_is_qkTv_scaled(img, dim, heads):
    """The attention LIF sees exactly 0.125 * Q K^T V of the q, k, v spikes (either multiplication order)."""
    torch.manual_seed(1)
    model = M.spikformer("cifar10-4-384", embed_dim=dim, num_heads=heads, depth=1, img_size=img, neuron=LIF).train()
    attn = model.block[0].attn
    seen = {}
    for p in ("q", "k", "v"):
        getattr(attn, f"{p}_lif").register_forward_hook(lambda m, i, o, p=p: seen.__setitem__(p, o))
    attn.attn_lif.register_forward_hook(lambda m, i, o: seen.__setitem__("in", i[0]))
    model(torch.rand(2, 3, img, img))
    t, b, c, n = seen["q"].shape
    q, k, v = (seen[p].reshape(t, b, heads, c // heads, n).transpose(-1, -2) for p in "qkv")
    want = ((q @ k.transpose(-2, -1)) @ v * 0.125).transpose(-1, -2).reshape(t, b, c, n)
    assert set(torch.unique(q).tolist()) <= {0.0, 1.0}
    torch.testing.assert_close(seen["in"], want, rtol=0, atol=0)


def test_sdsa_masks_q_with_the_spiking_column_sum_of_k_times_v():
    torch.manual_seed(2)
    model = TINY["sdt"]().train()
    attn = model.block[0].attn
    seen = {}
    for p in ("q", "k", "v"):
        getattr(attn, f"{p}_lif").register_forward_hook(lambda m, i, o, p=p: seen.__setitem__(p, o))
    def keep(module, inputs, output):
        seen["in"], seen["out"] = inputs[0], output

    attn.talking_heads_lif.register_forward_hook(keep)
    attn.proj_conv.register_forward_hook(lambda m, i, o: seen.__setitem__("proj_in", i[0]))
    model(torch.rand(2, 3, 32, 32))
    t, b, c, h, w = seen["q"].shape
    q, k, v = (seen[p].reshape(t, b, 4, c // 4, h * w).transpose(-1, -2) for p in "qkv")
    torch.testing.assert_close(seen["in"], (k * v).sum(-2, keepdim=True), rtol=0, atol=0)
    y = (q * seen["out"]).transpose(-1, -2).reshape(t * b, c, h, w)
    torch.testing.assert_close(seen["proj_in"], y, rtol=0, atol=0)


@pytest.mark.parametrize(("bad", "match"), [
    (lambda: TINY["sdt"]()(torch.rand(2, 1, 32, 32)), "3 input channels"),
    (lambda: TINY["sdt"]()(torch.rand(3, 32, 32)), r"\[B, C, H, W\]"),
    (lambda: M.spikformer("cifar10-4-384", embed_dim=100), "divisible"),
    (lambda: M.spikformer("cifar10-4-384", img_size=30), "img_size"),
    (lambda: M.spikformer("cifar10-4-385"), "unknown Spikformer config"),
    (lambda: M.spike_driven_transformer("cifar10-2-512", pooling="01"), "pooling"),
    (lambda: M.meta_spikformer("imagenet-15M", depth=1), "depth"),
    (lambda: M.maxformer("cifar10-4-384", variant="video"), "variant"),
    (lambda: M.qsd_transformer("imagenet-8M", bits=1), "bits"),
    (lambda: M.qsd_transformer("imagenet-8M", levels=3), "levels"),
])
def test_bad_input_is_a_clear_error(bad, match):
    with pytest.raises(ValueError, match=match):
        bad()
