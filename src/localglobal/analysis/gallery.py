"""Which images the figures show: spread evenly over the run, and their heat maps."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from localglobal.io.atomic import safe_name
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


def heatmap_images(folder: Path, limit: int, models: Sequence[str] | None = None
                   ) -> tuple[dict[tuple[str, str], np.ndarray], list[str], list[str]]:
    """Heat-map overlays ``<folder>/<model>/<image_id>.png`` for up to ``limit`` images.

    The images shown are spread evenly over the sorted ids that every model has;
    overlays of perturbed images (``<image_id>__<probe>_….png``) are left out.

    Parameters
    ----------
    folder : Path
        The run's ``heatmaps/`` folder (it need not exist).
    limit : int
        Images to show.
    models : sequence of str, optional
        The run's models, from its tables: only their folders are read, so a model
        removed from the run is not drawn from the overlays it left. Default: every
        model folder.

    Returns
    -------
    (dict, list of str, list of str)
        (image_id, model) → RGB overlay, the image ids shown, every model with overlays.
    """
    root = Path(folder)
    if limit <= 0 or not root.is_dir():
        return {}, [], []
    if models is None:
        named = {p.name: p for p in sorted(root.iterdir()) if p.is_dir()}
    else:
        named = {m: root / safe_name(m) for m in models}
    folders = {m: p for m, p in named.items()
               if p.is_dir() and not p.is_symlink() and any(p.glob("*.png"))}
    stems = [{f.stem for f in p.glob("*.png") if "__" not in f.stem} for p in folders.values()]
    common = sorted(set.intersection(*stems)) if stems else []
    if not common:
        return {}, [], list(folders)
    chosen = spread(common, limit)
    images = {(image_id, model): read_png(folder / f"{image_id}.png")
              for image_id in chosen for model, folder in folders.items()}
    return images, chosen, list(folders)
