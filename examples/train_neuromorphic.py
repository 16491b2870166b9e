"""Train a spiking transformer on a neuromorphic dataset with a published recipe.

The recipe (``neuro train --list-recipes``) gives the model, its size, the dataset, the number of
frames and every optimizer / schedule / mixing setting of the official code; the data comes through
:func:`neuro.data.load` (tonic's readers, frames cached in one HDF5 file); :class:`neuro.train.Trainer`
trains with progress bars, checkpoints atomically and resumes exactly.

    # Spike-driven Transformer on CIFAR10-DVS, Spikformer on DVS128 Gesture (the real data under --data)
    python examples/train_neuromorphic.py --recipe sdt-cifar10dvs-2-256 --data /data/neuromorphic
    python examples/train_neuromorphic.py --recipe spikformer-cifar10dvs --dataset dvsgesture --model-config dvsgesture-2-256
    python examples/train_neuromorphic.py --recipe sdt-dvsgesture-2-256 --resume        # continue the last run
    # no data at hand: format-exact generated files through the same code path, a tiny model
    python examples/train_neuromorphic.py --recipe sdt-dvsgesture-2-256 --synthetic --tiny

CIFAR10-DVS has no official split: as in the official code, the first ``train_fraction`` (90 %) of each
class trains and the rest tests. Frames are resized to the model's ``img_size`` (area interpolation)
when the sensor is larger.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset, Subset

from neuro.data import fixtures, load
from neuro.train import Trainer
from neuro.train.config import parse_override
from neuro.train.recipes import build_model, load_recipe


class Resized(Dataset):
    """Frames ``[T, C, H, W]`` resized to ``size x size`` (area interpolation), labels unchanged; optional
    random horizontal flip with probability ``hflip`` (drawn from torch's generator)."""

    def __init__(self, base, size: int, hflip: float = 0.0):
        self.base, self.size, self.hflip = base, size, hflip

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int):
        x, y = self.base[i]
        x = torch.as_tensor(x, dtype=torch.float32)
        if x.shape[-1] != self.size or x.shape[-2] != self.size:
            x = F.interpolate(x, size=(self.size, self.size), mode="area")
        if self.hflip and float(torch.rand(())) < self.hflip:
            x = x.flip(-1)
        return x, int(y)


def class_split(dataset, fraction: float) -> tuple[Subset, Subset]:
    """The first ``fraction`` of each class's samples (in file order) and the rest."""
    labels = [int(dataset[i][1]) for i in range(len(dataset))] if not hasattr(dataset, "targets") else [int(t) for t in dataset.targets]
    by_class: dict[int, list[int]] = {}
    for i, y in enumerate(labels):
        by_class.setdefault(y, []).append(i)
    train, test = [], []
    for idx in by_class.values():
        k = max(1, min(len(idx) - 1, round(len(idx) * fraction))) if len(idx) > 1 else len(idx)
        train += idx[:k]
        test += idx[k:]
    return Subset(dataset, sorted(train)), Subset(dataset, sorted(test))


def datasets(name: str, root: Path, n_bins: int, size: int, fraction: float, hflip: float, progress: bool):
    frames = dict(n_time_bins=n_bins)
    if name == "cifar10dvs":
        full = load(name, "all", root=root, frames=frames, progress=progress)
        train, test = class_split(full, fraction)
    else:
        train = load(name, "train", root=root, frames=frames, progress=progress)
        test = load(name, "test", root=root, frames=frames, progress=progress)
    return Resized(train, size, hflip), Resized(test, size)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--recipe", default="sdt-dvsgesture-2-256", help="a shipped recipe (neuro train --list-recipes) or a recipe file")
    p.add_argument("--data", type=Path, default=None, help="data root holding tonic's layout (default $NEURO_DATA or datasets/)")
    p.add_argument("--dataset", default=None, help="override the recipe's dataset (dvsgesture, cifar10dvs, nmnist)")
    p.add_argument("--model-config", default=None, help="override the recipe's model size (e.g. dvsgesture-2-256)")
    p.add_argument("--synthetic", action="store_true", help="write format-exact generated files first (no real data needed)")
    p.add_argument("--tiny", action="store_true", help="a tiny model and run (CI): depth 1, width 32, 1 epoch, batch 4, 32x32 frames")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--out", type=Path, default=Path("runs/neuromorphic"), help="run folder: checkpoints, metrics.csv, result.json")
    p.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --out")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override any TrainConfig key")
    a = p.parse_args(argv)

    overrides = dict(parse_override(s) for s in a.set)
    overrides["out_dir"] = str(a.out)
    if a.tiny:
        overrides.update(epochs=1, warmup_epochs=0, cooldown_epochs=0, batch_size=4, eval_batch_size=4, amp=False, checkpoint_every=1)
    if a.epochs is not None:
        overrides.update(epochs=a.epochs, warmup_epochs=min(1, a.epochs - 1), cooldown_epochs=0)
    cfg = load_recipe(a.recipe, overrides)
    extra = dict(cfg.extra)
    if a.dataset:
        extra["dataset"] = a.dataset
    if a.model_config:
        extra["model_config"] = a.model_config
    cfg = cfg.replace(extra=extra)
    name = extra.get("dataset")
    if name not in ("dvsgesture", "cifar10dvs", "nmnist"):
        raise SystemExit(f"recipe {a.recipe!r} trains on {name!r}; this example takes a DVS dataset (dvsgesture, cifar10dvs, nmnist)")
    model_kw = dict(depth=1, embed_dim=32, num_heads=2, img_size=32) if a.tiny else {}
    if name == "nmnist":
        model_kw.setdefault("img_size", 34)
    torch.manual_seed(cfg.seed)
    model = build_model(cfg, **model_kw)
    size = model.cfg.img_size
    n_bins = extra.get("frames", {}).get("n_time_bins", cfg.time_steps)
    if a.tiny:
        n_bins = 4

    with tempfile.TemporaryDirectory() as tmp:
        root = a.data
        if a.synthetic:
            root = root or Path(tmp)
            fixtures.make_fixture(name, root)  # 2 samples per class
        train, test = datasets(name, root, n_bins, size, extra.get("train_fraction", 0.9), float(extra.get("hflip", 0.0)), cfg.progress)
        print(f"{a.recipe}: {type(model).__name__} {extra['model_config']} on {name} ({len(train)} train / {len(test)} test samples, "
              f"{n_bins} frames of {size}x{size}); run folder {a.out}")
        result = Trainer(model, train, cfg, eval_data=test).fit(resume=a.resume)
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "result.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result))
    print(f"wrote {a.out / 'result.json'}")
    return result


if __name__ == "__main__":
    main()
