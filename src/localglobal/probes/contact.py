"""Contact sheets: every probe of one image on one page, to check probes by eye.

Pure drawing: arrays and tables in, an image out. :func:`image_sheet` lays out the
original (with the union box), one item per level of every probe (one scramble per
block side, the all-patches image per patch side, every smoothing pass, the removed
detail, each contrast, …), the edge mask over the image, and any LRP heat maps given,
each tile labelled; :func:`sheet_items` says which stored probe images that takes, so
that a caller reads only those.
:func:`contact_sheet` is the layout alone, also used by the report. Reading a run
and writing the PNG is :func:`localglobal.report.contact_sheet.write_contact_sheet`
(``localglobal show IMAGE_ID --run DIR``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageFont

from localglobal.probes.catalog import get_probe, probe_names
from localglobal.probes.registry import Level

FONT_SIZE = 20
"""Label text height in pixels: a sheet of six 224-pixel tiles shown in a page about
950 pixels wide keeps its labels above 13 pixels."""
LABEL_HEIGHT = 26
GAP = 4
SCALE_HEIGHT = 10
"""Height of the grey-scale strip under a removed-detail tile."""
SCALE_FONT_SIZE = 16
MAX_GAIN = 16
BACKGROUND = (255, 255, 255)
BOX_COLOUR = (255, 215, 0)
EDGE_COLOUR = (255, 0, 64)

Box = tuple[float, float, float, float]
NO_BOX: Box = (np.nan, np.nan, np.nan, np.nan)


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

    Parameters
    ----------
    images : Sequence[tuple[str, numpy.ndarray]]
        ``(label, image)`` pairs; images are H×W×3 uint8 RGB, H×W grey or
        boolean masks, any sizes (each sits top-left in a cell of the largest size).
    columns : int
        Tiles per row.

    Returns
    -------
    numpy.ndarray
        The sheet, an RGB uint8 array: ``ceil(n / columns)`` rows of cells, each a
        label strip of :data:`LABEL_HEIGHT` pixels (text :data:`FONT_SIZE` pixels high)
        above the image, 4 pixels apart, on white.
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
    font = label_font(FONT_SIZE)
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


def label_font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's built-in font at ``size`` pixels (its small bitmap font without FreeType)."""
    try:
        return ImageFont.load_default(size=size)
    except (ImportError, OSError, TypeError):  # Pillow built without FreeType
        return ImageFont.load_default()


def detail_gain(detail: np.ndarray) -> int:
    """The integer contrast gain that shows removed detail: its 99th percentile to white.

    The detail one smoothing pass removes is mostly a few grey levels, almost black as
    it is; the gain (1 to :data:`MAX_GAIN`) stretches it, and the tile says by how much.
    """
    top = float(np.percentile(np.asarray(detail, dtype=np.float64), 99))
    return int(np.clip(np.floor(255.0 / max(top, 1.0)), 1, MAX_GAIN))


def detail_tile(detail: np.ndarray, gain: int, inverted: bool = False) -> np.ndarray:
    """Removed detail at ``gain`` times its contrast, over a grey-scale strip that says what
    white (or, inverted, black) stands for.

    Parameters
    ----------
    detail : numpy.ndarray
        H×W×3 uint8 |original − smoothed| (the ``smooth_diff`` image).
    gain : int
        Contrast gain (:func:`detail_gain`); values beyond 255 / gain saturate.
    inverted : bool
        Show 255 − the stretched detail (as the ``smooth_diff_inv`` image is shown
        to the models).

    Returns
    -------
    numpy.ndarray
        The stretched image with the strip below it: H + strip rows, RGB uint8.
    """
    shown = np.clip(_as_rgb(detail).astype(np.int32) * gain, 0, 255).astype(np.uint8)
    if inverted:
        shown = 255 - shown
    width = shown.shape[1]
    ramp = np.linspace(0, 255, width).round().astype(np.uint8)
    if inverted:
        ramp = 255 - ramp
    font = label_font(SCALE_FONT_SIZE)
    text_h = SCALE_FONT_SIZE + 4
    strip = Image.new("RGB", (width, SCALE_HEIGHT + text_h), BACKGROUND)
    strip.paste(Image.fromarray(np.repeat(np.repeat(ramp[None, :, None], 3, axis=2),
                                          SCALE_HEIGHT, axis=0)), (0, 0))
    draw = ImageDraw.Draw(strip)
    right = f"{255 / gain:.0f}+ grey levels"
    draw.text((1, SCALE_HEIGHT + 1), "0", fill=(0, 0, 0), font=font)
    draw.text((width - 1 - draw.textlength(right, font=font), SCALE_HEIGHT + 1), right,
              fill=(0, 0, 0), font=font)
    return np.concatenate([shown, np.asarray(strip, dtype=np.uint8)], axis=0)


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




def sheet_items(rows: pd.DataFrame) -> list[tuple[str, str]]:
    """The stored probe images one image's contact sheet shows, in order.

    Parameters
    ----------
    rows : pandas.DataFrame
        The image's rows of ``perturbations.parquet``.

    Returns
    -------
    list of (str, str)
        ``(label, item_id)``: the original first (labelled ``"original"``), then per
        probe (in the registry's order, then any other) one item per level, in the
        order its declaration lists them: the variant it shows
        (:meth:`~localglobal.probes.registry.Probe.tile`), labelled as it says.
    """
    labels = rows["condition"].astype(str) if "condition" in rows else \
        rows["level"].astype(str)
    rows = rows.assign(condition_=labels.to_numpy(), variant_=rows["variant"].astype(str))
    order = {name: k for k, name in enumerate(probe_names())}
    present = sorted(pd.unique(rows["probe"].astype(str)),
                     key=lambda name: order.get(name, len(order)))
    found: list[tuple[str, str]] = []
    for name in present:
        part = rows[rows["probe"] == name]
        probe = get_probe(name) if name in order else None
        declared = [lv.label for lv in probe.levels()] if probe is not None else []
        conditions = sorted(pd.unique(part["condition_"]),
                            key=lambda c: (declared.index(c) if c in declared else len(declared),
                                           int(part.loc[part["condition_"] == c,
                                                        "level"].iloc[0])))
        for condition in conditions:
            level_rows = part[part["condition_"] == condition]
            variants = list(level_rows["variant_"])
            record = _params(level_rows.iloc[0])
            level = Level(int(level_rows.iloc[0]["level"]), str(condition))
            variant, label = (probe.tile(level, variants, record) if probe is not None
                              else (variants[0], f"{name} {condition}"))
            hit = level_rows[level_rows["variant_"] == variant]
            if len(hit):
                found.append((label, str(hit.iloc[0]["item_id"])))
    return found


def _params(row: pd.Series) -> dict:
    try:
        params = json.loads(str(row.get("params", "{}")))
    except ValueError:
        return {}
    return params if isinstance(params, dict) else {}


def edges_tile(original: np.ndarray, mask: np.ndarray, box: Box = NO_BOX) -> np.ndarray:
    """The original dimmed, the box outlined and the edge pixels on top."""
    mask = np.asarray(mask, dtype=bool)
    # The box goes under the edges so that edges along the box stay visible.
    tile = draw_box(overlay_mask(original, mask), box, width=1)
    tile[mask] = EDGE_COLOUR
    return tile


def probe_tiles(rows: pd.DataFrame, images: Mapping[str, np.ndarray], box: Box = NO_BOX,
                edge_mask: np.ndarray | None = None) -> list[tuple[str, np.ndarray]]:
    """The labelled tiles of one image's probes (see :func:`sheet_items`).

    Parameters
    ----------
    rows : pandas.DataFrame
        The image's rows of ``perturbations.parquet``.
    images : mapping
        item_id → the stored image, for (at least) the items of :func:`sheet_items`.
    box : tuple of float
        The union box in the input frame, drawn on the original; NaN for none.
    edge_mask : numpy.ndarray, optional
        The image's edge mask; its tile follows the probes.

    Returns
    -------
    list of (str, numpy.ndarray)
        ``"original + box"`` first, the probes, ``"edges (N px) + box"`` last. The
        removed detail and its inversion are shown with their contrast stretched
        (:func:`detail_tile`), labelled with the gain, over a grey-scale strip.
    """
    tiles: list[tuple[str, np.ndarray]] = []
    original: np.ndarray | None = None
    found = [(label, images.get(item)) for label, item in sheet_items(rows)]
    details = [image for label, image in found
               if label.startswith("removed detail") and image is not None]
    # One gain for both removed-detail tiles, from the detail itself (not its inversion).
    gain = detail_gain(details[0]) if details else 1
    for label, image in found:
        if image is None:
            continue
        if label == "original":
            original = image
            tiles.append(("original + box", draw_box(image, box)))
        elif label == "removed detail":  # the built-in font has no "×"
            tiles.append((f"removed detail, x{gain}", detail_tile(image, gain)))
        elif label == "removed detail, inverted":
            tiles.append((f"inverted detail, x{gain}",
                          detail_tile(255 - _as_rgb(image), gain, inverted=True)))
        else:
            tiles.append((label, image))
    if original is not None and edge_mask is not None:
        mask = np.asarray(edge_mask, dtype=bool)
        tiles.append((f"edges ({int(mask.sum())} px) + box", edges_tile(original, mask, box)))
    return tiles


def image_sheet(rows: pd.DataFrame, images: Mapping[str, np.ndarray], *, box: Box = NO_BOX,
                edge_mask: np.ndarray | None = None,
                heatmaps: Sequence[tuple[str, np.ndarray]] = (), columns: int = 6
                ) -> np.ndarray:
    """One image's contact sheet: its probes, edges and box, then LRP heat maps.

    Parameters
    ----------
    rows, images, box, edge_mask
        As :func:`probe_tiles`.
    heatmaps : sequence of (str, numpy.ndarray)
        ``(model, heat map)`` pairs, each shown as ``"LRP <model>"``.
    columns : int
        Tiles per row.

    Returns
    -------
    numpy.ndarray
        The sheet, RGB uint8 (see :func:`contact_sheet`).
    """
    tiles = probe_tiles(rows, images, box, edge_mask)
    tiles += [(f"LRP {model}", heat) for model, heat in heatmaps]
    return contact_sheet(tiles, columns)
