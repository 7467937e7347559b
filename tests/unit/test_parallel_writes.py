"""The in-process write fan-out: every table written once, results in input order, concurrent, errors raised."""

from __future__ import annotations

import threading
import time

import pytest

from poc_tasks.db.parallel_writes import write_tables


def test_results_in_input_order_and_each_table_once() -> None:
    seen: list[str] = []
    lock = threading.Lock()

    def write(t: str) -> int:
        time.sleep(0.02 if t == "a" else 0.0)  # 'a' finishes last
        with lock:
            seen.append(t)
        return len(t)

    out = write_tables(["a", "bb", "ccc"], write, workers=2)
    assert list(out) == ["a", "bb", "ccc"]
    assert out == {"a": 1, "bb": 2, "ccc": 3}
    assert sorted(seen) == ["a", "bb", "ccc"]


def test_writes_overlap_with_two_workers() -> None:
    running, peak = 0, 0
    lock = threading.Lock()
    both = threading.Barrier(2, timeout=5)

    def write(t: str) -> int:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        both.wait()  # deadlocks (BrokenBarrierError after 5 s) unless two writes run at once
        with lock:
            running -= 1
        return 0

    write_tables(["x", "y"], write, workers=2)
    assert peak == 2


def test_one_worker_is_sequential_and_failure_propagates() -> None:
    order: list[str] = []

    def write(t: str) -> int:
        order.append(t)
        if t == "bad":
            raise ValueError("bad table")
        return 1

    with pytest.raises(ValueError, match="bad table"):
        write_tables(["ok", "bad", "later"], write, workers=1)
    assert order == ["ok", "bad"]


def test_failure_raised_after_other_writes_end() -> None:
    finished: list[str] = []

    def write(t: str) -> int:
        if t == "bad":
            raise RuntimeError("copy failed")
        time.sleep(0.05)
        finished.append(t)
        return 1

    with pytest.raises(RuntimeError, match="copy failed"):
        write_tables(["bad", "slow"], write, workers=2)
    assert finished == ["slow"]  # not abandoned mid-transaction
