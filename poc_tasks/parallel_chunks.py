"""The in-process twin of the compute chord: a run's day chunks computed in worker processes, two at a time.

Through Celery the chunks of a run are a chord, spread over the worker's processes. The CLI's in-process runs
computed them one after the other in one process, so a 2-core machine ran the summary's pandas and Arrow work on
one core (the 50-node OCP month: 3.7 s of 9.8 s). Here they run in forked worker processes instead
(POC_COMPUTE_WORKERS, default 2): each chunk stages its own Parquet part, exactly as the chord's tasks do, so
the rows are the same; each process holds one chunk at a time, so the peak RSS per process is that of the
sequential run.

Fork, not spawn: the children start with the parent's imports (pandas, pyarrow: about a second of CPU each under
spawn) and its tuned allocators. A process that may not fork (a daemonic one, such as a Celery prefork child
that runs a summary inline, or a platform without fork) computes the chunks in order, as before.

Each chunk runs under with_retries in its child, as the sequential loop did; the first failure is raised in the
parent with its own class (exceptions travel pickled), the chunks not yet started are cancelled.

``on_done(i, result)`` (optional) is called in the parent, in chunk order, as soon as chunk i and every chunk
before it have finished, while the later chunks still compute in the children: the in-process runs COPY a
finished chunk's staged rows into PostgreSQL there (poc_tasks.stream_writes). A chunk that failed stops the
calls: no later chunk is reported, the failure is raised.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import threading
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from poc_tasks.metrics import peak_rss_bytes
from poc_tasks.retry import with_retries

__all__ = ["compute_chunks", "DEFAULT_COMPUTE_WORKERS", "ChunkFailed"]

DEFAULT_COMPUTE_WORKERS = 2  # this machine class (Koku's workers) has 2 cores; each process holds one chunk
Progress = Callable[[str, dict[str, Any]], None]
ComputeChunk = Callable[..., dict[str, Any]]
ChunkDone = Callable[[int, dict[str, Any]], None]

# What a forked worker runs: set in the parent just before the pool forks (the children inherit it; a closure
# cannot be pickled into them).
_JOB: Callable[[int], dict[str, Any]] | None = None


class ChunkFailed(RuntimeError):
    """A chunk failed in a worker process with an exception that cannot travel back pickled (type and text kept)."""


def compute_workers(chunks: int, workers: int | None = None) -> int:
    """How many processes compute `chunks` chunks: POC_COMPUTE_WORKERS (default 2), at most one per chunk, and
    1 where this process may not fork."""
    n = workers if workers is not None else int(os.environ.get("POC_COMPUTE_WORKERS", DEFAULT_COMPUTE_WORKERS))
    if n <= 1 or chunks <= 1:
        return 1
    if "fork" not in multiprocessing.get_all_start_methods() or multiprocessing.current_process().daemon:
        return 1
    return min(n, chunks)


def compute_chunks(settings: Any, stage: Any, chunks: Sequence[Sequence[str]], compute_chunk: ComputeChunk,
                   progress: Progress, workers: int | None = None,
                   on_done: ChunkDone | None = None) -> list[dict[str, Any]]:
    """compute_chunk(settings, stage, start, end, progress) for every (start, end) of `chunks`, each under
    with_retries; the results in chunk order. `on_done(i, result)` as each chunk is done, in chunk order."""

    def one(i: int, report: Progress) -> dict[str, Any]:
        a, b = chunks[i]
        result = with_retries(f"compute_chunk {a}..{b}", lambda: compute_chunk(settings, stage, a, b, report),
                              settings)
        # which process computed it and that process's peak so far, as the chord's tasks report theirs: the
        # memory bound holds per process, and a forked child's peak counts the parent's pages it shares
        result["pid"] = os.getpid()
        result["peak_rss_bytes"] = peak_rss_bytes()
        return result

    n = compute_workers(len(chunks), workers)
    done = on_done or (lambda _i, _r: None)
    if n == 1:
        results = []
        for i in range(len(chunks)):
            results.append(one(i, progress))
            done(i, results[-1])
        return results

    def in_child(i: int, report: Progress) -> dict[str, Any]:
        _reopen_stage(settings, stage)
        return one(i, report)

    return _in_processes(len(chunks), n, in_child, progress, done)


def _reopen_stage(settings: Any, stage: Any) -> None:
    """The stage's filesystem anew in a forked worker: an S3 (fsspec async) filesystem made in the parent refuses
    to run in a child ("not fork-safe"); fsspec's instance cache starts empty in a new process."""
    if hasattr(stage, "fs") and hasattr(stage, "root") and hasattr(settings, "storage_options"):
        from poc_tasks.io.fs import filesystem

        stage.fs = filesystem(stage.root, settings.storage_options())


def _in_processes(count: int, n: int, one: Callable[[int, Progress], dict[str, Any]],
                  progress: Progress, done: ChunkDone) -> list[dict[str, Any]]:
    global _JOB
    ctx = multiprocessing.get_context("fork")
    events = ctx.SimpleQueue()  # progress events of the children, relayed to the caller's callback here

    def relay(step: str, meta: dict[str, Any]) -> None:
        events.put((step, meta))

    def pump() -> None:
        while (event := events.get()) is not None:
            try:
                progress(*event)
            except Exception:  # noqa: BLE001 - a progress line must never fail the run
                pass

    pumping = threading.Thread(target=pump, name="poc-chunk-progress", daemon=True)
    pumping.start()
    _JOB = lambda i: one(i, relay)  # noqa: E731 - inherited by the forked workers
    try:
        with ProcessPoolExecutor(max_workers=n, mp_context=ctx) as pool:
            futures = [pool.submit(_run_job, i) for i in range(count)]
            results = []
            try:
                for i, f in enumerate(futures):  # in chunk order: on_done sees chunk i after chunks 0..i-1
                    ok, value = f.result()
                    if not ok:
                        raise value
                    results.append(value)
                    done(i, value)  # the later chunks go on computing in the children meanwhile
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)
                raise
    finally:
        _JOB = None
        events.put(None)
        pumping.join()
    return results


def _run_job(i: int) -> tuple[bool, Any]:
    """In a worker: (True, result) or (False, the exception), the exception made safe to pickle."""
    assert _JOB is not None, "compute_chunks forks its workers after setting the job"
    try:
        return True, _JOB(i)
    except BaseException as exc:  # noqa: BLE001 - travels to the parent, raised there
        return False, _picklable(exc)


def _picklable(exc: BaseException) -> BaseException:
    exc.add_note(f"(in the chunk worker process {os.getpid()}:)\n" + "".join(traceback.format_tb(exc.__traceback__)))
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:  # noqa: BLE001 - any exception that does not round-trip
        text = "".join(traceback.format_exception(exc)).strip()
        return ChunkFailed(f"{type(exc).__name__}: {exc}\n{text}")
