"""QSD-Transformer pieces: LSQ weights, multi-level spikes, layer scale, fine-grained distillation."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from neuro.nn import models as M


@pytest.mark.parametrize("bits", [2, 4, 8])
def test_lsq_weights_take_at_most_2_to_the_bits_values_per_channel(bits):
    torch.manual_seed(0)
    conv = M.QConv2d(6, 5, 3, padding=1, bits=bits).train()
    w = conv.quantized_weight()
    qn, qp = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    assert conv.weight_bits == bits
    assert math.isclose(conv.alpha[0].item(), (2 * conv.weight.abs().mean() / math.sqrt(qp)).item(), rel_tol=1e-6)
    for c in range(5):
        levels = w[c] / conv.alpha[c]
        torch.testing.assert_close(levels, levels.round(), rtol=0, atol=1e-5)  # integer multiples of the channel's step
        assert levels.min() >= qn - 1e-5 and levels.max() <= qp + 1e-5
        assert len(torch.unique(levels.round())) <= 2 ** bits


def test_lsq_conv_is_conv_with_quantized_weights_and_has_straight_through_gradients():
    torch.manual_seed(0)
    conv = M.QConv2d(4, 3, 3, padding=1, bits=4).train()
    x = torch.rand(2, 4, 8, 8)
    y = conv(x)
    torch.testing.assert_close(y, F.conv2d(x, conv.quantized_weight(), conv.bias, padding=1))
    y.square().sum().backward()
    # straight-through: weights inside the clipping range get the gradient of the quantized weight
    wq = conv.quantized_weight().detach().requires_grad_(True)
    F.conv2d(x, wq, conv.bias, padding=1).square().sum().backward()
    inside = (conv.weight / conv.alpha.view(-1, 1, 1, 1)).abs() < 7
    torch.testing.assert_close(conv.weight.grad[inside], wq.grad[inside])
    assert conv.alpha.grad is not None and conv.alpha.grad.abs().sum() > 0


def test_lsq_step_is_reinitialised_from_weights_on_first_training_pass_only():
    lin = M.QLinear(8, 4, bits=2)
    with torch.no_grad():
        lin.weight.mul_(10)
    lin.train()(torch.rand(1, 8))
    assert math.isclose(lin.alpha[1].item(), (2 * lin.weight.abs().mean()).item(), rel_tol=1e-6)  # Qp = 1 at 2 bits
    with torch.no_grad():
        lin.alpha.fill_(0.3)
    lin(torch.rand(1, 8))
    assert lin.alpha[0].item() == pytest.approx(0.3)


def test_multilevel_spike_values_and_gradient():
    sn = M.MultiLevelSpike(levels=4)
    x = torch.tensor([-0.3, 0.0, 0.1, 0.13, 0.4, 0.9, 1.0, 1.7], requires_grad=True)
    y = sn(x)
    torch.testing.assert_close(y, torch.tensor([0.0, 0.0, 0.0, 0.25, 0.5, 1.0, 1.0, 1.0]))
    y.sum().backward()
    torch.testing.assert_close(x.grad, torch.tensor([0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0]))
    att = M.MultiLevelSpike(levels=4, norm=2)  # the Q-SDSA neuron spans [0, 2]
    assert float(att(torch.tensor(5.0))) == 2.0


def test_integer_spikes_expand_to_binary_spike_trains():
    counts = torch.tensor([[0.0, 1.0], [3.0, 4.0]])
    trains = M.expand_to_binary(counts, 4)
    assert trains.shape == (4, 2, 2)
    torch.testing.assert_close(trains.sum(0), counts)
    assert set(trains.unique().tolist()) <= {0.0, 1.0}
    with pytest.raises(ValueError, match="lie in"):
        M.expand_to_binary(torch.tensor([5.0]), 4)


def _tiny_qsd(**kw):
    return M.qsd_transformer("imagenet-8M", embed_dims=(8, 16, 32, 40), num_classes=10, img_size=32, **kw)


def test_layer_scale_starts_at_1e_minus_6_and_learns():
    model = _tiny_qsd()
    scales = [p for n, p in model.named_parameters() if "layer_scale" in n]
    assert len(scales) == 2 * 8 and all(torch.all(s == 1e-6) for s in scales)
    model(torch.rand(2, 3, 32, 32)).sum().backward()
    assert all(s.grad is not None for s in scales)


def test_similarity_matrix_rows_have_unit_norm():
    g = M.similarity_matrix(torch.rand(2, 3, 5, 4))
    torch.testing.assert_close(g.norm(dim=-1), torch.ones(2, 3, 5))


def test_fine_grained_distillation_loss():
    torch.manual_seed(0)
    q, k = torch.rand(2, 2, 4, 6, 8), torch.rand(2, 2, 4, 6, 8)  # [T, B, heads, N, d]
    assert float(M.fine_grained_distillation_loss([(q, k)], [(q.mean(0), k.mean(0))])) == pytest.approx(0.0, abs=1e-6)
    # row normalisation: a teacher scaled by a constant gives the same loss
    s = (torch.rand(2, 2, 4, 6, 8) < 0.3).float().requires_grad_(True)
    l1 = M.fine_grained_distillation_loss([(s, s)], [(q.mean(0), k.mean(0))])
    l2 = M.fine_grained_distillation_loss([(s, s)], [(5 * q.mean(0), 5 * k.mean(0))])
    torch.testing.assert_close(l1, l2)
    assert l1 > 0
    l1.backward()
    assert s.grad is not None and s.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="same non-zero number"):
        M.fine_grained_distillation_loss([(q, k)], [])


def test_distillation_between_qsd_student_and_its_ann_teacher():
    torch.manual_seed(0)
    student, teacher = _tiny_qsd(), _tiny_qsd(ann=True)
    assert student.bits == 4 and teacher.bits is None
    M.record_attention(student)
    M.record_attention(teacher)
    x = torch.rand(2, 3, 32, 32)
    logits = student(x)
    with torch.no_grad():
        teacher(x)
    loss = F.cross_entropy(logits, torch.tensor([1, 2])) + M.fine_grained_distillation_loss(M.attention_qk(student), M.attention_qk(teacher))
    loss.backward()
    first_q_conv = student.block3[0].attn.q_conv[0].body[0]
    assert first_q_conv.weight.grad is not None and first_q_conv.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in teacher.parameters())
    M.record_attention(student, on=False)
    with pytest.raises(ValueError, match="no recorded"):
        M.attention_qk(student)


def test_similarity_matrix_silent_token_passes_no_gradient():
    from neuro.nn.models import similarity_matrix

    x = torch.tensor([[[1.0, 0.0, 1.0], [0.0, 0.0, 0.0], [1.0, 1.0, 0.0]]], requires_grad=True)  # token 1 is silent
    s = similarity_matrix(x)
    assert torch.equal(s[0, 1], torch.zeros(3))
    torch.testing.assert_close(s[0, 0].norm(), torch.tensor(1.0))
    (s * torch.randn_like(s)).sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().max() < 10.0
    # away from zero rows it is F.normalize of X X^T
    y = torch.randn(2, 4, 5, dtype=torch.float64)
    torch.testing.assert_close(similarity_matrix(y), torch.nn.functional.normalize(y @ y.transpose(-2, -1), dim=-1))
