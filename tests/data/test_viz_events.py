"""Event raster, DVS frame grid and animation write real images."""

from __future__ import annotations

import numpy as np
import pytest

from neuro.data import load
from neuro.viz.events import animate_frames, frame_grid, raster


def _png_size(path):
    from PIL import Image

    with Image.open(path) as im:
        return im.size, np.asarray(im.convert("L"))


def test_shd_raster_png(fixture_root, tmp_path):
    ev, label = load("shd", "test", root=fixture_root)[0]
    out = raster(ev, path=tmp_path / "raster.png", title=f"SHD label {label}")
    (w, h), pixels = _png_size(out)
    assert w > 300 and h > 150 and pixels.min() < 100  # something dark was drawn
    with pytest.raises(ValueError, match="'t' and 'x'"):
        raster(np.zeros(3, dtype=[("a", int)]))


def test_dvs_frame_grid_and_animation(fixture_root, tmp_path):
    x, _ = load("dvsgesture", "test", root=fixture_root, frames=dict(n_time_bins=6), cache=False)[0]
    out = frame_grid(x, n_cols=3, path=tmp_path / "grid.png", frame_ms=250)
    (w, h), pixels = _png_size(out)
    assert w > h > 100 and pixels.min() < 200
    gif = animate_frames(x, tmp_path / "gesture.gif", fps=5)
    from PIL import Image

    with Image.open(gif) as im:
        assert im.n_frames == 6
    audio, _ = load("shd", "test", root=fixture_root, frames=dict(n_time_bins=4), cache=False)[0]
    assert frame_grid(audio, path=tmp_path / "audio.png").is_file()
    with pytest.raises(ValueError, match=r"\[T, P, H, W\]"):
        frame_grid(np.zeros((2, 3, 4)))
