"""examples/spiking_lm.py: the corpus is deterministic and split by docstring; a shortened --quick run trains both
models, writes result.json, the figure and the energy reports, and generates text with the recurrent form."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "examples"))
import spiking_lm  # noqa: E402


def test_corpus_is_deterministic_ascii_and_split_by_docstring():
    a, b = spiking_lm.corpus(("textwrap", "string")), spiking_lm.corpus(("textwrap", "string"))
    assert a["sha256"] == b["sha256"] and a["modules"] == ["textwrap", "string"]
    docs, _ = spiking_lm.docstrings(("textwrap", "string"))
    assert a["valid"] == "\n\n".join(docs[9::10]) + "\n"
    assert all(ord(c) < 128 for c in a["train"] + a["valid"]) and set(a["train"]) <= set(a["vocab"])
    import textwrap
    assert textwrap.dedent.__doc__.strip().splitlines()[0] in a["train"] + a["valid"]


def test_quick_run_writes_its_results(tmp_path):
    out = tmp_path / "lm"
    summary = spiking_lm.main(["--quick", "--layers", "1", "--steps", "12", "--val-windows", "4", "--generate", "16", "--out", str(out)])
    saved = json.loads((out / "result.json").read_text())
    assert saved["spikegpt"]["params"] == saved["rwkv"]["params"] == summary["spikegpt"]["params"]
    for name in ("spikegpt", "rwkv"):
        r = saved[name]
        assert len(r["train_loss"]) == 12 and r["val_perplexity"] > 1.0
        assert r["val_perplexity"] < saved["config"]["vocab_size"] * 1.05  # 12 steps already beat (or match) uniform guessing
        assert (out / f"energy_{name}.json").is_file() and r["energy_per_sample_uj_ops"] > 0
    assert saved["rwkv"]["spike_rate"] is None and 0.0 < saved["spikegpt"]["spike_rate"] < 1.0
    assert (out / "spiking_lm.png").stat().st_size > 10_000 and (out / "corpus_train.txt").is_file()
    assert saved["sample"].startswith("Return the ") and len(saved["sample"]) == len("Return the ") + 16
