"""The ``annotations`` stage: ImageNet bounding boxes (VOC XML) into one table.

ImageNet's boxes come in several shapes, and every one of them is read here:

* the official ``Annotation.tar.gz``: an outer tar holding one archive per synset
  (``n01440764.tar.gz``), each holding XML files such as
  ``Annotation/n01440764/n01440764_18.xml``;
* an archive of XML files directly (``ILSVRC2012_bbox_train_v2.tar.gz``,
  ``ILSVRC2012_bbox_val_v3.tgz``) or one per-synset archive;
* a folder of per-synset archives, or a folder tree of XML files (the ILSVRC
  validation boxes, an extracted archive), or a mixture.

The result, ``boxes.parquet``, has one row per object:

======================  ==========================================================
``image_id``            stem of the XML file's name (``n01440764_10026``)
``wnid``                the image's synset: from the image id, else the folder or
                        archive name, else the object's ``<name>``
``width, height,        ``<size>`` of the annotated image in pixels (0 when the
depth``                 file does not give it)
``object_index``        position of the object among the file's ``<object>``s
``name``                the object's ``<name>``
``xmin … ymax``         the ``<bndbox>`` values as written (ImageNet: 0-based
                        inclusive pixel indices; :func:`~localglobal.data.geometry.voc_to_edges`
                        converts), clipped to the image where they leave it
``truncated,            flags of the object (0 when absent)
difficult, pose``
``source``              where the file came from: ``archive member:XML member``,
                        or the XML file's path relative to the source folder
======================  ==========================================================

Bad input never stops the stage: a malformed XML file, an object without
``<bndbox>``, non-numeric or inverted coordinates, a corrupt inner archive, or an
archive member with an absolute or ``..`` path is skipped and listed with its
reason in ``annotations-report.json``; a box that leaves the image is clipped
and counted. Files in ImageNet's own layout are read by a strict grammar that
admits no DTD, entity or comment at all; every other file goes through a parser
with entity declarations refused (defusedxml), so a "billion laughs" file is
reported, never expanded. Nothing is ever extracted to disk: archives are
streamed and their members read in memory. A corrupt *outer* archive stops the
stage with an error that names it, before any output is written.

Work is spread over processes one inner archive (or one chunk of XML files) at a
time, and finished work is kept in shards, so an interrupted read resumes.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import io
import lzma
import math
import os
import re
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, NamedTuple
from xml.etree import ElementTree as ET

import pyarrow as pa
import pyarrow.parquet as pq
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as _defused_fromstring

from localglobal.store import ShardStore, atomic_path, read_json, write_json

#: Columns of ``boxes.parquet``, in order (part of the interface).
BOX_COLUMNS: tuple[str, ...] = (
    "image_id", "wnid", "width", "height", "depth", "object_index", "name",
    "xmin", "ymin", "xmax", "ymax", "truncated", "difficult", "pose", "source",
)

BOX_SCHEMA = pa.schema([
    ("image_id", pa.string()),
    ("wnid", pa.string()),
    ("width", pa.int32()),
    ("height", pa.int32()),
    ("depth", pa.int32()),
    ("object_index", pa.int32()),
    ("name", pa.string()),
    ("xmin", pa.float64()),
    ("ymin", pa.float64()),
    ("xmax", pa.float64()),
    ("ymax", pa.float64()),
    ("truncated", pa.int8()),
    ("difficult", pa.int8()),
    ("pose", pa.string()),
    ("source", pa.string()),
])

# Bumped whenever the reader's output for the same input changes, so that shards
# written by an older reader are never mixed into a new result.
READER_VERSION = 3

# XML files per work unit where the XML files are not grouped into archives.
XML_CHUNK = 1000

# Work units handed to a worker process at once.
UNITS_PER_TASK = 8

# At most this many clipped boxes are listed by name in the report (all are counted).
MAX_LISTED_CLIPPED = 1000

_ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
_WNID = re.compile(r"n\d{8}")
_WNID_PREFIX = re.compile(r"(n\d{8})_")


class ArchiveError(ValueError):
    """An archive cannot be read: not a tar, corrupt or truncated. The message names it."""


class AnnotationSourceError(FileNotFoundError):
    """The annotation source is missing or of a kind that cannot be read."""


# --------------------------------------------------------------------------- archives


class TarEntry(NamedTuple):
    """One member of a tar archive, as streamed by :func:`iter_tar`.

    Attributes:
        name: the member's path inside the archive (as stored, never normalised).
        kind: ``"file"``, ``"dir"`` or ``"other"`` (links, devices, …).
        size: data size in bytes.
        data: the member's bytes for wanted files, else None.
    """

    name: str
    kind: str
    size: int
    data: bytes | None


_DRIVE = re.compile(r"^[A-Za-z]:")


def is_unsafe_member(name: str) -> bool:
    """Whether an archive member's path is absolute or climbs out with ``..``.

    Such members are never written anywhere; the reader skips and reports them.
    """
    if not name or name[0] in "/\\" or (":" in name and _DRIVE.match(name)):
        return True
    return ".." in name and ".." in re.split(r"[\\/]+", name)


def _read_exact(stream: IO[bytes], size: int, label: str, what: str) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise ArchiveError(f"{label}: truncated archive (ends inside {what})")
    return data


def _octal(field_bytes: bytes, label: str) -> int:
    if field_bytes[:1] and field_bytes[0] & 0x80:  # GNU base-256 for large values
        value = int.from_bytes(field_bytes[1:], "big")
        return value
    text = field_bytes.rstrip(b"\0 ").lstrip(b" ")
    try:
        return int(text, 8) if text else 0
    except ValueError:
        raise ArchiveError(f"{label}: not a tar archive (bad header field {text[:12]!r})") from None


def _check_header(block: bytes, label: str) -> None:
    # ustar/GNU headers carry a magic; older headers only their checksum.
    if block[257:262] == b"ustar":
        return
    stored = _octal(block[148:156], label)
    actual = sum(block[:148]) + 8 * 32 + sum(block[156:])
    if stored != actual:
        raise ArchiveError(f"{label}: not a tar archive or corrupt header (checksum mismatch)")


def _pax_records(data: bytes) -> dict[str, str]:
    records: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        space = data.find(b" ", pos)
        if space < 0:
            break
        try:
            length = int(data[pos:space])
        except ValueError:
            break
        if length <= 0:
            break
        record = data[space + 1: pos + length - 1]
        key, _, value = record.partition(b"=")
        records[key.decode("utf-8", "replace")] = value.decode("utf-8", "replace")
        pos += length
    return records


def iter_tar(stream: IO[bytes], label: str,
             want: Callable[[str], bool] = lambda name: True) -> Iterator[TarEntry]:
    """Stream the members of an uncompressed tar archive, without extracting anything.

    Reads ustar, GNU (long names) and pax headers; every member's bytes are read
    into memory (for files ``want`` accepts) or skipped.

    Args:
        stream: a readable binary stream positioned at the archive's start.
        label: how errors name the archive.
        want: called with a regular file's name; False skips its data.

    Yields:
        :class:`TarEntry` per member (directories and links included, their data None).

    Raises:
        ArchiveError: the stream is not a tar archive, or it is truncated.
    """
    long_name: str | None = None
    pax: dict[str, str] = {}
    while True:
        block = stream.read(512)
        if not block:
            return  # end of data at a member boundary: accepted, as tar itself does
        if len(block) < 512:
            raise ArchiveError(f"{label}: truncated archive (partial header)")
        if block.count(0) == 512:
            return  # end-of-archive marker
        _check_header(block, label)
        size = _octal(block[124:136], label)
        typeflag = block[156:157]
        name = block[0:100].split(b"\0", 1)[0]
        if block[257:262] == b"ustar" and block[345:346] != b"\0":
            prefix = block[345:500].split(b"\0", 1)[0]
            name = prefix + b"/" + name
        padded = (size + 511) & ~511
        if typeflag in (b"L", b"x", b"g", b"K"):
            meta = _read_exact(stream, padded, label, "an extended header")[:size]
            if typeflag == b"L":
                long_name = meta.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
            elif typeflag == b"x":
                pax = _pax_records(meta)
            continue
        text = long_name if long_name is not None else name.decode("utf-8", "surrogateescape")
        if "path" in pax:
            text = pax["path"]
        if "size" in pax:
            try:
                size = int(pax["size"])
                padded = (size + 511) & ~511
            except ValueError:
                raise ArchiveError(f"{label}: bad pax size {pax['size']!r}") from None
        long_name, pax = None, {}
        if typeflag in (b"0", b"\0", b"7"):
            if want(text):
                data = _read_exact(stream, padded, label, f"member {text!r}")
                yield TarEntry(text, "file", size, data[:size] if padded != size else data)
            else:
                _skip(stream, padded, label, text)
                yield TarEntry(text, "file", size, None)
        else:
            if typeflag not in (b"1", b"2", b"3", b"4", b"6"):
                _skip(stream, padded, label, text)
            yield TarEntry(text, "dir" if typeflag == b"5" else "other", size, None)


def _skip(stream: IO[bytes], size: int, label: str, name: str) -> None:
    while size > 0:
        chunk = stream.read(min(size, 1 << 20))
        if not chunk:
            raise ArchiveError(f"{label}: truncated archive (ends inside member {name!r})")
        size -= len(chunk)


def _decompress(data: bytes, label: str) -> bytes:
    """Decompress an archive held in memory (gzip, bzip2, xz or none), checking integrity."""
    try:
        if data[:2] == b"\x1f\x8b":
            return gzip.decompress(data)
        if data[:3] == b"BZh":
            return bz2.decompress(data)
        if data[:6] == b"\xfd7zXZ\x00":
            return lzma.decompress(data)
    except (OSError, EOFError, zlib.error, lzma.LZMAError, ValueError) as error:
        raise ArchiveError(f"{label}: corrupt archive ({_describe(error)})") from None
    return data


@contextlib.contextmanager
def _open_stream(path: Path) -> Iterator[IO[bytes]]:
    """Open an archive file as an uncompressed byte stream (gzip, bzip2, xz or none)."""
    with open(path, "rb") as raw:
        magic = raw.read(6)
        raw.seek(0)
        opener = {b"\x1f\x8b": lambda f: gzip.GzipFile(fileobj=f, mode="rb"),
                  b"BZh": bz2.BZ2File, b"\xfd7zXZ\x00": lzma.LZMAFile}
        for prefix, open_compressed in opener.items():
            if magic.startswith(prefix):
                with open_compressed(raw) as stream:
                    yield stream
                return
        yield raw


def _describe(error: BaseException) -> str:
    text = str(error).strip()
    kind = type(error).__name__
    if isinstance(error, EOFError):
        return f"truncated: {text}" if text else "truncated"
    return f"{kind}: {text}" if text else kind


def is_archive_name(name: str) -> bool:
    """Whether a file name looks like a (possibly compressed) tar archive."""
    return name.lower().endswith(_ARCHIVE_SUFFIXES)


def _is_xml_name(name: str) -> bool:
    return name[-4:].lower() == ".xml"


def _wanted(name: str) -> bool:
    return name[-4:].lower() == ".xml" or is_archive_name(name)


# --------------------------------------------------------------------------- XML


def parse_xml(data: bytes) -> ET.Element:
    """Parse one XML document safely, refusing entity declarations and external references.

    A document without any ``<!`` (no DOCTYPE, hence no entity declarations or
    external references) is read by the C parser with its encoding fixed to UTF-8,
    in which ``<!`` cannot hide; every other document goes through defusedxml,
    which refuses entities. Both raise on malformed XML.

    Raises:
        xml.etree.ElementTree.ParseError: malformed XML.
        defusedxml.DefusedXmlException: entity declarations or external references.
    """
    if b"<!" not in data:
        parser = ET.XMLParser(encoding="utf-8")
        try:
            parser.feed(data)
            return parser.close()
        except ET.ParseError:
            pass  # perhaps another encoding: the defused parser decides
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

# One object as read from a file: name, pose, truncated, difficult (text), then
# xmin, ymin, xmax, ymax (text), or the four None when the object has no <bndbox>.
RawObject = tuple[Any, Any, Any, Any, Any, Any, Any, Any]
RawSize = tuple[Any, Any, Any]


def scan_canonical(data: bytes) -> tuple[RawSize | None, list[RawObject]] | None:
    """Read a VOC file laid out exactly as ImageNet writes them, without a parser.

    Returns:
        ``(size, objects)`` with the raw texts (bytes), or None when the file is
        not in the canonical layout (then the full parser must read it).
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


def _tree_fields(root: ET.Element) -> tuple[RawSize | None, list[RawObject]]:
    """The same fields as :func:`scan_canonical`, from a parsed tree."""
    # find/findtext/findall with a plain tag name run in C.
    if root.tag != "annotation":
        raise _BadFile(f"root element is <{root.tag}>, not <annotation>")
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


def _text(value: str | bytes | None) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        value = value.decode("ascii")
    return value.strip() if value and (value[0].isspace() or value[-1].isspace()) else value


def _to_int(text: str | bytes | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        try:
            value = float(text)
        except ValueError:
            return None
        return int(value) if math.isfinite(value) and value == int(value) else None


def _flag(text: str | bytes | None) -> int:
    if text == b"0" or text == "0":
        return 0
    value = _to_int(text)
    return value if value is not None and -128 <= value <= 127 else 0


class _BadFile(Exception):
    """A whole file is skipped; the message is the reason."""


@dataclass
class ShardLog:
    """What happened while reading one work unit (or a whole source, once merged).

    Every list entry is a dict with ``file`` (the ``source`` string) and ``reason``;
    object entries add ``object_index``.
    """

    files_read: int = 0
    objects: int = 0
    skipped_files: list[dict[str, Any]] = field(default_factory=list)
    skipped_objects: list[dict[str, Any]] = field(default_factory=list)
    skipped_archives: list[dict[str, Any]] = field(default_factory=list)
    clipped: int = 0
    clipped_listed: list[dict[str, Any]] = field(default_factory=list)
    size_unknown: int = 0
    ignored_members: int = 0
    files_with_boxes: int = 0

    def merge(self, other: ShardLog) -> None:
        self.files_read += other.files_read
        self.objects += other.objects
        self.skipped_files.extend(other.skipped_files)
        self.skipped_objects.extend(other.skipped_objects)
        self.skipped_archives.extend(other.skipped_archives)
        self.clipped += other.clipped
        room = MAX_LISTED_CLIPPED - len(self.clipped_listed)
        if room > 0:
            self.clipped_listed.extend(other.clipped_listed[:room])
        self.size_unknown += other.size_unknown
        self.ignored_members += other.ignored_members
        self.files_with_boxes += other.files_with_boxes

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ShardLog:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


class BoxColumns:
    """Column lists of ``boxes.parquet`` rows, filled one XML file at a time.

    Building plain lists and one Arrow table at the end is several times faster
    than a data frame per file.
    """

    def __init__(self) -> None:
        self.columns: dict[str, list[Any]] = {name: [] for name in BOX_COLUMNS}
        self.log = ShardLog()

    def add_file(self, data: bytes, member: str, source: str,
                 folder_wnid: str | None = None) -> None:
        """Parse one VOC XML file and append a row per valid object.

        Args:
            data: the file's bytes.
            member: its path (inside the archive or the folder); its stem is the image id.
            source: the ``source`` value of its rows (also how the report names it).
            folder_wnid: the synset of the surrounding archive or folder, if known.
        """
        log = self.log
        log.files_read += 1
        try:
            fields = scan_canonical(data)
            if fields is None:
                fields = _tree_fields(parse_xml(data))
            self._add_objects(*fields, member, source, folder_wnid)
        except _BadFile as error:
            log.skipped_files.append({"file": source, "reason": str(error)})
        except DefusedXmlException as error:
            log.skipped_files.append({"file": source, "reason": "refused: the file declares "
                                      f"XML entities or external references ({error})"})
        except ET.ParseError as error:
            log.skipped_files.append({"file": source, "reason": f"malformed XML: {error}"})
        except Exception as error:  # a reader must survive any single file
            log.skipped_files.append({"file": source, "reason": f"unreadable: {_describe(error)}"})

    def _add_objects(self, size: RawSize | None, objects: list[RawObject], member: str,
                     source: str, folder_wnid: str | None) -> None:
        log = self.log
        if not objects:
            raise _BadFile("no <object> in the file")
        width = height = depth = None
        if size is not None:
            width, height, depth = _to_int(size[0]), _to_int(size[1]), _to_int(size[2])
        known_size = width is not None and height is not None and width > 0 and height > 0
        if not known_size:
            width = height = 0
            log.size_unknown += 1
        base = member.rsplit("/", 1)[-1]
        image_id = base[:-4] if base[-4:].lower() == ".xml" else base
        prefix = _WNID_PREFIX.match(image_id)
        file_wnid = prefix.group(1) if prefix else folder_wnid

        issues: list[dict[str, Any]] = []
        added = 0
        columns = self.columns
        isfinite = math.isfinite
        for index, (name, pose, truncated, difficult, *texts) in enumerate(objects):
            if texts[0] is None and texts[1] is None and texts[2] is None and texts[3] is None:
                issues.append({"file": source, "object_index": index, "reason": "no <bndbox>"})
                continue
            try:
                xmin, ymin, xmax, ymax = map(float, texts)
                if not isfinite(xmin + ymin + xmax + ymax):
                    raise ValueError
            except (TypeError, ValueError):
                shown = {k: _text(v) if v is not None else None
                         for k, v in zip(("xmin", "ymin", "xmax", "ymax"), texts, strict=True)}
                missing = [k for k, v in shown.items() if v is None]
                reason = (f"<bndbox> has no {', '.join(missing)}" if missing
                          else f"non-numeric coordinates {shown}")
                issues.append({"file": source, "object_index": index, "reason": reason})
                continue
            if xmin > xmax or ymin > ymax:
                issues.append({"file": source, "object_index": index, "reason":
                               f"inverted box xmin={xmin:g} xmax={xmax:g} ymin={ymin:g} "
                               f"ymax={ymax:g}"})
                continue
            if known_size:
                # Inclusive pixel indices: the last column is width - 1.
                cx0 = xmin if xmin > 0.0 else 0.0
                cy0 = ymin if ymin > 0.0 else 0.0
                cx1 = xmax if xmax < width - 1 else float(width - 1)
                cy1 = ymax if ymax < height - 1 else float(height - 1)
                if cx0 > cx1 or cy0 > cy1:
                    issues.append({"file": source, "object_index": index, "reason":
                                   f"box ({xmin:g}, {ymin:g}, {xmax:g}, {ymax:g}) lies outside "
                                   f"the {width}×{height} image"})
                    continue
                if cx0 != xmin or cy0 != ymin or cx1 != xmax or cy1 != ymax:
                    log.clipped += 1
                    if len(log.clipped_listed) < MAX_LISTED_CLIPPED:
                        log.clipped_listed.append({
                            "file": source, "object_index": index,
                            "reason": f"box ({xmin:g}, {ymin:g}, {xmax:g}, {ymax:g}) clipped "
                                      f"to the {width}×{height} image"})
                    xmin, ymin, xmax, ymax = cx0, cy0, cx1, cy1
            name = _text(name)
            columns["image_id"].append(image_id)
            columns["wnid"].append(file_wnid or (name if _WNID.fullmatch(name) else ""))
            columns["width"].append(width)
            columns["height"].append(height)
            columns["depth"].append(depth if depth is not None else 0)
            columns["object_index"].append(index)
            columns["name"].append(name)
            columns["xmin"].append(xmin)
            columns["ymin"].append(ymin)
            columns["xmax"].append(xmax)
            columns["ymax"].append(ymax)
            columns["truncated"].append(_flag(truncated))
            columns["difficult"].append(_flag(difficult))
            columns["pose"].append(_text(pose))
            columns["source"].append(source)
            added += 1
        log.objects += added
        log.files_with_boxes += added > 0
        if added == 0:
            reasons = sorted({issue["reason"] for issue in issues})
            raise _BadFile("; ".join(reasons) if len(reasons) <= 3 else
                           f"{reasons[0]} (and {len(reasons) - 1} other problems)")
        log.skipped_objects.extend(issues)

    def table(self) -> pa.Table:
        """The rows so far as an Arrow table with :data:`BOX_SCHEMA`."""
        return pa.table({name: pa.array(self.columns[name], type=BOX_SCHEMA.field(name).type)
                         for name in BOX_COLUMNS}, schema=BOX_SCHEMA)

    # ------------------------------------------------------------------ archives

    def add_archive(self, data: bytes, label: str, depth: int = 0) -> None:
        """Read every XML member of an archive held in memory (nested archives too).

        A corrupt archive is skipped as a whole and reported: data decoded before
        a failed integrity check cannot be trusted.
        """
        folder_wnid = _wnid_of(label)
        try:
            raw = _decompress(data, label)
            entries = list(iter_tar(io.BytesIO(raw), label, want=_wanted))
        except ArchiveError as error:
            reason = str(error).removeprefix(f"{label}: ")
            self.log.skipped_archives.append({"file": label, "reason": reason})
            return
        folder_wnids: dict[str, str | None] = {}
        for entry in entries:
            name = entry.name
            if entry.kind == "dir":
                continue
            where = f"{label}:{name}" if label else name
            is_xml = name[-4:].lower() == ".xml"
            if is_unsafe_member(name):
                self.log.files_read += is_xml
                self.log.skipped_files.append({"file": where, "reason": "unsafe member path "
                                               "(absolute or with '..'): skipped, never extracted"})
            elif entry.kind != "file" or entry.data is None:
                self.log.ignored_members += 1
            elif is_xml:
                parent = name.rpartition("/")[0]
                if parent not in folder_wnids:
                    folder = parent.rpartition("/")[2]
                    folder_wnids[parent] = folder if _WNID.fullmatch(folder) else folder_wnid
                self.add_file(entry.data, name, where, folder_wnids[parent])
            elif is_archive_name(name) and depth < 4:
                self.add_archive(entry.data, where, depth + 1)
            else:
                self.log.ignored_members += 1


def _wnid_of(label: str) -> str | None:
    stem = label.rsplit("/", 1)[-1].rsplit(":", 1)[-1]
    match = _WNID.match(stem)
    return match.group(0) if match else None


def parse_voc(data: bytes, name: str = "file.xml") -> tuple[pa.Table, ShardLog]:
    """Parse one VOC XML document into its box rows and a log of what was skipped.

    >>> table, log = parse_voc(open("n01440764_10026.xml", "rb").read(),
    ...                        "n01440764_10026.xml")          # doctest: +SKIP
    """
    columns = BoxColumns()
    columns.add_file(data, name, name)
    return columns.table(), columns.log


# --------------------------------------------------------------------------- work units


@dataclass(frozen=True)
class Unit:
    """One piece of work: an inner archive, or a chunk of XML files.

    Attributes:
        name: unique, sortable name (its position in the source, then a label).
        kind: ``archive-bytes`` (payload: the archive's bytes), ``archive-path``
            (payload: its path), ``xml-bytes`` (payload: list of (member, bytes))
            or ``xml-paths`` (payload: (base folder, list of relative paths)).
        label: how the unit names its files (archive member or relative path).
    """

    name: str
    kind: str
    label: str
    payload: Any = None


@dataclass
class UnitResult:
    """What a worker returns: the unit's rows and its log."""

    name: str
    table: pa.Table
    log: ShardLog


def read_units(units: list[Unit]) -> list[UnitResult]:
    """Read a batch of work units: one task for a worker process.

    Batching a few archives per task keeps the pool's per-task cost (futures,
    pipes, wake-ups) small next to the parsing.
    """
    return [read_unit(unit) for unit in units]


def _batches(items: Iterable[Unit], size: int) -> Iterator[list[Unit]]:
    batch: list[Unit] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def read_unit(unit: Unit) -> UnitResult:
    """Read one work unit (runs in a worker process)."""
    columns = BoxColumns()
    if unit.kind == "archive-bytes":
        columns.add_archive(unit.payload, unit.label)
    elif unit.kind == "archive-path":
        try:
            data = Path(unit.payload).read_bytes()
        except OSError as error:
            columns.log.skipped_archives.append({"file": unit.label,
                                                 "reason": f"unreadable: {_describe(error)}"})
        else:
            columns.add_archive(data, unit.label)
    elif unit.kind == "xml-bytes":
        for member, data in unit.payload:
            parent = member.rsplit("/", 2)
            wnid = parent[-2] if len(parent) >= 2 and _WNID.fullmatch(parent[-2]) else None
            columns.add_file(data, member, f"{unit.label}:{member}" if unit.label else member,
                             wnid)
    elif unit.kind == "xml-paths":
        base, relpaths = unit.payload
        for relpath in relpaths:
            parent = relpath.rsplit("/", 2)
            wnid = parent[-2] if len(parent) >= 2 and _WNID.fullmatch(parent[-2]) else None
            try:
                data = Path(base, relpath).read_bytes()
            except OSError as error:
                columns.log.files_read += 1
                columns.log.skipped_files.append({"file": relpath,
                                                  "reason": f"unreadable: {_describe(error)}"})
                continue
            columns.add_file(data, relpath, relpath, wnid)
    else:  # pragma: no cover - units are made in this module
        raise ValueError(f"unknown unit kind {unit.kind!r}")
    return UnitResult(unit.name, columns.table(), columns.log)


@dataclass
class SourcePlan:
    """The work units of a source, found by a first pass over it."""

    kind: str  # "archive" or "folder"
    units: list[Unit]
    log: ShardLog  # problems found while listing (unsafe top-level members, …)
    stream_units: Callable[[set[str]], Iterator[Unit]] | None = None


def _plan_archive(path: Path) -> SourcePlan:
    """List the work units of an archive file; any damage stops with :class:`ArchiveError`.

    The first pass streams the whole archive (discarding the data), so a corrupt or
    truncated outer archive fails before any work starts.
    """
    label = path.name
    log = ShardLog()
    plan: list[tuple[str, str, list[str]]] = []  # (unit name, kind, members)
    xml_members: list[str] = []

    def close_chunk() -> None:
        if xml_members:
            plan.append((f"{len(plan):06d}-xml", "xml-bytes", list(xml_members)))
            xml_members.clear()

    seen: set[str] = set()
    try:
        with _open_stream(path) as stream:
            for entry in iter_tar(stream, label, want=lambda _name: False):
                if entry.kind == "dir":
                    continue
                if entry.name in seen:
                    log.skipped_files.append({"file": f"{label}:{entry.name}", "reason":
                                              "member stored twice: the first copy is read"})
                    continue
                seen.add(entry.name)
                if is_unsafe_member(entry.name):
                    log.files_read += _is_xml_name(entry.name)
                    log.skipped_files.append({"file": f"{label}:{entry.name}", "reason":
                                              "unsafe member path (absolute or with '..'): "
                                              "skipped, never extracted"})
                elif entry.kind != "file":
                    log.ignored_members += 1
                elif is_archive_name(entry.name):
                    close_chunk()
                    stem = entry.name.rsplit("/", 1)[-1]
                    plan.append((f"{len(plan):06d}-{_safe(stem)}", "archive-bytes", [entry.name]))
                elif _is_xml_name(entry.name):
                    xml_members.append(entry.name)
                    if len(xml_members) >= XML_CHUNK:
                        close_chunk()
                else:
                    log.ignored_members += 1
            close_chunk()
    except ArchiveError:
        raise
    except (OSError, EOFError, zlib.error, lzma.LZMAError) as error:
        raise ArchiveError(f"{path}: corrupt archive ({_describe(error)})") from None

    units = [Unit(name, kind, members[0] if kind == "archive-bytes" else "",
                  payload=tuple(members)) for name, kind, members in plan]

    def stream_units(skip: set[str]) -> Iterator[Unit]:
        member_unit: dict[str, Unit] = {}
        for unit in units:
            if unit.name not in skip:
                for member in unit.payload:
                    member_unit[member] = unit
        pending: dict[str, list[tuple[str, bytes]]] = {}
        try:
            with _open_stream(path) as stream:
                for entry in iter_tar(stream, label, want=lambda name: name in member_unit):
                    if entry.data is None or entry.name not in member_unit:
                        continue
                    unit = member_unit.pop(entry.name)  # a second copy is not read
                    if unit.kind == "archive-bytes":
                        yield Unit(unit.name, unit.kind, entry.name, entry.data)
                        continue
                    chunk = pending.setdefault(unit.name, [])
                    chunk.append((entry.name, entry.data))
                    if len(chunk) == len(unit.payload):
                        yield Unit(unit.name, unit.kind, "", pending.pop(unit.name))
        except ArchiveError:
            raise
        except (OSError, EOFError, zlib.error, lzma.LZMAError) as error:
            raise ArchiveError(f"{path}: corrupt archive ({_describe(error)})") from None
        if member_unit:
            raise ArchiveError(f"{path}: {len(member_unit)} members seen in the first pass are "
                               "missing from the second; did the file change while being read?")

    return SourcePlan("archive", units, log, stream_units)


def _safe(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in text)[:80]


def _plan_folder(path: Path) -> SourcePlan:
    """List the archives and XML files under a folder (sorted, so the plan is stable)."""
    archives: list[str] = []
    xml_files: list[str] = []
    for folder, dirs, files in os.walk(path):
        dirs.sort()
        relfolder = os.path.relpath(folder, path)
        for name in sorted(files):
            rel = name if relfolder == "." else f"{relfolder}/{name}".replace(os.sep, "/")
            if is_archive_name(name):
                archives.append(rel)
            elif _is_xml_name(name):
                xml_files.append(rel)
    units = [Unit(f"{i:06d}-{_safe(rel)}", "archive-path", rel, str(path / rel))
             for i, rel in enumerate(archives)]
    for start in range(0, len(xml_files), XML_CHUNK):
        chunk = xml_files[start:start + XML_CHUNK]
        units.append(Unit(f"{len(units):06d}-xml", "xml-paths", "", (str(path), chunk)))
    return SourcePlan("folder", units, ShardLog())


def plan_source(source: str | os.PathLike[str]) -> SourcePlan:
    """The work units of an annotation source (archive file or folder).

    Raises:
        AnnotationSourceError: the source does not exist.
        ArchiveError: the source is an archive that cannot be read to its end.
    """
    path = Path(source).expanduser()
    if not path.exists():
        raise AnnotationSourceError(f"{path}: annotation source not found")
    if path.is_dir():
        return _plan_folder(path)
    if _is_xml_name(path.name):
        return SourcePlan("folder", [Unit("000000-xml", "xml-paths", "",
                                          (str(path.parent), [path.name]))], ShardLog())
    return _plan_archive(path)


# --------------------------------------------------------------------------- reading


@dataclass
class AnnotationsResult:
    """The boxes read from a source and the report of how they were read."""

    table: pa.Table
    report: dict[str, Any]


def read_annotations(source: str | os.PathLike[str], *, workers: int = 1,
                     store: ShardStore | None = None, shard_size: int = 64,
                     executor: str = "process",
                     log: Callable[[str], None] | None = None) -> AnnotationsResult:
    """Read every box of an annotation source, in parallel, resuming from ``store``.

    Args:
        source: ``Annotation.tar.gz`` (or any tar of archives or XML files), a
            folder of archives and/or XML files, or one XML file.
        workers: processes; 1 reads in this process.
        store: where finished work is kept; units already in it are not read again.
        shard_size: work units per stored shard (the unit of resume).
        executor: ``process`` or ``ray`` (see :func:`localglobal.executor.parallel_map`).
        log: called with progress messages.

    Returns:
        The rows (Arrow table with :data:`BOX_SCHEMA`, ordered as in the source) and
        the report.

    Raises:
        AnnotationSourceError: the source does not exist.
        ArchiveError: an outer archive is corrupt or truncated.
    """
    from localglobal.executor import parallel_map

    started = time.perf_counter()
    path = Path(source).expanduser()
    plan = plan_source(path)
    total_log = ShardLog()
    total_log.merge(plan.log)
    tables: dict[str, pa.Table] = {}  # unit name → its rows
    if store is not None:
        for name in store.names():
            record_path = store.folder / f"{name}.json"
            if not record_path.exists():
                continue
            record = read_json(record_path)
            shard = pq.read_table(store.folder / f"{name}.parquet", schema=BOX_SCHEMA)
            offset = 0
            for unit_name, rows in zip(record["units"], record["rows"], strict=True):
                tables[unit_name] = shard.slice(offset, rows)
                offset += rows
            total_log.merge(ShardLog.from_dict(record["log"]))
    done = set(tables)
    todo = [unit for unit in plan.units if unit.name not in done]
    if done and log is not None:
        log(f"annotations: resuming, {len(plan.units) - len(todo)} of {len(plan.units)} "
            "work units already read")
    if plan.stream_units is not None:
        items: Iterator[Unit] | list[Unit] = plan.stream_units(done)
    else:
        items = todo

    pending: list[UnitResult] = []
    next_part = len(store.names()) if store is not None else 0

    def flush() -> None:
        nonlocal next_part
        if not pending:
            return
        part_log = ShardLog()
        for result in pending:
            part_log.merge(result.log)
            tables[result.name] = result.table
        if store is not None:
            name = f"part-{next_part:06d}"
            next_part += 1
            # The record goes first: a shard counts as finished once its table exists.
            write_json(store.folder / f"{name}.json",
                       {"units": [r.name for r in pending],
                        "rows": [r.table.num_rows for r in pending],
                        "log": part_log.to_dict()})
            with atomic_path(store.folder / f"{name}.parquet") as tmp:
                _write_parquet(pa.concat_tables([r.table for r in pending]), tmp)
        total_log.merge(part_log)
        pending.clear()

    # Several units per task, but enough tasks to keep every worker busy to the end.
    per_task = max(1, min(UNITS_PER_TASK, len(todo) // (4 * max(workers, 1))))
    try:
        for results in parallel_map(read_units, _batches(items, per_task), workers=workers,
                                    total=-(-len(todo) // per_task), executor=executor,
                                    description=f"annotations ({per_task} units a task)"):
            for result in results:
                pending.append(result)
                if len(pending) >= shard_size:
                    flush()
    finally:
        flush()  # keep what finished, also when interrupted

    # Units are named in source order, so this is the order of the source.
    ordered = [tables[name] for name in sorted(tables)]
    table = pa.concat_tables(ordered) if ordered else _empty_table()
    seconds = time.perf_counter() - started
    report = _report(path, plan, total_log, table, seconds, resumed=len(plan.units) - len(todo))
    return AnnotationsResult(table, report)


def _write_parquet(table: pa.Table, path: Path) -> None:
    # Dictionary-encode only the repetitive columns: ids and paths are nearly unique.
    pq.write_table(table, path, use_dictionary=["wnid", "name", "pose"])


def _empty_table() -> pa.Table:
    return BOX_SCHEMA.empty_table()


def _report(path: Path, plan: SourcePlan, log: ShardLog, table: pa.Table, seconds: float,
            resumed: int) -> dict[str, Any]:
    return {
        "source": str(path),
        "source_kind": plan.kind,
        "work_units": len(plan.units),
        "work_units_resumed": resumed,
        "files_read": log.files_read,
        "files_with_boxes": log.files_with_boxes,
        "objects": table.num_rows,
        "files_skipped": len(log.skipped_files),
        "objects_skipped": len(log.skipped_objects),
        "archives_skipped": len(log.skipped_archives),
        "boxes_clipped": log.clipped,
        "size_unknown": log.size_unknown,
        "ignored_members": log.ignored_members,
        "skipped_files": log.skipped_files,
        "skipped_objects": log.skipped_objects,
        "skipped_archives": log.skipped_archives,
        "clipped_boxes": log.clipped_listed,
        "clipped_boxes_listed": len(log.clipped_listed),
        "seconds": round(seconds, 3),
        "files_per_second": round(log.files_read / seconds, 1) if seconds > 0 else None,
    }


# --------------------------------------------------------------------------- the stage


def annotations_stage(ctx: Any) -> dict[str, Any]:
    """Read ``config.data.annotations`` into ``boxes.parquet`` and ``annotations-report.json``.

    Without a configured source, an empty table is written (the index stage then
    needs ``index.require_box = false``).
    """
    run = ctx.run
    boxes_path = run.table_path("boxes")
    report_path = run.path("annotations-report.json")
    source = ctx.config.data.annotations
    if source and not Path(source).expanduser().exists():
        raise AnnotationSourceError(f"{source}: annotation source not found")
    # Outputs of an earlier source are stale from here on: a failure must not
    # leave them looking like this run's result.
    boxes_path.unlink(missing_ok=True)
    report_path.unlink(missing_ok=True)
    if not source:
        ctx.log("[yellow]annotations: no source configured (data.annotations); "
                "writing an empty boxes table[/yellow]")
        report = {"source": None, "files_read": 0, "objects": 0, "files_skipped": 0,
                  "objects_skipped": 0, "archives_skipped": 0, "boxes_clipped": 0,
                  "skipped_files": [], "skipped_objects": [], "skipped_archives": []}
        write_json(report_path, report)
        _write_boxes(boxes_path, _empty_table())
        return _summary(report)
    store = ctx.shards(source=ctx.params_hash, reader=READER_VERSION, chunk=XML_CHUNK)
    result = read_annotations(source, workers=ctx.n_workers, store=store,
                              shard_size=ctx.config.run.shard_size,
                              executor=ctx.config.run.executor, log=ctx.log)
    report = result.report
    _log_problems(ctx, report)
    write_json(report_path, report)
    _write_boxes(boxes_path, result.table)
    return _summary(report)


def _write_boxes(path: Path, table: pa.Table) -> None:
    with atomic_path(path) as tmp:
        _write_parquet(table, tmp)


def _summary(report: dict[str, Any]) -> dict[str, Any]:
    keys = ("files_read", "objects", "files_with_boxes", "files_skipped", "objects_skipped",
            "archives_skipped", "boxes_clipped", "files_per_second")
    return {key: report[key] for key in keys if key in report}


def _log_problems(ctx: Any, report: dict[str, Any], shown: int = 10) -> None:
    problems = ([("archive", p) for p in report["skipped_archives"]]
                + [("file", p) for p in report["skipped_files"]]
                + [("object", p) for p in report["skipped_objects"]])
    for kind, problem in problems[:shown]:
        where = problem["file"]
        if kind == "object":
            where += f" (object {problem['object_index']})"
        ctx.log(f"[yellow]skipped {kind} {where}: {problem['reason']}[/yellow]")
    if len(problems) > shown:
        ctx.log(f"[yellow]… and {len(problems) - shown} more, listed in "
                "annotations-report.json[/yellow]")
    ctx.log(f"annotations: {report['files_read']} files, {report['objects']} objects, "
            f"{report['files_skipped']} files and {report['objects_skipped']} objects skipped, "
            f"{report['archives_skipped']} archives skipped, {report['boxes_clipped']} boxes "
            "clipped")
