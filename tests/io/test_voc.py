"""VOC XML: the canonical scanner, the defused parser, and the writer."""

import time

import pytest
from defusedxml import DefusedXmlException

from localglobal.errors import BadInputError
from localglobal.io.voc import parse_xml, read_fields, scan_canonical, voc_xml

BOMB = (b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY a "aaaaaaaaaa">'
        + b"".join(f'<!ENTITY a{i} "{"&a;" * 10 if i == 0 else f"&a{i - 1};" * 10}">'
                   .encode() for i in range(12))
        + b"]><annotation><folder>&a11;</folder></annotation>")


def test_billion_laughs_is_refused_not_expanded():
    started = time.perf_counter()
    with pytest.raises(DefusedXmlException):
        parse_xml(BOMB)
    with pytest.raises(BadInputError, match="entities"):
        read_fields(BOMB)
    assert time.perf_counter() - started < 1.0


def test_the_writer_gives_canonical_files_the_scanner_reads():
    data = voc_xml("n01440764_1", 50, 40, [(1, 2, 30, 20), (3, 4, 5, 6)])
    size, objects = scan_canonical(data)
    assert size == (b"50", b"40", b"3")
    assert [o[4:] for o in objects] == [(b"1", b"2", b"30", b"20"), (b"3", b"4", b"5", b"6")]
    assert objects[0][:4] == (b"n01440764", b"Unspecified", b"0", b"0")


def test_documents_outside_the_fast_path_still_parse():
    plain = voc_xml("n01440764_1", 50, 40, [(1, 2, 30, 20)])
    commented = plain.replace(b"<annotation>", b"<annotation><!-- a comment -->")
    utf16 = plain.decode().replace("<annotation>", "<annotation>\u00e9", 0).encode("utf-16")
    for data in (commented, utf16):
        assert scan_canonical(data) is None
        _size, objects = read_fields(data)
        assert objects[0][6] == "30"


@pytest.mark.parametrize(("data", "words"), [
    (b"<annotation><size><width>1</width></size><object></annotation>", "malformed XML"),
    (b"<other><object/></other>", "root element is <other>"),
])
def test_unreadable_files_say_why(data, words):
    with pytest.raises(BadInputError, match=words):
        read_fields(data)


def test_objects_without_a_box_give_no_coordinates():
    data = b"<annotation><object><name>x</name></object></annotation>"
    _size, (obj,) = read_fields(data)
    assert obj[0] == "x" and obj[4:] == (None, None, None, None)
