"""Auto-Canny edges: thresholds from the median, edges where the outline is, in the frame."""

import cv2
import numpy as np
import pytest

from localglobal.data.geometry import box_mask, frame_transform
from localglobal.io.images import to_input_frame
from localglobal.probes.canny import (
    CannySettings,
    auto_canny,
    canny_thresholds,
    edge_counts,
    empty_mask,
    gradient_magnitude,
    otsu_thresholds,
    pack_mask,
    percentile_thresholds,
    unpack_mask,
)


def noisy(shape, level, seed=0):
    rng = np.random.default_rng(seed)
    return np.clip(rng.normal(level, 20, shape), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("level", [30, 100, 200])
def test_thresholds_equal_the_formula_for_the_grey_median(level):
    image = noisy((64, 80, 3), level)
    _, record = auto_canny(image, CannySettings(denoise=False))
    median = float(np.median(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)))
    assert record.median == median
    assert record.lower == max(0.0, (1 - 0.9) * median)
    assert record.upper == min(255.0, (1 + 0.9) * median)
    assert (record.lower, record.upper) == canny_thresholds(median, 0.9)


def test_the_median_is_taken_after_non_local_means_denoising():
    image = noisy((64, 80, 3), 120, seed=1)
    _, record = auto_canny(image)
    denoised = cv2.fastNlMeansDenoisingColored(cv2.cvtColor(image, cv2.COLOR_RGB2BGR), None,
                                               30, 10, 7, 21)
    assert record.median == float(np.median(cv2.cvtColor(denoised, cv2.COLOR_BGR2GRAY)))


def test_thresholds_are_clipped_to_the_grey_range():
    assert canny_thresholds(200, 0.9) == (pytest.approx(20.0), 255.0)
    assert canny_thresholds(10, 1.5) == (0.0, 25.0)


def border(box, size):
    """Pixels within one pixel of a box's outline."""
    x0, y0, x1, y1 = box
    outer = box_mask((x0 - 1.5, y0 - 1.5, x1 + 1.5, y1 + 1.5), size)
    inner = box_mask((x0 + 1.5, y0 + 1.5, x1 - 1.5, y1 - 1.5), size)
    return outer & ~inner


def side_coverage(mask, box):
    """Share of each side (top, bottom, left, right) with an edge pixel within 2 pixels."""
    x0, y0, x1, y1 = (round(v) for v in box)
    cols, rows = range(x0 + 2, x1 - 2), range(y0 + 2, y1 - 2)
    top = np.mean([mask[y0 - 2:y0 + 2, c].any() for c in cols])
    bottom = np.mean([mask[y1 - 2:y1 + 2, c].any() for c in cols])
    left = np.mean([mask[r, x0 - 2:x0 + 2].any() for r in rows])
    right = np.mean([mask[r, x1 - 2:x1 + 2].any() for r in rows])
    return top, bottom, left, right


@pytest.mark.parametrize(("width", "height", "rect"), [
    (400, 300, (120, 100, 300, 170)),  # wide image, wide rectangle: rows and columns differ
    (240, 360, (70, 100, 130, 270)),   # tall image, tall rectangle
])
def test_a_rendered_rectangles_edges_fall_on_its_border_in_the_input_frame(width, height, rect):
    rng = np.random.default_rng(2)
    image = np.clip(rng.normal(70, 8, (height, width, 3)), 0, 255).astype(np.uint8)
    x0, y0, x1, y1 = rect
    image[y0:y1, x0:x1] = np.clip(rng.normal(190, 8, (y1 - y0, x1 - x0, 3)), 0, 255)
    frame = to_input_frame(image, 256, 224)
    box = frame_transform(width, height, 256, 224).map_box(rect)
    assert min(box) > 4 and max(box) < 220, "the rectangle lies inside the crop"
    mask, _ = auto_canny(frame)
    assert mask.shape == (224, 224)
    assert (mask & border(box, 224)).sum() / mask.sum() > 0.97
    assert min(side_coverage(mask, box)) > 0.9
    # The same rectangle transposed would put the edges elsewhere.
    assert (mask.T & border(box, 224)).sum() / mask.sum() < 0.5


def test_counts_split_edges_into_inside_and_outside_the_box():
    mask = np.zeros((10, 10), bool)
    mask[2, 2] = mask[2, 8] = mask[9, 9] = True
    counts = edge_counts(mask, (1.0, 1.0, 5.0, 5.0))
    assert counts == {"n_edge": 3, "n_edge_in_box": 1, "n_edge_out_box": 2}
    assert edge_counts(mask, (np.nan,) * 4)["n_edge_in_box"] == 0


@pytest.mark.parametrize("shape", [(224, 224), (7, 5), (1, 1)])
def test_masks_pack_and_unpack_exactly(shape):
    mask = np.random.default_rng(0).random(shape) > 0.7
    packed = pack_mask(mask)
    assert packed.dtype == np.uint8 and packed.size == -(-mask.size // 8)
    assert np.array_equal(unpack_mask(packed, shape), mask)


def test_only_rgb_uint8_images_are_accepted():
    with pytest.raises(ValueError, match="H×W×3 uint8"):
        auto_canny(np.zeros((8, 8), np.uint8))


# --------------------------------------------------------------------------- other rules


def test_percentile_thresholds_are_percentiles_of_cannys_gradient():
    image = noisy((64, 80, 3), 120, seed=3)
    _, record = auto_canny(image, CannySettings(denoise=False, thresholds="percentile",
                                                   percentiles=(60.0, 95.0)))
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    dx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3, borderType=cv2.BORDER_REPLICATE)
    dy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3, borderType=cv2.BORDER_REPLICATE)
    magnitude = np.abs(dx) + np.abs(dy)
    np.testing.assert_allclose(gradient_magnitude(grey), magnitude)
    expected = np.percentile(magnitude[magnitude > 0], [60, 95])
    assert (record.lower, record.upper) == pytest.approx(tuple(expected))
    assert record.rule == "percentile"
    assert percentile_thresholds(np.full((8, 8), 77, np.uint8)) == (0.0, 0.0)


def test_otsu_thresholds_are_otsus_grey_level_and_a_ratio_of_it():
    image = noisy((64, 80, 3), 60, seed=4)
    image[20:40, 30:60] = 200
    _, record = auto_canny(image, CannySettings(denoise=False, thresholds="otsu",
                                                   otsu_ratio=0.4))
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    otsu, _ = cv2.threshold(grey, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    assert record.upper == otsu and record.lower == pytest.approx(0.4 * otsu)
    assert otsu_thresholds(grey, 0.4) == (pytest.approx(0.4 * otsu), otsu)


def test_the_percentile_rule_follows_contrast_not_brightness():
    # The same scene, 100 grey levels brighter: the median rule's thresholds move (and
    # the upper one saturates at 255); the gradient percentiles do not move at all.
    rng = np.random.default_rng(5)
    dark = np.clip(rng.normal(40, 5, (64, 64, 3)), 0, 255).astype(np.uint8)
    dark[16:48, 16:48] = np.clip(dark[16:48, 16:48].astype(int) + 60, 0, 255)
    bright = (dark.astype(int) + 100).clip(0, 255).astype(np.uint8)
    assert bright.max() < 255, "no clipping, so gradients are identical"
    _, dark_auto = auto_canny(dark, CannySettings(denoise=False))
    _, bright_auto = auto_canny(bright, CannySettings(denoise=False))
    assert bright_auto.upper == 255.0 and dark_auto.upper < 255.0
    masks = [auto_canny(image, CannySettings(denoise=False, thresholds="percentile"))
             for image in (dark, bright)]
    assert masks[0][1].upper == masks[1][1].upper
    assert np.array_equal(masks[0][0], masks[1][0])


@pytest.mark.parametrize("rule", ["otsu", "percentile"])
def test_a_rendered_rectangles_edges_fall_on_its_border_by_every_rule(rule):
    rng = np.random.default_rng(2)
    image = np.clip(rng.normal(70, 8, (224, 224, 3)), 0, 255).astype(np.uint8)
    image[60:170, 50:150] = np.clip(rng.normal(190, 8, (110, 100, 3)), 0, 255)
    mask, _ = auto_canny(image, CannySettings(thresholds=rule))
    box = (50.0, 60.0, 150.0, 170.0)
    assert (mask & border(box, 224)).sum() / mask.sum() > 0.9
    assert min(side_coverage(mask, box)) > 0.9


def test_an_empty_mask_is_flagged_overall_and_in_the_box():
    flat = np.full((32, 32, 3), 128, np.uint8)
    mask, _ = auto_canny(flat, CannySettings(denoise=False))
    assert empty_mask(mask)
    mask = np.zeros((10, 10), bool)
    mask[8, 8] = True
    assert not empty_mask(mask)
    assert empty_mask(mask, (1.0, 1.0, 5.0, 5.0)) and not empty_mask(mask, (6.0, 6.0, 10.0, 10.0))
    assert empty_mask(mask, (np.nan,) * 4)


def test_an_unknown_threshold_rule_is_an_error_naming_the_rules():
    with pytest.raises(ValueError, match="auto, otsu, percentile"):
        auto_canny(np.zeros((8, 8, 3), np.uint8), CannySettings(thresholds="median"))
