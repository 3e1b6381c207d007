"""The toy world's renderer: deterministic, boxes that fit the object, objects inside the crop."""

import numpy as np
import pytest

from localglobal.data.geometry import frame_transform, voc_to_edges
from localglobal.labels import get_label_space
from localglobal.toyworld.scenes import (
    NUM_CLASSES,
    draw_texture_class,
    render_image,
    toyworld_label_space,
)
from localglobal.toyworld.shapes import SHAPES, outline_mask, shape_mask
from localglobal.toyworld.textures import TEXTURES


def test_label_space_ids_sort_in_class_order():
    space = toyworld_label_space()
    assert space.name == "toyworld"
    assert len(space) == NUM_CLASSES == len(TEXTURES)
    assert list(space.wnids) == sorted(space.wnids)
    assert space.names == SHAPES
    assert space.wnids[0] == "t00_circle"
    assert get_label_space("toyworld") == space


def test_render_is_deterministic_and_seed_dependent():
    a, box_a = render_image(np.random.default_rng(5), 2, 7, 256)
    b, box_b = render_image(np.random.default_rng(5), 2, 7, 256)
    c, _ = render_image(np.random.default_rng(6), 2, 7, 256)
    assert a.dtype == np.uint8 and a.shape == (256, 256, 3)
    np.testing.assert_array_equal(a, b)
    assert box_a == box_b
    assert np.abs(a.astype(int) - c.astype(int)).mean() > 5


@pytest.mark.parametrize("size", [(256, 256), (320, 256), (256, 320), (300, 288)])
def test_object_lies_inside_the_centre_crop(size):
    rng = np.random.default_rng(0)
    width, height = size
    transform = frame_transform(width, height, 256, 224)
    for shape in range(NUM_CLASSES):
        rgb, box = render_image(rng, shape, shape, size)
        assert rgb.shape == (height, width, 3)
        x0, y0, x1, y1 = voc_to_edges(*box)
        fx0, fy0 = x0 * transform.scale_x - transform.left, y0 * transform.scale_y - transform.top
        fx1, fy1 = x1 * transform.scale_x - transform.left, y1 * transform.scale_y - transform.top
        assert 0 <= fx0 < fx1 <= 224 and 0 <= fy0 < fy1 <= 224
        # Big enough to carry a shape, small enough to leave background around it.
        assert 60 <= max(fx1 - fx0, fy1 - fy0) <= 215


def test_box_is_the_tight_box_of_the_silhouette():
    mask = shape_mask("square", (100, 80), centre=(40.0, 30.0), radius=20.0, angle=0.3)
    rows = np.flatnonzero((mask >= 128).any(axis=1))
    cols = np.flatnonzero((mask >= 128).any(axis=0))
    assert rows[0] >= 30 - 20 and rows[-1] <= 30 + 20
    assert cols[0] >= 40 - 20 and cols[-1] <= 40 + 20
    # The renderer reports exactly the half-covered pixels' extent.
    rng = np.random.default_rng(3)
    _, box = render_image(rng, 1, 1, 256)
    xmin, ymin, xmax, ymax = box
    assert 0 <= xmin < xmax < 256 and 0 <= ymin < ymax < 256


def test_draw_texture_class_follows_texture_match():
    rng = np.random.default_rng(0)
    assert all(draw_texture_class(rng, 4, 1.0) == 4 for _ in range(50))
    drawn = [draw_texture_class(rng, 4, 0.0) for _ in range(2200)]
    # Uniform over the ten families (the class's own included) and a plain fill.
    counts = np.bincount([NUM_CLASSES if d is None else d for d in drawn],
                         minlength=NUM_CLASSES + 1)
    assert counts.min() > 140
    with pytest.raises(ValueError, match="texture_match"):
        draw_texture_class(rng, 0, 1.5)


def test_plain_fill_has_no_texture():
    rgb, box = render_image(np.random.default_rng(2), 0, None, 256)
    xmin, ymin, xmax, ymax = box
    cx, cy = (xmin + xmax) // 2, (ymin + ymax) // 2
    centre = rgb[cy - 10:cy + 10, cx - 10:cx + 10].astype(float)
    assert centre.std(axis=(0, 1)).max() < 1.0


def test_bad_classes_are_rejected():
    with pytest.raises(ValueError, match="shape_class"):
        render_image(np.random.default_rng(0), 10, 0)


def test_the_outline_is_the_boundary_of_the_silhouette():
    rgb, box, outline = render_image(np.random.default_rng(3), 4, 4, 256, with_outline=True)
    assert outline.shape == rgb.shape[:2] and outline.dtype == bool
    rows, cols = np.nonzero(outline)
    # The outline spans the object's box (within its width) and leaves its inside empty.
    assert abs(cols.min() - box[0]) <= 2 and abs(cols.max() - box[2]) <= 2
    assert abs(rows.min() - box[1]) <= 2 and abs(rows.max() - box[3]) <= 2
    disc = np.zeros((64, 64), bool)
    yy, xx = np.mgrid[:64, :64]
    disc[(yy - 32) ** 2 + (xx - 32) ** 2 <= 20 ** 2] = True
    ring = outline_mask(disc, 3)
    assert not ring[32, 32] and ring[32, 12] and not ring[0, 0]
    assert ring.sum() < 0.3 * disc.sum()
