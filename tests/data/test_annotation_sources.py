"""Reading ImageNet's bounding boxes: every layout, every object, every broken file reported."""

import gzip
import importlib.util
import io
import tarfile
from pathlib import Path

import pytest

from localglobal.data.annotation_sources import iter_source, read_annotations
from localglobal.data.boxes import BOX_COLUMNS, Problem, XmlItem
from localglobal.errors import ArchiveError, MissingInputError
from localglobal.io.tar import TarLimits, tar_bytes
from localglobal.io.voc import voc_xml
from tests.imagenet_fixture import build_fixture

WNIDS = ["n01440764", "n02102040", "n02979186"]
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def fixture(tmp_path_factory):
    return build_fixture(tmp_path_factory.mktemp("fixture"), wnids=WNIDS, per_class=3,
                         bad_annotations=True, bad_images=True)


@pytest.fixture(scope="module")
def result(fixture):
    return read_annotations(fixture.annotations)


def rows_by_object(table):
    return {(r.image_id, r.object_index): (r.xmin, r.ymin, r.xmax, r.ymax)
            for r in table.itertuples()}


def test_columns_are_the_contract(result):
    assert tuple(result.table.columns) == BOX_COLUMNS


def test_counts_match_the_fixture_with_every_bad_case(fixture, result):
    for key, value in fixture.expected.items():
        assert result.report[key] == value, key
    assert len(result.table) == fixture.expected["objects"]


def test_every_object_of_multi_object_files_is_kept_with_its_drawn_box(fixture, result):
    rows = rows_by_object(result.table)
    multi = [i for i, boxes in fixture.boxes.items() if len(boxes) > 1]
    assert multi, "the fixture must hold multi-object files"
    for image_id, boxes in fixture.boxes.items():
        for index, box in enumerate(boxes):
            assert rows[(image_id, index)] == tuple(float(v) for v in box)
    frame = result.table
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
    assert not any("bad_archive" in s for s in result.table["source"])


def test_boxes_leaving_the_image_are_clipped_and_counted(fixture, result):
    clipped = result.table[result.table["image_id"] == f"{WNIDS[0]}_bad_outside_clipped"]
    assert clipped[["xmin", "xmax"]].values.tolist() == [[0.0, 99.0]]
    (entry,) = result.report["clipped_boxes"]
    assert entry["file"] == fixture.bad_annotations["outside_clipped"]


def test_a_file_with_one_bad_object_keeps_the_good_one(result):
    mixed = result.table[result.table["image_id"] == f"{WNIDS[0]}_bad_mixed"]
    assert mixed["object_index"].tolist() == [0]
    (entry,) = result.report["skipped_objects"]
    assert entry["object_index"] == 1 and "inverted" in entry["reason"]


def test_nothing_is_extracted_anywhere(fixture, result):
    escaped = [fixture.root.parent / "escaped", fixture.root / "escaped-absolute.xml",
               fixture.root.parent / "outside.tar.gz"]
    assert not any(path.exists() for path in escaped)


def test_a_missing_source_and_a_file_that_is_no_archive_are_errors_naming_them(tmp_path):
    with pytest.raises(MissingInputError, match=r"typo\.tar\.gz: annotation source not"):
        read_annotations(tmp_path / "typo.tar.gz")
    path = tmp_path / "boxes.tar"
    path.write_bytes(b"this is not a tar archive at all" * 40)
    with pytest.raises(ArchiveError, match=r"boxes\.tar: not a tar archive"):
        read_annotations(path)


def test_a_truncated_outer_archive_is_an_error_naming_it(fixture, tmp_path):
    broken = tmp_path / "Annotation.tar.gz"
    data = fixture.annotations.read_bytes()
    broken.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(ArchiveError, match=r"Annotation\.tar\.gz: corrupt"):
        read_annotations(broken)


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
    from_folder = read_annotations(folder)
    assert rows_by_object(from_folder.table) == rows_by_object(result.table)
    assert from_folder.report["skipped_archives"] == []
    assert from_folder.report["source_kind"] == "folder"


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
    from_archive = read_annotations(direct)
    from_folder = read_annotations(folder)
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
    assert len(result.table) == 2
    assert [p["reason"] for p in result.report["skipped_files"]] == [
        "member stored twice: the first copy is read"] * 2


def test_ilsvrc_validation_files_take_the_class_from_the_object_name(tmp_path):
    folder = tmp_path / "val"
    folder.mkdir()
    (folder / "ILSVRC2012_val_00000001.xml").write_bytes(
        voc_xml("ILSVRC2012_val_00000001", 500, 375, [(10, 20, 200, 300), (5, 5, 50, 60)],
                name="n01751748", folder="val"))
    frame = read_annotations(folder).table
    assert frame["image_id"].tolist() == ["ILSVRC2012_val_00000001"] * 2
    assert frame["wnid"].tolist() == ["n01751748"] * 2
    assert frame["source"].tolist() == ["ILSVRC2012_val_00000001.xml"] * 2
    single = read_annotations(folder / "ILSVRC2012_val_00000001.xml")
    assert single.table.equals(frame) and single.report["source_kind"] == "file"


def test_the_source_is_listed_in_order_with_its_problems(fixture):
    entries = list(iter_source(fixture.annotations))
    items = [e for e in entries if isinstance(e, XmlItem)]
    problems = [e for e in entries if isinstance(e, Problem)]
    assert all(item.data is not None and item.path is None for item in items)
    archives = [i.source.split(":")[0] for i in items]
    assert archives == sorted(archives)  # the outer archive's order (one class after another)
    assert {p.kind for p in problems} == {"file", "archive"}


def test_an_inner_bomb_is_skipped_by_name_and_the_rest_is_read(tmp_path):
    good = tar_bytes([("n01440764/n01440764_1.xml",
                       voc_xml("n01440764_1", 50, 40, [(1, 2, 30, 20)]))])
    bomb = gzip.compress(tar_bytes([("n02102040/zeros.xml", bytes(8 << 20))], compress=False))
    path = tmp_path / "Annotation.tar"
    path.write_bytes(tar_bytes([("n02102040.tar.gz", bomb), ("n01440764.tar.gz", good)],
                               compress=False))
    result = read_annotations(path)
    assert result.table["image_id"].tolist() == ["n01440764_1"]
    (entry,) = result.report["skipped_archives"]
    assert entry["file"] == "n02102040.tar.gz" and "ratio" in entry["reason"]
    assert "zeros.xml" in entry["reason"]
    small = read_annotations(path, limits=TarLimits(max_member_bytes=1 << 20, max_ratio=1e6))
    (entry,) = small.report["skipped_archives"]
    assert "per-member cap" in entry["reason"]


def test_a_cap_on_the_outer_archive_stops_it_and_keeps_what_was_read(tmp_path):
    xml = voc_xml("n01440764_1", 50, 40, [(1, 2, 30, 20)])
    path = tmp_path / "bbox.tar.gz"
    path.write_bytes(gzip.compress(tar_bytes([("n01440764_1.xml", xml),
                                              ("zeros.bin", bytes(8 << 20))], compress=False)))
    result = read_annotations(path)
    assert result.table["image_id"].tolist() == ["n01440764_1"]
    (entry,) = result.report["skipped_archives"]
    assert entry["file"] == "bbox.tar.gz"
    assert "stopped at member zeros.bin" in entry["reason"] and "not read" in entry["reason"]


def test_the_benchmark_runs_on_a_tiny_archive(tmp_path):
    spec = importlib.util.spec_from_file_location("bench", REPO / "benchmarks" / "annotations.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    archive = bench.synthesize(tmp_path / "tiny.tar.gz", synsets=4, files=40, workers=1)
    result = read_annotations(archive)
    loop = bench.elementtree_loop(archive)
    assert result.report["files_read"] == len(list(bench._iter_xml(archive)))
    assert abs(result.report["files_read"] - 40) <= 4
    assert len(loop) == len(result.table)
    documents = list(bench._iter_xml(archive, limit=10))
    assert len(bench.thesis_method(documents)) == 10
