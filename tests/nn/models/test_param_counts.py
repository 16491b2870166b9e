"""Parameter counts of every published size equal the official implementations' (built on the meta device: no memory, no time).

The exact integers are what the official model classes give for the same configuration (our
state dicts load strictly into them, see ``test_official_parity.py``); the rounded numbers in
millions are the ones the papers and issue #6 quote.
"""

from __future__ import annotations

import pytest
import torch

from neuro.nn import models as M

COUNTS = [
    # builder, config, exact count, millions as published
    ("spikformer", "cifar10-4-384", 9_330_874, 9.33),
    ("spikformer", "imagenet-8-384", 16_828_312, 16.83),
    ("spikformer", "imagenet-8-512", 29_705_768, 29.71),
    ("spikformer", "imagenet-8-768", 66_363_208, 66.36),
    ("spike_driven_transformer", "imagenet-8-384", 16_816_536, 16.82),
    ("spike_driven_transformer", "imagenet-6-512", 23_373_736, 23.37),
    ("spike_driven_transformer", "imagenet-8-512", 29_689_896, 29.69),
    ("spike_driven_transformer", "imagenet-10-512", 36_006_056, 36.01),
    ("spike_driven_transformer", "imagenet-8-768", 66_339_144, 66.34),
    ("spike_driven_transformer", "cifar10-2-512", 10_233_546, 10.23),
    ("meta_spikformer", "imagenet-15M", 15_112_208, 15.11),
    ("meta_spikformer", "imagenet-31M", 31_333_864, 31.33),
    ("meta_spikformer", "imagenet-55M", 55_350_248, 55.35),
    ("qsd_transformer", "imagenet-8M", 8_432_142, 8.43),
    ("qsd_transformer", "imagenet-15M", 15_245_862, 15.25),
    ("qsd_transformer", "imagenet-31M", 31_527_302, 31.53),
    ("qsd_transformer", "imagenet-55M", 55_607_830, 55.61),
    ("maxformer", "imagenet-10-768", 63_992_200, 63.99),
]


@pytest.mark.parametrize(("builder", "name", "exact", "millions"), COUNTS, ids=[f"{b}-{n}" for b, n, *_ in COUNTS])
def test_parameter_count(builder, name, exact, millions):
    with torch.device("meta"):
        model = getattr(M, builder)(name)
    n = M.count_parameters(model)
    assert round(n / 1e6, 2) == millions
    assert n == exact


def test_qsd_bit_width_does_not_change_the_count():
    with torch.device("meta"):
        counts = {bits: M.count_parameters(M.qsd_transformer("imagenet-8M", bits=bits)) for bits in (2, 4, 8)}
    assert len(set(counts.values())) == 1


def test_parity_only_parameters_are_frozen():
    """Parameters the official forward never uses (Spikformer's norm1/norm2, SDT's talking_heads, LSQ's activation quantizer) get no gradient."""
    with torch.device("meta"):
        models = [M.spikformer("cifar10-4-384", depth=1), M.spike_driven_transformer("cifar10-2-512", depth=1), M.qsd_transformer("imagenet-8M")]
    frozen = {n for m in models for n, p in m.named_parameters() if not p.requires_grad}
    assert frozen and all(("norm" in n) or ("talking_heads" in n) or (".act." in n) for n in frozen)
