"""Boxes land where torchvision's Resize + CenterCrop puts the pixels they cover."""

import numpy as np
import pytest
from PIL import Image
from torchvision import transforms

from localglobal.data.geometry import (
    box_mask,
    frame_transform,
    resized_size,
    union_box,
    voc_to_edges,
)

# (width, height): landscape, portrait, square, extreme aspect ratios, odd sizes,
# shorter sides above and below the resize target.
SIZES = [(500, 375), (375, 500), (640, 427), (300, 300), (1000, 200), (200, 1000),
         (251, 250), (150, 40), (60, 100), (97, 131), (33, 33)]
# (resize, crop): the thesis frame, resize equal to crop, and resize below the crop
# (the resized image is padded on one or both sides).
FRAMES = [(256, 224), (224, 224), (200, 224), (120, 224), (160, 128)]


def render_rectangle(width, height, box):
    """A black RGB image with a white rectangle covering pixel edges box = (x0, y0, x1, y1)."""
    image = np.zeros((height, width, 3), dtype=np.uint8)
    x0, y0, x1, y1 = box
    image[y0:y1, x0:x1] = 255
    return Image.fromarray(image)


def landed_box(frame_image):
    """Pixel-edge extent of the bright pixels (above half intensity) of an H×W×3 image."""
    bright = np.asarray(frame_image)[..., 0] > 127
    if not bright.any():
        return None
    cols = np.flatnonzero(bright.any(axis=0))
    rows = np.flatnonzero(bright.any(axis=1))
    return (cols[0], rows[0], cols[-1] + 1, rows[-1] + 1)


def random_boxes(width, height, rng, n=3):
    boxes = []
    for _ in range(n):
        box_w = int(rng.integers(max(2, width // 4), max(3, width // 2)))
        box_h = int(rng.integers(max(2, height // 4), max(3, height // 2)))
        x0 = int(rng.integers(0, width - box_w + 1))
        y0 = int(rng.integers(0, height - box_h + 1))
        boxes.append((x0, y0, x0 + box_w, y0 + box_h))
    # One box touching the corner, partly cut off by the crop on long images.
    boxes.append((0, 0, max(2, width // 3), max(2, height // 3)))
    return boxes


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
@pytest.mark.parametrize(("resize", "crop"), FRAMES)
def test_mapped_box_matches_where_torchvision_puts_the_rectangle(resize, crop, interpolation):
    mode = transforms.InterpolationMode(interpolation)
    pipeline = transforms.Compose([transforms.Resize(resize, interpolation=mode),
                                   transforms.CenterCrop(crop)])
    rng = np.random.default_rng(resize * 1000 + crop)
    for width, height in SIZES:
        transform = frame_transform(width, height, resize, crop)
        for box in random_boxes(width, height, rng):
            output = pipeline(render_rectangle(width, height, box))
            assert output.size == (crop, crop)
            mapped = transform.map_box(box)
            landed = landed_box(output)
            empty = mapped[2] - mapped[0] < 0.5 or mapped[3] - mapped[1] < 0.5
            if landed is None:
                assert empty, (width, height, box, mapped)
                continue
            assert np.allclose(mapped, landed, atol=1.0), (width, height, box, mapped, landed)


def test_resize_keeps_aspect_and_truncates_the_longer_side_like_torchvision():
    for width, height in SIZES:
        resized = transforms.Resize(256)(Image.new("RGB", (width, height)))
        assert resized.size == resized_size(width, height, 256)


def test_the_thesis_formula_misplaces_boxes_on_non_square_images():
    # The thesis scaled x by 256/width and y by 256/height, then subtracted 16.
    width, height, box = 500, 250, (300, 50, 400, 200)
    output = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224)])(
        render_rectangle(width, height, box))
    landed = landed_box(output)
    thesis = (box[0] * 256 / width - 16, box[1] * 256 / height - 16,
              box[2] * 256 / width - 16, box[3] * 256 / height - 16)
    assert np.allclose(frame_transform(width, height).map_box(box), landed, atol=1.0)
    assert not np.allclose(thesis, landed, atol=10.0)


def test_voc_indices_become_exclusive_edges():
    assert voc_to_edges(3, 45, 235, 249) == (3.0, 45.0, 236.0, 250.0)


def test_union_ignores_empty_boxes_and_is_nan_without_any():
    boxes = np.array([[10, 10, 20, 30], [5, 15, 12, 25], [50, 50, 50, 60]], dtype=float)
    assert union_box(boxes) == (5, 10, 20, 30)
    assert all(np.isnan(union_box(np.array([[3, 3, 3, 9]]))))


def test_box_mask_covers_pixels_whose_centres_are_inside():
    mask = box_mask((2.0, 1.0, 5.0, 3.0), 8)
    assert mask.sum() == 3 * 2
    assert mask[1:3, 2:5].all()
    assert not box_mask((np.nan,) * 4, 8).any()
