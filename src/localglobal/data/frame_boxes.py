"""An image's annotated boxes, brought into the model-input frame of the actual file.

VOC indices become pixel edges, are rescaled from the size the XML states to the
image's actual size (the Imagenette 320 and 160 variants are downscaled copies whose
XML still gives the original size; XML and image must agree in aspect ratio), then
mapped by :func:`~localglobal.data.geometry.frame_transform`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from localglobal.data.geometry import frame_transform, union_box

BoxGroups = dict[str, tuple[np.ndarray, tuple[int, int]]]
"""image id → (N×4 VOC boxes, the XML's (width, height))."""

BOX_READ_COLUMNS = ["image_id", "object_index", "width", "height", "xmin", "ymin", "xmax",
                    "ymax"]
"""The columns of ``boxes.parquet`` the index needs."""


@dataclass(frozen=True)
class FrameBoxes:
    """An image's boxes in the model-input frame.

    Attributes
    ----------
    boxes : numpy.ndarray
        N×4 ``(x0, y0, x1, y1)`` per object, pixel edges in the frame, clipped (a box
        outside the frame is empty).
    union : tuple of float
        The union of the non-empty boxes, NaN when there is none.
    scale_x, scale_y : float
        Factors applied to bring XML coordinates to the image's actual size.
    problem : str
        Why the boxes cannot be used (empty when they can).
    """

    boxes: np.ndarray
    union: tuple[float, float, float, float]
    scale_x: float
    scale_y: float
    problem: str = ""


def boxes_in_frame(voc_boxes: np.ndarray, xml_size: tuple[int, int],
                   image_size: tuple[int, int], resize: int, crop: int) -> FrameBoxes:
    """Map VOC boxes into the model-input frame of the actual image.

    Parameters
    ----------
    voc_boxes : numpy.ndarray
        N×4 ``(xmin, ymin, xmax, ymax)``, inclusive 0-based pixel indices in the image
        the XML describes.
    xml_size : (int, int)
        ``(width, height)`` the XML states (0s when unknown: taken to be the actual
        size).
    image_size : (int, int)
        ``(width, height)`` of the actual image file.
    resize, crop : int
        The frame's parameters (see :func:`~localglobal.data.geometry.frame_transform`).

    Returns
    -------
    FrameBoxes
        ``problem`` is set when the XML size and the image disagree in aspect ratio
        (the boxes belong to another version of the picture) or when no box reaches
        into the frame.
    """
    width, height = image_size
    xml_width, xml_height = xml_size
    voc = np.asarray(voc_boxes, dtype=np.float64).reshape(-1, 4)
    edges = voc + np.array([0.0, 0.0, 1.0, 1.0])  # inclusive indices → pixel edges
    if xml_width > 0 and xml_height > 0:
        scale_x, scale_y = width / xml_width, height / xml_height
        # Rounding a resized side to whole pixels moves its factor by at most
        # 0.5 / side; allow twice that (some tools truncate instead).
        tolerance = 1.0 / xml_width + 1.0 / xml_height + 1e-9
        if abs(scale_x - scale_y) > tolerance:
            return FrameBoxes(np.zeros((0, 4)), (np.nan,) * 4, scale_x, scale_y,
                              f"the XML describes a {xml_width}×{xml_height} image but the "
                              f"file is {width}×{height}: not the same picture")
    else:
        scale_x = scale_y = 1.0
    scaled = edges * np.array([scale_x, scale_y, scale_x, scale_y])
    mapped = frame_transform(width, height, resize, crop).map_boxes(scaled)
    union = tuple(float(v) for v in union_box(mapped))
    problem = "" if len(mapped) and not np.isnan(union[0]) else \
        "no box reaches into the model-input frame"
    return FrameBoxes(mapped, union, scale_x, scale_y, problem)  # type: ignore[arg-type]


def group_boxes(boxes: pd.DataFrame | None, image_ids: set[str]) -> BoxGroups:
    """Boxes of the given images, each image's objects in order.

    Parameters
    ----------
    boxes : pandas.DataFrame or None
        ``boxes.parquet`` rows (:data:`BOX_READ_COLUMNS`); None when there are none.
    image_ids : set of str
        The images wanted.

    Returns
    -------
    dict
        image id → (N×4 VOC boxes, the XML's (width, height)).
    """
    if boxes is None or not len(boxes):
        return {}
    needed = boxes[boxes["image_id"].isin(image_ids)]
    order = ["image_id", "object_index"] if "object_index" in needed else ["image_id"]
    needed = needed.sort_values(order, kind="stable")  # each image's rows together
    groups: BoxGroups = {}
    coords = needed[["xmin", "ymin", "xmax", "ymax"]].to_numpy(dtype=np.float64)
    ids = needed["image_id"].to_numpy()
    widths = needed["width"].to_numpy()
    heights = needed["height"].to_numpy()
    start = 0
    for end in range(1, len(ids) + 1):
        if end == len(ids) or ids[end] != ids[start]:
            groups[str(ids[start])] = (coords[start:end],
                                       (int(widths[start]), int(heights[start])))
            start = end
    return groups
