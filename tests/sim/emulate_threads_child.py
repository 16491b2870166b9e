"""Child process of tests/sim/test_gpu_concurrent.py: runs a built network's GPU kernels in the threaded host emulation
(ThreadSanitizer preloaded by the parent) and writes what they computed.

    python emulate_threads_child.py IN.pkl OUT.npz

IN.pkl: ``{"s": {name: array}, "meta": {...}}`` (the arrays of ``Network._s`` and the engine's arguments). Only
``neuro.sim.engine_gpu`` is imported (not ``neuro.sim``, which pulls in torch and Numba: slow under the sanitizer).
"""

from __future__ import annotations

import pickle
import sys
import types
from pathlib import Path

import numpy as np


def _engine_module():
    import neuro

    pkg = types.ModuleType("neuro.sim")  # the package without its __init__ (only engine_gpu is needed)
    pkg.__path__ = [str(Path(neuro.__file__).parent / "sim")]
    sys.modules["neuro.sim"] = pkg
    from neuro.sim import engine_gpu

    return engine_gpu


def main(src: str, dst: str) -> None:
    with open(src, "rb") as f:
        job = pickle.load(f)
    s = types.SimpleNamespace(**job["s"])
    m = job["meta"]
    eg = _engine_module()
    dev = eg.HostEmulation(m["tgt_type"], threads=tuple(m["threads"]), sanitize=m["sanitize"], seed=m["seed_threads"],
                           defines=tuple(m["defines"]))
    engine = eg.GPUEngine(s, m["n_pops"], m["seed"], m["dt"], dev)
    engine.upload(s)
    got, spk_step, spk_idx, pop_counts, st_rows, sm_rows, events = engine.run_chunk(
        m["t0"], m["steps"], m["steps"], m["spk_cap"], m["st_every"], m["sm_every"], m["cur_t0"])
    engine.download(s)
    out = {k: getattr(s, k) for k in ("tgt", "u", "refrac", "syn_w", "elig", "elig_post", "ntr", "hist_n", "hist_step", "hist_idx")}
    np.savez(dst, got=got, spk_step=spk_step, spk_idx=spk_idx, pop_counts=pop_counts, events=events, **out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
