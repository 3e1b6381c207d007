"""Block scrambling: exact, invertible, seeded per image, never the identity; derangements."""

import subprocess
import sys

import numpy as np
import pytest
from scipy import stats

from localglobal.probes.scramble import (
    apply_permutation,
    derangement_count,
    fixed_points,
    image_seed,
    random_permutation,
    scramble,
    scramble_variants,
    unscramble,
)


@pytest.fixture
def image():
    return np.random.default_rng(3).integers(0, 256, (224, 224, 3), dtype=np.uint8)


@pytest.mark.parametrize("block", [28, 32, 56, 112])
def test_the_recorded_permutation_inverts_the_scramble_bit_for_bit(image, block):
    scrambled, record = scramble(image, block, seed=block)
    assert scrambled.shape == image.shape and scrambled.dtype == np.uint8
    assert record.block == block and len(record.permutation) == (224 // block) ** 2
    assert np.array_equal(unscramble(scrambled, record.permutation, block), image)
    assert not np.array_equal(scrambled, image)


@pytest.mark.parametrize("block", [28, 56])
def test_output_block_k_is_input_block_permutation_k(image, block):
    scrambled, record = scramble(image, block, seed=7)
    per_row = 224 // block
    for k, source in enumerate(record.permutation):
        out_r, out_c = divmod(k, per_row)
        in_r, in_c = divmod(source, per_row)
        out_block = scrambled[out_r * block:(out_r + 1) * block, out_c * block:(out_c + 1) * block]
        in_block = image[in_r * block:(in_r + 1) * block, in_c * block:(in_c + 1) * block]
        assert np.array_equal(out_block, in_block)


def test_blocks_are_moved_whole_so_the_pixel_multiset_is_kept(image):
    scrambled, _ = scramble(image, 32, seed=1)
    assert np.array_equal(np.sort(scrambled, axis=None), np.sort(image, axis=None))


def test_the_permutation_is_never_the_identity():
    image = np.arange(224 * 224 * 3, dtype=np.int64).reshape(224, 224, 3)
    for seed in range(300):  # 4 blocks: the identity would come up 1 time in 24
        _, record = scramble(image, 112, seed=seed)
        assert record.permutation != (0, 1, 2, 3)


@pytest.mark.parametrize("block", [30, 100, 225])
def test_a_block_that_does_not_divide_the_side_names_both_numbers(image, block):
    with pytest.raises(ValueError, match=rf"{block}.*224"):
        scramble(image, block, seed=0)


def test_a_single_block_cannot_be_scrambled(image):
    with pytest.raises(ValueError, match="cannot be scrambled"):
        scramble(image, 224, seed=0)


def test_params_follow_the_contract(image):
    _, record = scramble(image, 112, seed=0)
    params = record.params()
    assert set(params) == {"block", "permutation", "fixed_blocks"}
    assert params["block"] == 112 and sorted(params["permutation"]) == [0, 1, 2, 3]
    assert params["fixed_blocks"] == fixed_points(params["permutation"])


def test_apply_then_unscramble_with_any_permutation_is_the_identity(image):
    permutation = np.random.default_rng(0).permutation(16)
    assert np.array_equal(unscramble(apply_permutation(image, permutation, 56), permutation, 56),
                          image)
    with pytest.raises(ValueError, match="not a permutation"):
        apply_permutation(image, [0, 0, 1, 2], 112)


def test_variants_are_seeded_per_image_and_independent_of_other_images(image):
    first = scramble_variants(image, 56, 3, run_seed=1, image_id="a")
    # Scrambling other images in between (or not at all) changes nothing for image "a".
    scramble_variants(image, 56, 3, run_seed=1, image_id="b")
    again = scramble_variants(image, 56, 3, run_seed=1, image_id="a")
    assert [r.permutation for _, r in first] == [r.permutation for _, r in again]
    other_image = scramble_variants(image, 56, 3, run_seed=1, image_id="b")
    other_seed = scramble_variants(image, 56, 3, run_seed=2, image_id="a")
    assert [r.permutation for _, r in first] != [r.permutation for _, r in other_image]
    assert [r.permutation for _, r in first] != [r.permutation for _, r in other_seed]


def test_the_variants_of_one_level_differ_from_each_other(image):
    for image_id in map(str, range(40)):  # 2×2 blocks have only 23 non-identity orders
        perms = [r.permutation for _, r in scramble_variants(image, 112, 3, 1, image_id)]
        assert len(set(perms)) == 3


def test_image_seeds_are_stable_across_processes():
    code = ("from localglobal.probes.scramble import image_seed; "
            "print(image_seed(1, 'n01440764_10026', 'scramble', 56, 0))")
    outputs = {
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                       env={"PYTHONHASHSEED": str(salt)}).stdout.strip()
        for salt in (1, 2)
    }
    assert outputs == {str(image_seed(1, "n01440764_10026", "scramble", 56, 0))}


# --------------------------------------------------------------------------- derangements


def test_the_thesis_permutations_are_unchanged_and_may_leave_blocks_in_place(image):
    # Drawn by the code before derangements existed: the default must not move them.
    records = [r for _, r in scramble_variants(image, 112, 3, 1, "n01440764_10026")]
    assert [r.permutation for r in records] == [(1, 0, 2, 3), (0, 2, 3, 1), (2, 0, 3, 1)]
    # The first keeps half the image in place, and says so.
    assert [r.fixed_blocks for r in records] == [2, 1, 0]
    assert [r.params()["fixed_blocks"] for r in records] == [2, 1, 0]


@pytest.mark.parametrize("block", [28, 32, 56, 112])
def test_derangements_move_every_block_at_every_thesis_block_side(image, block):
    for image_id in map(str, range(25)):
        variants = scramble_variants(image, block, 3, 1, image_id, derangement=True)
        for scrambled, record in variants:
            perm = np.asarray(record.permutation)
            assert not np.any(perm == np.arange(perm.size))
            assert record.fixed_blocks == 0 and record.params()["fixed_blocks"] == 0
            assert np.array_equal(unscramble(scrambled, record.permutation, block), image)
        assert len({r.permutation for _, r in variants}) == 3


def test_derangements_are_seeded_and_reproducible(image):
    first = scramble_variants(image, 56, 3, 1, "a", derangement=True)
    again = scramble_variants(image, 56, 3, 1, "a", derangement=True)
    assert [r.permutation for _, r in first] == [r.permutation for _, r in again]


def test_derangements_are_drawn_uniformly():
    # 4 blocks have 9 derangements; 1,800 draws should hit each about 200 times.
    rng = np.random.default_rng(0)
    counts: dict[tuple[int, ...], int] = {}
    for _ in range(1800):
        perm = tuple(int(k) for k in random_permutation(4, rng, derangement=True))
        counts[perm] = counts.get(perm, 0) + 1
    assert len(counts) == derangement_count(4) == 9
    assert stats.chisquare(list(counts.values())).pvalue > 0.001


def test_subfactorials():
    assert [derangement_count(n) for n in range(7)] == [1, 0, 1, 2, 9, 44, 265]
    assert fixed_points([0, 2, 1, 3]) == 2



@pytest.mark.parametrize("params,problem", [
    ({"block": 1, "permutation": list(range(224 * 224))}, "not the row's level"),
    ({"block": 112, "permutation": [0, 0, 1, 2]}, "scramble params"),
    ({"block": 112, "permutation": [0, 1, 2]}, "scramble params"),
    ({"block": 112, "permutation": [0, 1, 2, 4]}, "scramble params"),
    ({"block": 112, "permutation": [0, 1, 2, True]}, "scramble params"),
    ({"permutation": [0, 1, 2, 3]}, "not the row's level"),
    ([1, 2], "must be a JSON object"),
])
def test_params_that_do_not_describe_the_row_s_scramble_are_refused(params, problem):
    from localglobal.errors import BadInputError
    from localglobal.probes.catalog import get_probe
    from localglobal.probes.registry import Level

    probe = get_probe("scramble", crop=224)
    with pytest.raises(BadInputError, match=problem):
        probe.validate(params, Level(112, "112"), 224)
    probe.validate({"block": 112, "permutation": [3, 2, 1, 0]}, Level(112, "112"), 224)
