"""Rewrite ``official_outputs.json`` from the official implementations (not a test; run by hand).

    python tests/nn/models/regenerate_official_outputs.py OFFICIAL_DIR

``OFFICIAL_DIR`` holds checkouts of the official repositories (not redistributed here):
``spikformer`` (github.com/ZK-Zhou/spikformer), ``Spike-Driven-Transformer``,
``Spike-Driven-Transformer-V2`` (github.com/BICLab), ``QSD-Transformer``
(github.com/bollossom/QSD-Transformer) and ``MaxFormer`` (github.com/bic-L/MaxFormer). Their old
dependencies are stood in for by small shims: ``spikingjelly.clock_driven``'s ``MultiStepLIFNode``
by SpikingJelly 2's ``LIFNode(step_mode="m")`` (same equations), timm's helpers by torch ones.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
import types
from pathlib import Path

import torch
from torch import nn

HERE = Path(__file__).parent


def _install_shims() -> None:
    from spikingjelly.activation_based import neuron, surrogate

    def module(name, **attrs):
        m = types.ModuleType(name)
        m.__dict__.update(attrs)
        sys.modules[name] = m
        return m

    class DropPath(nn.Identity):
        def __init__(self, *args, **kwargs):
            super().__init__()

    def multistep_lif(tau=2.0, v_threshold=1.0, detach_reset=False, backend=None, **kwargs):
        return neuron.LIFNode(tau=tau, v_threshold=v_threshold, detach_reset=detach_reset, step_mode="m", surrogate_function=surrogate.Sigmoid())

    module("timm")
    module("timm.models", register_model=lambda f: f, create_model=None)
    module("timm.models.layers", to_2tuple=lambda x: x if isinstance(x, tuple) else (x, x), trunc_normal_=nn.init.trunc_normal_, DropPath=DropPath)
    module("timm.models.registry", register_model=lambda f: f)
    module("timm.models.vision_transformer", _cfg=lambda *a, **k: {})
    module("timm.data", IMAGENET_DEFAULT_MEAN=None, IMAGENET_DEFAULT_STD=None)
    for name in ("torchinfo", "einops", "einops.layers"):
        module(name)
    module("einops.layers.torch", Rearrange=None)
    module("spikingjelly.clock_driven", layer=module("spikingjelly.clock_driven.layer"))
    module("spikingjelly.clock_driven.neuron", MultiStepLIFNode=multistep_lif, MultiStepParametricLIFNode=None, surrogate=None)
    module("spikingjelly.clock_driven.surrogate")


_LOCAL_NAMES = ("model", "models", "module", "mixer_hub", "embedding_hub", "quan_w", "_quan_base_plus", "max_former")


def _load(folder: Path, name: str):
    for key in list(sys.modules):
        if key.split(".")[0] in _LOCAL_NAMES:
            del sys.modules[key]
    sys.path.insert(0, str(folder))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.pop(0)


def official_model(case: str, root: Path) -> nn.Module:
    """The official model class of ``case`` with the same hyper-parameters as ``CASES[case]``."""
    sp, sdt, v2 = root / "spikformer", root / "Spike-Driven-Transformer", root / "Spike-Driven-Transformer-V2" / "classification"
    common = dict(patch_size=16, mlp_ratios=4, qkv_bias=False, sr_ratios=1)
    if case == "spikformer-cifar":
        return _load(sp / "cifar10", "model").Spikformer(img_size_h=32, img_size_w=32, in_channels=3, num_classes=10, embed_dims=32, num_heads=4,
                                                         depths=1, T=2, **common)
    if case == "spikformer-imagenet":
        return _load(sp / "imagenet", "model").Spikformer(img_size_h=64, img_size_w=64, in_channels=3, num_classes=10, embed_dims=32, num_heads=4,
                                                          depths=1, **common)
    if case == "spikformer-dvs":
        return _load(sp / "cifar10dvs", "model").Spikformer(img_size_h=128, img_size_w=128, in_channels=2, num_classes=10, embed_dims=32,
                                                            num_heads=4, depths=1, **common)
    if case.startswith("sdt-"):
        pool, img, dvs = {"sdt-cifar": ("0011", 32, False), "sdt-imagenet": ("1111", 64, False), "sdt-cifar10dvs": ("0011", 32, True)}[case]
        cls = _load(sdt, "model.spikeformer").SpikeDrivenTransformer
        return cls(img_size_h=img, img_size_w=img, in_channels=2 if dvs else 3, num_classes=10, embed_dims=32, num_heads=4, depths=1,
                   T=10 if dvs else 2, pooling_stat=pool, dvs_mode=dvs, TET=dvs, **common)
    if case in ("meta-spikformer", "qsd"):
        folder = v2 if case == "meta-spikformer" else root / "QSD-Transformer" / "classification"
        m = _load(folder, "models").Spiking_vit_MetaFormer(img_size_h=32, img_size_w=32, embed_dim=[8, 16, 32, 40], num_heads=8, mlp_ratios=4,
                                                           in_channels=3, num_classes=10, depths=8, sr_ratios=1)
        m.T = 2
        return m
    folder, kw = {"maxformer-cifar": ("cifar10-100", dict(embed_dims=32, in_channels=3, num_classes=10, T=2)),
                  "maxformer-imagenet": ("imagenet", dict(embed_dims=64, in_channels=3, num_classes=10, T=2)),
                  "maxformer-event": ("event", dict(embed_dims=32, in_channels=2, num_classes=11, mlp_ratios=1.0))}[case]
    kw.setdefault("mlp_ratios", 4)
    return _load(root / "MaxFormer" / folder, "max_former").Max_Former(**kw)


def main(root: Path) -> None:
    _install_shims()
    from spikingjelly.activation_based import functional

    spec = importlib.util.spec_from_file_location("official_parity", HERE / "test_official_parity.py")
    tests = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tests)
    out = {}
    for case in tests.CASES:
        ours = tests.build(case)
        off = official_model(case, root)
        off.load_state_dict(ours.state_dict(), strict=True)
        x = tests.make_input(case)
        record = {"checksum": tests.param_checksum(ours)}
        for mode in ("eval", "train"):
            off.train(mode == "train")
            functional.reset_net(off)
            with torch.no_grad():
                y = off(x)
            y = y[0] if isinstance(y, tuple) else y
            record[mode] = y.tolist()
        out[case] = record
        print(case, "max |logit|", max(abs(v) for v in torch.tensor(record["eval"]).flatten().tolist()))
    (HERE / "official_outputs.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    main(Path(sys.argv[1]))
