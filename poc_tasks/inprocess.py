"""A run's Celery chord in-process (the CLI's `run ocp` / `run ocp-on-*`): prepare, every chunk, the tables staged
in threads (db.parallel_writes), finalize (every table swapped in, one transaction: db.run_swap); the stage and
the run's side tables are dropped on any failure.

A flow that gives a ``stream_plan`` streams its writes (poc_tasks.stream_writes, on unless POC_STREAM_WRITES=0):
one transaction opened after prepare, each finished chunk COPYed into the real tables while the next chunks
compute, the finalize statements and the commit after the last; a stream that fails is rolled back and the run
writes from the stage as above.

With a run key the whole run holds the run lock (locks.in_process_run_lock): the PostgreSQL run lock, and the
Celery tasks' Redis lease when the shell names a Redis; a second run of the same month waits, then refuses."""

from __future__ import annotations

import contextlib
import logging
import os
import time
import uuid
from collections.abc import Callable
from typing import Any

from poc_tasks.db.parallel_writes import write_tables
from poc_tasks.io.staging import Stage, sweep_stale_stages
from poc_tasks.parallel_chunks import compute_chunks
from poc_tasks.retry import with_retries
from poc_tasks.settings import Settings
from poc_tasks.stream_writes import StreamedRun, StreamPlan, stream_writes_enabled

__all__ = ["new_stage", "run_in_process", "discard_run", "sweep_staging"]

LOG = logging.getLogger(__name__)

Progress = Callable[[str, dict[str, Any]], None]


def new_stage(settings: Settings) -> Stage:
    return Stage(settings.effective_staging_root(), uuid.uuid4().hex, settings.storage_options())


def sweep_staging(settings: Settings, keep: str) -> None:
    """Drop the staging folders and the side tables of runs older than a day (io.staging.sweep_stale_stages,
    db.run_swap.sweep_side_tables), at the start of a run. Best effort: a failure is logged."""
    sweep_stale_stages(settings.effective_staging_root(), settings.storage_options(), keep=keep)
    if settings.database_url:
        _best_effort("sweep side tables", settings, lambda conn: _swap().sweep_side_tables(conn, keep=keep))


def discard_run(settings: Settings, stage: Stage) -> None:
    """After a run failed or was cancelled: drop its side tables (db.run_swap) and its staging folder. Never
    raises (the run's own error stays the one reported); what is left is swept a day later."""
    if settings.database_url:
        _best_effort(f"drop the side tables of run {stage.run_id}", settings,
                     lambda conn: _swap().drop_side_tables(conn, stage.run_id))
    stage.discard()


def _swap():
    from poc_tasks.db import run_swap

    return run_swap


def _best_effort(what: str, settings: Settings, action: Callable[[Any], Any]) -> None:
    from contextlib import closing

    from poc_tasks.db.connection import connect

    try:
        with closing(connect(settings.require_database_url())) as conn:
            action(conn)
    except Exception as exc:  # noqa: BLE001 - logged; swept after a day
        LOG.warning("could not %s (%s: %s); swept after a day", what, type(exc).__name__, exc)


def run_in_process(settings: Settings, prepare: Callable[[Stage], dict[str, Any]],
                   compute_chunk: Callable[..., dict[str, Any]], write_table: Callable[[Settings, Stage, str], int],
                   finalize: Callable[..., dict[str, Any]], progress: Progress,
                   run_key: tuple[str, str, str, Any] | None = None,
                   stream_plan: Callable[[Settings, Stage], StreamPlan] | None = None) -> dict[str, Any]:
    """prepare(stage) -> manifest; compute_chunk(settings, stage, start, end, progress) per manifest chunk;
    write_table(settings, stage, table) per manifest table; finalize(settings, stage, written, chunk results).
    `run_key`: (provider, schema, source, month) of the run lock, the key the Celery tasks use.
    `stream_plan(settings, stage)`: the flow's streamed write (poc_tasks.stream_writes), called after prepare.
    The result's timings gain write_s, finalize_s, total_s and streamed."""
    t0 = time.perf_counter()
    stage = new_stage(settings)
    held: Any = contextlib.nullcontext()
    if run_key is not None:
        from poc_tasks.locks import in_process_run_lock

        held = in_process_run_lock(settings.require_database_url(), *run_key, token=stage.run_id)
    with held:
        sweep_staging(settings, stage.run_id)
        stream = stream_plan if stream_plan is not None and stream_writes_enabled() else None
        return _run(settings, stage, prepare, compute_chunk, write_table, finalize, progress, t0, stream)


def _run(settings: Settings, stage: Stage, prepare: Callable[[Stage], dict[str, Any]],
         compute_chunk: Callable[..., dict[str, Any]], write_table: Callable[[Settings, Stage, str], int],
         finalize: Callable[..., dict[str, Any]], progress: Progress, t0: float,
         stream_plan: Callable[[Settings, Stage], StreamPlan] | None) -> dict[str, Any]:
    streamed: StreamedRun | None = None
    try:
        manifest = with_retries("prepare", lambda: prepare(stage), settings)
        if stream_plan is not None:
            streamed = StreamedRun.open(settings, stage, stream_plan(settings, stage),
                                        [c[0] for c in manifest["chunks"]])
            if streamed is not None:  # the operator's "write" line: it starts now, each chunk COPYed as it finishes
                progress("write", {"tables": len(manifest["tables"]), "streamed": True})
        chunks = compute_chunks(settings, stage, manifest["chunks"], compute_chunk, progress,  # in processes
                                on_done=streamed.chunk_done if streamed is not None else None)
        t2 = time.perf_counter()
        result = None
        if streamed is not None:
            progress("finalize", {"streamed": True})
            result = streamed.finish(chunks)  # None: the stream failed and was rolled back
            write_s = streamed.copy_s  # overlapped with the compute
        if result is None:
            t1 = time.perf_counter()
            progress("write", {"tables": len(manifest["tables"])})
            written = write_tables(manifest["tables"], lambda t: with_retries(  # staged: no table changes yet
                f"write_table {t}", lambda: write_table(settings, stage, t), settings))
            write_s = time.perf_counter() - t1
            progress("finalize", {})
            t2 = time.perf_counter()
            result = with_retries("finalize", lambda: finalize(settings, stage, written, chunks), settings)
        finalize_s = time.perf_counter() - t2
    except BaseException:
        discard_run(settings, stage)
        raise
    finally:
        if streamed is not None:
            streamed.close()  # what it did not commit rolled back: on a failure every table is as it was
    result["timings"]["streamed"] = streamed is not None and streamed.failed is None
    result["timings"]["write_s"] = round(write_s, 3)  # the tables staged (db.run_swap) or streamed (COPY time)
    result["timings"]["finalize_s"] = round(finalize_s, 3)  # after the compute: the swap / the stream's commit
    result["timings"]["total_s"] = round(time.perf_counter() - t0, 3)
    by_process = peak_rss_by_process(chunks)
    result["peak_rss_bytes"] = by_process["max"]  # as a Celery run's finalize reports it
    result["peak_rss_bytes_by_process"] = by_process
    return result


def peak_rss_by_process(chunks: list[dict[str, Any]]) -> dict[str, int]:
    """The peak RSS of this process ("main": prepare, writes, finalize) and of each process that computed
    chunks ("chunks <pid>", the largest its chunks reported), in bytes; "max" is the largest of them."""
    from poc_tasks.metrics import peak_rss_bytes

    peaks = {"main": peak_rss_bytes()}
    for c in chunks:
        if c.get("pid") and c["pid"] != os.getpid():
            key = f"chunks {c['pid']}"
            peaks[key] = max(peaks.get(key, 0), int(c.get("peak_rss_bytes", 0)))
    peaks["max"] = max(peaks.values())
    return peaks
