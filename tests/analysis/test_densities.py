"""Frame densities: edges, boxes and positive relevance, as shares of images per pixel."""

import numpy as np

from localglobal.analysis.densities import (
    box_density,
    edge_density,
    edge_masks_from_npz,
    positive_region_density,
    relevance_densities,
)
from localglobal.io.atomic import write_npz


def test_edge_masks_round_trip_through_the_packed_layout(tmp_path):
    rng = np.random.default_rng(0)
    masks = [rng.random((20, 30)) < 0.2 for _ in range(3)]
    write_npz(tmp_path / "edges.npz", shape=np.array([20, 30]),
              **{f"i{k}": np.packbits(m.ravel()) for k, m in enumerate(masks)})
    with np.load(tmp_path / "edges.npz") as arrays:
        unpacked = list(edge_masks_from_npz(arrays, 224))
    assert all((u == m).all() for u, m in zip(unpacked, masks, strict=True))


def test_edge_density_is_the_share_of_images(fake_run):
    with fake_run.run.read("edge_masks") as arrays:
        density = edge_density(edge_masks_from_npz(arrays, fake_run.crop))
    assert density.shape == (fake_run.crop, fake_run.crop)
    assert 0.05 < density.mean() < 0.15  # the fake masks have 10 % edge pixels
    assert edge_density([]) is None


def test_box_density_covers_the_boxes(fake_run):
    density = box_density(fake_run.run.read("samples"), fake_run.crop)
    assert density.shape == (fake_run.crop, fake_run.crop)
    assert density.max() <= 1.0 and density[30, 30] > 0.5 > density[0, 0]
    assert box_density(None, fake_run.crop) is None


def test_relevance_density_uses_the_unperturbed_maps_of_the_model(fake_run):
    densities = relevance_densities(fake_run.run.artifact_path("relevance"))
    assert set(densities) == set(fake_run.models)
    # Model a's relevance is a blob in the centre of the frame; b's is noise.
    centre = slice(fake_run.crop // 2 - 4, fake_run.crop // 2 + 4)
    assert densities["a"][centre, centre].mean() > 0.9 > densities["a"][:4, :4].mean()
    assert densities["b"][centre, centre].mean() < 0.6


def test_non_finite_maps_are_left_out_of_the_density(fake_run):
    run = fake_run.run
    attributions = run.read("attributions")
    originals = attributions[(attributions["model"] == "a") & (attributions["control"] == "none")
                             & (attributions["probe"] == "original")]
    image_ids = sorted(originals["image_id"].unique())
    kept = image_ids[0]
    # Every map of model a but one held NaN: the density is that one map's region.
    attributions["finite"] = True
    attributions.loc[attributions["model"].eq("a") & attributions["image_id"].ne(kept)
                     & attributions["control"].eq("none"), "finite"] = False
    density = relevance_densities(run.artifact_path("relevance"),
                                  attributions=attributions)["a"]
    assert set(np.unique(density)) <= {0.0, 1.0}
    assert density.mean() > 0


def test_positive_region_density_counts_each_map_once():
    maps = np.full((3, 4, 4), -1.0, dtype=np.float16)
    maps[:, 0, 0] = 5.0  # above the mean positive relevance: the positive region
    maps[:, 2, 2] = 1.0  # positive but below that mean: outside the region
    maps[0, 1, 1] = 1.0
    density = positive_region_density(maps, chunk=2)
    assert density[0, 0] == 1.0 and density[1, 1] == 0.0 and density.sum() == 1.0
    assert positive_region_density(maps, rows=np.array([0]))[0, 0] == 1.0
    assert positive_region_density(-np.ones((2, 3, 3))).sum() == 0.0
