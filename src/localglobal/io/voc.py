"""Reading and writing VOC XML annotation files (ImageNet's bounding boxes).

:func:`read_fields` gives the raw texts of a file's ``<size>`` and of each
``<object>`` (name, pose, flags, ``<bndbox>``). A file laid out exactly as ImageNet
writes them is read by :func:`scan_canonical`, a strict grammar that admits no DTD,
entity, comment, CDATA or attribute at all, several times faster than a parser; every
other file goes through defusedxml with entity declarations and external references
refused, so a "billion laughs" file is reported, never expanded. :func:`voc_xml`
writes a file as ImageNet does (the toy world's annotations and the tests' fixtures).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as _defused_fromstring

from localglobal.errors import BadInputError

RawObject = tuple[Any, Any, Any, Any, Any, Any, Any, Any]
"""One ``<object>`` as read: name, pose, truncated, difficult, then xmin, ymin, xmax,
ymax (texts, ``bytes`` from the scanner or ``str`` from the parser); the four
coordinates are None when the object has no ``<bndbox>``."""

RawSize = tuple[Any, Any, Any]
"""``<size>``'s width, height and depth texts."""


def parse_xml(data: bytes) -> ET.Element:
    """Parse one XML document with defusedxml: entity declarations and external
    references are refused, never expanded or fetched.

    Raises
    ------
    xml.etree.ElementTree.ParseError
        Malformed XML.
    defusedxml.DefusedXmlException
        The document declares entities or references external ones.
    """
    return _defused_fromstring(data, forbid_dtd=False, forbid_entities=True,
                               forbid_external=True)


# The canonical ImageNet/VOC layout, as a strict grammar: a document matching it is
# well-formed XML (no attributes, comments, entities, CDATA or DOCTYPE can appear;
# text excludes "<", "&" and control characters, "]]>" and non-ASCII are ruled
# out before), so reading its fields with regular expressions gives exactly what
# the full parser gives, several times faster. Anything else takes the full parser.
_WS = rb"[ \t\n]*"
_TEXT = rb"([^<&\x00-\x08\x0b\x0c\x0e-\x1f]*)"
_SKIP = rb"[^<&\x00-\x08\x0b\x0c\x0e-\x1f]*"
_DECLARATION = re.compile(
    rb"(?:\xef\xbb\xbf)?(?:<\?xml[ \t\n]+version[ \t\n]*=[ \t\n]*(['\"])1\.[0-9]+\1"
    rb"(?:[ \t\n]+encoding[ \t\n]*=[ \t\n]*(['\"])(?:[Uu][Tt][Ff]-?8|[Aa][Ss][Cc][Ii][Ii]|"
    rb"[Uu][Ss]-[Aa][Ss][Cc][Ii][Ii])\2)?"
    rb"(?:[ \t\n]+standalone[ \t\n]*=[ \t\n]*(['\"])(?:yes|no)\3)?[ \t\n]*\?>)?"
    + _WS + rb"<annotation>"
)
_ELEMENT = re.compile(
    _WS + rb"(?:"
    rb"<(folder|filename|segmented)>" + _SKIP + rb"</\1>"                          # 1
    rb"|<source>" + _WS + rb"(?:<(database|annotation|image)>" + _SKIP + rb"</\2>"  # 2
    + _WS + rb")*</source>"
    rb"|<size>" + _WS + rb"<width>" + _TEXT + rb"</width>" + _WS                  # 3
    + rb"<height>" + _TEXT + rb"</height>" + _WS                                   # 4
    + rb"<depth>" + _TEXT + rb"</depth>" + _WS + rb"</size>"                       # 5
    rb"|<object>" + _WS + rb"<name>" + _TEXT + rb"</name>" + _WS                  # 6
    + rb"<pose>" + _TEXT + rb"</pose>" + _WS                                       # 7
    + rb"<truncated>" + _TEXT + rb"</truncated>" + _WS                             # 8
    + rb"<difficult>" + _TEXT + rb"</difficult>" + _WS + rb"<bndbox>" + _WS        # 9
    + rb"<xmin>" + _TEXT + rb"</xmin>" + _WS + rb"<ymin>" + _TEXT + rb"</ymin>"    # 10, 11
    + _WS + rb"<xmax>" + _TEXT + rb"</xmax>" + _WS + rb"<ymax>" + _TEXT + rb"</ymax>"  # 12, 13
    + _WS + rb"</bndbox>" + _WS + rb"</object>"
    rb"|(</annotation>)" + _WS + rb"\Z"                                             # 14
    rb")"
)


def scan_canonical(data: bytes) -> tuple[RawSize | None, list[RawObject]] | None:
    """Read a VOC file laid out exactly as ImageNet writes them, without a parser.

    Returns
    -------
    tuple or None
        ``(size, objects)`` with the raw texts (bytes), or None when the file is not
        in the canonical layout (then the full parser must read it).
    """
    if not data.isascii() or b"]]>" in data or b"\r" in data:
        return None
    head = _DECLARATION.match(data)
    if head is None:
        return None
    pos = head.end()
    size: RawSize | None = None
    objects: list[RawObject] = []
    match = _ELEMENT.match
    while True:
        found = match(data, pos)
        if found is None:
            return None
        group = found.lastindex
        if group == 14:
            return size, objects
        if group == 13:
            objects.append(found.groups()[5:13])
        elif group == 5:
            if size is not None:
                return None  # two <size> elements: let the parser decide
            size = found.group(3, 4, 5)
        pos = found.end()


def tree_fields(root: ET.Element) -> tuple[RawSize | None, list[RawObject]]:
    """The same fields as :func:`scan_canonical`, from a parsed tree.

    Raises
    ------
    BadInputError
        The root element is not ``<annotation>``.
    """
    # find/findtext/findall with a plain tag name run in C.
    if root.tag != "annotation":
        raise BadInputError(f"root element is <{root.tag}>, not <annotation>")
    size_element = root.find("size")
    size = None
    if size_element is not None:
        size = (size_element.findtext("width"), size_element.findtext("height"),
                size_element.findtext("depth"))
    objects: list[RawObject] = []
    for obj in root.findall("object"):
        box = obj.find("bndbox")
        coords = ((None,) * 4 if box is None else
                  (box.findtext("xmin"), box.findtext("ymin"), box.findtext("xmax"),
                   box.findtext("ymax")))
        objects.append((obj.findtext("name"), obj.findtext("pose"), obj.findtext("truncated"),
                        obj.findtext("difficult"), *coords))
    return size, objects


def read_fields(data: bytes, *, fast: bool = True) -> tuple[RawSize | None, list[RawObject]]:
    """The size and objects of one VOC document.

    Parameters
    ----------
    data : bytes
        The file's bytes.
    fast : bool
        Try :func:`scan_canonical` first (the answer is the same; tests turn it off).

    Raises
    ------
    BadInputError
        Malformed XML, refused entities, or a root that is not ``<annotation>``; the
        message is the reason (the caller names the file).
    """
    fields = scan_canonical(data) if fast else None
    if fields is not None:
        return fields
    try:
        return tree_fields(parse_xml(data))
    except DefusedXmlException as error:
        raise BadInputError("refused: the file declares XML entities or external references "
                       f"({error})") from None
    except ET.ParseError as error:
        raise BadInputError(f"malformed XML: {error}") from None


def voc_xml(image_id: str, width: int, height: int, boxes: Iterable[Sequence[object]],
            *, name: str | None = None, depth: int = 3, folder: str | None = None,
            database: str = "ILSVRC_2012") -> bytes:
    """A VOC annotation file as ImageNet writes them.

    Parameters
    ----------
    image_id : str
        The image's file stem (``<filename>``).
    width, height : int
        Image size in pixels.
    boxes : iterable
        ``(xmin, ymin, xmax, ymax)`` per object, inclusive pixel indices; values are
        written as given (strings allowed, for broken files).
    name : str, optional
        The objects' ``<name>`` (default: the wnid prefix of ``image_id``).
    depth : int
        Colour channels.
    folder : str, optional
        ``<folder>`` (default: the wnid).
    database : str
        ``<source><database>``.
    """
    wnid = image_id.split("_", 1)[0]
    name = wnid if name is None else name
    objects = "".join(
        f"\t<object>\n\t\t<name>{escape(name)}</name>\n\t\t<pose>Unspecified</pose>\n"
        f"\t\t<truncated>0</truncated>\n\t\t<difficult>0</difficult>\n\t\t<bndbox>\n"
        f"\t\t\t<xmin>{escape(str(box[0]))}</xmin>\n\t\t\t<ymin>{escape(str(box[1]))}</ymin>\n"
        f"\t\t\t<xmax>{escape(str(box[2]))}</xmax>\n\t\t\t<ymax>{escape(str(box[3]))}</ymax>\n"
        f"\t\t</bndbox>\n\t</object>\n"
        for box in boxes
    )
    return (
        f"<annotation>\n\t<folder>{escape(folder or wnid)}</folder>\n"
        f"\t<filename>{escape(image_id)}</filename>\n"
        f"\t<source>\n\t\t<database>{escape(database)}</database>\n\t</source>\n"
        f"\t<size>\n\t\t<width>{width}</width>\n\t\t<height>{height}</height>\n"
        f"\t\t<depth>{depth}</depth>\n\t</size>\n\t<segmented>0</segmented>\n"
        f"{objects}</annotation>\n"
    ).encode()
