"""A tour of the neuromorphic datasets: load each one and look at it (rasters, frame grids, an animation).

For every dataset of :mod:`neuro.data` (SHD, SSC, DVS128 Gesture, N-MNIST, CIFAR10-DVS) the script loads one
split through :func:`neuro.data.load` (tonic's readers), prints what a sample is (events, fields, duration,
sensor, label), and draws it with :mod:`neuro.viz.events`:

* audio (SHD, SSC): a spike raster (channel vs time) of a few samples, and the same samples binned into frames;
* vision (DVS Gesture, N-MNIST, CIFAR10-DVS): a grid of frames (ON events red, OFF blue) and an animated GIF.

    python examples/datasets_tour.py --data /data/neuromorphic           # the real files (tonic's layout under PATH)
    python examples/datasets_tour.py --synthetic                         # format-exact generated files, no download
    python examples/datasets_tour.py --synthetic --datasets shd nmnist   # a subset

A dataset whose files are missing is skipped with the message of :class:`neuro.data.DataMissingError` (which
file to put where). Writes ``--out``/<name>_raster.png or <name>_frames.png + <name>.gif, and tour.json. With
``--synthetic`` every title says the data are generated fixture data (random events in the dataset's format), not
recordings.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from neuro.data import fixtures, load
from neuro.data.specs import SPECS
from neuro.viz.events import animate_frames, frame_grid, raster

AUDIO = ("shd", "ssc")


def split_of(name: str) -> str:
    return "all" if name == "cifar10dvs" else "test"


def describe(events: np.ndarray) -> dict:
    t = events["t"].astype(np.float64)
    return {"events": int(len(events)), "fields": list(events.dtype.names), "duration_ms": round(float(t.max() - t.min()) / 1e3, 2) if len(t) else 0.0,
            "on_fraction": round(float(events["p"].mean()), 3) if "p" in events.dtype.names and len(events) else None}


def shown_name(name: str, synthetic: bool) -> str:
    """The dataset's title in the figures; generated files are never titled as the recordings."""
    title = SPECS[name].title
    return f"{title}-format generated fixture data" if synthetic else title


def tour_audio(name: str, root, out: Path, samples: int, bins: int, synthetic: bool = False) -> dict:
    """Rasters of the first ``samples`` samples; the first one binned into ``bins`` frames ``[T, 700]`` as an image."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    spec = SPECS[name]
    ds = load(name, split_of(name), root=root, progress=False)
    n = min(samples, len(ds))
    fig, axes = plt.subplots(1, n, figsize=(4 * n, 3.2), squeeze=False, sharey=True)
    info = []
    for i in range(n):
        ev, label = ds[i]
        raster(ev, ax=axes[0, i], title=f"#{i}: label {int(label)}, {len(ev)} events")
        info.append({"label": int(label), **describe(ev)})
    for ax in axes[0, 1:]:
        ax.set_ylabel("")
    fig.suptitle(shown_name(name, synthetic), fontsize=10)
    fig.tight_layout()
    raster_png = out / f"{name}_raster.png"
    fig.savefig(raster_png, dpi=110)
    plt.close(fig)
    framed = load(name, split_of(name), root=root, frames=dict(n_time_bins=bins), progress=False)
    x, label = framed[0]
    counts = np.asarray(x, dtype=np.float32).reshape(bins, -1)  # [T, 700] spike counts per bin and channel
    fig, ax = plt.subplots(figsize=(7, 3.2))
    im = ax.imshow(counts.T, aspect="auto", origin="lower", cmap="Greys", interpolation="nearest",
                   extent=(0, info[0]["duration_ms"] or bins, 0, counts.shape[1]))
    fig.colorbar(im, ax=ax, label="spikes per bin")
    ax.set(xlabel="time (ms)", ylabel="channel", title=f"{shown_name(name, synthetic)}: sample 0 (label {int(label)}), {bins} bins")
    fig.tight_layout()
    frames_png = out / f"{name}_frames.png"
    fig.savefig(frames_png, dpi=110)
    plt.close(fig)
    return {"title": shown_name(name, synthetic), "split": split_of(name), "samples_in_split": len(ds), "sensor_size": list(spec.sensor_size),
            "classes": spec.n_classes, "frame_shape": list(np.shape(x)), "examples": info, "files": [str(raster_png), str(frames_png)]}


def tour_vision(name: str, root, out: Path, bins: int, synthetic: bool = False) -> dict:
    """The first sample as a grid of ``bins`` frames (ON red, OFF blue) and as an animated GIF."""
    spec = SPECS[name]
    ds = load(name, split_of(name), root=root, progress=False)
    ev, label = ds[0]
    framed = load(name, split_of(name), root=root, frames=dict(n_time_bins=bins), progress=False)
    x, _ = framed[0]
    info = describe(ev)
    grid = frame_grid(x, n_cols=min(bins, 8), path=out / f"{name}_frames.png",
                      title=f"{shown_name(name, synthetic)}: sample 0, label {int(label)}, {info['events']} events over {info['duration_ms']:.0f} ms, "
                            f"{bins} frames",
                      frame_ms=info["duration_ms"] / bins)
    gif = animate_frames(x, out / f"{name}.gif", fps=max(2, bins // 2), title=f"{name}{' (generated)' if synthetic else ''} label {int(label)}")
    return {"title": shown_name(name, synthetic), "split": split_of(name), "samples_in_split": len(ds), "sensor_size": list(spec.sensor_size),
            "classes": spec.n_classes, "frame_shape": list(np.shape(x)), "examples": [{"label": int(label), **info}],
            "files": [str(grid), str(gif)]}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data", type=Path, default=None, help="data root (tonic's layout below it; default $NEURO_DATA or datasets/)")
    p.add_argument("--synthetic", action="store_true", help="generate format-exact fixtures (neuro.data.fixtures) instead of reading --data")
    p.add_argument("--datasets", nargs="+", choices=sorted(SPECS), default=list(SPECS), help="which datasets")
    p.add_argument("--samples", type=int, default=3, help="rasters per audio dataset")
    p.add_argument("--bins", type=int, default=8, help="frames per vision sample")
    p.add_argument("--audio-bins", type=int, default=100, help="frames per audio sample (100: 10 ms bins over SHD's ~1 s)")
    p.add_argument("--out", type=Path, default=Path("runs/datasets_tour"))
    a = p.parse_args(argv)
    a.out.mkdir(parents=True, exist_ok=True)
    root = a.data
    if a.synthetic:
        root = Path(tempfile.mkdtemp(prefix="neuro_tour_"))
    summary: dict = {"root": str(root) if root else None, "synthetic": a.synthetic, "datasets": {}}
    for name in tqdm(a.datasets, desc="datasets"):
        start = time.perf_counter()
        try:
            if a.synthetic:
                fixtures.make_fixture(name, root, split=split_of(name), seed=0)
            if name in AUDIO:
                r = tour_audio(name, root, a.out, a.samples, a.audio_bins, synthetic=a.synthetic)
            else:
                r = tour_vision(name, root, a.out, a.bins, synthetic=a.synthetic)
        except Exception as exc:  # a missing file or a missing optional reader (dv-processing): say so, tour the rest
            tqdm.write(f"{name}: skipped: {type(exc).__name__}: {exc}")
            summary["datasets"][name] = {"skipped": f"{type(exc).__name__}: {exc}"}
            continue
        r["seconds"] = round(time.perf_counter() - start, 2)
        ex = r["examples"][0]
        tqdm.write(f"{r['title']:<32} {r['split']:>4}: {r['samples_in_split']:>6} samples, {r['classes']} classes, sensor {tuple(r['sensor_size'])}; "
                   f"sample 0: label {ex['label']}, {ex['events']} events ({', '.join(ex['fields'])}) over {ex['duration_ms']:.0f} ms; "
                   f"frames {tuple(r['frame_shape'])}")
        summary["datasets"][name] = r
    path = a.out / "tour.json"
    path.write_text(json.dumps(summary, indent=1) + "\n")
    files = [f for r in summary["datasets"].values() for f in r.get("files", [])]
    print(f"wrote {path} and {len(files)} pictures: " + ", ".join(Path(f).name for f in files))
    return summary


if __name__ == "__main__":
    main()
