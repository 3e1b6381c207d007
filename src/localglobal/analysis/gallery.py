"""Which images the figures show: spread evenly over the run, and their heat maps."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from localglobal.io.images import read_png


def spread(values: Sequence[str], limit: int) -> list[str]:
    """Up to ``limit`` of ``values``, evenly spaced from the first to the last.

    Parameters
    ----------
    values : sequence of str
        Sorted ids.
    limit : int
        How many; 0 or less gives none.
    """
    if limit <= 0 or not values:
        return []
    return [values[int(i)] for i in np.unique(np.linspace(0, len(values) - 1, limit).round())]


def heatmap_images(folder: Path, limit: int) -> tuple[dict[tuple[str, str], np.ndarray],
                                                      list[str], list[str]]:
    """Heat-map overlays ``<folder>/<model>/<image_id>.png`` for up to ``limit`` images.

    The images shown are spread evenly over the sorted ids that every model has;
    overlays of perturbed images (``<image_id>__<probe>_….png``) are left out.

    Parameters
    ----------
    folder : Path
        The run's ``heatmaps/`` folder (it need not exist).
    limit : int
        Images to show.

    Returns
    -------
    (dict, list of str, list of str)
        (image_id, model) → RGB overlay, the image ids shown, every model with overlays.
    """
    root = Path(folder)
    if limit <= 0 or not root.is_dir():
        return {}, [], []
    folders = sorted(p for p in root.iterdir() if p.is_dir() and any(p.glob("*.png")))
    models = [p.name for p in folders]
    stems = [{f.stem for f in p.glob("*.png") if "__" not in f.stem} for p in folders]
    common = sorted(set.intersection(*stems)) if stems else []
    if not common:
        return {}, [], models
    chosen = spread(common, limit)
    images = {(image_id, model): read_png(root / model / f"{image_id}.png")
              for image_id in chosen for model in models}
    return images, chosen, models
