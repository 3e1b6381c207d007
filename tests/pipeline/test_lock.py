"""One writer per run: a second command is refused while the first holds the lock."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from localglobal.errors import RunLockedError
from localglobal.pipeline.lock import LOCK_NAME, is_locked, run_lock

HOLD = """
import sys, time
from pathlib import Path
from localglobal.pipeline.lock import run_lock
with run_lock(Path(sys.argv[1]), command="holder"):
    print("locked", flush=True)
    time.sleep(30)
"""


@pytest.fixture
def holder(tmp_path: Path):
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)],
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "locked"
    yield process
    process.kill()
    process.wait()


def test_a_second_writer_is_refused_with_the_holder_named(tmp_path: Path, holder):
    assert is_locked(tmp_path)
    with pytest.raises(RunLockedError, match=rf"pid {holder.pid} .*holder"), \
            run_lock(tmp_path):
        pass


def test_a_writer_waits_for_the_lock_when_asked(tmp_path: Path, holder):
    holder.kill()
    holder.wait()
    started = time.monotonic()
    with run_lock(tmp_path, wait_s=5):
        assert is_locked(tmp_path)
    assert time.monotonic() - started < 5


def test_the_lock_of_a_killed_process_is_taken_over_with_a_message(tmp_path: Path, holder,
                                                                   capsys):
    holder.kill()
    holder.wait()
    assert not is_locked(tmp_path), "the system released the dead holder's lock"
    assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == holder.pid
    with run_lock(tmp_path, command="next"):
        assert is_locked(tmp_path)
    assert "took over the lock" in capsys.readouterr().err


def test_the_lock_is_released_when_the_block_ends(tmp_path: Path):
    with run_lock(tmp_path):
        pass
    assert not is_locked(tmp_path)
    with run_lock(tmp_path):
        pass
