"""Patch occlusion: the grid of DESIGN.md, exact fills, nothing else touched."""

import itertools

import numpy as np
import pytest

from localglobal.probes.patch import GREY, fill_colour, patch, patch_images, patch_rects

SIDES = [10, 20, 30, 40, 50, 60, 70]


@pytest.fixture
def image():
    return np.random.default_rng(5).integers(1, 255, (224, 224, 3), dtype=np.uint8)


def test_side_10_gives_121_single_patches_plus_the_all_patches_image(image):
    assert len(patch_rects(224, 10)) == 121
    images = patch_images(image, 10)
    assert [variant for variant, _, _ in images] == [*map(str, range(121)), "all"]


def test_side_70_gives_4_patches():
    assert patch_rects(224, 70) == [(7, 7, 77, 77), (147, 7, 217, 77),
                                    (7, 147, 77, 217), (147, 147, 217, 217)]


@pytest.mark.parametrize("side", SIDES)
def test_the_grid_follows_the_formula(side):
    n = 224 // side
    n -= 1 if n % 2 == 0 else 0
    margin = (224 - n * side) // 2
    expected = [(margin + c * side, margin + r * side, margin + (c + 1) * side,
                 margin + (r + 1) * side)
                for r in range(0, n, 2) for c in range(0, n, 2)]
    assert patch_rects(224, side) == expected


@pytest.mark.parametrize("side", SIDES)
def test_patches_never_touch_or_overlap_and_stay_inside(side):
    rects = patch_rects(224, side)
    for x0, y0, x1, y1 in rects:
        assert 0 <= x0 < x1 <= 224 and 0 <= y0 < y1 <= 224
        assert x1 - x0 == side and y1 - y0 == side
    for a, b in itertools.combinations(rects, 2):
        # A gap of at least one pixel along some axis (diagonal contact counts as touching).
        gap = max(b[0] - a[2], a[0] - b[2], b[1] - a[3], a[1] - b[3])
        assert gap >= 1


@pytest.mark.parametrize("side", [20, 50])
def test_single_patches_change_only_their_rectangle(image, side):
    for variant, patched, record in patch_images(image, side)[:-1]:
        (x0, y0, x1, y1), = record.rects
        inside = np.zeros((224, 224), bool)
        inside[y0:y1, x0:x1] = True
        assert (patched[inside] == 0).all()
        assert np.array_equal(patched[~inside], image[~inside])
        assert record.rects == (patch_rects(224, side)[int(variant)],)


@pytest.mark.parametrize("side", SIDES)
def test_the_all_patches_image_is_the_union_of_the_singles(image, side):
    *singles, (_, everything, record) = patch_images(image, side)
    union = image.copy()
    for _, single, _ in singles:
        changed = (single != image).any(axis=2)
        union[changed] = single[changed]
    assert np.array_equal(everything, union)
    assert list(record.rects) == patch_rects(224, side)


def test_fills(image):
    assert fill_colour(image, "black") == (0, 0, 0)
    assert fill_colour(image, "grey") == GREY
    flat = np.full((8, 8, 3), (10, 20, 31), np.uint8)
    assert fill_colour(flat, "mean") == (10, 20, 31)
    patched, record = patch(image, 70, 2, fill=(1, 2, 3))
    x0, y0, x1, y1 = record.rects[0]
    assert (patched[y0:y1, x0:x1] == (1, 2, 3)).all()
    with pytest.raises(ValueError, match="fill"):
        fill_colour(image, "purple")
    with pytest.raises(ValueError, match="0–255"):
        fill_colour(image, (0, 0, 300))


def test_params_follow_the_contract(image):
    _, record = patch(image, 30, "all", fill="mean")
    params = record.params()
    assert set(params) == {"size", "fill", "rects"}
    assert params["size"] == 30 and params["fill"] == "mean"
    assert params["rects"] == [list(r) for r in patch_rects(224, 30)]
    # The mean colour is not stored: it is reproduced from the original image.
    assert record.colour == fill_colour(image, "mean")


def test_a_patch_larger_than_the_image_is_an_error(image):
    with pytest.raises(ValueError, match="larger than the image side 224"):
        patch_rects(224, 300)
    with pytest.raises(ValueError, match="out of range"):
        patch(image, 70, 4)



@pytest.mark.parametrize("params,problem", [
    ({"size": 10, "fill": "black", "rects": [[-100, -100, 224, 224]]}, "inside the"),
    ({"size": 10, "fill": "black", "rects": [[220, 0, 230, 10]]}, "inside the"),
    ({"size": 10, "fill": "black", "colour": [1000, -5, 3], "rects": [[0, 0, 10, 10]]},
     "0–255"),
    ({"size": 10, "fill": [1, 2], "rects": [[0, 0, 10, 10]]}, "three levels"),
    ({"size": 10, "fill": "plaid", "rects": [[0, 0, 10, 10]]}, "unknown patch fill"),
    ({"size": 20, "fill": "black", "rects": [[0, 0, 10, 10]]}, "not the row's level"),
    ({"fill": "black", "rects": [[0, 0, 10, 10]]}, "not the row's level"),
])
def test_params_that_do_not_describe_the_row_s_patch_are_refused(params, problem):
    from localglobal.errors import BadInputError
    from localglobal.probes.catalog import get_probe
    from localglobal.probes.registry import Level

    probe = get_probe("patch", crop=224)
    with pytest.raises(BadInputError, match=problem):
        probe.validate(params, Level(10, "10"), 224)
    probe.validate({"size": 10, "fill": "mean", "rects": [[0, 0, 10, 10]]}, Level(10, "10"),
                   224)
