"""Top-1 accuracy on the originals and at each probe's strongest level, from generated
predictions whose expected values are counted here by hand."""

import numpy as np
import pandas as pd
import pytest

from localglobal.probes.catalog import get_probe
from localglobal.probes.patch import patch_rects
from localglobal.probes.registry import Level
from localglobal.report.accuracy import ACCURACY_COLUMNS, accuracy_markdown, probe_accuracy

CROP = 224
MODELS = ["m-one", "m-two"]
IMAGES = [f"img{k}" for k in range(7)]
SCRAMBLE = [28, 56, 112]
PATCH = [10, 40, 50]   # 40 covers more of the frame than 50 (or 10) does
SMOOTH = [1, 2, 3, 4]
PROBES = [get_probe("original"), get_probe("scramble", {"blocks": SCRAMBLE}),
          get_probe("patch", {"sizes": PATCH}), get_probe("smooth", {"iterations": 4}),
          get_probe("smooth_diff")]
"""The run's probes, as its configuration declares them."""


def generated_predictions(seed: int = 3) -> pd.DataFrame:
    """Every image under every probe and level, each prediction right or wrong at random."""
    rng = np.random.default_rng(seed)
    items = []
    for image in IMAGES:
        items.append((image, "original", 0, "0"))
        items += [(image, "scramble", b, str(v)) for b in SCRAMBLE for v in range(3)]
        for size in PATCH:
            items += [(image, "patch", size, str(j)) for j in range(4)]
            items.append((image, "patch", size, "all"))
        items += [(image, "smooth", k, "0") for k in SMOOTH]
        items.append((image, "smooth_diff", 1, "0"))
    frame = pd.DataFrame(items, columns=["image_id", "probe", "level", "variant"])
    tables = []
    for model in MODELS:
        true_index = rng.integers(0, 10, len(frame))
        right = rng.random(len(frame)) < rng.uniform(0.2, 0.9)
        tables.append(frame.assign(model=model, true_index=true_index,
                                   pred_index=np.where(right, true_index, (true_index + 1) % 10),
                                   correct=right))
    return pd.concat(tables, ignore_index=True)


def covered_pixels(size: int) -> int:
    """Pixels the all-patches image of ``size`` blackens, counted on a mask."""
    mask = np.zeros((CROP, CROP), dtype=bool)
    for x0, y0, x1, y1 in patch_rects(CROP, size):
        mask[y0:y1, x0:x1] = True
    return int(mask.sum())


def expected(predictions: pd.DataFrame, model: str, probe: str, level: int,
             all_patches: bool = False) -> tuple[float, int, int]:
    """Accuracy, predictions and images of one condition, counted row by row."""
    right = total = 0
    images = set()
    for row in predictions.itertuples():
        if (row.model, row.probe, row.level) != (model, probe, level):
            continue
        if all_patches and row.variant != "all":
            continue
        right += int(row.pred_index == row.true_index)
        total += 1
        images.add(row.image_id)
    return right / total, total, len(images)


def test_the_strongest_patch_is_the_largest_coverage_not_the_largest_side():
    by_mask = {size: covered_pixels(size) / CROP ** 2 for size in PATCH}
    for size, share in by_mask.items():
        assert PROBES[2].coverage(Level(size, str(size))) == pytest.approx(share)
    assert max(by_mask, key=by_mask.get) == 40


def test_accuracy_at_each_probes_strongest_level():
    predictions = generated_predictions()
    table = probe_accuracy(predictions, PROBES)
    assert list(table.columns) == ACCURACY_COLUMNS
    strongest = {"original": 0, "scramble": min(SCRAMBLE),
                 "patch": max(PATCH, key=covered_pixels), "smooth": max(SMOOTH),
                 "smooth_diff": 1}
    assert list(pd.unique(table["probe"])) == list(strongest)
    assert len(table) == len(MODELS) * len(strongest)
    for row in table.itertuples():
        assert row.level == strongest[row.probe]
        accuracy, n, images = expected(predictions, row.model, row.probe, row.level,
                                       all_patches=row.probe == "patch")
        assert row.accuracy == pytest.approx(accuracy)
        assert (row.n, row.n_images) == (n, images)
    assert table.set_index(["model", "probe"]).loc[(MODELS[0], "scramble"), "n"] \
        == 3 * len(IMAGES)  # every variant of the level counts


def test_correctness_comes_from_the_indices_without_a_correct_column():
    predictions = generated_predictions(seed=8)
    with_column = probe_accuracy(predictions, PROBES)
    without = probe_accuracy(predictions.drop(columns="correct"), PROBES)
    pd.testing.assert_frame_equal(with_column, without)
    flipped = predictions.assign(correct=~predictions["correct"])
    assert not np.allclose(probe_accuracy(flipped, PROBES)["accuracy"],
                           with_column["accuracy"])


def test_the_markdown_names_every_model_and_the_level_shown():
    table = probe_accuracy(generated_predictions(), PROBES)
    lines = accuracy_markdown(table, models=list(reversed(MODELS)))
    rows = [line for line in lines if line.startswith("| m-")]
    assert [row.split(" | ")[0] for row in rows] == ["| m-two", "| m-one"]
    text = "\n".join(lines)
    assert "block side 28 px (64 blocks; the smallest side)" in text
    assert "all patches of side 40 px" in text and "4 smoothing passes" in text
    for row in table.itertuples():
        assert f"({row.n_correct}/{row.n}; {row.n_images} images)" in text


def in_a_label_subset(predictions: pd.DataFrame, seed: int = 5) -> pd.DataFrame:
    """The predictions of a run whose 16 classes are a subset of the models' 1000: the
    decision among the 16 is right more often than the one among all 1000."""
    rng = np.random.default_rng(seed)
    subset_right = predictions["correct"] | (rng.random(len(predictions)) < 0.5)
    return predictions.assign(subset_correct=subset_right, model_classes=1000,
                              subset_classes=16, subset_true_prob=0.5)


def test_a_label_subset_reads_accuracy_in_the_runs_classes_with_the_full_space_beside():
    full = generated_predictions()
    predictions = in_a_label_subset(full)
    table = probe_accuracy(predictions, PROBES).set_index(["model", "probe"])
    original = predictions[predictions["probe"] == "original"]
    for model in MODELS:
        rows = original[original["model"] == model]
        assert table.loc[(model, "original"), "accuracy"] == pytest.approx(
            rows["subset_correct"].mean())
        assert table.loc[(model, "original"), "accuracy_full"] == pytest.approx(
            rows["correct"].mean())
    assert set(table["label_space"]) == {"the run's 16 classes"}
    text = "\n".join(accuracy_markdown(table.reset_index()))
    assert "Top-1 accuracy in the run's 16 classes (the dataset's label space)" in text
    assert "in all 1000 classes of the model beside it" in text
    row = table.loc[(MODELS[0], "original")]
    assert f"{row.accuracy:.3f} ({row.n_correct}/{row.n}; " in text
    assert f" · {row.accuracy_full:.3f} in all 1000 classes" in text
    # In the model's own label space the table reads as before, one number per cell.
    own = probe_accuracy(full.assign(subset_correct=~full["correct"], model_classes=10,
                                     subset_classes=10, subset_true_prob=0.5), PROBES)
    pd.testing.assert_series_equal(own["accuracy"], probe_accuracy(full, PROBES)["accuracy"])
    assert " · " not in "\n".join(accuracy_markdown(own))
