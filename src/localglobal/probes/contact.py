"""Contact sheets: every probe of one image on one page, to check probes by eye.

``localglobal show IMAGE_ID --run DIR`` calls :func:`write_contact_sheet`, which lays
out the original (with the union box), one scramble per block side, the all-patches
image per patch side, every smoothing pass, the removed detail and its inversion,
and the edge mask over the image, each tile labelled; where the attribute stage has
run, each model's LRP heat map follows. :func:`contact_sheet` is the pure layout
function, also used by the report.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from localglobal.store import RunDir, read_png, safe_name, write_png

LABEL_HEIGHT = 16
GAP = 4
BACKGROUND = (255, 255, 255)
BOX_COLOUR = (255, 215, 0)
EDGE_COLOUR = (255, 0, 64)


def _as_rgb(image: np.ndarray) -> np.ndarray:
    array = np.asarray(image)
    if array.dtype == bool:
        array = array.astype(np.uint8) * 255
    if array.dtype != np.uint8:
        array = np.clip(array, 0, 255).astype(np.uint8)
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] not in (3, 4):
        raise ValueError(f"tiles must be H×W, H×W×3 or H×W×4 images, got {array.shape}")
    return array[..., :3]


def contact_sheet(images: Sequence[tuple[str, np.ndarray]], columns: int = 6) -> np.ndarray:
    """Lay labelled images out on a grid.

    Args:
        images: ``(label, image)`` pairs; images are H×W×3 uint8 RGB, H×W grey or
            boolean masks, any sizes (each sits top-left in a cell of the largest size).
        columns: tiles per row.

    Returns:
        The sheet, an RGB uint8 array: ``ceil(n / columns)`` rows of cells, each a
        label strip of 16 pixels above the image, 4 pixels apart, on white.
    """
    if not images:
        raise ValueError("a contact sheet needs at least one image")
    if columns < 1:
        raise ValueError(f"columns must be at least 1, got {columns}")
    tiles = [(str(label), _as_rgb(image)) for label, image in images]
    cell_h = max(t.shape[0] for _, t in tiles) + LABEL_HEIGHT
    cell_w = max(t.shape[1] for _, t in tiles)
    columns = min(columns, len(tiles))
    rows = -(-len(tiles) // columns)
    height = rows * cell_h + (rows + 1) * GAP
    width = columns * cell_w + (columns + 1) * GAP
    sheet = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    for k, (label, tile) in enumerate(tiles):
        row, col = divmod(k, columns)
        x = GAP + col * (cell_w + GAP)
        y = GAP + row * (cell_h + GAP)
        text = label
        while text and draw.textlength(text, font=font) > cell_w:
            text = text[:-2] + "…" if len(text) > 2 else ""
        draw.text((x + 1, y + 2), text, fill=(0, 0, 0), font=font)
        sheet.paste(Image.fromarray(tile), (x, y + LABEL_HEIGHT))
    return np.asarray(sheet, dtype=np.uint8)


def draw_box(image: np.ndarray, box: tuple[float, float, float, float],
             colour: tuple[int, int, int] = BOX_COLOUR, width: int = 2) -> np.ndarray:
    """A copy of ``image`` with the outline of an ``(x0, y0, x1, y1)`` box (exclusive ends).

    A NaN or empty box leaves the image unchanged.
    """
    out = _as_rgb(image).copy()
    if any(v != v for v in box) or box[2] <= box[0] or box[3] <= box[1]:
        return out
    pil = Image.fromarray(out)
    x0, y0, x1, y1 = (round(v) for v in box)
    ImageDraw.Draw(pil).rectangle([x0, y0, x1 - 1, y1 - 1], outline=colour, width=width)
    return np.asarray(pil, dtype=np.uint8).copy()


def overlay_mask(image: np.ndarray, mask: np.ndarray,
                 colour: tuple[int, int, int] = EDGE_COLOUR) -> np.ndarray:
    """A dimmed copy of ``image`` with the True pixels of ``mask`` (rows, cols) in ``colour``."""
    out = (_as_rgb(image).astype(np.float32) * 0.6 + 255 * 0.4).astype(np.uint8)
    out[np.asarray(mask, dtype=bool)] = colour
    return out


def _edge_mask(run: RunDir, image_id: str, original: np.ndarray) -> np.ndarray:
    """The stored edge mask, or one computed from the stored original if edges did not run."""
    from localglobal.probes.generate import EdgePlan, load_edge_masks

    if run.path("edges.npz").exists():
        try:
            return load_edge_masks(run, [image_id])[image_id]
        except KeyError:
            pass
    from localglobal.config import RunConfig, load_config

    config = load_config(run.config_path) if run.config_path.exists() else RunConfig()
    return EdgePlan.from_config(config).canny(original)[0]


def _unknown(image_id: str, known: Sequence[str]) -> KeyError:
    shown = ", ".join(list(known)[:5])
    more = f" (and {len(known) - 5} more)" if len(known) > 5 else ""
    return KeyError(f"unknown image id {image_id!r}; known ids include {shown}{more}")


def probe_tiles(run: RunDir, image_id: str) -> list[tuple[str, np.ndarray]]:
    """The labelled tiles of one image's contact sheet (see module docstring).

    Raises:
        MissingInputError: the perturb stage has not run.
        KeyError: the image id has no probes; the message lists a few known ids.
    """
    table = run.read("perturbations")
    rows = table[table["image_id"] == image_id]
    if rows.empty:
        raise _unknown(image_id, list(dict.fromkeys(table["image_id"].tolist())))
    box = (np.nan, np.nan, np.nan, np.nan)
    if run.has("samples"):
        samples = run.read("samples")
        match = samples[samples["image_id"] == image_id]
        if not match.empty and "box_x0" in match:
            first = match.iloc[0]
            box = tuple(float(first[k]) for k in ("box_x0", "box_y0", "box_x1", "box_y1"))

    def load(probe: str, level: int, variant: str) -> np.ndarray | None:
        hit = rows[(rows["probe"] == probe) & (rows["level"] == level)
                   & (rows["variant"] == variant)]
        return None if hit.empty else read_png(run.path(hit.iloc[0]["path"]))

    tiles: list[tuple[str, np.ndarray]] = []
    original = load("original", 0, "0")
    if original is not None:
        tiles.append(("original + box", draw_box(original, box)))
    smooth_rows = rows[rows["probe"] == "smooth"]
    operator = ""
    if not smooth_rows.empty:
        operator = Path(str(json.loads(smooth_rows.iloc[0]["params"])["operator"])).name
    for probe, variant, label in (("scramble", "0", "scramble b={}"),
                                  ("patch", "all", "patch p={} (all)"),
                                  ("smooth", "0", "smooth k={} (" + operator + ")")):
        for level in sorted(rows.loc[rows["probe"] == probe, "level"].unique()):
            image = load(probe, int(level), variant)
            if image is not None:
                tiles.append((label.format(int(level)), image))
    for probe, label in (("smooth_diff", "removed detail"),
                         ("smooth_diff_inv", "removed detail, inverted")):
        image = load(probe, 1, "0")
        if image is not None:
            tiles.append((label, image))
    if original is not None:
        mask = _edge_mask(run, image_id, original)
        # The box goes under the edges so that edges along the box stay visible.
        edges_tile = draw_box(overlay_mask(original, mask), box, width=1)
        edges_tile[mask] = EDGE_COLOUR
        tiles.append((f"edges ({int(mask.sum())} px) + box", edges_tile))
    return tiles


def heatmap_tiles(run: RunDir, image_id: str) -> list[tuple[str, np.ndarray]]:
    """Each model's LRP heat map of the image, where the attribute stage wrote one."""
    folder = run.path("heatmaps")
    if not folder.is_dir():
        return []
    tiles = []
    for model_folder in sorted(p for p in folder.iterdir() if p.is_dir()):
        path = model_folder / f"{safe_name(image_id)}.png"
        if path.is_file():
            tiles.append((f"LRP {model_folder.name}", read_png(path)))
    return tiles


def write_contact_sheet(run: RunDir, image_id: str, out: Path | None = None,
                        columns: int = 6) -> Path:
    """Write one image's contact sheet as a PNG and return its path.

    Args:
        run: a run directory where the perturb stage has run (edges are used when
            present, else computed from the stored original with the run's settings).
        image_id: an id from ``samples.parquet``.
        out: the PNG to write; default ``<run>/figures/contact/<image_id>.png``.
        columns: tiles per row.

    Raises:
        MissingInputError: the perturb stage has not run.
        KeyError: unknown image id (the message lists a few known ids).
    """
    run = run if isinstance(run, RunDir) else RunDir(run)
    tiles = probe_tiles(run, image_id) + heatmap_tiles(run, image_id)
    path = Path(out) if out is not None else run.path("figures", "contact", f"{image_id}.png")
    write_png(path, contact_sheet(tiles, columns))
    return path
