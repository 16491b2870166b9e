"""Helpers for the trainer tests: the toy factories module, loaded by path (tests are not a package)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

TOY_PATH = Path(__file__).with_name("toy.py")


def _load_toy():
    if "toy" not in sys.modules:
        spec = importlib.util.spec_from_file_location("toy", TOY_PATH)
        module = importlib.util.module_from_spec(spec)
        sys.modules["toy"] = module
        spec.loader.exec_module(module)
    return sys.modules["toy"]


@pytest.fixture
def toy():
    return _load_toy()
