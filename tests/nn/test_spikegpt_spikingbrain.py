"""The SpikingBrain-style block (neuro.nn.models.spikingbrain): adaptive spike counts, ternary spike trains, causal
linear attention whose recurrent form equals its parallel form, gradients."""

from __future__ import annotations

import pytest
import torch

from neuro.nn.models.spikingbrain import AdaptiveSpikeCount, SpikingBrainBlock, SpikingLinearAttention, ternary_spike_train


def test_adaptive_counts_follow_the_input_scale():
    x = torch.tensor([[0.1, -0.2, 0.4, 0.0], [10.0, -20.0, 40.0, 0.0]])
    neuron = AdaptiveSpikeCount(k=2.0, max_count=8)
    s = neuron(x)
    torch.testing.assert_close(s[0], s[1])                  # the threshold scales with the token: same counts
    theta = x.abs().mean(-1, keepdim=True) / 2.0
    torch.testing.assert_close(s, torch.round(x / theta).clamp(-8, 8))
    assert torch.equal(s[0], torch.tensor([1.0, -2.0, 5.0, 0.0]))   # theta = 0.175 / 2: 1.14, -2.29, 4.57, 0
    assert float((neuron.threshold(x) * s - x).abs().max() / theta.max()) <= 0.5   # within half a threshold
    assert AdaptiveSpikeCount(signed=False)(x).min() == 0
    assert AdaptiveSpikeCount(k=100.0, max_count=3)(x).abs().max() == 3           # clipped at D


def test_ternary_train_sums_back_to_the_counts():
    counts = torch.tensor([[3.0, -2.0, 0.0], [-4.0, 1.0, 2.0]])
    train = ternary_spike_train(counts)
    assert train.shape == (4, 2, 3) and set(train.unique().tolist()) <= {-1.0, 0.0, 1.0}
    torch.testing.assert_close(train.sum(0), counts)
    with pytest.raises(ValueError, match="integer-valued"):
        ternary_spike_train(torch.tensor([0.5]))
    with pytest.raises(ValueError, match="steps must be >= the largest \\|count\\| \\(4\\), got 2"):
        ternary_spike_train(counts, steps=2)


def test_recurrent_form_equals_parallel_form():
    torch.manual_seed(0)
    block = SpikingBrainBlock(dim=16, heads=4).double()
    x = torch.randn(3, 23, 16, dtype=torch.float64)
    with torch.no_grad():
        parallel = block(x)
        state, steps = None, []
        for t in range(x.shape[1]):
            y, state = block.step(x[:, t], state)
            steps.append(y)
    torch.testing.assert_close(torch.stack(steps, 1), parallel, rtol=1e-10, atol=1e-10)
    assert state[0].shape == (3, 4, 4, 4) and state[1].shape == (3, 4, 4)   # constant in the text length


def test_attention_is_causal_and_gradients_flow():
    torch.manual_seed(1)
    attn = SpikingLinearAttention(dim=8, heads=2)
    x = torch.randn(2, 10, 8, requires_grad=True)
    y = attn(x)
    y[:, 4].sum().backward()
    assert x.grad[:, 5:].abs().sum() == 0 and x.grad[:, :5].abs().sum() > 0   # no token sees the future
    for name, p in attn.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    with pytest.raises(ValueError, match="dim must be divisible by heads, got dim=10, heads=4"):
        SpikingLinearAttention(10, 4)
