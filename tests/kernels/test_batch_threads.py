"""kernels/cpu/_batch_threads.py: how a batch is split into parts and the parts spread over threads."""
import threading
import time

import pytest

from kernels.cpu import _batch_threads as batch_threads


def test_map_batch_parts_depend_on_the_work_alone(monkeypatch):
    monkeypatch.setattr(batch_threads, "_thread_count", lambda: 2)
    split = batch_threads.MIN_PART_BYTES
    assert batch_threads.map_batch(lambda lo, hi: (lo, hi), 10, 1) == [(0, 10)]  # too little work to split
    assert batch_threads.map_batch(lambda lo, hi: (lo, hi), 10, 2 * split) == [(0, 5), (5, 10)]
    many = batch_threads.map_batch(lambda lo, hi: (lo, hi), 10, 1 << 30)  # up to PARTS_PER_THREAD a thread
    assert len(many) == 2 * batch_threads.PARTS_PER_THREAD
    assert [lo for lo, _ in many[1:]] == [hi for _, hi in many[:-1]] and many[0][0] == 0 and many[-1][1] == 10
    for _ in range(5):  # the same parts in the same order every time, whichever thread ran them
        assert batch_threads.map_batch(lambda lo, hi: (lo, hi), 10, 1 << 30) == many


def test_map_batch_a_free_thread_takes_the_next_part(monkeypatch):
    monkeypatch.setattr(batch_threads, "_thread_count", lambda: 2)
    ran = []

    def run(lo, hi):
        if lo == 0:
            time.sleep(0.3)  # a slow part (or a slow core): the other thread takes every other part
        ran.append((lo, threading.get_ident()))
        return lo

    assert batch_threads.map_batch(run, 8, 1 << 30) == list(range(8))
    slow_thread = dict(ran)[0]
    assert [lo for lo, thread in ran if thread == slow_thread] == [0]


def test_map_batch_waits_for_started_parts_and_raises_a_parts_error(monkeypatch):
    monkeypatch.setattr(batch_threads, "_thread_count", lambda: 4)
    started, finished = [], []

    def run(lo, hi):
        started.append(lo)
        time.sleep(0.05)
        finished.append(lo)
        if lo == 0:
            raise ValueError("part 0 failed")
        if hi == 10:
            raise KeyError("last part failed")
        return lo

    with pytest.raises(ValueError, match="part 0 failed"):
        batch_threads.map_batch(run, 10, 1 << 30)
    assert sorted(started) == sorted(finished) and len(started) < 10  # no part was left running, none begun
    with pytest.raises(KeyError, match="last part failed"):
        batch_threads.map_batch(lambda lo, hi: run(lo, hi) if lo else lo, 10, 1 << 30)
    # a split inside a part runs on that part's thread
    nested = batch_threads.map_batch(lambda lo, hi: batch_threads.map_batch(lambda a, b: (a, b), 8, 1 << 30),
                                     2, 1 << 30)
    assert nested[1] == [(0, 8)]
