"""A hostile mirror cannot fill the disk, hold a download forever, or leave partial files.

The server on 127.0.0.1 either streams without end, or sends one byte at a time slowly.
"""

from __future__ import annotations

import contextlib
import http.server
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from localglobal.errors import DownloadError, DownloadUnavailableError
from localglobal.io.download import download


class _Hostile(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()
        with contextlib.suppress(OSError):
            if self.path == "/endless":
                chunk = b"\0" * 65536
                while True:
                    self.wfile.write(chunk)
            while True:  # /trickle: one byte every 50 ms
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.05)


@pytest.fixture
def hostile() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hostile)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(autouse=True)
def _environment(monkeypatch):
    monkeypatch.setenv("LOCALGLOBAL_NO_PROGRESS", "1")
    monkeypatch.delenv("LOCALGLOBAL_OFFLINE", raising=False)


def _parts(folder: Path) -> list[Path]:
    return list(folder.glob(".*.part"))


def test_an_endless_download_without_checksum_stops_at_the_size_cap(hostile, tmp_path,
                                                                     monkeypatch):
    monkeypatch.setenv("LOCALGLOBAL_MAX_DOWNLOAD_MB", "1")
    with pytest.raises(DownloadError, match=r"larger than 1048576 bytes.*"
                       "LOCALGLOBAL_MAX_DOWNLOAD_MB"):
        download(f"{hostile}/endless", tmp_path / "archive.zip")
    assert not (tmp_path / "archive.zip").exists() and not _parts(tmp_path)


def test_a_trickling_server_meets_the_total_deadline(hostile, tmp_path):
    started = time.monotonic()
    with pytest.raises(DownloadUnavailableError, match="deadline"):
        download(f"{hostile}/trickle", tmp_path / "archive.zip", deadline_s=1.0, timeout=5)
    assert time.monotonic() - started < 5
    assert not _parts(tmp_path)


def test_sigterm_removes_the_partial_file(hostile, tmp_path):
    script = ("import sys; from localglobal.io.download import download; "
              "download(sys.argv[1], sys.argv[2], progress=False)")
    child = subprocess.Popen([sys.executable, "-c", script, f"{hostile}/trickle",
                              str(tmp_path / "archive.zip")],
                             env={**os.environ, "LOCALGLOBAL_NO_PROGRESS": "1"})
    deadline = time.monotonic() + 30
    while not _parts(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _parts(tmp_path), "the download never started"
    time.sleep(0.2)
    child.send_signal(signal.SIGTERM)
    assert child.wait(timeout=30) != 0
    assert not _parts(tmp_path)


def test_the_partial_file_of_a_killed_download_is_removed_by_the_next(hostile, tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    stale = tmp_path / f".archive.zip.{dead}.abc123.part"
    stale.write_bytes(b"half")
    with pytest.raises(DownloadUnavailableError):
        download(f"{hostile}/trickle", tmp_path / "archive.zip", deadline_s=0.3)
    assert not stale.exists() and not _parts(tmp_path)
