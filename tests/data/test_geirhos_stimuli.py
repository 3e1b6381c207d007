"""Geirhos stimuli discovery and human raw-data reading: both layouts, textures, problems."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest

from localglobal.data.geirhos_humans import find_raw_data_folder, read_human_trials
from localglobal.data.geirhos_stimuli import (
    DECISION_COLUMNS,
    STIMULI_COLUMNS,
    decisions_table,
    discover_stimuli,
    match_category,
    stimulus_name,
    texture_of,
)
from localglobal.errors import LocalglobalError, MissingInputError
from tests.shared_data import require_geirhos_sample

HEADER = "subj,session,trial,rt,object_response,category,condition,imagename\n"



def touch(path: Path, data: bytes = b"\x89PNG fake") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_names_textures_and_categories():
    assert stimulus_name("0001_s5n_s01_0_bird_00_bird3-bird2.png") == "bird3-bird2.png"
    assert texture_of("airplane2-bicycle1.png") == "bicycle"
    assert texture_of("0002_s5n_s01_0_bird_00_bird2-clock3.png") == "clock"
    assert texture_of("elephant10-elephant1.png") == "elephant"
    assert texture_of("oven10.png") is None
    assert match_category("star", ["t00_circle", "t03_star"]) == "t03_star"
    assert match_category("cat", ["cat", "dog"]) == "cat"
    assert match_category("zebra", ["cat", "dog"]) == "zebra"


def test_flat_layout_with_conflict_flags_and_alias_folders(tmp_path):
    touch(tmp_path / "cue-conflict" / "cat" / "cat1-dog2.png")
    touch(tmp_path / "cue-conflict" / "cat" / "cat2-cat1.png")  # no conflict
    touch(tmp_path / "cue-conflict" / "dog" / "dog3-cat1.png")
    touch(tmp_path / "cue-conflict" / "dog" / "notes.txt", b"not an image")
    touch(tmp_path / "cue-conflict" / "dog" / ".DS_Store", b"")
    touch(tmp_path / "edge" / "cat" / "cat1.png")
    touch(tmp_path / "silhouette" / "dog" / "dog4.png")
    loaded = discover_stimuli(tmp_path)
    table = loaded.table
    assert loaded.problems == []
    assert list(table.columns) == STIMULI_COLUMNS
    rows = {(r.dataset, r.image): r for r in table.itertuples()}
    assert set(rows) == {("cue-conflict", "cat1-dog2.png"), ("cue-conflict", "cat2-cat1.png"),
                         ("cue-conflict", "dog3-cat1.png"), ("edge", "cat1.png"),
                         ("silhouette", "dog4.png")}
    assert (rows["cue-conflict", "cat1-dog2.png"].texture, rows["cue-conflict", "cat1-dog2.png"]
            .conflict) == ("dog", True)
    assert not rows["cue-conflict", "cat2-cat1.png"].conflict
    assert pd.isna(rows["edge", "cat1.png"].texture) and not rows["edge", "cat1.png"].conflict
    assert rows["silhouette", "dog4.png"].category == "dog"
    expected_path = (tmp_path / "edge" / "cat" / "cat1.png").absolute()
    assert Path(rows["edge", "cat1.png"].path) == expected_path
    assert list(table["dataset"].unique()) == ["cue-conflict", "edge", "silhouette"]


def make_repository(top: Path) -> None:
    stimuli = top / "stimuli"
    touch(stimuli / "style-transfer-preprocessed-512" / "knife" / "knife3-bottle2.png")
    touch(stimuli / "style-transfer-preprocessed-512" / "knife" / "knife3-knife1.png")
    touch(stimuli / "edges" / "knife" / "knife7.png")
    touch(stimuli / "filled-silhouettes" / "knife" / "knife7.png")
    touch(stimuli / "visualisation-stimuli" / "other.png")  # not a dataset: ignored
    touch(top / "paper-figures" / "figure.png")


@pytest.mark.parametrize("where", ["parent", "top", "stimuli"])
def test_repository_layout_from_any_of_its_folders(tmp_path, where):
    top = tmp_path / "texture-vs-shape-0123abcd"
    make_repository(top)
    root = {"parent": tmp_path, "top": top, "stimuli": top / "stimuli"}[where]
    table = discover_stimuli(root).table
    assert sorted(zip(table["dataset"], table["image"], strict=True)) == [
        ("cue-conflict", "knife3-bottle2.png"), ("cue-conflict", "knife3-knife1.png"),
        ("edge", "knife7.png"), ("silhouette", "knife7.png")]
    conflict = table.set_index("image").loc[["knife3-bottle2.png", "knife3-knife1.png"]]
    assert list(conflict["texture"]) == ["bottle", "knife"]
    assert list(conflict["conflict"]) == [True, False]


def test_dataset_filter_and_unknown_datasets(tmp_path):
    make_repository(tmp_path)
    assert set(discover_stimuli(tmp_path, ["edge"]).table["dataset"]) == {"edge"}
    with pytest.raises(MissingInputError, match="colour"):
        discover_stimuli(tmp_path, ["colour"])


def test_toy_world_textures_are_read_as_category_folders(tmp_path):
    touch(tmp_path / "cue-conflict" / "t00_circle" / "circle1-star1.png")
    touch(tmp_path / "cue-conflict" / "t03_star" / "star1-circle1.png")
    table = discover_stimuli(tmp_path).table.set_index("image")
    assert table.loc["circle1-star1.png", "texture"] == "t03_star"
    assert table.loc["star1-circle1.png", "texture"] == "t00_circle"
    assert table["conflict"].all()


def test_bad_files_are_problems_not_errors(tmp_path):
    touch(tmp_path / "cue-conflict" / "cat" / "cat1-dog2.png")
    bad = touch(tmp_path / "cue-conflict" / "cat" / "cat7.png")  # no texture in the name
    loose = touch(tmp_path / "cue-conflict" / "loose1-cat1.png")  # outside a category folder
    (tmp_path / "edges").mkdir()  # an empty dataset folder
    loaded = discover_stimuli(tmp_path)
    assert list(loaded.table["image"]) == ["cat1-dog2.png"]
    text = "\n".join(loaded.problems)
    assert str(bad) in text and str(loose) in text and str(tmp_path / "edges") in text


def test_a_missing_folder_is_a_user_error_naming_it(tmp_path):
    with pytest.raises(MissingInputError, match="nowhere") as error:
        discover_stimuli(tmp_path / "nowhere")
    assert isinstance(error.value, LocalglobalError)  # one `error:` line, not a bug
    (tmp_path / "empty").mkdir()
    with pytest.raises(MissingInputError, match="empty"):
        discover_stimuli(tmp_path / "empty")
    with pytest.raises(MissingInputError, match="nowhere"):
        read_human_trials(tmp_path / "nowhere")
    with pytest.raises(MissingInputError, match="no human raw data"):
        read_human_trials(tmp_path / "empty")


def write_csv(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + "".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_human_trials_with_na_bad_rows_and_bad_files(tmp_path):
    raw = tmp_path / "raw-data"
    write_csv(raw / "cue-conflict" / "cue-conflict_subject-01_session_1.csv", [
        "subject-01,1,1,0.9,cat,cat,0,0001_s5n_s01_0_cat_00_cat1-dog2.png",
        "subject-01,1,2,1.1,na,dog,0,0002_s5n_s01_0_dog_00_dog3-cat1.png",
        "subject-01,1,3,0.8,dog,cat,0,",  # no imagename: a bad row
        "subject-01,1,4,0.7,dog,cat,0,0004_s5n_s01_0_cat_00_cat1-dog2.png",  # repeated
    ])
    bad_file = write_csv(raw / "cue-conflict" / "broken.csv", [])
    bad_file.write_text("subj,trial\nsubject-02,1\n", encoding="utf-8")
    write_csv(raw / "edge" / "edge_subject-01_session_1.csv", [
        "subject-01,1,1,0.5,knife,oven,0,0001_edg_s01_0_oven_00_oven10.png"])
    loaded = read_human_trials(tmp_path)
    table = loaded.table
    assert list(table.columns[: len(DECISION_COLUMNS)]) == DECISION_COLUMNS
    assert len(table) == 3
    first = table.iloc[0]
    assert (first.observer, first.kind, first.dataset, first.image, first.category,
            first.texture, first.decision) == ("subject-01", "human", "cue-conflict",
                                               "cat1-dog2.png", "cat", "dog", "cat")
    assert table["decision"].isna().tolist() == [False, True, False]
    edge = table[table["dataset"] == "edge"].iloc[0]
    assert (edge.image, edge.decision) == ("oven10.png", "knife") and pd.isna(edge.texture)
    problems = "\n".join(loaded.problems)
    assert "cue-conflict_subject-01_session_1.csv:4" in problems  # line 4: the bad row
    assert "broken.csv" in problems and "object_response" in problems
    assert "judged cue-conflict stimulus 'cat1-dog2.png' again" in problems
    assert set(read_human_trials(tmp_path, ["edge"]).table["dataset"]) == {"edge"}
    with pytest.raises(MissingInputError, match="silhouette"):
        read_human_trials(tmp_path, ["silhouette"])


def test_raw_data_beside_stimuli_is_told_apart(tmp_path):
    touch(tmp_path / "cue-conflict" / "cat" / "cat1-dog2.png")  # stimuli, no CSV
    write_csv(tmp_path / "human-raw-data" / "cue-conflict" / "a.csv", [
        "subject-03,1,1,0.9,cat,cat,0,x_cat1-dog2.png"])
    assert find_raw_data_folder(tmp_path) == tmp_path / "human-raw-data"
    write_csv(tmp_path / "model-vs-human-abc" / "raw-data" / "edge" / "b.csv", [])
    assert find_raw_data_folder(tmp_path / "model-vs-human-abc") == (
        tmp_path / "model-vs-human-abc" / "raw-data")


def test_decisions_table_follows_the_contract(tmp_path):
    touch(tmp_path / "cue-conflict" / "cat" / "cat1-dog2.png")
    touch(tmp_path / "edges" / "cat" / "cat1.png")
    stimuli = discover_stimuli(tmp_path).table
    table = decisions_table(stimuli, ["dog", None], "resnet50")
    assert list(table.columns) == DECISION_COLUMNS
    assert list(table["observer"]) == ["resnet50"] * 2 and set(table["kind"]) == {"model"}
    assert table["decision"].iloc[0] == "dog" and table["decision"].isna().iloc[1]
    with pytest.raises(ValueError, match="1 decisions for 2 stimuli"):
        decisions_table(stimuli, ["dog"], "m")


def test_the_shared_sample_of_real_stimuli():
    sample = require_geirhos_sample()
    loaded = discover_stimuli(sample)
    assert loaded.problems == []
    table = loaded.table
    folders = {"cue-conflict": "cue-conflict", "edge": "edges", "silhouette": "filled-silhouettes"}
    for dataset, folder in folders.items():
        on_disk = sorted(p.name for p in (sample / folder).glob("*/*.png"))
        assert sorted(table.loc[table["dataset"] == dataset, "image"]) == on_disk
    cue = table[table["dataset"] == "cue-conflict"]
    # The shape is the folder and the file name's first part; the texture the second.
    shapes = cue["image"].str.split("-").str[0].str.replace(r"\d", "", regex=True)
    assert (shapes == cue["category"]).all()
    assert (cue["conflict"] == (cue["texture"] != cue["category"])).all()
    assert 0 < cue["conflict"].sum() < len(cue)


def test_the_shared_sample_of_human_trials():
    sample = require_geirhos_sample()
    loaded = read_human_trials(sample)
    assert loaded.problems == []
    table = loaded.table
    files = sorted((sample / "human-raw-data").glob("*/*.csv"))
    records = []
    for path in files:
        with open(path, newline="", encoding="utf-8") as handle:
            records += [(path.parent.name, row) for row in csv.DictReader(handle)]
    assert len(table) == len(records)
    n_na = sum(row["object_response"] == "na" for _, row in records)
    assert n_na > 0 and table["decision"].isna().sum() == n_na
    for dataset in ("cue-conflict", "edge", "silhouette"):
        expected = {row["subj"] for d, row in records if d == dataset}
        assert set(table.loc[table["dataset"] == dataset, "observer"]) == expected
    categories = set(table["category"])
    assert set(table["decision"].dropna()) <= categories
    cue = table[table["dataset"] == "cue-conflict"]
    assert cue["texture"].notna().all() and set(cue["texture"]) <= categories
    assert table.loc[table["dataset"] != "cue-conflict", "texture"].isna().all()
