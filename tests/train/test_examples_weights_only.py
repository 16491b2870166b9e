"""The examples that resume from their own checkpoints load them with ``weights_only=True``: a pickled object is refused
before any of its code runs."""

from __future__ import annotations

import pickle
import runpy
from pathlib import Path

import pytest
import torch

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
RAN: list[str] = []


def _record(what: str) -> str:
    RAN.append(what)
    return what


class Payload:
    def __reduce__(self):
        return (_record, ("code from the checkpoint ran",))


def test_digits_transformers_refuses_a_pickled_object_on_resume(tmp_path):
    train = runpy.run_path(str(EXAMPLES / "digits_transformers.py"), run_name="not_main")["train"]
    ckpt = tmp_path / "sdt.pt"
    torch.save({"epochs": 1, "dim": 8, "depth": 1, "seed": 0, "extra": Payload()}, ckpt)
    RAN.clear()
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        train("sdt", 1, 8, 1, 32, 1e-3, 0, limit=16, checkpoint=ckpt, resume=True)
    assert RAN == []


def test_qsd_distill_refuses_a_pickled_object_on_resume(tmp_path):
    main = runpy.run_path(str(EXAMPLES / "qsd_distill.py"), run_name="not_main")["main"]
    out = tmp_path / "qsd"
    out.mkdir()
    torch.save({"results": {}, "teacher": None, "extra": Payload()}, out / "checkpoint.pt")
    RAN.clear()
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        main(["--quick", "--resume", "--no-progress", "--out", str(out)])
    assert RAN == []
