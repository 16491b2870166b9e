"""``neuro train --recipe NAME --data ROOT``: a shipped recipe trained end to end on neuro.data's loaders (fixture
files), what ``--list-recipes`` says, float32 on the CPU, and ``result.json`` with ``progress=false``."""

from __future__ import annotations

import json

import pytest
import torch

from neuro.cli import main as neuro_main
from neuro.data.fixtures import make_fixture
from neuro.train.cli import class_split, describe_recipes
from neuro.train.recipes import list_recipes, load_recipe

# one epoch of a one-block, 32-wide model on 32x32 frames: a few seconds on two cores
TINY = ["--model-arg", "depth=1", "--model-arg", "embed_dim=32", "--model-arg", "img_size=32",
        "--set", "epochs=1", "--set", "warmup_epochs=0", "--set", "cooldown_epochs=0", "--set", "batch_size=11", "--set", "eval_batch_size=11",
        "--set", "device=cpu", "--set", "tensorboard=false", "--set", "progress=false"]


@pytest.fixture(scope="module")
def gesture_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    make_fixture("dvsgesture", root)  # both splits, 2 samples per class (22 each)
    return root


def test_recipe_trains_end_to_end_on_the_projects_loader(gesture_root, tmp_path, capsys):
    out = tmp_path / "run"
    rc = neuro_main(["train", "--recipe", "sdt-dvsgesture-2-256", "--data", str(gesture_root), "--out-dir", str(out), *TINY])
    captured = capsys.readouterr()
    assert rc == 0, captured.err[-3000:]
    printed = json.loads(captured.out.strip().splitlines()[-1])
    saved = json.loads((out / "result.json").read_text())  # written although progress=false
    assert saved == printed
    assert saved["epoch"] == 1 and saved["step"] == 2  # 22 training samples in batches of 11
    assert 0.0 <= saved["eval_accuracy"] <= 1.0 and saved["eval_loss"] > 0
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["amp"] is False  # the recipe says amp=true: on the CPU the run is float32 and says so
    assert cfg["extra"]["dataset"] == "dvsgesture" and cfg["extra"]["frames"] == {"n_time_bins": 16}
    assert captured.err == ""  # progress=false: no bars, no notes


def test_dataset_and_model_config_override(gesture_root, tmp_path, capsys):
    """The Spikformer CIFAR10-DVS recipe on DVS Gesture, as its note says (model_config dvsgesture-2-256); --check-only."""
    rc = neuro_main(["train", "--recipe", "spikformer-cifar10dvs", "--dataset", "dvsgesture", "--model-config", "dvsgesture-2-256",
                     "--data", str(gesture_root), "--out-dir", str(tmp_path / "run"), "--check-only", *TINY])
    captured = capsys.readouterr()
    assert rc == 0, captured.err[-3000:]
    assert json.loads(captured.out.strip().splitlines()[-1]) == {"check": "ok", "classes": 11}


def test_list_recipes_says_what_trains_on_what(capsys):
    assert neuro_main(["train", "--list-recipes"]) == 0
    out = capsys.readouterr().out
    rows = describe_recipes()
    assert [r["recipe"] for r in rows] == list_recipes()
    for r in rows:
        cfg = load_recipe(r["recipe"])
        assert (r["model"], r["model_config"], r["dataset"], r["epochs"]) == (cfg.extra["model"], cfg.extra["model_config"], cfg.extra["dataset"], cfg.epochs)
        line = next(line for line in out.splitlines() if line.split()[:1] == [r["recipe"]])
        assert line.split()[1:5] == [r["model"], r["model_config"], r["dataset"], str(r["epochs"])]
        assert r["loader"] == ("neuro.data" if r["dataset"] in ("cifar10dvs", "dvsgesture") else "--data MODULE:FACTORY")


def test_static_image_recipe_without_a_loader_says_what_to_pass(tmp_path, capsys):
    assert neuro_main(["train", "--recipe", "spikformer-cifar10", "--data", str(tmp_path), *TINY]) == 2
    err = capsys.readouterr().err
    assert "'cifar10', which neuro.data does not load" in err and "--data MODULE:FACTORY" in err
    assert neuro_main(["train", "--recipe", "sdt-dvsgesture-2-256", "--data", str(tmp_path / "absent")]) == 2
    assert "neither a data folder nor MODULE:FACTORY" in capsys.readouterr().err
    assert neuro_main(["train", "--recipe", "sdt-dvsgesture-2-256", "--model", "x:y", "--model-arg", "depth=1", "--data", str(tmp_path)]) == 2
    assert "--model-arg changes the recipe's model" in capsys.readouterr().err


def test_missing_data_names_what_goes_where(tmp_path, capsys):
    assert neuro_main(["train", "--recipe", "sdt-dvsgesture-2-256", "--data", str(tmp_path), *TINY]) == 2
    err = capsys.readouterr().err
    assert "DVS" in err and str(tmp_path) in err


class _Labelled(torch.utils.data.Dataset):
    def __init__(self, targets):
        self.targets = targets

    def __len__(self):
        return len(self.targets)

    def __getitem__(self, i):
        return torch.zeros(1), self.targets[i]


def test_class_split_keeps_the_first_fraction_of_each_class():
    ds = _Labelled([0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 2])
    train, test = class_split(ds, 0.6)
    assert train.indices == [0, 1, 2, 3, 4, 5, 10] and test.indices == [6, 7, 8, 9]  # a class of one sample trains
    with pytest.raises(ValueError, match="train_fraction"):
        class_split(ds, 1.0)
