"""In-process runs compute their chunks in forked worker processes (poc_tasks.parallel_chunks)."""

from __future__ import annotations

import multiprocessing
import os

import pytest

from poc_tasks.errors import InputFileError, KokuRowMissing
from poc_tasks.parallel_chunks import ChunkFailed, compute_chunks, compute_workers

CHUNKS = [["2026-01-01", "2026-01-05"], ["2026-01-06", "2026-01-10"], ["2026-01-11", "2026-01-12"]]


def _chunk(settings, stage, start, end, progress):
    progress("summarize", {"day": start})
    return {"chunk": [start, end], "pid": os.getpid(), "stage": stage}


def test_chunks_run_in_worker_processes_in_order_with_progress_relayed():
    events = []
    results = compute_chunks(None, "stage-1", CHUNKS, _chunk, lambda step, meta: events.append((step, meta)),
                             workers=2)
    assert [r["chunk"] for r in results] == CHUNKS
    assert all(r["stage"] == "stage-1" for r in results)
    pids = {r["pid"] for r in results}
    assert os.getpid() not in pids and 1 <= len(pids) <= 2
    assert sorted(m["day"] for _s, m in events) == [c[0] for c in CHUNKS]  # every child's progress reached us


def test_one_worker_or_one_chunk_stays_in_this_process():
    assert compute_workers(1, 2) == 1 and compute_workers(5, 1) == 1 and compute_workers(5, 8) == 5
    results = compute_chunks(None, "s", CHUNKS, _chunk, lambda *_: None, workers=1)
    assert {r["pid"] for r in results} == {os.getpid()}


def _bad_file(settings, stage, start, end, progress):
    if start == "2026-01-06":
        raise InputFileError("data/pod_usage.parquet", "has no column", column="node")
    return {"chunk": [start, end]}


def test_a_chunks_error_arrives_with_its_class_and_fields():
    with pytest.raises(InputFileError, match="pod_usage.parquet, column 'node': has no column") as info:
        compute_chunks(None, "s", CHUNKS, _bad_file, lambda *_: None, workers=2)
    assert info.value.path == "data/pod_usage.parquet" and info.value.column == "node"
    assert any("chunk worker process" in n for n in getattr(info.value, "__notes__", []))


class _Unpicklable(Exception):
    def __init__(self, a, b):
        super().__init__(f"{a}/{b}")


def _odd_error(settings, stage, start, end, progress):
    raise _Unpicklable("x", "y")


def test_an_exception_that_cannot_be_pickled_keeps_its_type_and_text():
    with pytest.raises(ChunkFailed, match="_Unpicklable: x/y"):
        compute_chunks(None, "s", CHUNKS, _odd_error, lambda *_: None, workers=2)


def test_errors_that_name_things_survive_pickling():
    import pickle

    err = pickle.loads(pickle.dumps(KokuRowMissing("reporting_ocpusagereportperiod", "the report period", "x")))
    assert (err.table, err.what, str(err)) == ("reporting_ocpusagereportperiod", "the report period",
                                               "reporting_ocpusagereportperiod: the report period is missing: x")


def _workers_in_daemon(queue):
    queue.put(compute_workers(6, 2))


def test_a_daemonic_process_computes_in_order():
    """A Celery prefork child is daemonic and may not have children: it computes the chunks itself."""
    ctx = multiprocessing.get_context("fork")
    queue = ctx.SimpleQueue()
    proc = ctx.Process(target=_workers_in_daemon, args=(queue,), daemon=True)
    proc.start()
    proc.join(30)
    assert queue.get() == 1


def test_encode_ahead_keeps_order_raises_at_the_failing_chunk_and_stops_when_abandoned():
    import threading

    from poc_tasks.db.encode import encode_ahead

    assert list(encode_ahead(iter([b"a", b"b", b"c"]), depth=1)) == [b"a", b"b", b"c"]

    def failing():
        yield b"1"
        raise InputFileError("f.parquet", "bad value", column="node")

    got = []
    with pytest.raises(InputFileError, match="bad value"):
        for chunk in encode_ahead(failing()):
            got.append(chunk)
    assert got == [b"1"]
    produced = []

    def endless():
        while True:
            produced.append(1)
            yield b"x"

    gen = encode_ahead(endless(), depth=2)
    assert next(gen) == b"x"
    gen.close()  # the COPY failed: the producer thread ends instead of blocking on a full queue
    assert len(produced) <= 4 and not any(t.name == "poc-copy-encode" for t in threading.enumerate())


def _big_chunk(settings, stage, start, end, progress):
    block = bytearray(200 * 2**20)  # zero-filled: every page touched, resident in this process only
    return {"chunk": [start, end], "size": len(block)}


def test_each_chunk_process_reports_its_own_peak_and_the_run_keeps_them_apart():
    from poc_tasks.inprocess import peak_rss_by_process
    from poc_tasks.metrics import peak_rss_bytes

    results = compute_chunks(None, "s", CHUNKS, _big_chunk, lambda *_: None, workers=2)
    assert all(r["pid"] != os.getpid() and r["peak_rss_bytes"] >= 200 * 2**20 for r in results)
    peaks = peak_rss_by_process(results)
    chunk_keys = {f"chunks {r['pid']}" for r in results}
    assert set(peaks) == {"main", "max", *chunk_keys}
    assert peaks["main"] <= peak_rss_bytes() and peaks["max"] == max(v for k, v in peaks.items() if k != "max")
    assert all(peaks[k] >= 200 * 2**20 for k in chunk_keys)


def _slow_later(settings, stage, start, end, progress):
    if start != CHUNKS[0][0]:
        import time

        time.sleep(1.0)  # the later chunks are still computing when the first is reported
    return {"chunk": [start, end], "finished": __import__("time").monotonic()}


@pytest.mark.parametrize("workers", [1, 2])
def test_each_chunk_is_reported_in_chunk_order_as_it_is_done(workers):
    import time

    reported = []
    results = compute_chunks(None, "s", CHUNKS, _slow_later, lambda *_: None, workers=workers,
                             on_done=lambda i, r: reported.append((i, r["chunk"], time.monotonic())))
    assert [(i, c) for i, c, _t in reported] == [(i, c) for i, c in enumerate(CHUNKS)]
    if workers == 2:  # the first chunk was reported before the last one finished computing
        assert reported[0][2] < results[-1]["finished"]


def test_a_failed_chunk_stops_the_reports():
    reported = []
    with pytest.raises(InputFileError):
        compute_chunks(None, "s", CHUNKS, _bad_file, lambda *_: None, workers=2,
                       on_done=lambda i, r: reported.append(i))
    assert reported == [0]
