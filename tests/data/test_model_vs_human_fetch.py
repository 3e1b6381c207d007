"""Fetching model-vs-human's datasets: digests recorded at first download, verified after."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile

import pytest
from typer.testing import CliRunner

from localglobal.cli import app
from localglobal.data.geirhos_fetch import HUMAN_DATA, MIRROR_ENV
from localglobal.data.model_vs_human_fetch import RECORD, RELEASE, fetch_model_vs_human
from localglobal.errors import ArchiveError, ChecksumError, DownloadUnavailableError
from tests.data.test_geirhos_fetch import SYNTHETIC, checksum_list, serve
from tests.data.test_geirhos_fetch import server as server  # the fixture

CONTRAST = {
    "contrast/dnn/session-1/0001_cop_s01_c30_knife_10_n03041632_7380.png": b"png knife c30",
    "contrast/dnn/session-1/0002_cop_s01_c100_bicycle_10_n03792782_5966.png": b"png bike",
    "contrast/dnn/session-1/notes.txt": b"not an image: not unpacked",
    "elsewhere/0003_cop_s01_c30_oven_10_n04111531_1.png": b"outside the dataset folder",
}
EDGE = {"edge/cat/cat1.png": b"png edge cat1", "edge/dog/dog2.png": b"png edge dog2"}


def release_archive(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.fixture(autouse=True)
def _environment(monkeypatch, tmp_path):
    monkeypatch.setenv("LOCALGLOBAL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("LOCALGLOBAL_NO_PROGRESS", "1")
    monkeypatch.delenv("LOCALGLOBAL_OFFLINE", raising=False)
    monkeypatch.delenv(MIRROR_ENV, raising=False)


@pytest.fixture
def mirror(server, tmp_path):
    """A mirror of github.com serving two release archives and the raw-data archive."""
    folder, base = server
    serve(folder, {HUMAN_DATA: SYNTHETIC[HUMAN_DATA]})
    release = folder / RELEASE
    release.mkdir(parents=True)
    (release / "contrast.tar.gz").write_bytes(release_archive(CONTRAST))
    (release / "edge.tar.gz").write_bytes(release_archive(EDGE))
    sums = checksum_list(tmp_path / "sums.txt", {HUMAN_DATA: SYNTHETIC[HUMAN_DATA]})
    return release, base, sums


def test_the_first_download_records_each_digest_and_later_uses_check_it(mirror, tmp_path,
                                                                         monkeypatch):
    release, base, sums = mirror
    to = tmp_path / "mvh"
    paths = fetch_model_vs_human(to, ["contrast", "edge"], mirror=base, checksums=sums)
    status = {d.name: d.status for d in paths.datasets}
    assert status == {"contrast": "recorded", "edge": "recorded"}
    record = json.loads((to / RECORD).read_text())
    digest = hashlib.sha256((release / "contrast.tar.gz").read_bytes()).hexdigest()
    assert record["contrast"]["sha256"] == digest
    assert record["contrast"]["url"] == f"{base}/{RELEASE}/contrast.tar.gz"
    # only the dataset's images, in its own layout
    contrast = to / "datasets" / "contrast"
    assert sorted(p.name for p in contrast.rglob("*.png")) == [
        "0001_cop_s01_c30_knife_10_n03041632_7380.png",
        "0002_cop_s01_c100_bicycle_10_n03792782_5966.png"]
    assert not list(to.rglob("notes.txt")) and not list(to.rglob("0003_*"))
    assert (to / "datasets" / "edge" / "cat" / "cat1.png").read_bytes() == b"png edge cat1"
    assert (paths.raw_data / "edge" / "edge_subject-01_session_1.csv").is_file()
    assert not any((to / "archives").glob("*.tar.gz"))

    # offline, everything is used from the cache, checked against the record
    monkeypatch.setenv("LOCALGLOBAL_OFFLINE", "1")
    again = fetch_model_vs_human(to, ["contrast"], mirror=base, checksums=sums)
    assert [(d.status, d.sha256) for d in again.datasets] == [("cached", digest)]


def test_a_release_that_changed_since_its_first_download_is_refused(mirror, tmp_path):
    release, base, sums = mirror
    to = tmp_path / "mvh"
    fetch_model_vs_human(to, ["edge"], mirror=base, checksums=sums)
    (release / "edge.tar.gz").write_bytes(release_archive({**EDGE, "edge/cat/cat9.png": b"x"}))
    (to / "datasets" / "edge" / "cat" / "cat1.png").unlink()  # a damaged cache: fetch again
    with pytest.raises(ChecksumError, match="expected"):
        fetch_model_vs_human(to, ["edge"], mirror=base, checksums=sums)
    assert not (to / "datasets" / "edge" / "cat" / "cat9.png").exists()
    assert not any((to / "archives").glob("*.tar.gz"))


def test_an_archive_put_in_place_by_hand_is_verified_against_the_record(mirror, tmp_path,
                                                                        monkeypatch):
    release, base, sums = mirror
    to = tmp_path / "mvh"
    fetch_model_vs_human(to, ["edge"], mirror=base, checksums=sums)
    (to / "datasets" / "edge" / "dog" / "dog2.png").write_bytes(b"tampered")
    (to / "archives").mkdir(exist_ok=True)
    (to / "archives" / "edge.tar.gz").write_bytes((release / "edge.tar.gz").read_bytes())
    monkeypatch.setenv("LOCALGLOBAL_OFFLINE", "1")
    paths = fetch_model_vs_human(to, ["edge"], mirror=base, checksums=sums)
    assert [d.status for d in paths.datasets] == ["verified"]
    assert (to / "datasets" / "edge" / "dog" / "dog2.png").read_bytes() == b"png edge dog2"
    (to / "archives" / "edge.tar.gz").write_bytes(release_archive({"edge/cat/cat1.png": b"?"}))
    (to / "datasets" / "edge" / "dog" / "dog2.png").unlink()
    with pytest.raises(ChecksumError, match="first downloaded"):
        fetch_model_vs_human(to, ["edge"], mirror=base, checksums=sums)


def test_offline_without_a_cache_names_each_url_and_where_to_put_it(tmp_path, monkeypatch):
    monkeypatch.setenv("LOCALGLOBAL_OFFLINE", "1")
    with pytest.raises(DownloadUnavailableError) as error:
        fetch_model_vs_human(tmp_path / "m", ["sketch"], mirror="https://mirror.example")
    message = str(error.value)
    assert f"https://mirror.example/{RELEASE}/sketch.tar.gz" in message
    assert str(tmp_path / "m" / "archives" / "sketch.tar.gz") in message
    assert f"{HUMAN_DATA.commit}.tar.gz" in message


def test_a_member_that_climbs_out_refuses_the_archive(mirror, tmp_path):
    release, base, sums = mirror
    (release / "edge.tar.gz").write_bytes(release_archive({**EDGE, "edge/../../evil.png": b"!"}))
    with pytest.raises(ArchiveError, match="evil"):
        fetch_model_vs_human(tmp_path / "deep" / "m", ["edge"], mirror=base, checksums=sums)
    assert not list(tmp_path.rglob("evil.png"))
    assert not (tmp_path / "deep" / "m" / "datasets" / "edge").exists()


def test_the_command_says_each_digest_was_recorded_then_verified(mirror, tmp_path):
    _, base, sums = mirror
    to = tmp_path / "mvh"
    args = ["fetch", "model-vs-human", "--datasets", "edge", "--to", str(to), "--mirror", base,
            "--checksums", str(sums)]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "edge: 2 images" in first.output and "recorded now (first download)" in first.output
    assert f"--stimuli {to} --humans {to}" in first.output
    second = CliRunner().invoke(app, args)
    assert "recorded SHA-256" in second.output
    wrong = CliRunner().invoke(app, ["fetch", "model-vs-human", "--datasets", "edges"])
    assert wrong.exit_code != 0 and wrong.output.count("error:") == 1
    assert "edges" in wrong.output and "Traceback" not in wrong.output
