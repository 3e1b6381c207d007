"""Running an iterator ahead in a thread: order, errors, stopping, priority."""

from __future__ import annotations

import os
import threading

import pytest

from localglobal.evaluation.read_ahead import CAN_LOWER_THREAD_PRIORITY, IDLE_NICE, ReadAhead


def test_items_arrive_in_order_and_the_thread_ends_with_the_stream():
    ahead = ReadAhead(iter(range(10)), depth=2)
    assert list(ahead) == list(range(10))
    ahead._thread.join(timeout=5)
    assert not ahead._thread.is_alive()


def test_an_error_of_the_stream_is_raised_where_the_items_are_taken():
    def failing():
        yield 1
        raise ValueError("image 2 is broken")

    ahead = ReadAhead(failing(), depth=2)
    assert next(ahead) == 1
    with pytest.raises(ValueError, match="image 2 is broken"):
        next(ahead)


def test_close_stops_a_thread_blocked_on_the_full_queue():
    ahead = ReadAhead(iter(range(100)), depth=1)
    assert next(ahead) == 0
    ahead.close()
    assert not ahead._thread.is_alive()
    assert list(ahead) == []


@pytest.mark.skipif(not CAN_LOWER_THREAD_PRIORITY, reason="a thread's own nice is Linux's")
def test_the_thread_lowers_its_own_priority_and_not_the_process_s():
    started, release = threading.Event(), threading.Event()

    def waiting():
        started.set()
        release.wait(5)
        yield "done"

    own = os.getpriority(os.PRIO_PROCESS, os.getpid())
    ahead = ReadAhead(waiting(), depth=1, nice=IDLE_NICE)
    try:
        assert started.wait(5)  # the priority is set before the stream is read
        assert os.getpriority(os.PRIO_PROCESS, ahead._thread.native_id) == max(own, IDLE_NICE)
        assert os.getpriority(os.PRIO_PROCESS, os.getpid()) == own
    finally:
        release.set()
        ahead.close()
