"""Reading ImageNet's bounding boxes: every layout, every object, every broken file reported."""

import importlib.util
import io
import os
import tarfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from defusedxml import DefusedXmlException

from localglobal.config import RunConfig
from localglobal.data import annotations as annotations_module
from localglobal.data.annotations import (
    BOX_COLUMNS,
    ArchiveError,
    BoxColumns,
    iter_tar,
    parse_voc,
    parse_xml,
    read_annotations,
    scan_canonical,
)
from localglobal.data.fixture import build_fixture, tar_bytes, voc_xml
from localglobal.run import prepare_run, run_stage

os.environ.setdefault("LOCALGLOBAL_NO_PROGRESS", "1")

WNIDS = ["n01440764", "n02102040", "n02979186"]
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def fixture(tmp_path_factory):
    return build_fixture(tmp_path_factory.mktemp("fixture"), wnids=WNIDS, per_class=3,
                         bad_annotations=True, bad_images=True)


@pytest.fixture(scope="module")
def result(fixture):
    return read_annotations(fixture.annotations, workers=1)


def rows_by_object(table):
    frame = table.to_pandas() if hasattr(table, "to_pandas") else table
    return {(r.image_id, r.object_index): (r.xmin, r.ymin, r.xmax, r.ymax)
            for r in frame.itertuples()}


def test_columns_are_the_contract(result):
    assert tuple(result.table.column_names) == BOX_COLUMNS


def test_counts_match_the_fixture_with_every_bad_case(fixture, result):
    report = result.report
    for key, value in fixture.expected.items():
        assert report[key] == value, key
    assert result.table.num_rows == fixture.expected["objects"]


def test_every_object_of_multi_object_files_is_kept_with_its_drawn_box(fixture, result):
    rows = rows_by_object(result.table)
    multi = [i for i, boxes in fixture.boxes.items() if len(boxes) > 1]
    assert multi, "the fixture must hold multi-object files"
    for image_id, boxes in fixture.boxes.items():
        for index, box in enumerate(boxes):
            assert rows[(image_id, index)] == tuple(float(v) for v in box)
    frame = result.table.to_pandas()
    assert (frame.groupby("image_id").size()[multi] > 1).all()
    good = frame[frame["image_id"].isin(list(fixture.boxes))]
    assert set(good["wnid"]) == set(WNIDS)
    assert (good["wnid"] == good["image_id"].str[:9]).all()


@pytest.mark.parametrize(("case", "words"), [
    ("malformed", "malformed XML"),
    ("no_bndbox", "no <bndbox>"),
    ("non_numeric", "non-numeric"),
    ("inverted", "inverted"),
    ("outside", "outside"),
    ("billion_laughs", "entities"),
    ("traversal", "unsafe member path"),
    ("absolute", "unsafe member path"),
    ("outer_traversal", "unsafe member path"),
])
def test_each_bad_file_is_reported_with_its_reason(fixture, result, case, words):
    reasons = {p["file"]: p["reason"] for p in result.report["skipped_files"]}
    assert words in reasons[fixture.bad_annotations[case]]


def test_a_corrupt_inner_archive_is_skipped_whole_and_reported(fixture, result):
    (entry,) = result.report["skipped_archives"]
    assert entry["file"] == fixture.bad_annotations["corrupt_archive"]
    assert "corrupt" in entry["reason"]
    assert not any("bad_archive" in s for s in result.table.column("source").to_pylist())


def test_boxes_leaving_the_image_are_clipped_and_counted(fixture, result):
    frame = result.table.to_pandas()
    clipped = frame[frame["image_id"] == f"{WNIDS[0]}_bad_outside_clipped"]
    assert clipped[["xmin", "xmax"]].values.tolist() == [[0.0, 99.0]]
    (entry,) = result.report["clipped_boxes"]
    assert entry["file"] == fixture.bad_annotations["outside_clipped"]


def test_a_file_with_one_bad_object_keeps_the_good_one(fixture, result):
    frame = result.table.to_pandas()
    mixed = frame[frame["image_id"] == f"{WNIDS[0]}_bad_mixed"]
    assert mixed["object_index"].tolist() == [0]
    (entry,) = result.report["skipped_objects"]
    assert entry["object_index"] == 1 and "inverted" in entry["reason"]


def test_billion_laughs_is_refused_not_expanded():
    bomb = (b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY a "aaaaaaaaaa">'
            + b"".join(f'<!ENTITY a{i} "{"&a;" * 10 if i == 0 else f"&a{i - 1};" * 10}">'
                       .encode() for i in range(12))
            + b"]><annotation><folder>&a11;</folder></annotation>")
    started = time.perf_counter()
    with pytest.raises(DefusedXmlException):
        parse_xml(bomb)
    assert time.perf_counter() - started < 1.0
    table, log = parse_voc(bomb, "bomb.xml")
    assert table.num_rows == 0 and "entities" in log.skipped_files[0]["reason"]


def test_documents_outside_the_fast_path_still_parse():
    plain = voc_xml("n01440764_1", 50, 40, [(1, 2, 30, 20)])
    commented = plain.replace(b"<annotation>", b"<annotation><!-- a comment -->")
    utf16 = plain.decode().replace("<annotation>", "<annotation>\u00e9", 0).encode("utf-16")
    for data in (plain, commented, utf16):
        table, log = parse_voc(data, "n01440764_1.xml")
        assert table.to_pylist()[0]["xmax"] == 30.0, log


def test_traversal_members_are_never_written_anywhere(fixture, tmp_path):
    run, config = prepare_run(tmp_path / "run", config=RunConfig())
    config.data.annotations = str(fixture.annotations)
    run_stage("annotations", run, config, workers=1)
    escaped = [fixture.root.parent / "escaped", fixture.root / "escaped-absolute.xml",
               fixture.root.parent / "outside.tar.gz", tmp_path / "escaped"]
    assert not any(path.exists() for path in escaped)
    written = {p.name for p in (tmp_path / "run").rglob("*") if p.is_file()}
    assert not any(name.endswith((".xml", ".tar.gz")) for name in written)


def test_a_corrupt_outer_archive_stops_and_leaves_no_boxes(fixture, tmp_path):
    run, config = prepare_run(tmp_path / "run", config=RunConfig())
    config.data.annotations = str(fixture.annotations)
    run_stage("annotations", run, config, workers=1)
    assert run.table_path("boxes").exists()
    broken = tmp_path / "Annotation.tar.gz"
    data = fixture.annotations.read_bytes()
    broken.write_bytes(data[: len(data) * 2 // 3])
    config.data.annotations = str(broken)
    with pytest.raises(ArchiveError, match=r"Annotation\.tar\.gz: corrupt"):
        run_stage("annotations", run, config, workers=1)
    assert not run.table_path("boxes").exists()
    assert not run.path("annotations-report.json").exists()


def test_a_file_that_is_no_archive_is_an_error_naming_it(tmp_path):
    path = tmp_path / "boxes.tar"
    path.write_bytes(b"this is not a tar archive at all" * 40)
    with pytest.raises(ArchiveError, match=r"boxes\.tar: not a tar archive"):
        read_annotations(path)


def inner_archives(fixture):
    """(member name, bytes) of the fixture's per-synset archives, the good ones only."""
    with tarfile.open(fixture.annotations) as outer:
        return [(m.name, outer.extractfile(m).read()) for m in outer.getmembers()
                if m.name.startswith("Annotation/n0")]


def test_a_folder_of_per_synset_archives_gives_the_same_boxes(fixture, result, tmp_path):
    folder = tmp_path / "Annotation"
    folder.mkdir()
    for name, data in inner_archives(fixture):
        (folder / Path(name).name).write_bytes(data)
    from_folder = read_annotations(folder, workers=1)
    assert rows_by_object(from_folder.table) == rows_by_object(result.table)
    assert from_folder.report["skipped_archives"] == []


def test_an_archive_of_xml_files_and_a_folder_of_them_give_the_same_boxes(fixture, tmp_path):
    members = []
    for _name, data in inner_archives(fixture):
        with tarfile.open(fileobj=io.BytesIO(data)) as inner:
            members += [(m.name, inner.extractfile(m).read()) for m in inner.getmembers()
                        if m.isfile() and ".." not in m.name and not m.name.startswith("/")]
    direct = tmp_path / "bbox_train.tar.gz"
    direct.write_bytes(tar_bytes(members))
    folder = tmp_path / "xml"
    for name, data in members:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    from_archive = read_annotations(direct, workers=1)
    from_folder = read_annotations(folder, workers=1)
    assert from_archive.report["files_read"] == len(members)
    assert rows_by_object(from_archive.table) == rows_by_object(from_folder.table)
    assert from_archive.report["files_skipped"] == from_folder.report["files_skipped"]
    for compression in ("bz2", "xz"):
        other = tmp_path / f"bbox_train.tar.{compression}"
        with tarfile.open(other, f"w:{compression}") as archive:
            for name, data in members:
                info = tarfile.TarInfo(name)
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
        assert read_annotations(other).table.equals(from_archive.table)


def test_a_member_stored_twice_is_read_once_and_reported(tmp_path):
    first = voc_xml("n01440764_1", 50, 40, [(1, 2, 30, 20)])
    second = voc_xml("n01440764_1", 50, 40, [(5, 5, 9, 9), (1, 1, 2, 2)])
    inner = tar_bytes([("n01440764/n01440764_1.xml", first)])
    path = tmp_path / "twice.tar"
    members = [("n01440764.tar.gz", inner), ("n01440764.tar.gz", inner),
               ("extra/n01440764_1.xml", first), ("extra/n01440764_1.xml", second)]
    path.write_bytes(tar_bytes(members, compress=False))
    result = read_annotations(path)
    assert result.table.num_rows == 2
    assert [p["reason"] for p in result.report["skipped_files"]] == [
        "member stored twice: the first copy is read"] * 2


def test_ilsvrc_validation_files_take_the_class_from_the_object_name(tmp_path):
    folder = tmp_path / "val"
    folder.mkdir()
    (folder / "ILSVRC2012_val_00000001.xml").write_bytes(
        voc_xml("ILSVRC2012_val_00000001", 500, 375, [(10, 20, 200, 300), (5, 5, 50, 60)],
                name="n01751748", folder="val"))
    frame = read_annotations(folder).table.to_pandas()
    assert frame["image_id"].tolist() == ["ILSVRC2012_val_00000001"] * 2
    assert frame["wnid"].tolist() == ["n01751748"] * 2
    assert frame["source"].tolist() == ["ILSVRC2012_val_00000001.xml"] * 2


def test_parallel_reading_gives_the_same_table(fixture, result):
    parallel = read_annotations(fixture.annotations, workers=2)
    assert parallel.table.equals(result.table)
    assert parallel.report["files_read"] == result.report["files_read"]


def test_long_member_names_are_read_from_gnu_and_pax_headers():
    name = "Annotation/" + "deep/" * 30 + "n01440764_7.xml"
    data = voc_xml("n01440764_7", 50, 40, [(1, 2, 3, 4)])
    for fmt in (tarfile.GNU_FORMAT, tarfile.PAX_FORMAT):
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w", format=fmt) as archive:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        buffer.seek(0)
        (entry,) = [e for e in iter_tar(buffer, "test.tar") if e.kind == "file"]
        assert entry.name == name and entry.data == data


def test_the_stage_writes_boxes_and_report(fixture, tmp_path):
    run, config = prepare_run(tmp_path / "run", config=RunConfig())
    config.data.annotations = str(fixture.annotations)
    summary = run_stage("annotations", run, config, workers=1)
    assert summary["objects"] == fixture.expected["objects"]
    table = pq.read_table(run.table_path("boxes"))
    assert table.num_rows == fixture.expected["objects"]
    assert isinstance(run.read("boxes"), pd.DataFrame)
    assert run.path("annotations-report.json").exists()


def test_the_benchmark_runs_on_a_tiny_archive(tmp_path):
    spec = importlib.util.spec_from_file_location("bench", REPO / "benchmarks" / "annotations.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    archive = bench.synthesize(tmp_path / "tiny.tar.gz", synsets=4, files=40, workers=1)
    result = read_annotations(archive)
    loop = bench.elementtree_loop(archive)
    assert result.report["files_read"] == len(list(bench._iter_xml(archive)))
    assert abs(result.report["files_read"] - 40) <= 4
    assert len(loop) == result.table.num_rows
    documents = list(bench._iter_xml(archive, limit=10))
    assert len(bench.thesis_method(documents)) == 10


def read_both_ways(data, monkeypatch):
    """Rows and log of one file through the canonical scanner and through the parser."""
    fast = BoxColumns()
    fast.add_file(data, "n01440764_5.xml", "n01440764_5.xml")
    with monkeypatch.context() as patch:
        patch.setattr(annotations_module, "scan_canonical", lambda data: None)
        full = BoxColumns()
        full.add_file(data, "n01440764_5.xml", "n01440764_5.xml")
    return (fast.table(), fast.log), (full.table(), full.log)


def test_the_canonical_scanner_reads_exactly_what_the_parser_reads(monkeypatch):
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
        (fast_table, fast_log), (full_table, full_log) = read_both_ways(data, monkeypatch)
        assert fast_table.equals(full_table)
        assert fast_log == full_log


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
def test_other_layouts_take_the_parser_and_give_the_same_answer(variant, monkeypatch):
    assert scan_canonical(variant) is None
    (fast_table, fast_log), (full_table, full_log) = read_both_ways(variant, monkeypatch)
    assert fast_table.equals(full_table)
    assert fast_log == full_log


def test_without_a_source_the_stage_writes_an_empty_table(tmp_path):
    run, config = prepare_run(tmp_path / "run", config=RunConfig())
    summary = run_stage("annotations", run, config, workers=1)
    assert summary["objects"] == 0
    assert tuple(run.read("boxes").columns) == BOX_COLUMNS


def test_a_missing_source_is_named_and_keeps_the_previous_result(fixture, tmp_path):
    run, config = prepare_run(tmp_path / "run", config=RunConfig())
    config.data.annotations = str(fixture.annotations)
    run_stage("annotations", run, config, workers=1)
    config.data.annotations = str(tmp_path / "typo.tar.gz")
    with pytest.raises(FileNotFoundError, match=r"typo\.tar\.gz: annotation source not found"):
        run_stage("annotations", run, config, workers=1)
    assert run.table_path("boxes").exists()
