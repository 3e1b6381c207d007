"""Region statistics and localisation metrics on small hand-made maps."""

import math

import numpy as np
import pytest
from scipy.stats import mannwhitneyu

from localglobal.attribution.regions import (
    BOX_STATISTICS,
    STAT_COLUMNS,
    RegionStatistics,
    auc_edges,
    auc_edges_in_box,
    box_mask_hw,
    edge_enrichment,
    mass_in_box,
    pointing_hit,
    rank_accuracy,
    region_statistics,
)

# A 4×4 map; the box (x0=1, y0=1, x1=3, y1=3) covers rows 1-2, columns 1-2.
R = np.array([
    [0.0, 1.0, -2.0, 0.0],
    [4.0, 8.0, 2.0, -1.0],
    [0.0, 6.0, -4.0, 0.0],
    [1.0, 0.0, 0.0, -6.0],
])
BOX = (1.0, 1.0, 3.0, 3.0)
EDGES = np.array([
    [1, 1, 0, 0],
    [0, 1, 1, 0],
    [0, 0, 1, 1],
    [0, 0, 0, 1],
], dtype=bool)


def test_box_mask_takes_pixels_whose_centres_are_inside():
    mask = box_mask_hw((0.6, 1.0, 2.4, 2.5), (3, 4))
    # columns with centres 0.5, 1.5, 2.5, 3.5: only 1.5 lies in [0.6, 2.4)
    # rows with centres 0.5, 1.5, 2.5: 1.5 lies in [1.0, 2.5)
    expected = np.zeros((3, 4), bool)
    expected[1, 1] = True
    np.testing.assert_array_equal(mask, expected)
    assert not box_mask_hw((math.nan,) * 4, (3, 4)).any()


def test_thesis_statistics_by_hand():
    stats = region_statistics(R, EDGES, BOX)
    # mean over 16 pixels: (1+4+8+2+6+1) - (2+1+4+6) = 22 - 13 = 9 → 9/16
    assert stats.r_mean == pytest.approx(9 / 16)
    # positives 1, 4, 8, 2, 6, 1 → mean 22/6; negatives -2, -1, -4, -6 → mean -13/4
    assert stats.pos_mean == pytest.approx(22 / 6)
    assert stats.neg_mean == pytest.approx(-13 / 4)
    # positive region R > 3.67: 4 (1,0), 8 (1,1), 6 (2,1); negative region R < -3.25: -4, -6
    assert (stats.n_pos, stats.n_neg) == (3, 2)
    # edges inside the box: (1,1), (1,2), (2,2); positive region on them: (1,1) only;
    # negative region on them: (2,2) = -4; (3,3) = -6 is an edge but outside the box
    assert (stats.n_pos_on_edges, stats.n_neg_on_edges) == (1, 1)
    assert stats.share_pos_on_edges == pytest.approx(1 / 3)
    assert stats.share_neg_on_edges == pytest.approx(1 / 2)
    assert stats.finite
    assert set(stats.as_dict()) == set(STAT_COLUMNS)


def test_localisation_metrics_by_hand():
    # positive mass: inside the box 8 + 2 + 6 = 16 of 22
    assert mass_in_box(R, BOX) == pytest.approx(16 / 22)
    # K = 4 box pixels; the four largest values 8, 6, 4, 2 sit at (1,1), (2,1), (1,0), (1,2):
    # three of them inside the box
    assert rank_accuracy(R, BOX) == pytest.approx(3 / 4)
    assert pointing_hit(R, BOX) == 1.0
    assert pointing_hit(R, (2.0, 2.0, 4.0, 4.0)) == 0.0
    stats = region_statistics(R, EDGES, BOX)
    assert stats.mass_in_box == pytest.approx(16 / 22)
    assert stats.rank_accuracy == pytest.approx(3 / 4)
    assert stats.pointing_hit == 1.0


def test_ties_are_shared_out_as_random_tie_breaking_would():
    tied = np.array([
        [5.0, 1.0, 1.0],
        [1.0, 1.0, 0.0],
        [0.0, 0.0, 5.0],
    ])
    box = (1.0, 0.0, 3.0, 2.0)  # rows 0-1, columns 1-2: values 1, 1, 1, 0
    # K = 4: both 5s (outside) are in; two of the four tied 1s fill the remaining
    # places, and three of those four lie inside: 2 × 3/4 = 1.5 hits of 4
    assert rank_accuracy(tied, box) == pytest.approx(1.5 / 4)
    # two maximal pixels, neither inside; then one of two inside
    assert pointing_hit(tied, box) == 0.0
    assert pointing_hit(tied, (0.0, 0.0, 1.0, 1.0)) == 0.5
    # a constant map points nowhere in particular: the box's share of the image
    assert pointing_hit(np.ones((3, 3)), box) == pytest.approx(4 / 9)


def test_auc_edges_by_hand_and_against_mann_whitney():
    target = np.zeros((2, 2), bool)
    target[0, 0] = True
    # the target pixel (3) beats 1 and 2 and ties with 3: (1 + 1 + 0.5) / 3
    assert auc_edges(np.array([[3.0, 1.0], [2.0, 3.0]]), target) == pytest.approx(2.5 / 3)

    rng = np.random.default_rng(0)
    relevance = np.round(rng.normal(size=(20, 20)), 1)  # rounded: many ties
    mask = rng.random((20, 20)) < 0.2
    u = mannwhitneyu(relevance[mask], relevance[~mask]).statistic
    assert auc_edges(relevance, mask) == pytest.approx(u / (mask.sum() * (~mask).sum()))
    in_box = EDGES & box_mask_hw(BOX, R.shape)
    assert region_statistics(R, EDGES, BOX).auc_edges == pytest.approx(auc_edges(R, in_box))


def test_undefined_values_are_nan():
    zero = np.zeros((4, 4))
    stats = region_statistics(zero, EDGES, BOX)
    assert stats.finite and stats.r_mean == 0.0
    assert math.isnan(stats.pos_mean) and math.isnan(stats.neg_mean)
    assert stats.n_pos == 0 and math.isnan(stats.share_pos_on_edges)
    assert math.isnan(stats.mass_in_box)
    empty_box = (math.nan,) * 4
    assert math.isnan(rank_accuracy(R, empty_box)) and math.isnan(pointing_hit(R, empty_box))
    assert math.isnan(auc_edges(R, np.zeros((4, 4), bool)))


def test_shares_on_edges_are_undefined_when_the_box_has_no_edges():
    # Relevance exists, but no edge pixel lies in the box: a share of 0 would read as
    # "relevance avoids the edges", which nothing here measured.
    no_edges = np.zeros((4, 4), bool)
    stats = region_statistics(R, no_edges, BOX)
    assert stats.n_pos > 0 and stats.n_pos_on_edges == 0
    assert math.isnan(stats.share_pos_on_edges) and math.isnan(stats.share_neg_on_edges)
    assert math.isnan(stats.auc_edges)
    assert not math.isnan(stats.mass_in_box)


def test_non_finite_maps_give_nan_statistics():
    bad = R.copy()
    bad[0, 0] = np.inf
    stats = region_statistics(bad, EDGES, BOX)
    assert not stats.finite
    values = stats.as_dict()
    assert all(math.isnan(values[k]) for k in STAT_COLUMNS if k != "finite")
    assert stats == RegionStatistics.undefined()


def test_channels_are_summed_and_shapes_checked():
    chw = np.stack([R, np.zeros_like(R), R])
    assert region_statistics(chw, EDGES, BOX).r_mean == pytest.approx(2 * 9 / 16)
    with pytest.raises(ValueError, match="edge mask"):
        region_statistics(R, EDGES[:3], BOX)


def test_in_box_auc_compares_edges_with_the_rest_of_the_box_only():
    # In the box: edges (1,1)=8, (1,2)=2, (2,2)=−4; the one non-edge pixel (2,1)=6.
    # Only 8 beats 6: AUC 1/3 — though the whole-frame AUC rewards the box's high values.
    assert auc_edges_in_box(R, EDGES, BOX) == pytest.approx(1 / 3)
    assert region_statistics(R, EDGES, BOX).auc_edges_in_box == pytest.approx(1 / 3)

    rng = np.random.default_rng(1)
    relevance = np.round(rng.normal(size=(20, 20)), 1)
    edges = rng.random((20, 20)) < 0.3
    box = (3.0, 4.0, 15.0, 18.0)
    inside = box_mask_hw(box, relevance.shape)
    on, off = relevance[inside & edges], relevance[inside & ~edges]
    u = mannwhitneyu(on, off).statistic
    assert auc_edges_in_box(relevance, edges, box) == pytest.approx(u / (on.size * off.size))
    # Undefined without edge pixels, or without non-edge pixels, in the box.
    assert math.isnan(auc_edges_in_box(R, np.zeros((4, 4), bool), BOX))
    assert math.isnan(auc_edges_in_box(R, np.ones((4, 4), bool), BOX))


def test_edge_enrichment_by_hand():
    # Box edge density 3/4. Positive region (R > 22/6) in the box: (1,1) edge and (2,1)
    # not: share 1/2, enrichment (1/2)/(3/4) = 2/3. Negative region (R < −13/4) in the
    # box: (2,2), an edge: share 1, enrichment 4/3; (3,3) is outside and does not count.
    stats = region_statistics(R, EDGES, BOX)
    assert stats.edge_enrichment_pos == pytest.approx(2 / 3)
    assert stats.edge_enrichment_neg == pytest.approx(4 / 3)
    region = R > 22 / 6
    assert edge_enrichment(region, EDGES, BOX) == pytest.approx(2 / 3)
    # A region spread evenly over the box has no preference: 1.
    assert edge_enrichment(box_mask_hw(BOX, R.shape), EDGES, BOX) == pytest.approx(1.0)


def test_edge_enrichment_is_undefined_without_region_or_edges_in_the_box():
    outside = np.zeros((4, 4), bool)
    outside[3, 3] = True
    assert math.isnan(edge_enrichment(outside, EDGES, BOX))
    assert math.isnan(edge_enrichment(R > 0, np.zeros((4, 4), bool), BOX))
    stats = region_statistics(np.zeros((4, 4)), EDGES, BOX)
    assert math.isnan(stats.edge_enrichment_pos) and math.isnan(stats.edge_enrichment_neg)


@pytest.mark.parametrize("box", [(math.nan,) * 4, (5.0, 5.0, 5.0, 9.0)],
                         ids=["no box", "empty box"])
def test_without_a_box_the_edge_measures_take_the_whole_image(box):
    rng = np.random.default_rng(0)
    relevance = rng.normal(size=(16, 16))
    edges = rng.random((16, 16)) < 0.3
    stats = region_statistics(relevance, edges, box).as_dict()
    assert set(BOX_STATISTICS) == {"mass_in_box", "rank_accuracy", "pointing_hit",
                                   "auc_edges_in_box"}
    assert all(math.isnan(stats[c]) for c in BOX_STATISTICS), stats
    boxed = region_statistics(relevance, edges, (2.0, 2.0, 12.0, 12.0)).as_dict()
    assert not any(math.isnan(boxed[c]) for c in BOX_STATISTICS), boxed
    # Every other measure is computed, on the whole image: as if the box were the frame.
    whole = region_statistics(relevance, edges, (0.0, 0.0, 16.0, 16.0)).as_dict()
    for column in [c for c in STAT_COLUMNS if c not in BOX_STATISTICS and c != "finite"]:
        assert stats[column] == whole[column], column
        assert not math.isnan(stats[column]), column
    positive = relevance > relevance[relevance > 0].mean()
    assert stats["share_pos_on_edges"] == (positive & edges).sum() / positive.sum()
    assert stats["edge_enrichment_pos"] == pytest.approx(
        stats["share_pos_on_edges"] / edges.mean())
    assert stats["auc_edges"] == pytest.approx(
        mannwhitneyu(relevance[edges], relevance[~edges]).statistic
        / (edges.sum() * (~edges).sum()))
