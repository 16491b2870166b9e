"""Dynamic Confidence (early exit) and IIR-SNN (neuro.train.latency), and the pieces of examples/latency.py."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest
import torch
from torch import nn

from neuro.nn import LIF, repeat_encode
from neuro.train.latency import (
    calibrate_confidence,
    candidate_thresholds,
    confidence_trace,
    dynamic_confidence,
    early_exit,
    early_exit_energy,
    iir_retrain,
    iir_schedule,
    pareto_front,
    step_outputs,
    tradeoff,
)

ROOT = Path(__file__).resolve().parents[2]


class PerStepNet(nn.Module):
    """[T, B, F] -> Linear -> LIF -> Linear: per-step logits [T, B, C]."""

    def __init__(self, f=6, h=16, c=4):
        super().__init__()
        self.fc1, self.lif, self.fc2 = nn.Linear(f, h), LIF(tau=2.0), nn.Linear(h, c)

    def forward(self, x):
        return self.fc2(self.lif(self.fc1(x)))


class MeanReadout(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net(x).mean(0)


def _net(seed=0):
    torch.manual_seed(seed)
    net = PerStepNet()
    with torch.no_grad():
        net.fc1.weight.mul_(4.0)  # fire from the first steps
    return net


def _outputs(seed=0, t=7, b=64, c=5):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(t, b, c, generator=g).cumsum(0) / torch.arange(1, t + 1).view(-1, 1, 1)


# ------------------------------------------------------------------------------------------- early exit
@pytest.mark.parametrize("threshold", [0.0, 0.3, 0.6, 0.9, 0.99, 1.0])
def test_sample_stops_exactly_when_its_confidence_first_passes_the_threshold(threshold):
    out = _outputs()
    conf = confidence_trace(out, scale=1.0)
    r = early_exit(out, threshold)
    t_max = out.shape[0]
    assert int(r.steps.min()) >= 1 and int(r.steps.max()) <= t_max  # never more than T steps
    for i, s in enumerate(r.steps.tolist()):
        assert bool((conf[: s - 1, i] <= threshold).all()), "stopped late: an earlier step already passed"
        assert s == t_max or float(conf[s - 1, i]) > threshold, "stopped before the confidence passed the threshold"
        assert int(r.predictions[i]) == int(out[s - 1, i].argmax())
        assert float(r.confidence[i]) == float(conf[s - 1, i])
    if threshold == 1.0:
        assert bool((r.steps == t_max).all())
    if threshold == 0.0:
        assert bool((r.steps == 1).all())  # a softmax maximum is at least 1 / C > 0


def test_confidence_is_the_softmax_of_the_accumulated_output_over_the_scale():
    out = _outputs(t=4, b=3, c=5)
    s = out * torch.arange(1, 5).view(-1, 1, 1)  # running sums from running means
    torch.testing.assert_close(confidence_trace(out, scale=30.0), torch.softmax(s / 30.0, -1).amax(-1))
    torch.testing.assert_close(confidence_trace(out, scale=2.0, accumulate=False), torch.softmax(out / 2.0, -1).amax(-1))


def test_higher_thresholds_give_no_fewer_steps_per_sample():
    out = _outputs(seed=3)
    ths = [0.0, 0.25, 0.4, 0.55, 0.7, 0.85, 0.95, 1.0]
    steps = [early_exit(out, th).steps for th in ths]
    for lo, hi in zip(steps, steps[1:]):
        assert bool((hi >= lo).all())
    assert float(steps[-1].float().mean()) > float(steps[0].float().mean())


def test_accuracy_is_not_monotone_in_the_threshold_so_the_calibration_searches_all():
    # sample 0: confident and right at step 1, wrong from step 2 on; sample 1: right throughout
    out = torch.tensor([[[3.0, 0.0], [2.0, 0.0]], [[-1.0, 0.0], [2.0, 0.0]], [[-1.0, 0.0], [2.0, 0.0]]])
    y = torch.tensor([0, 0])
    low, high = early_exit(out, 0.9), early_exit(out, 0.99)
    assert low.mean_steps() < high.mean_steps() and low.accuracy(y) == 1.0 and high.accuracy(y) == 0.5
    cal = calibrate_confidence(out, y, max_accuracy_drop=0.0, thresholds=[0.9, 0.99, 1.0])
    assert cal.full_accuracy == 0.5 and cal.threshold == 0.9 and cal.accuracy == 1.0


@pytest.mark.parametrize("drop", [0.0, 0.02, 0.1])
def test_calibration_meets_the_accuracy_bound_with_the_fewest_steps(drop):
    g = torch.Generator().manual_seed(1)
    y = torch.randint(0, 5, (200,), generator=g)
    # evidence for the true class grows with time, at a per-sample rate
    rate = torch.rand(200, generator=g).view(1, -1, 1)
    t = torch.arange(1, 9).view(-1, 1, 1).float()
    out = torch.randn(8, 200, 5, generator=g) * 2 / t.sqrt() + 3 * rate * nn.functional.one_hot(y, 5).float()
    cal = calibrate_confidence(out, y, max_accuracy_drop=drop)
    assert cal.accuracy >= cal.full_accuracy - drop - 1e-12
    c = cal.curve
    feasible = [s for s, a in zip(c["mean_steps"], c["accuracy"]) if a >= cal.full_accuracy - drop - 1e-12]
    assert cal.mean_steps == min(feasible)
    assert cal.mean_steps < 8  # it does stop early on this data
    front = sorted({(s, a) for s, a, p in zip(c["mean_steps"], c["accuracy"], c["pareto"]) if p})
    assert all(a2 > a1 for (_, a1), (_, a2) in zip(front, front[1:]))  # along the front, more steps buy accuracy
    r = tradeoff(out, y, [cal.threshold])
    assert r["accuracy"] == [cal.accuracy] and r["mean_steps"] == [cal.mean_steps]


def test_pareto_front_and_candidates():
    assert pareto_front([1, 2, 2, 3], [0.5, 0.7, 0.6, 0.7]) == [True, True, False, False]
    cands = candidate_thresholds(_outputs(), n=10)
    assert cands[0] == 0.0 and cands[-1] == 1.0 and cands == sorted(cands)


# ------------------------------------------------------------------------------------------- models
def test_step_outputs_of_a_readout_equal_the_running_mean_of_per_step_logits_and_prefix_runs():
    net = _net()
    x = torch.rand(6, 5, 6)
    per_step = step_outputs(net, x)
    readout = step_outputs(MeanReadout(net), x)
    torch.testing.assert_close(per_step, readout, rtol=1e-5, atol=1e-6)
    with torch.no_grad():
        for t in (1, 3, 6):
            torch.testing.assert_close(readout[t - 1], net(x[:t]).mean(0), rtol=1e-5, atol=1e-6)


def test_dynamic_confidence_predicts_what_the_model_says_when_run_only_to_the_stop_step():
    net = MeanReadout(_net(seed=2))
    x = torch.rand(8, 12, 6)
    r = dynamic_confidence(net, x, threshold=0.4)
    assert r.time_steps == 8 and 1 < r.mean_steps() < 8  # some stop early, some not at step 1
    with torch.no_grad():
        for i, s in enumerate(r.steps.tolist()):
            assert int(r.predictions[i]) == int(net(x[:s, i: i + 1]).argmax(-1))


def test_early_exit_energy_charges_each_sample_its_own_steps():
    from neuro.energy import estimate

    net = _net()
    net.eval()
    x = (torch.rand(6, 8, 6) < 0.5).float()
    with torch.no_grad():
        full = estimate(net, x, warn_silent=False).per_sample_mj()
        first = estimate(net, x[:1], warn_silent=False).per_sample_mj()
        e_a = estimate(net, x[:2, :3], warn_silent=False).per_sample_mj()
        e_b = estimate(net, x[:, 3:], warn_silent=False).per_sample_mj()
    assert early_exit_energy(net, x, torch.full((8,), 6))["per_sample_mj"] == pytest.approx(full, rel=1e-9)
    assert early_exit_energy(net, x, torch.ones(8, dtype=torch.long))["per_sample_mj"] == pytest.approx(first, rel=1e-9)
    mixed = early_exit_energy(net, x, torch.tensor([2, 2, 2, 6, 6, 6, 6, 6]))
    assert mixed["per_sample_mj"] == pytest.approx((3 * e_a + 5 * e_b) / 8, rel=1e-9)
    assert first < mixed["per_sample_mj"] < full == pytest.approx(mixed["full_per_sample_mj"])


def test_bad_inputs_name_the_argument():
    out = _outputs()
    with pytest.raises(ValueError, match="threshold must be in"):
        early_exit(out, 1.5)
    with pytest.raises(ValueError, match=r"outputs must be \[T, B, C\]"):
        early_exit(out[0], 0.5)
    with pytest.raises(ValueError, match="scale must be > 0"):
        confidence_trace(out, scale=0.0)
    with pytest.raises(ValueError, match="max_accuracy_drop"):
        calibrate_confidence(out, torch.zeros(64, dtype=torch.long), max_accuracy_drop=-0.1)
    with pytest.raises(ValueError, match="targets must have shape"):
        tradeoff(out, torch.zeros(3, dtype=torch.long), [0.5])
    net = _net()
    with pytest.raises(ValueError, match=r"x must be a \[T, B, \.\.\.\] tensor"):
        step_outputs(net, torch.rand(6))
    with pytest.raises(ValueError, match="must return per-step logits"):
        step_outputs(lambda_module(lambda x: x.sum()), torch.rand(3, 2, 6))
    with pytest.raises(ValueError, match=r"steps must lie in 1\.\.6"):
        early_exit_energy(net, torch.rand(6, 2, 6), torch.tensor([0, 3]))


def lambda_module(fn):
    class _M(nn.Module):
        def forward(self, x):
            return fn(x)

    return _M()


# ------------------------------------------------------------------------------------------- IIR-SNN
def test_iir_schedule():
    assert iir_schedule(5) == [5, 4, 3, 2, 1]  # the paper's
    assert iir_schedule(6, 1, 2) == [6, 4, 2, 1]
    assert iir_schedule(1) == [1]
    with pytest.raises(ValueError, match="t_end must be <= t_start"):
        iir_schedule(2, 3)
    with pytest.raises(ValueError, match="step must be a positive integer"):
        iir_schedule(5, 1, 0)
    with pytest.raises(ValueError, match="strictly decreasing"):
        iir_retrain(_net(), lambda m, t: {}, [3, 3, 1])


def test_iir_each_stage_starts_from_the_previous_stage_and_leaves_the_model_alone():
    net = _net()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    seen = []

    def fit(m, t):
        seen.append((t, {k: v.clone() for k, v in m.state_dict().items()}))
        with torch.no_grad():
            m.fc2.bias.add_(float(t))  # "training" that leaves a mark per stage
        return {"t": t}

    stages = iir_retrain(net, fit, [3, 2, 1], progress=False)
    assert [s.time_steps for s in stages] == [3, 2, 1] and [s.metrics["t"] for s in stages] == [3, 2, 1]
    for k, v in net.state_dict().items():
        torch.testing.assert_close(v, before[k])
    torch.testing.assert_close(seen[0][1]["fc2.bias"], before["fc2.bias"])
    for (_, start), prev in zip(seen[1:], stages):  # stage k starts where stage k - 1 ended
        torch.testing.assert_close(start["fc2.bias"], prev.model.fc2.bias.detach())
    torch.testing.assert_close(stages[-1].model.fc2.bias.detach(), before["fc2.bias"] + 6.0)


def test_iir_at_one_step_beats_the_untrained_network_on_digits_by_half():
    from neuro.demo import DigitsSNN, load_digits_split

    xtr, ytr, xte, yte = load_digits_split(0)
    xtr, ytr = xtr[:600], ytr[:600]
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    model = DigitsSNN(32, 2.0)

    def acc(m, t):
        with torch.no_grad():
            return float((m(repeat_encode(xte, t)).argmax(1) == yte).float().mean())

    untrained = acc(model, 1)

    def fit(m, t):
        opt = torch.optim.Adam(m.parameters(), lr=5e-3)
        for _ in range(3 if t == 3 else 1):
            perm = torch.randperm(len(xtr), generator=g)
            for i in range(0, len(perm), 50):
                idx = perm[i: i + 50]
                loss = nn.functional.cross_entropy(m(repeat_encode(xtr[idx], t)), ytr[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
        return {"accuracy": acc(m, t)}

    stages = iir_retrain(model, fit, iir_schedule(3), progress=False)
    t1 = stages[-1].metrics["accuracy"]
    assert untrained < 0.25
    assert t1 >= untrained + 0.5, (untrained, [s.metrics for s in stages])


# ------------------------------------------------------------------------------------------- the example's DVS fixture
def test_example_gesture_fixture_reads_back_through_neuro_data(tmp_path):
    ex = runpy.run_path(str(ROOT / "examples" / "latency.py"), run_name="not_main")
    ex["write_gesture_fixture"](tmp_path, per_class=2, seed=0)
    x, y, paths = ex["load_gesture_frames"](tmp_path, "train", 4, 8)
    assert x.shape == (4, 22, 2, 16, 16) and sorted(y.tolist()) == sorted(list(range(11)) * 2)
    assert paths == sorted(paths) and all(int(Path(p).stem) == int(lbl) for p, lbl in zip(paths, y))
    assert float(x.sum()) == pytest.approx(22 * 1200)  # every event in a frame
    x2, y2, _ = ex["load_gesture_frames"](tmp_path, "test", 4, 8)
    assert x2.shape[1] == 11 and sorted(y2.tolist()) == list(range(11))
