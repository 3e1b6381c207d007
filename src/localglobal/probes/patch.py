"""Patch occlusion: square patches of one colour on a regular, odd grid.

For patch side ``p`` on a side of ``S`` pixels: ``n = ⌊S/p⌋``, minus 1 if even, so the
grid has an odd number of cells and is centred; margin ``m = ⌊(S − n·p)/2⌋``. Patches
sit on the grid cells ``(r, c)`` whose row and column are both even
(0, 2, …, n−1), at pixel ``(x, y) = (m + c·p, m + r·p)``, enumerated row-major. So
neighbouring patches are one cell apart and never touch. Each patch is a rectangle
``[x0, y0, x1, y1]`` in pixels with exclusive ends.

>>> len(patch_rects(224, 10)), len(patch_rects(224, 70))
(121, 4)
>>> patch_rects(224, 70)[0]
(7, 7, 77, 77)
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import Field

from localglobal.errors import BadInputError, ConfigError
from localglobal.probes.registry import (
    ImageContext,
    Item,
    Level,
    Probe,
    ProbeParams,
    register_probe,
)

if TYPE_CHECKING:
    import torch

Rect = tuple[int, int, int, int]
Fill = str | Sequence[int]

GREY = (128, 128, 128)
"""The ``"grey"`` fill: the middle of the 0–255 range."""

DEFAULT_SIZE = 40
"""The patch side :func:`patch` takes when none is given: the middle of the thesis's
sides 10–70 (on the 224 frame, nine patches of 40 pixels)."""


@dataclass(frozen=True)
class PatchRecord:
    """What a patch image covers.

    Attributes
    ----------
    size : int
        Patch side, pixels.
    fill : str | tuple[int, int, int]
        The configured fill (``"black"``, ``"grey"``, ``"mean"`` or ``[r, g, b]``).
    colour : tuple[int, int, int]
        The RGB colour actually painted.
    rects : tuple[Rect, ...]
        The painted rectangles ``[x0, y0, x1, y1]``, exclusive ends, pixels.
    """

    size: int
    fill: str | tuple[int, int, int]
    colour: tuple[int, int, int]
    rects: tuple[Rect, ...]

    def params(self) -> dict[str, object]:
        """The record as ``perturbations.parquet`` stores it: ``{"size", "fill", "rects"}``.

        A ``"mean"`` fill is stored by name: its colour is the per-channel mean of the
        input-frame image, rounded (:func:`fill_colour`), so it is reproduced from the
        original image.
        """
        fill = self.fill if isinstance(self.fill, str) else [int(v) for v in self.fill]
        return {
            "size": int(self.size),
            "fill": fill,
            "rects": [[int(v) for v in rect] for rect in self.rects],
        }


def _axis_grid(side: int, size: int) -> tuple[int, int]:
    """(cells n, margin m) along one axis."""
    if size <= 0:
        raise ValueError(f"patch side must be positive, got {size}")
    n = side // size
    if n == 0:
        raise ValueError(f"patch side {size} is larger than the image side {side}; "
                         "bring the image into the model-input frame first: "
                         "localglobal.to_input_frame(image, resize=256, crop=224)")
    if n % 2 == 0:
        n -= 1
    return n, (side - n * size) // 2


def patch_rects(height: int, size: int, width: int | None = None) -> list[Rect]:
    """The patch rectangles for patch side ``size`` on an image, row-major.

    Parameters
    ----------
    height : int
        Image height (the side S of a square image), pixels.
    size : int
        Patch side p, pixels.
    width : int, optional
        Image width, pixels; defaults to ``height``.

    Returns
    -------
    list[Rect]
        ``(x0, y0, x1, y1)`` per patch, exclusive ends, in enumeration order (the
        variant index of each single-patch image).

    Raises
    ------
    ValueError
        the patch is larger than the image or not positive.
    """
    width = height if width is None else width
    n_rows, margin_y = _axis_grid(height, size)
    n_cols, margin_x = _axis_grid(width, size)
    return [
        (margin_x + c * size, margin_y + r * size,
         margin_x + (c + 1) * size, margin_y + (r + 1) * size)
        for r in range(0, n_rows, 2)
        for c in range(0, n_cols, 2)
    ]


def fill_colour(image: np.ndarray, fill: Fill = "black") -> tuple[int, int, int]:
    """The RGB colour a fill stands for on this image.

    Parameters
    ----------
    image : numpy.ndarray
        H×W×3 uint8 RGB (used only by ``"mean"``).
    fill : Fill
        ``"black"``; ``"grey"`` (128, 128, 128); ``"mean"``, the image's per-channel
        mean rounded to the nearest level; or an ``(r, g, b)`` triple in 0–255.
    """
    if isinstance(fill, str):
        if fill == "black":
            return (0, 0, 0)
        if fill in ("grey", "gray"):
            return GREY
        if fill == "mean":
            means = np.asarray(image, dtype=np.float64).reshape(-1, 3).mean(axis=0)
            return tuple(int(v) for v in np.clip(np.rint(means), 0, 255))  # type: ignore[return-value]
        raise ValueError(f"unknown patch fill {fill!r}; use black, grey, mean or [r, g, b]")
    colour = tuple(int(v) for v in fill)
    if len(colour) != 3 or any(not 0 <= v <= 255 for v in colour):
        raise ValueError(f"patch fill must be three levels in 0–255, got {list(fill)}")
    return colour  # type: ignore[return-value]


def paint(image: np.ndarray, rects: Sequence[Rect], colour: Sequence[int]) -> np.ndarray:
    """A copy of ``image`` with every rectangle filled with ``colour``."""
    out = np.array(image, copy=True)
    for x0, y0, x1, y1 in rects:
        out[y0:y1, x0:x1] = colour
    return out


def _normalised_fill(fill: Fill) -> str | tuple[int, int, int]:
    return fill if isinstance(fill, str) else tuple(int(v) for v in fill)  # type: ignore[return-value]


def patch_images(image: np.ndarray, size: int, fill: Fill = "black",
                 ) -> list[tuple[str, np.ndarray, PatchRecord]]:
    """Every single-patch image and the all-patches image for one patch side.

    Parameters
    ----------
    image : numpy.ndarray
        H×W×3 uint8 RGB.
    size : int
        Patch side, pixels.
    fill : Fill
        See :func:`fill_colour`.

    Returns
    -------
    list[tuple[str, numpy.ndarray, PatchRecord]]
        ``(variant, image, record)`` triples: variants ``"0"``, ``"1"``, … for the single
        patches in row-major order, then ``"all"``.
    """
    image = np.asarray(image)
    rects = patch_rects(image.shape[0], size, image.shape[1])
    colour = fill_colour(image, fill)
    configured = _normalised_fill(fill)
    out = [
        (str(k), paint(image, [rect], colour),
         PatchRecord(int(size), configured, colour, (rect,)))
        for k, rect in enumerate(rects)
    ]
    out.append(("all", paint(image, rects, colour),
                PatchRecord(int(size), configured, colour, tuple(rects))))
    return out


def patch(image: np.ndarray, size: int = DEFAULT_SIZE, variant: int | str = "all",
          fill: Fill = "black") -> tuple[np.ndarray, PatchRecord]:
    """Occlude an image with square patches on the thesis's odd grid.

    Parameters
    ----------
    image : numpy.ndarray
        H×W×3 uint8 RGB of any size at least ``size`` (the pipeline patches the
        224×224 model-input frame: ``localglobal.to_input_frame(image, resize=256,
        crop=224)`` brings a photo there).
    size : int
        Patch side, pixels (default :data:`DEFAULT_SIZE`).
    variant : int or "all"
        The single patch's row-major index, or ``"all"`` for every patch at once.
    fill : str or RGB triple
        ``"black"``, ``"grey"``, ``"mean"`` (the image's mean colour) or ``[r, g, b]``.

    Returns
    -------
    (numpy.ndarray, PatchRecord)
        The patched copy; ``record.rects`` are ``[x0, y0, x1, y1]`` pixels, exclusive ends.

    Raises
    ------
    ValueError
        A patch larger than the image (the message names ``to_input_frame``), or a
        variant out of range.

    Examples
    --------
    >>> image = np.full((30, 30, 3), 200, np.uint8)
    >>> out, record = patch(image, 10, variant=0)
    >>> record.rects, int(out[0:10, 0:10].max())
    (((0, 0, 10, 10),), 0)
    >>> len(patch(np.zeros((224, 224, 3), np.uint8))[1].rects)
    9
    """
    image = np.asarray(image)
    rects = patch_rects(image.shape[0], size, image.shape[1])
    if variant != "all":
        index = int(variant)
        if not 0 <= index < len(rects):
            raise ValueError(f"patch index {index} out of range; side {size} gives "
                             f"{len(rects)} patches")
        rects = [rects[index]]
    colour = fill_colour(image, fill)
    record = PatchRecord(int(size), _normalised_fill(fill), colour, tuple(rects))
    return paint(image, rects, colour), record


def rect_mask(side: int, rects: Sequence[Sequence[int]], device: torch.device | str = "cpu"
              ) -> torch.Tensor:
    """An S×S boolean mask, True inside any ``[x0, y0, x1, y1]`` rectangle (exclusive ends)."""
    import torch

    mask = torch.zeros(side, side, dtype=torch.bool, device=device)
    for x0, y0, x1, y1 in rects:
        mask[y0:y1, x0:x1] = True
    return mask


def patch_batch(images: torch.Tensor, rects: Sequence[Sequence[Sequence[int]]],
                colours: Sequence[Sequence[int]]) -> torch.Tensor:
    """Paint each image's rectangles with its colour (the pixels of :func:`paint`).

    Parameters
    ----------
    images : torch.Tensor
        N×3×H×W, values in the same units as ``colours`` (0–255 levels).
    rects : sequence
        Per image, its rectangles ``[x0, y0, x1, y1]`` in pixels, exclusive ends.
    colours : sequence
        Per image, the RGB fill.

    Returns
    -------
    torch.Tensor
        A new N×3×H×W tensor.
    """
    import torch

    side = images.shape[-1]
    masks = torch.stack([rect_mask(side, r, images.device) for r in rects])[:, None]
    fill = torch.as_tensor(np.asarray(colours), dtype=images.dtype, device=images.device)
    return torch.where(masks, fill[:, :, None, None], images)


class PatchParams(ProbeParams):
    """``[probes.patch]``: patch sides and the fill."""

    sizes: list[int] = Field(default_factory=lambda: [10, 20, 30, 40, 50, 60, 70],
                             description="patch sides in pixels")
    fill: Literal["black", "grey", "mean"] | tuple[int, int, int] = Field(
        "black", description="black, grey, mean (the image's own mean) or [r, g, b]")


@register_probe
class PatchProbe(Probe):
    """Occlude the input with square patches on an odd grid, one at a time and all at once."""

    name = "patch"
    title = "Patches"
    description = ("Square patches of one colour cover the input on a regular odd grid: "
                   "each patch alone (one item per patch) and all of them together.")
    axis_label = "patch side (pixels)"
    keeps = "everything outside the patches"
    destroys = "the parts under the patches"
    Params = PatchParams
    levels_key = "sizes"
    params: PatchParams

    def levels(self) -> list[Level]:
        return [Level(int(s), str(int(s))) for s in self.params.sizes]

    def strongest(self) -> Level:
        """The side whose patches together cover most of the input (the larger side on a
        tie)."""
        return max(self.levels(), key=lambda level: (self.coverage(level), level.code))

    def coverage(self, level: Level) -> float:
        """The share of the frame the all-patches image of ``level`` covers."""
        covered = sum((x1 - x0) * (y1 - y0) for x0, y0, x1, y1 in patch_rects(self.crop,
                                                                            level.code))
        return covered / float(self.crop * self.crop)

    def group_of(self, variant: str) -> str:
        return "all" if str(variant) == "all" else "single"

    def group_titles(self) -> dict[str, str]:
        return {"all": "all patches at once", "single": "one patch (mean over patches)"}

    def curve_levels(self) -> list[Level]:
        return sorted(self.levels(), key=lambda level: level.code)

    def tile(self, level: Level, variants: Sequence[str], record: Mapping[str, Any]
             ) -> tuple[str, str]:
        return ("all" if "all" in variants else str(variants[0])), \
            f"patch p={level.code} (all)"

    def strength_text(self, level: Level) -> str:
        return (f"all patches of side {level.code} px ({100 * self.coverage(level):.0f} % of "
                "the image covered; the largest coverage)")

    def strongest_variants(self, variants: Sequence[str]) -> list[str]:
        return [v for v in variants if str(v) == "all"] or list(variants)

    def variants(self, level: Level) -> list[str]:
        return [*(str(k) for k in range(len(patch_rects(self.crop, level.code)))), "all"]

    def check(self, validate: bool = True) -> None:
        for size in self.params.sizes:
            try:
                patch_rects(self.crop, size)
            except ValueError as error:
                raise ConfigError(f"probes.patch.sizes: {error}") from None

    def apply(self, image: np.ndarray, level: Level, rng: np.random.Generator
              ) -> tuple[np.ndarray, dict[str, object]]:
        patched, record = patch(image, level.code, "all", self.params.fill)
        return patched, record.params()

    def items(self, context: ImageContext) -> Iterator[tuple[Item, np.ndarray]]:
        for level in self.levels():
            for variant, patched, record in patch_images(context.frame, level.code,
                                                         self.params.fill):
                yield Item(self.name, level, variant, record.params()), patched

    def build(self, originals: torch.Tensor, records: Sequence[Mapping[str, Any]]
              ) -> torch.Tensor:
        colours = [_record_colour(original, record)
                   for original, record in zip(originals, records, strict=True)]
        return patch_batch(originals, [r["rects"] for r in records], colours)

    def validate(self, record: Mapping[str, Any], level: Level | None, side: int) -> None:
        super().validate(record, level, side)
        if level is not None and record.get("size") != level.code:
            raise BadInputError(f"patch params: size {record.get('size')!r} is not the "
                                f"row's level {level.code}")
        rects = record.get("rects")
        if not isinstance(rects, list) or not rects:
            raise BadInputError("patch params: rects must be a non-empty list")
        for rect in rects:
            if not (isinstance(rect, list) and len(rect) == 4
                    and all(isinstance(v, int) and not isinstance(v, bool) for v in rect)
                    and 0 <= rect[0] < rect[2] <= side and 0 <= rect[1] < rect[3] <= side):
                raise BadInputError(f"patch params: rect {rect!r} is not [x0, y0, x1, y1] "
                                    f"inside the {side}×{side} frame")
        try:
            fill_colour(np.zeros((1, 1, 3), np.uint8),
                        record.get("colour", record.get("fill")))  # type: ignore[arg-type]
        except (TypeError, ValueError) as error:
            raise BadInputError(f"patch params: {error}") from None


def _record_colour(original: torch.Tensor, record: Mapping[str, Any]) -> tuple[int, int, int]:
    """The colour a record paints; a ``"mean"`` fill is the original's own mean, exactly
    as the stored PNG computed it."""
    if "colour" in record:
        return tuple(int(v) for v in record["colour"])  # type: ignore[return-value]
    fill = record["fill"]
    if fill == "mean":
        image = original.permute(1, 2, 0).to("cpu").numpy().astype(np.uint8)
        return fill_colour(image, "mean")
    return fill_colour(np.zeros((1, 1, 3), np.uint8), fill)
