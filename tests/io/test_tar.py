"""Streaming tar archives: every header format, refused members, caps on decompression."""

import bz2
import gzip
import io
import lzma
import random
import tarfile

import pytest

from localglobal.errors import ArchiveError, ArchiveLimitError
from localglobal.io.tar import (
    DecompressionBudget,
    TarLimits,
    is_unsafe_member,
    iter_tar,
    open_archive,
    tar_bytes,
)


def members(path, limits=None):
    """(name, kind, problem, data) of every member of an archive file."""
    found = []
    with open_archive(path, limits=limits) as stream:
        for member in iter_tar(stream, str(path), limits):
            data = member.read() if member.kind == "file" and not member.problem else None
            found.append((member.name, member.kind, member.problem, data))
    return found


def test_long_member_names_are_read_from_gnu_and_pax_headers():
    name = "Annotation/" + "deep/" * 30 + "n01440764_7.xml"
    data = b"<annotation/>"
    for fmt in (tarfile.GNU_FORMAT, tarfile.PAX_FORMAT):
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w", format=fmt) as archive:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        buffer.seek(0)
        (entry,) = [(m.name, m.read()) for m in iter_tar(buffer, "test.tar")
                    if m.kind == "file"]
        assert entry == (name, data)


@pytest.mark.parametrize("compress", [None, gzip.compress, bz2.compress, lzma.compress])
def test_every_compression_gives_the_same_members(tmp_path, compress):
    raw = tar_bytes([("a.xml", b"alpha"), ("dir/b.xml", b"beta" * 300)], compress=False)
    path = tmp_path / "x.tar"
    path.write_bytes(compress(raw) if compress else raw)
    assert [(n, d) for n, _k, _p, d in members(path)] == [("a.xml", b"alpha"),
                                                         ("dir/b.xml", b"beta" * 300)]


def test_unread_members_are_skipped_and_half_read_ones_too(tmp_path):
    path = tmp_path / "x.tar.gz"
    path.write_bytes(tar_bytes([("a", b"1" * 5000), ("b", b"2" * 10), ("c", b"3")]))
    with open_archive(path) as stream:
        seen = []
        for member in iter_tar(stream, "x"):
            if member.name == "a":
                member.read(7)  # the rest of "a" is skipped
            else:
                seen.append(member.read())
    assert seen == [b"2" * 10, b"3"]


@pytest.mark.parametrize(("name", "unsafe"), [
    ("Annotation/n1/x.xml", False), ("../x.xml", True), ("a/../../x", True), ("/etc/x", True),
    ("C:\\x", True), ("\\\\server\\x", True), ("a..b/x.xml", False), ("", True),
])
def test_unsafe_member_paths(name, unsafe):
    assert is_unsafe_member(name) is unsafe


def test_traversal_links_and_oversized_members_are_refused_by_name(tmp_path):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in (("ok.xml", b"fine"), ("../up.xml", b"x"), ("big.xml", b"y" * 2000)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for kind in (tarfile.SYMTYPE, tarfile.LNKTYPE):
            info = tarfile.TarInfo(f"link{kind.decode()}.xml")
            info.type, info.linkname = kind, "/etc/passwd"
            archive.addfile(info)
    path = tmp_path / "mixed.tar"
    path.write_bytes(buffer.getvalue())
    found = {n: (k, p, d) for n, k, p, d in members(path, TarLimits(max_member_bytes=1000))}
    assert found["ok.xml"] == ("file", "", b"fine")
    assert "unsafe member path" in found["../up.xml"][1]
    assert "per-member cap" in found["big.xml"][1] and found["big.xml"][2] is None
    assert found["link2.xml"][:2] == ("link", "a link: refused, never followed")
    assert found["link1.xml"][0] == "link"


def test_not_a_tar_and_truncated_archives_are_errors_naming_them(tmp_path):
    junk = tmp_path / "boxes.tar"
    junk.write_bytes(b"this is not a tar archive at all" * 40)
    with pytest.raises(ArchiveError, match=r"boxes\.tar: not a tar archive"):
        members(junk)
    noise = random.Random(0).randbytes(100_000)  # incompressible: a cut lands inside
    good = tar_bytes([("a.xml", noise)], compress=False)
    for data, words in ((good[:5000], "truncated"), (gzip.compress(good)[:800], "corrupt")):
        cut = tmp_path / "cut.tar.gz"
        cut.write_bytes(data)
        with pytest.raises(ArchiveError, match=rf"cut\.tar\.gz: .*{words}"):
            members(cut)


def zeros_archive(path, size=4 << 20):
    path.write_bytes(gzip.compress(tar_bytes([("zeros.bin", bytes(size))], compress=False)))
    return path


def test_a_decompression_bomb_stops_at_the_ratio_cap_naming_the_member(tmp_path):
    bomb = zeros_archive(tmp_path / "bomb.tar.gz")
    limits = TarLimits(max_ratio=50, ratio_after_bytes=100_000)
    with pytest.raises(ArchiveLimitError, match="ratio") as caught:
        members(bomb, limits)
    assert caught.value.member == "zeros.bin"
    assert "zeros.bin" in str(caught.value)
    with pytest.raises(ArchiveLimitError, match="ratio"):
        members(bomb)  # zeros compress about 1000 times: a bomb by the defaults too
    assert members(bomb, TarLimits(max_ratio=5000))[0][0] == "zeros.bin"


def test_a_compressed_archive_inside_the_decompressed_stream_is_not_unpacked(tmp_path):
    twice = tmp_path / "twice.tar.gz"  # unpacking the inner gzip would escape the meter
    twice.write_bytes(gzip.compress(zeros_archive(tmp_path / "bomb.tar.gz").read_bytes()))
    with pytest.raises(ArchiveError, match=r"twice\.tar\.gz: not a tar archive"):
        members(twice, TarLimits(max_ratio=5000))


def test_the_total_cap_counts_every_decompressed_byte(tmp_path):
    archive = zeros_archive(tmp_path / "big.tar.gz", size=300_000)
    with pytest.raises(ArchiveLimitError, match="total cap"):
        members(archive, TarLimits(max_total_bytes=100_000))


def test_a_nested_archive_is_streamed_and_capped_at_the_member_size(tmp_path):
    inner = tar_bytes([("n01/a.xml", b"a")] + [(f"n01/{k}.xml", b"b" * 5000) for k in range(9)])
    path = tmp_path / "outer.tar"
    path.write_bytes(tar_bytes([("n01.tar.gz", inner)], compress=False))

    def nested(limits):
        budget = DecompressionBudget()
        with open_archive(path, limits=limits, budget=budget) as stream:
            member = next(iter_tar(stream, "outer", limits))
            with open_archive(member, "outer:n01.tar.gz", limits, budget) as inner_stream:
                return [(m.name, len(m.read())) for m in iter_tar(inner_stream, "x", limits)]

    assert nested(TarLimits()) == [("n01/a.xml", 1)] + [(f"n01/{k}.xml", 5000)
                                                        for k in range(9)]
    with pytest.raises(ArchiveLimitError, match="per-member cap") as caught:
        nested(TarLimits(max_member_bytes=30_000))
    assert caught.value.archive == "outer:n01.tar.gz"


def test_tar_bytes_is_deterministic():
    assert tar_bytes([("a", b"1")]) == tar_bytes([("a", b"1")])
