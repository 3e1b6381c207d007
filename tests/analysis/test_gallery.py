"""Which images the figures show."""

from localglobal.analysis.gallery import heatmap_images, spread


def test_the_gallery_shows_originals_every_model_has(fake_run):
    folder = fake_run.run.path("heatmaps")
    images, ids, models = heatmap_images(folder, limit=3)
    assert models == sorted(fake_run.models) and len(ids) == 3
    assert all("__" not in image_id for image_id in ids)
    assert set(images) == {(i, m) for i in ids for m in models}
    assert heatmap_images(folder, limit=0) == ({}, [], [])
    assert heatmap_images(folder / "absent", limit=3) == ({}, [], [])


def test_spread_takes_the_ends_and_evenly_between():
    assert spread(list("abcdefg"), 3) == ["a", "d", "g"]
    assert spread(list("ab"), 5) == ["a", "b"]
    assert spread(list("ab"), 0) == [] and spread([], 3) == []
