"""Tiny models and synthetic data for the trainer tests, also used as factories by subprocess runs
(``--model tests/train/toy.py:build_model --data tests/train/toy.py:build_data``)."""

from __future__ import annotations

import os
import random
import time

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset


class StraightThroughSpike(nn.Module):
    """Heaviside spikes with a straight-through gradient; a stand-in for a neuro.nn neuron."""

    is_spiking = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = (x > 0).to(x.dtype)
        return s + (x - x.detach()) * 0.5


class TinyNet(nn.Module):
    """``[B, F]`` or ``[T, B, F]`` -> logits; optionally a spiking hidden layer and dropout."""

    def __init__(self, features: int = 8, hidden: int = 16, classes: int = 3, dropout: float = 0.0, spiking: bool = False):
        super().__init__()
        self.fc1 = nn.Linear(features, hidden)
        self.act = StraightThroughSpike() if spiking else nn.Tanh()
        self.drop = nn.Dropout(dropout)
        self.fc2 = nn.Linear(hidden, classes)
        self.resets = 0

    def reset_state(self) -> None:
        self.resets += 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.drop(self.act(self.fc1(x))))


class Blobs(Dataset):
    """``n`` Gaussian blobs around ``classes`` fixed centres; ``augment`` adds noise drawn from Python's
    and NumPy's global generators (so an exact resume must restore them)."""

    def __init__(self, n: int = 96, features: int = 8, classes: int = 3, seed: int = 0, augment: bool = False, time_steps: int = 0):
        g = torch.Generator().manual_seed(seed)
        centres = torch.randn(classes, features, generator=torch.Generator().manual_seed(1234)) * 2.0
        self.y = torch.randint(0, classes, (n,), generator=g)
        self.x = centres[self.y] + torch.randn(n, features, generator=g)
        self.augment, self.time_steps = augment, time_steps
        self.delay = float(os.environ.get("NEURO_TRAIN_TEST_DELAY", "0") or 0)

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int):
        if self.delay:
            time.sleep(self.delay)
        x = self.x[i]
        if self.augment:
            x = x * random.uniform(0.9, 1.1) + torch.from_numpy(np.random.normal(0.0, 0.05, x.shape).astype(np.float32))
        if self.time_steps:
            x = x.unsqueeze(0).repeat(self.time_steps, 1)
        return x, self.y[i]


def build_model(cfg) -> TinyNet:
    e = cfg.extra
    return TinyNet(features=e.get("features", 8), dropout=e.get("dropout", 0.0), spiking=e.get("spiking", False))


def build_data(cfg):
    e = cfg.extra
    train = Blobs(n=e.get("n", 96), features=e.get("features", 8), augment=e.get("augment", False))
    return train, Blobs(n=e.get("n_eval", 30), features=e.get("features", 8), seed=1)
