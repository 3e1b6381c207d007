"""``--dry-run`` from the declarations: each stage's estimate in order, given the earlier
ones, and the table with totals."""

from __future__ import annotations

from localglobal.pipeline.estimate import Estimate, estimate_stages, format_estimates


def test_each_stage_is_asked_in_order_and_sees_the_estimates_before_it():
    def images(config, earlier):
        return Estimate("images", config["n"], 10 * config["n"], 1.0)

    def pairs(config, earlier):
        return Estimate("pairs", earlier["images"].items * 2, None, None)

    estimators = {"images": images, "pairs": pairs, "nothing": lambda config, earlier: None}
    found = estimate_stages(["images", "nothing", "pairs", "undeclared"], estimators.get,
                            {"n": 6})
    assert [(e.stage, e.items) for e in found] == [("images", 6), ("pairs", 12)]


def test_a_model_stage_counts_items_per_model_and_its_time_is_unknown_if_one_fails():
    known = Estimate.per_model("evaluate", 100, [0.01, 0.02], row_bytes=120)
    assert known.items == 200 and known.bytes == 24_000
    assert abs(known.seconds - 3.0) < 1e-9 and known.note == ""
    unknown = Estimate.per_model("evaluate", 100, [0.01, None], row_bytes=120)
    assert unknown.seconds is None and "did not load" in unknown.note


def test_the_table_totals_disk_and_time_and_says_what_is_unknown():
    text = format_estimates([Estimate("index", 1200, 240_000, 30.0),
                             Estimate("evaluate", None, None, 9000.0, "a note")])
    lines = text.splitlines()
    assert lines[1].split()[:4] == ["index", "1,200", "240.0", "kB"]
    assert "?" in lines[2] and "a note" in lines[2]
    assert lines[-1].split() == ["total", "240.0", "kB", "2.5", "h"]
