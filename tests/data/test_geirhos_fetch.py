"""Fetching the Geirhos data: from a local mirror, verified, cached, offline, and safe."""

from __future__ import annotations

import hashlib
import io
import shutil
import tarfile
from pathlib import Path

import pytest

from localglobal.data.geirhos_fetch import (
    HUMAN_DATA,
    MIRROR_ENV,
    SOURCES,
    STIMULI,
    fetch_geirhos,
    load_checksums,
)
from localglobal.data.geirhos_humans import read_human_trials
from localglobal.data.geirhos_stimuli import discover_stimuli
from localglobal.errors import ArchiveError, ChecksumError, DownloadError, DownloadUnavailableError
from tests.http_server import serve_folder
from tests.shared_data import require_geirhos_sample

CSV = ("subj,session,trial,rt,object_response,category,condition,imagename\n"
       "subject-01,1,1,0.9,{answer},{category},0,0001_x_s01_0_{category}_00_{image}\n")

SYNTHETIC = {
    STIMULI: {
        "stimuli/style-transfer-preprocessed-512/cat/cat1-dog1.png": b"png cat1-dog1",
        "stimuli/style-transfer-preprocessed-512/dog/dog1-dog2.png": b"png dog1-dog2",
        "stimuli/edges/cat/cat1.png": b"png edge cat1",
        "stimuli/filled-silhouettes/dog/dog1.png": b"png silhouette dog1",
        "stimuli/visualisation-stimuli/v.png": b"not kept",
        "README.md": b"not kept either",
    },
    HUMAN_DATA: {
        "raw-data/cue-conflict/cue-conflict_subject-01_session_1.csv": CSV.format(
            answer="cat", category="cat", image="cat1-dog1.png").encode(),
        "raw-data/edge/edge_subject-01_session_1.csv": CSV.format(
            answer="na", category="cat", image="cat1.png").encode(),
        "raw-data/silhouette/silhouette_subject-01_session_1.csv": CSV.format(
            answer="dog", category="dog", image="dog1.png").encode(),
        "latex-report/report.tex": b"not kept",
        "modelvshuman/__init__.py": b"",
    },
}


@pytest.fixture(autouse=True)
def _environment(monkeypatch, tmp_path):
    monkeypatch.setenv("LOCALGLOBAL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("LOCALGLOBAL_NO_PROGRESS", "1")
    monkeypatch.delenv("LOCALGLOBAL_OFFLINE", raising=False)
    monkeypatch.delenv(MIRROR_ENV, raising=False)


@pytest.fixture
def server(tmp_path):
    """An HTTP server on 127.0.0.1 serving tmp_path/served; yields (folder, base URL)."""
    folder = tmp_path / "served"
    folder.mkdir()
    with serve_folder(folder) as url:
        yield folder, url


def github_archive(source, files: dict[str, bytes], extra: dict[str, bytes] | None = None
                   ) -> bytes:
    """A .tar.gz like GitHub's: a pax global header, then everything under <repo>-<commit>/."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT,
                      pax_headers={"comment": source.commit}) as tar:
        top = tarfile.TarInfo(source.top)
        top.type = tarfile.DIRTYPE
        tar.addfile(top)
        members = {f"{source.top}/{inner}": data for inner, data in files.items()}
        for name, data in {**members, **(extra or {})}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def checksum_list(path: Path, files: dict, wrong: str | None = None) -> Path:
    lines = ["# sha256 bytes repository path"]
    for source, members in files.items():
        for inner, data in members.items():
            digest = hashlib.sha256(data).hexdigest()
            if inner == wrong:
                digest = hashlib.sha256(data + b"!").hexdigest()
            lines.append(f"{digest} {len(data)} {source.repo} {inner}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def serve(folder: Path, files: dict, extra: dict | None = None) -> None:
    for source, members in files.items():
        target = folder / source.repo / "archive" / f"{source.commit}.tar.gz"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(github_archive(source, members, (extra or {}).get(source)))


def test_fetch_from_a_mirror_keeps_only_what_is_read_and_then_works_offline(
        server, tmp_path, monkeypatch):
    folder, base = server
    serve(folder, SYNTHETIC)
    listed = checksum_list(tmp_path / "sums.txt", SYNTHETIC)
    monkeypatch.setenv(MIRROR_ENV, base)  # the mirror from the environment
    paths = fetch_geirhos(checksums=listed)
    root = tmp_path / "cache" / "geirhos"
    assert paths.root == root
    assert paths.stimuli == root / STIMULI.top / "stimuli"
    assert paths.raw_data == root / HUMAN_DATA.top / "raw-data"
    for source, members in SYNTHETIC.items():
        for inner, data in members.items():
            path = root / source.top / inner
            if source.kept(Path(inner)):
                assert path.read_bytes() == data
            else:
                assert not path.exists()
    assert not any((root / "archives").glob("*.tar.gz"))  # downloads are not kept
    assert [p.name for p in root.iterdir() if p.name.startswith(".")] == []
    stimuli = discover_stimuli(paths.root).table
    assert sorted(stimuli["image"]) == ["cat1-dog1.png", "cat1.png", "dog1-dog2.png", "dog1.png"]
    humans = read_human_trials(paths.root).table
    assert sorted(humans["dataset"]) == ["cue-conflict", "edge", "silhouette"]
    assert humans.set_index("dataset")["decision"].isna()["edge"]

    shutil.rmtree(folder / "rgeirhos")  # the server no longer has anything
    shutil.rmtree(folder / "bethgelab")
    monkeypatch.setenv("LOCALGLOBAL_OFFLINE", "1")
    assert fetch_geirhos(checksums=listed, verify=True) == paths


def test_offline_without_a_cache_names_every_url_and_the_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("LOCALGLOBAL_OFFLINE", "1")
    with pytest.raises(DownloadUnavailableError) as error:
        fetch_geirhos(tmp_path / "g", mirror="https://mirror.example")
    message = str(error.value)
    for source in SOURCES:
        assert source.url("https://mirror.example") in message
        assert f"{source.top}.tar.gz" in message
    assert str(tmp_path / "g" / "archives") in message


def test_archives_put_in_place_by_hand_are_unpacked_without_the_network(tmp_path, monkeypatch):
    archives = tmp_path / "g" / "archives"
    archives.mkdir(parents=True)
    for source, members in SYNTHETIC.items():
        (archives / f"{source.top}.tar.gz").write_bytes(github_archive(source, members))
    monkeypatch.setenv("LOCALGLOBAL_OFFLINE", "1")
    paths = fetch_geirhos(tmp_path / "g", checksums=checksum_list(tmp_path / "s.txt",
                                                                  SYNTHETIC))
    assert (paths.stimuli / "edges" / "cat" / "cat1.png").is_file()
    assert len(list(archives.iterdir())) == 2  # the user's archives stay


def test_a_checksum_mismatch_is_an_error_and_leaves_nothing_behind(server, tmp_path):
    folder, base = server
    serve(folder, SYNTHETIC)
    bad = "stimuli/edges/cat/cat1.png"
    listed = checksum_list(tmp_path / "sums.txt", SYNTHETIC, wrong=bad)
    with pytest.raises(ChecksumError, match=bad):
        fetch_geirhos(tmp_path / "g", mirror=base, checksums=listed)
    left = sorted(p.name for p in (tmp_path / "g").iterdir())
    assert left == ["archives"] and list((tmp_path / "g" / "archives").iterdir()) == []


def test_a_member_that_climbs_out_is_refused(server, tmp_path):
    folder, base = server
    escape = {STIMULI: {f"{STIMULI.top}/../../evil.png": b"evil"}}
    serve(folder, SYNTHETIC, extra=escape)
    listed = checksum_list(tmp_path / "sums.txt", SYNTHETIC)
    with pytest.raises(ArchiveError, match="evil"):
        fetch_geirhos(tmp_path / "deep" / "g", mirror=base, checksums=listed)
    assert not list(tmp_path.rglob("evil.png"))
    assert not (tmp_path / "deep" / "g" / STIMULI.top).exists()


def test_a_listed_file_the_archive_lacks_is_an_error(server, tmp_path):
    folder, base = server
    serve(folder, SYNTHETIC)
    more = {source: dict(members) for source, members in SYNTHETIC.items()}
    more[HUMAN_DATA]["raw-data/edge/edge_subject-02_session_1.csv"] = b"absent"
    with pytest.raises(DownloadError, match="subject-02"):
        fetch_geirhos(tmp_path / "g", mirror=base,
                      checksums=checksum_list(tmp_path / "sums.txt", more))


def test_a_damaged_cache_is_unpacked_again(server, tmp_path):
    folder, base = server
    serve(folder, SYNTHETIC)
    listed = checksum_list(tmp_path / "sums.txt", SYNTHETIC)
    paths = fetch_geirhos(tmp_path / "g", mirror=base, checksums=listed)
    victim = paths.stimuli / "edges" / "cat" / "cat1.png"
    victim.unlink()
    fetch_geirhos(tmp_path / "g", mirror=base, checksums=listed)
    assert victim.read_bytes() == SYNTHETIC[STIMULI]["stimuli/edges/cat/cat1.png"]


# --------------------------------------------------------------------------- real sample


def sample_as_repositories(sample: Path) -> dict:
    """The sample's files under the paths they have in the two repositories."""
    folders = {"cue-conflict": "stimuli/style-transfer-preprocessed-512",
               "edges": "stimuli/edges", "filled-silhouettes": "stimuli/filled-silhouettes"}
    stimuli = {f"{inner}/{p.parent.name}/{p.name}": p.read_bytes()
               for name, inner in folders.items() for p in sorted((sample / name).glob("*/*"))}
    humans = {f"raw-data/{p.parent.name}/{p.name}": p.read_bytes()
              for p in sorted((sample / "human-raw-data").glob("*/*.csv"))}
    return {STIMULI: stimuli, HUMAN_DATA: humans}


def test_the_shipped_checksum_list_vouches_for_every_sample_file():
    files = sample_as_repositories(require_geirhos_sample())
    shipped = load_checksums()
    for source, members in files.items():
        assert members
        for inner, data in members.items():
            assert shipped[source.repo][inner] == (hashlib.sha256(data).hexdigest(), len(data))


def test_an_archive_of_the_real_sample_is_fetched_like_the_sample(server, tmp_path):
    sample = require_geirhos_sample()
    folder, base = server
    files = sample_as_repositories(sample)
    serve(folder, files)
    paths = fetch_geirhos(tmp_path / "g", mirror=base,
                          checksums=checksum_list(tmp_path / "sums.txt", files))
    fetched = discover_stimuli(paths.root).table.drop(columns="path")
    direct = discover_stimuli(sample).table.drop(columns="path")
    assert fetched.equals(direct)
    humans = read_human_trials(paths.root).table
    assert humans.equals(read_human_trials(sample).table)
