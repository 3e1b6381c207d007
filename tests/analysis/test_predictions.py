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
