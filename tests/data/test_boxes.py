"""One VOC file into box rows: every object kept, bad objects and files said why."""

import numpy as np
import pytest

from localglobal.data.boxes import (
    BOX_COLUMNS,
    OBJECT_SCHEMA,
    ObjectRows,
    Problem,
    XmlItem,
    read_xml_items,
    summarize,
)
from localglobal.io.voc import scan_canonical, voc_xml


def rows(data, name="n01440764_5.xml", fast=True):
    objects = ObjectRows(fast)
    objects.add_file(data, name, name)
    return objects.table().to_pandas(), objects.bad


def test_the_objects_table_has_the_box_columns_then_problem_and_note():
    assert OBJECT_SCHEMA.names == [*BOX_COLUMNS, "problem", "note"]


def test_every_object_is_a_row_and_the_wnid_comes_from_the_image_id():
    table, bad = rows(voc_xml("n01440764_5", 120, 90, [(10, 20, 60, 70), (0, 5, 119, 89)]))
    assert not bad
    assert table["object_index"].tolist() == [0, 1]
    assert table[["xmin", "ymin", "xmax", "ymax"]].values.tolist() == [[10, 20, 60, 70],
                                                                      [0, 5, 119, 89]]
    assert set(table["wnid"]) == {"n01440764"} and set(table["image_id"]) == {"n01440764_5"}
    assert (table["problem"] == "").all()


def test_a_box_leaving_the_image_is_clipped_with_a_note():
    table, _ = rows(voc_xml("n01440764_5", 100, 80, [(-5, 10, 140, 50)]))
    assert table[["xmin", "xmax"]].values.tolist() == [[0.0, 99.0]]
    assert "clipped to the 100×80 image" in table["note"][0]


def test_a_bad_object_is_a_problem_row_and_the_good_one_is_kept():
    table, bad = rows(voc_xml("n01440764_5", 100, 80, [(10, 10, 40, 40), (70, 10, 30, 40)]))
    assert not bad
    assert table["problem"].tolist()[0] == ""
    assert "inverted" in table["problem"][1]


@pytest.mark.parametrize(("data", "words"), [
    (b"<annotation><size><width>100</width></size><object><name>x</name></annotation>",
     "malformed XML"),
    (b"<annotation><size><width>100</width><height>80</height></size><object><name>n1"
     b"</name></object></annotation>", "no <bndbox>"),
    (voc_xml("n01440764_5", 100, 80, [("abc", 10, 50, 60)]), "non-numeric"),
    (voc_xml("n01440764_5", 100, 80, [(150, 10, 180, 50)]), "outside"),
    (b"<annotation></annotation>", "no <object>"),
])
def test_a_file_without_a_usable_box_is_one_bad_row(data, words):
    table, bad = rows(data)
    assert len(table) == 1 and table["object_index"][0] == -1
    ((source, reason),) = bad
    assert source == "n01440764_5.xml" and words in reason


def test_the_class_of_a_validation_file_comes_from_the_object_name():
    table, _ = rows(voc_xml("ILSVRC2012_val_00000001", 500, 375, [(10, 20, 200, 300)],
                            name="n01751748", folder="val"), "ILSVRC2012_val_00000001.xml")
    assert table["wnid"].tolist() == ["n01751748"]


def test_items_are_read_from_bytes_or_from_disk(tmp_path):
    data = voc_xml("n01440764_7", 50, 40, [(1, 2, 3, 4)])
    (tmp_path / "n01440764_7.xml").write_bytes(data)
    table, bad = read_xml_items([
        XmlItem("a.tar:n01440764_7.xml", "n01440764_7.xml", data=data),
        XmlItem("n01440764_7.xml", "n01440764_7.xml", path=str(tmp_path / "n01440764_7.xml")),
        XmlItem("gone.xml", "gone.xml", path=str(tmp_path / "gone.xml")),
    ])
    assert table["source"].tolist() == ["a.tar:n01440764_7.xml", "n01440764_7.xml", "gone.xml"]
    assert bad[0][0] == "gone.xml" and "unreadable" in bad[0][1]


def test_summarize_counts_what_was_read_and_skipped():
    good = voc_xml("n01440764_1", 100, 80, [(1, 1, 10, 10), (-3, 1, 10, 10), (9, 1, 2, 3)])
    table, bad = read_xml_items([XmlItem("g.xml", "n01440764_1.xml", data=good),
                                 XmlItem("m.xml", "n01440764_2.xml", data=b"<broken")])
    boxes, report = summarize(table, [Problem("file", "../x.xml", "unsafe", xml=True),
                                      Problem("archive", "n9.tar.gz", "corrupt"),
                                      Problem("ignored", "README")])
    assert list(boxes.columns) == list(BOX_COLUMNS) and len(boxes) == 2
    assert report["files_read"] == 3 and report["files_with_boxes"] == 1
    assert report["files_skipped"] == 2 and report["objects_skipped"] == 1
    assert report["archives_skipped"] == 1 and report["boxes_clipped"] == 1
    assert report["ignored_members"] == 1
    assert [f["file"] for f in report["skipped_files"]] == ["../x.xml", "m.xml"]
    assert bad == [("m.xml", report["skipped_files"][1]["reason"])]


def test_summarize_of_nothing_gives_the_empty_table():
    boxes, report = summarize(table := OBJECT_SCHEMA.empty_table().to_pandas())
    assert list(boxes.columns) == list(BOX_COLUMNS) and not len(boxes) and not len(table)
    assert report["objects"] == report["files_read"] == 0


def read_both_ways(data):
    """The objects and bad files of one file through the scanner and through the parser."""
    return rows(data, fast=True), rows(data, fast=False)


def test_the_canonical_scanner_reads_exactly_what_the_parser_reads():
    rng = np.random.default_rng(0)
    for k in range(200):
        width, height = (int(v) for v in rng.integers(1, 400, size=2))
        boxes = []
        for _ in range(int(rng.integers(1, 4))):
            values = [int(v) for v in rng.integers(-20, 420, size=4)]
            if k % 7 == 0:
                values[0] = f" {values[0]}.5 "
            if k % 11 == 0:
                values[3] = "" if k % 2 else "nan"
            boxes.append(values)
        data = voc_xml("n01440764_5", width, height, boxes)
        if k % 5 == 0:
            data = b'<?xml version="1.0" encoding="UTF-8"?>\n' + data
        if k % 3 == 0:
            data = data.replace(b"\t", b"  ")
        assert scan_canonical(data) is not None
        (fast, fast_bad), (full, full_bad) = read_both_ways(data)
        assert fast.equals(full) and fast_bad == full_bad


CANONICAL = voc_xml("n01440764_5", 120, 90, [(10, 20, 60, 70), (0, 5, 119, 89)])


@pytest.mark.parametrize("variant", [
    CANONICAL.replace(b"<annotation>", b'<annotation verified="yes">'),
    CANONICAL.replace(b"<segmented>", b"<!-- note --><segmented>"),
    CANONICAL.replace(b"<xmin>10</xmin>", b"<xmin>&#49;0</xmin>"),
    CANONICAL.replace(b"<name>n01440764</name>", b"<name><![CDATA[n01440764]]></name>"),
    CANONICAL.replace(b"<pose>Unspecified</pose>", "<pose>Frontal é</pose>".encode()),
    CANONICAL.replace(b"\n", b"\r\n"),
    CANONICAL.replace(b"</difficult>", b"</difficult>\n<part><name>head</name></part>"),
    CANONICAL.replace(b"<segmented>0</segmented>", b"<owner><name>x</name></owner>"),
    b'<?xml version="1.0" encoding="ISO-8859-1"?>\n' + CANONICAL,
    CANONICAL.replace(b"<name>n01440764</name>", b"<name>a]]>b</name>"),
    CANONICAL.replace(b"<name>n01440764</name>", b"<name>a\x01b</name>"),
    CANONICAL.replace(b"</annotation>", b"</annotation><annotation></annotation>"),
    CANONICAL.replace(b"<xmax>60</xmax>", b"<xmax>60</xmax><xmax>61</xmax>"),
])
def test_other_layouts_take_the_parser_and_give_the_same_answer(variant):
    assert scan_canonical(variant) is None
    (fast, fast_bad), (full, full_bad) = read_both_ways(variant)
    assert fast.equals(full) and fast_bad == full_bad
