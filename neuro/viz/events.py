"""Event plots: a spike raster (SHD/SSC, any 1-D sensor), a grid of DVS frames, a DVS animation.

Each drawing function takes a matplotlib ``Axes`` (or makes a figure) and plain arrays:
structured events with fields t (µs), x[, y], p, or frames ``[T, P, H, W]`` / ``[T, C]``
(NumPy or torch). With ``path`` the figure is written as a PNG (Agg backend) and closed.

Example::

    ev, label = load("shd", "test")[0]
    raster(ev, path="shd_raster.png", title=f"label {label}")
    x, _ = load("dvsgesture", "test", frames=dict(n_time_bins=8))[0]
    frame_grid(x, path="gesture.png")
    polarity_difference(x.sum(0), path="gesture_on_minus_off.png")
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _plt():
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg", "module://matplotlib_inline.backend_inline"):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path) -> Path | None:
    if path is None:
        return None
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    _plt().close(fig)
    return path


def raster(events: np.ndarray, ax=None, path=None, title: str | None = None, channel: str = "x", max_events: int = 200_000, color="black"):
    """Spike raster: one dot per event at (t in ms, channel). Returns the Axes (or the PNG path)."""
    names = events.dtype.names or ()
    if "t" not in names or channel not in names:
        raise ValueError(f"raster needs structured events with 't' and {channel!r} fields, got {names}")
    plt = _plt()
    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(7, 3.2))
    ev = events if len(events) <= max_events else events[np.linspace(0, len(events) - 1, max_events).astype(int)]
    ax.scatter(ev["t"] / 1e3, ev[channel], s=0.6, c=color, marker="|", linewidths=0.5, rasterized=True)
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("channel" if channel == "x" else channel)
    ax.set_title(title or f"{len(events)} events")
    ax.margins(x=0.01, y=0.01)
    if fig is not None and path is not None:
        return _save(fig, path)
    return ax


def _frames_array(frames) -> np.ndarray:
    arr = frames.detach().cpu().numpy() if hasattr(frames, "detach") else np.asarray(frames)
    if arr.ndim == 2:  # [T, C] audio frames: one row image per frame
        arr = arr[:, None, None, :]
    if arr.ndim != 4:
        raise ValueError(f"frames must be [T, P, H, W] or [T, C], got shape {arr.shape}")
    return arr.astype(np.float32)


def _rgb(frame: np.ndarray, vmax: float) -> np.ndarray:
    """Polarity 1 (ON) in red, polarity 0 (OFF) in blue, on white; one polarity in grey."""
    p = frame.shape[0]
    if p == 1:
        v = np.clip(frame[0] / vmax, 0, 1)
        return np.repeat((1 - v)[..., None], 3, axis=-1)
    off, on = np.clip(frame[0] / vmax, 0, 1), np.clip(frame[1] / vmax, 0, 1)
    return np.stack([1 - off, 1 - on - off, 1 - on], axis=-1).clip(0, 1)


def frame_grid(frames, n_cols: int = 8, path=None, title: str | None = None, frame_ms: float | None = None):
    """A grid of frames, ON events red and OFF events blue. Returns the Figure (or the PNG path)."""
    arr = _frames_array(frames)
    t = arr.shape[0]
    n_cols = max(1, min(n_cols, t))
    n_rows = -(-t // n_cols)
    vmax = max(float(np.percentile(arr[arr > 0], 99)) if np.any(arr > 0) else 1.0, 1.0)
    plt = _plt()
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(1.6 * n_cols, 1.6 * n_rows + 0.4), squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if k >= t:
            ax.axis("off")
        else:
            ax.imshow(_rgb(arr[k], vmax), interpolation="nearest", aspect="auto" if arr.shape[2] == 1 else "equal")
            ax.set_title(f"{k * frame_ms:.0f} ms" if frame_ms else f"t={k}", fontsize=7)
    fig.suptitle(title or f"{t} frames, {arr.shape[1]} polarity channel(s), {arr.shape[2]}x{arr.shape[3]}", fontsize=9)
    if path is not None:
        return _save(fig, path)
    return fig


def polarity_difference(counts, ax=None, path=None, title: str | None = None, cmap: str = "RdBu_r", colorbar: bool = True):
    """ON minus OFF event counts of one ``[2, H, W]`` frame (or frames summed over time) on a diverging colormap
    centred at 0: white where the polarities balance, red where ON events dominate, blue where OFF ones do; the
    colour limits are symmetric (``±`` the largest difference). Returns the ``AxesImage`` (or the PNG path)."""
    from matplotlib.colors import CenteredNorm

    arr = counts.detach().cpu().numpy() if hasattr(counts, "detach") else np.asarray(counts)
    if arr.ndim != 3 or arr.shape[0] != 2:
        raise ValueError(f"counts must be [2, H, W] (OFF, ON polarity), got shape {arr.shape}")
    diff = arr[1].astype(np.float32) - arr[0].astype(np.float32)
    plt = _plt()
    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(3.6, 3))
    im = ax.imshow(diff, cmap=cmap, norm=CenteredNorm(vcenter=0.0, halfrange=max(float(np.abs(diff).max()), 1.0)), interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)
    if colorbar:
        ax.figure.colorbar(im, ax=ax, label="ON − OFF events", shrink=0.85)
    if fig is not None and path is not None:
        return _save(fig, path)
    return im


def animate_frames(frames, path, fps: int = 10, title: str | None = None) -> Path:
    """Write the frames as an animated GIF (matplotlib's Pillow writer)."""
    from matplotlib.animation import FuncAnimation, PillowWriter

    arr = _frames_array(frames)
    vmax = max(float(np.percentile(arr[arr > 0], 99)) if np.any(arr > 0) else 1.0, 1.0)
    plt = _plt()
    fig, ax = plt.subplots(figsize=(3, 3))
    ax.axis("off")
    im = ax.imshow(_rgb(arr[0], vmax), interpolation="nearest")
    label = ax.set_title(title or "t=0", fontsize=8)

    def update(k):
        im.set_data(_rgb(arr[k], vmax))
        label.set_text(f"{title + ': ' if title else ''}t={k}")
        return im, label

    anim = FuncAnimation(fig, update, frames=arr.shape[0], interval=1000 / fps, blit=False)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    anim.save(path, writer=PillowWriter(fps=fps))
    plt.close(fig)
    return path
