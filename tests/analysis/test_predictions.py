"""The predictions table as the analysis reads it."""

import pandas as pd

from localglobal.analysis.predictions import clean_predictions


def test_item_ids_give_back_missing_columns():
    table = pd.DataFrame({"model": ["a", "a"], "item_id": ["x_1/patch/10/all", "x_1/patch/10/all"],
                          "true_prob": [0.1, 0.2]})
    cleaned, notes = clean_predictions(table)
    assert cleaned.loc[0, ["image_id", "probe", "level", "variant"]].tolist() == [
        "x_1", "patch", 10, "all"]
    assert len(cleaned) == 1 and cleaned.loc[0, "true_prob"] == 0.2
    assert any("repeated" in n for n in notes) and any("recovered" in n for n in notes)


def test_the_decision_is_read_in_the_runs_label_space_when_it_is_a_subset():
    from localglobal.analysis.predictions import decision_of

    table = pd.DataFrame({"model": ["a", "b"], "correct": [False, True],
                          "subset_correct": [True, True], "true_prob": [0.1, 0.2],
                          "subset_true_prob": [0.6, 0.7], "model_classes": [1000, 10],
                          "subset_classes": [16, 10]})
    decision = decision_of(table)
    assert (decision.subset, decision.correct, decision.measure) == (
        True, "subset_correct", "subset_true_prob")
    assert (decision.label, decision.full_label) == ("the run's 16 classes", "all 1000 classes")
    own = decision_of(table.iloc[1:])
    assert (own.subset, own.measure, own.correct) == (False, "true_prob", "correct")
    # A table without the class counts (written before them) reads in the full space.
    assert not decision_of(table.drop(columns="model_classes")).subset
