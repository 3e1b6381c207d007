"""Safe tar extraction: no escapes, no links, bounded sizes and ratios."""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from pathlib import Path, PurePosixPath

import pytest

from localglobal.errors import ArchiveError, ArchiveLimitError
from localglobal.io.safe_tar import extract_tar
from localglobal.io.tar import TarLimits


def make_archive(path: Path, files: dict[str, bytes], links: dict[str, str] | None = None,
                 compress: bool = True) -> Path:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(info)
    raw = buffer.getvalue()
    path.write_bytes(gzip.compress(raw) if compress else raw)
    return path


def everything_into(root: Path):
    return lambda name: root / name


def test_chosen_members_are_extracted_and_hashed(tmp_path):
    archive = make_archive(tmp_path / "a.tar.gz", {"top/keep/a.txt": b"alpha",
                                                   "top/skip/b.txt": b"beta"})
    out = tmp_path / "out"
    files = extract_tar(archive, out, lambda n: out / n if "keep" in n.parts else None)
    assert [(f.name, f.size) for f in files] == [(PurePosixPath("top/keep/a.txt"), 5)]
    assert files[0].sha256 == hashlib.sha256(b"alpha").hexdigest()
    assert (out / "top/keep/a.txt").read_bytes() == b"alpha"
    assert not (out / "top/skip").exists()
    assert [p.name for p in (out / "top/keep").iterdir()] == ["a.txt"]  # no temporary left
    plain = make_archive(tmp_path / "b.tar", {"x.txt": b"x"}, compress=False)
    assert len(extract_tar(plain, out, everything_into(out))) == 1


@pytest.mark.parametrize("name", ["top/../../evil.txt", "/etc/evil.txt", "..\\evil.txt",
                                  "C:/evil.txt"])
def test_a_member_that_escapes_refuses_the_whole_archive(tmp_path, name):
    archive = make_archive(tmp_path / "a.tar.gz", {"top/fine.txt": b"ok", name: b"evil"})
    out = tmp_path / "out"
    with pytest.raises(ArchiveError, match="evil"):
        extract_tar(archive, out, lambda n: None)  # refused even when not chosen
    assert not list(tmp_path.rglob("evil.txt"))


def test_links_are_refused_when_chosen_and_skipped_otherwise(tmp_path):
    archive = make_archive(tmp_path / "a.tar.gz", {"top/a.txt": b"a"},
                           links={"top/link": "/etc/passwd"})
    out = tmp_path / "out"
    with pytest.raises(ArchiveError, match="link"):
        extract_tar(archive, out, everything_into(out))
    files = extract_tar(archive, out, lambda n: out / n if n.name == "a.txt" else None)
    assert [f.name.name for f in files] == ["a.txt"] and not (out / "top/link").exists()


def test_targets_outside_the_root_are_refused(tmp_path):
    archive = make_archive(tmp_path / "a.tar.gz", {"a.txt": b"a"})
    with pytest.raises(ArchiveError, match="outside"):
        extract_tar(archive, tmp_path / "out", lambda n: tmp_path / "elsewhere" / n)


def test_size_caps_and_the_compression_ratio_cap(tmp_path):
    zeros = make_archive(tmp_path / "z.tar.gz", {"zeros.bin": bytes(2_000_000),
                                                 "after.txt": b"x"})
    out = tmp_path / "out"
    bomb = TarLimits(max_ratio=5, ratio_after_bytes=10_000)
    with pytest.raises(ArchiveLimitError, match="ratio"):
        extract_tar(zeros, out, everything_into(out), bomb)
    with pytest.raises(ArchiveLimitError, match="ratio"):  # skipped members count too
        extract_tar(zeros, out, lambda n: None, bomb)
    with pytest.raises(ArchiveError, match=r"zeros\.bin"):
        extract_tar(zeros, out, everything_into(out), TarLimits(max_member_bytes=1000))
    with pytest.raises(ArchiveLimitError, match="total"):
        extract_tar(zeros, out, lambda n: None, TarLimits(max_total_bytes=100_000))
    assert not (out / "zeros.bin").exists()
