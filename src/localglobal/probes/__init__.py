"""Probes: scrambled, patched and smoothed images, removed detail, and Canny edges."""
