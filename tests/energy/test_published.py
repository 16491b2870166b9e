"""Published energy figures reproduced from published per-layer firing rates, on our own per-layer FLOPs.

Source of the rates and of the figure: Spikingformer (Zhou et al., arXiv 2304.11954), its official energy log
``energy_consumption_calculation/test_spikingformer-8-512_eg.log`` (github.com/zhouchenlin2096/Spikingformer):
for Spikingformer-8-512 on ImageNet-1K (T = 4, 224x224) it lists the input firing rate of every Conv/Linear layer
and of Q, K, V in each block, then "0.347329512 G MACs, 6.51754094076244 G ACs, Energy consumption:
7.463502601886196 mJ"; the paper and the README report 7.46 mJ. The counter behind it (the repository's
``flops_counter.py``, used by Spikformer's authors too: ZK-Zhou/spikformer issue #16) prices a layer with input
rate 100 % (the first convolution, T times; the head) as MACs, every other Conv/Linear as rate x T x FLOPs
accumulates, and the spiking self-attention as T x heads x N x d^2 x (min(r_K, r_V) + r_Q) accumulates, with
E_MAC = 4.6 pJ and E_AC = 0.9 pJ. Spikingformer-8-512 has exactly the synaptic layers of Spikformer-8-512 (it
moves the LIF neurons before the convolutions, same names, same shapes), so the log's rates price our
``spikformer("imagenet-8-512")``, whose FLOPs we count ourselves on one T = 1 forward pass.

Not reproduced here: the Spike-driven Transformer supplement's Table S1 (per-tensor rates of SDT-8-512, 4.50 mJ):
its values were not available to us in a citable text form; :func:`energy_from_rates` takes them as they are
once transcribed (the layer names of ``spike_driven_transformer("imagenet-8-512")`` follow the official code).
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from neuro.energy import energy_from_rates, estimate

# Input firing rates (%) from the Spikingformer-8-512 log: SPS convolutions 2-5, then per block (q/k/v conv, proj conv, fc1, fc2)
SPS_RATES = {"proj_conv1": 25.8312565, "proj_conv2": 15.3364436, "proj_conv3": 13.1065373, "rpe_conv": 12.9557331}
BLOCK_RATES = [(17.6595751, 29.7803004, 26.7676900, 3.28870974), (33.7953024, 30.9584658, 33.0194005, 2.96453710),
               (34.2222987, 31.4189673, 34.7303054, 2.55983278), (34.4263662, 29.0892771, 34.6611222, 1.92913754),
               (34.3272679, 20.9885448, 36.0386227, 1.42090094), (35.9286898, 16.5693003, 35.9497969, 0.952562647),
               (34.2288006, 10.6833842, 32.2695614, 0.568941609), (31.7671993, 9.47712146, 29.9233030, 1.37684836)]
# firing rates of the Q, K, V spike tensors in each block (fractions), from the same log
QKV_RATES = [(0.17230188630104062, 0.03626344770312309, 0.06957707978010177), (0.11627475060462952, 0.040295450145006184, 0.07173207724809647),
             (0.10669307922124864, 0.044414592387676234, 0.07524623577594756), (0.08188644799470902, 0.05000199048876763, 0.0768778057050705),
             (0.06365273276925086, 0.04325467040181161, 0.07054187965631485), (0.07711239219903945, 0.0311313860142231, 0.07321582739830017),
             (0.07023756886482238, 0.024202287513613703, 0.07348622434139251), (0.09727698216676713, 0.02812242347121239, 0.07954712931871415)]
PUBLISHED_MJ = 7.46  # Spikingformer-8-512, ImageNet-1K, T = 4 (paper, README, log: 7.4635)


def spikingformer_8_512_rates() -> dict[str, float | None]:
    rates: dict[str, float | None] = {f"patch_embed.{k}": v / 100 for k, v in SPS_RATES.items()}
    rates["head"] = None  # rate 100 % in the log: MACs
    for i, ((qkv, proj, fc1, fc2), (rq, rk, rv)) in enumerate(zip(BLOCK_RATES, QKV_RATES)):
        rates.update({f"block.{i}.attn.{p}_conv": qkv / 100 for p in "qkv"})
        rates.update({f"block.{i}.attn.proj_conv": proj / 100, f"block.{i}.mlp.fc1_conv": fc1 / 100, f"block.{i}.mlp.fc2_conv": fc2 / 100})
        # our SSA computes Q (K^T V) (N > d): matmul0 = K^T V, driven by the sparser of K and V; matmul1 = Q (K^T V), by Q
        rates.update({f"block.{i}.attn.matmul0": min(rk, rv), f"block.{i}.attn.matmul1": rq})
    return rates


@pytest.fixture(scope="module")
def spikformer_8_512_report():
    from neuro.nn.models import spikformer

    torch.manual_seed(0)
    model = spikformer("imagenet-8-512", time_steps=1).eval()
    return estimate(model, torch.rand(1, 1, 3, 224, 224), layout="BT")  # [B, T, C, H, W]: one sample, one step


def test_spikingformer_8_512_published_energy(spikformer_8_512_report):
    """Spikingformer-8-512 log rates on our Spikformer-8-512 FLOPs: 7.46 mJ published, within 5 % (we get it within 0.5 %)."""
    e = spikformer_8_512_report.energy_from_rates(spikingformer_8_512_rates(), time_steps=4, first_layer_once=False, strict=False)
    assert e.unmatched == [] and e.measured == []  # every rate used, every synaptic layer rated
    assert e.layer("patch_embed.proj_conv")["source"] == "mac" and e.layer("patch_embed.proj_conv")["macs"] == 4 * 3 * 64 * 9 * 224 * 224
    assert e.layer("block.0.mlp.fc1_conv")["flops"] == 512 * 2048 * 196  # the functional 1x1 convolution of the MLP is counted
    assert e.layer("block.0.attn.matmul0")["flops"] == 8 * 64 * 196 * 64
    assert e.macs == pytest.approx(0.347329512e9, rel=1e-2)  # the log's MACs (first conv x T; the head once, ours T times)
    assert e.sops == pytest.approx(6.51754094076244e9, rel=5e-3)  # the log's ACs (its FLOPs include the biases)
    assert e.per_sample_mj() == pytest.approx(PUBLISHED_MJ, rel=0.05)
    assert e.per_sample_mj() == pytest.approx(7.463502601886196, rel=5e-3)
    assert sum(e.per_step_pj) == pytest.approx(e.total_pj) and len(e.per_step_pj) == 4


def test_rates_patterns_first_layer_and_fallbacks():
    """On a small model with known FLOPs: exact names beat patterns, the first real-input layer is a MAC layer (once or T times),
    unrated spike-input layers take the default or measured rate, and strict mode refuses gaps."""
    torch.manual_seed(0)

    class Net(nn.Module):
        is_spiking = False

        def __init__(self):
            super().__init__()
            self.enc = nn.Linear(4, 6)
            self.fc1 = nn.Linear(6, 5)
            self.fc2 = nn.Linear(5, 3)

        def forward(self, x):
            s = (self.enc(x) > 0).float()
            return self.fc2((self.fc1(s) > 0).float())

    x = torch.randn(1, 2, 4)  # T = 1, B = 2
    rep = estimate(Net(), x)
    e = rep.energy_from_rates({"fc1": 0.25, "fc*": 0.5}, time_steps=4)
    assert [r["source"] for r in e.layers] == ["mac", "given", "given"]
    assert e.layer("enc")["macs"] == 24 and e.layer("fc1")["sops"] == pytest.approx(0.25 * 4 * 30) and e.layer("fc2")["sops"] == pytest.approx(0.5 * 4 * 15)
    assert e.total_pj == pytest.approx(24 * 4.6 + (30 + 30) * 0.9)
    assert rep.energy_from_rates({}, time_steps=4, first_layer_once=False).layer("enc")["macs"] == 96
    d = rep.energy_from_rates({"fc2": 0.1, "nothing.*": 0.3}, time_steps=2, default_rate=0.2)
    assert d.layer("fc1")["source"] == "default" and d.layer("fc1")["sops"] == pytest.approx(0.2 * 2 * 30) and d.unmatched == ["nothing.*"]
    assert rep.energy_from_rates({"fc1": None}, time_steps=2).layer("fc1")["macs"] == 60
    m = rep.energy_from_rates({"fc2": 0.1}, time_steps=2)
    assert m.measured == ["fc1"] and m.layer("fc1")["rate"] == pytest.approx(rep.layer("fc1").input_rate)
    with pytest.raises(ValueError, match="no rate"):
        rep.energy_from_rates({"fc2": 0.1}, time_steps=2, strict=True)
    with pytest.raises(ValueError, match=">= 0"):
        rep.energy_from_rates({"fc1": -0.1}, time_steps=2)
    with pytest.raises(ValueError, match="positive integer"):
        rep.energy_from_rates({}, time_steps=0)
    assert energy_from_rates(Net(), x, {"fc*": 0.5}, time_steps=4).total_pj == pytest.approx(24 * 4.6 + 0.5 * 4 * 45 * 0.9)


def test_sdt_8_512_layers_take_table_s1_shaped_rates():
    """The layer names of our Spike-driven Transformer-8-512 take rates laid out as the supplement's Table S1 (SPS convolutions,
    then per block the Q/K/V, projection and MLP inputs): strict pricing matches the convention's formula term by term."""
    from neuro.nn.models import spike_driven_transformer

    torch.manual_seed(0)
    rep = estimate(spike_driven_transformer("imagenet-8-512", time_steps=1).eval(), torch.rand(1, 1, 3, 224, 224), layout="BT")
    rates = {"patch_embed.proj_conv[123]": 0.2, "patch_embed.rpe_conv": 0.1, "block.*.attn.[qkv]_conv": 0.15, "block.*.attn.proj_conv": 0.3,
             "block.*.mlp.fc1_conv": 0.1, "block.*.mlp.fc2_conv": 0.05, "head": None}
    e = rep.energy_from_rates(rates, time_steps=4, strict=True)
    fl = {row["layer"]: row["flops"] for row in e.layers}
    assert fl["patch_embed.proj_conv"] == 3 * 64 * 9 * 224 * 224 and fl["block.7.mlp.fc2_conv"] == 2048 * 512 * 196
    sop = 4 * (0.2 * 3 * 512 * 256 * 9 * 56 * 56 / 4 + 0.1 * 512 * 512 * 9 * 196
               + 8 * 196 * (0.15 * 3 * 512 * 512 + 0.3 * 512 * 512 + 0.1 * 512 * 2048 + 0.05 * 2048 * 512))
    assert e.sops == pytest.approx(sop) and e.macs == pytest.approx(3 * 64 * 9 * 224 * 224 + 4 * 512 * 1000)
    assert e.total_pj == pytest.approx(4.6 * e.macs + 0.9 * e.sops)
