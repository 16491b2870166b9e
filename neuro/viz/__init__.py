"""Plots: rasters, weight histograms, energy charts (matplotlib, imported lazily by the functions that draw)."""
