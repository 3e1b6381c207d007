"""Drawing the analysis's figures: drawn, skipped with a reason, or recorded as broken."""

import pytest

from localglobal.analysis.figure_drawing import contact_sheets, draw_figure, remove_stale_figures
from localglobal.analysis.figure_inputs import FigureInputs
from localglobal.analysis.figure_specs import FigureSpec, figure_specs
from localglobal.analysis.record import AnalysisRecord
from localglobal.errors import FigureError


def test_a_figure_that_breaks_fails_unless_it_is_optional(tmp_path):
    def broken():
        raise RuntimeError("bad axis")

    record, logged = AnalysisRecord(), []
    spec = FigureSpec("broken", "scramble", "Broken", "", broken)
    with pytest.raises(FigureError, match=r"figure broken .* failed: RuntimeError: bad axis"):
        draw_figure(spec, tmp_path / "figures", tmp_path, 50, record, logged.append)
    optional = FigureSpec("broken", "scramble", "Broken", "", broken, optional=True)
    draw_figure(optional, tmp_path / "figures", tmp_path, 50, record, logged.append)
    assert record.figures == []
    assert record.figures_skipped[0]["reason"] == "failed: RuntimeError: bad axis"
    assert logged and "broken" in logged[0]


def test_figures_without_inputs_are_skipped_with_the_reason(tmp_path):
    record = AnalysisRecord()
    for spec in figure_specs(FigureInputs(crop=64)):
        draw_figure(spec, tmp_path / "figures", tmp_path, 50, record, print)
    assert record.figures == []
    reasons = {e["name"]: e["reason"] for e in record.figures_skipped}
    assert reasons["scramble"] == "no summary" and reasons["heatmaps"] == "no heat maps"
    assert reasons["density"] == "no relevance, edge or box maps"


def test_stale_figures_go_and_other_files_stay(tmp_path):
    specs = figure_specs(FigureInputs())
    (tmp_path / "scramble.png").write_bytes(b"old")
    (tmp_path / "mine.png").write_bytes(b"not a figure of the analysis")
    record = AnalysisRecord()
    remove_stale_figures(tmp_path, specs, record)
    assert not (tmp_path / "scramble.png").exists() and (tmp_path / "mine.png").exists()


def test_a_contact_sheet_that_fails_is_recorded(tmp_path):
    def write(image_id, out):
        if image_id == "bad":
            raise KeyError("unknown image id 'bad'")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(b"png")
        return out

    record = AnalysisRecord()
    contact_sheets(write, ["good", "bad"], tmp_path / "figures" / "contact", tmp_path, record)
    assert [e["png"] for e in record.figures] == ["figures/contact/good.png"]
    assert record.figures_skipped[0]["name"] == "contact-bad"
    assert "unknown image id" in record.figures_skipped[0]["reason"]
