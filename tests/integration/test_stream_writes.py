"""The in-process runs' streamed writes (poc_tasks.stream_writes): real PostgreSQL, the small sample month.

Streamed or not (POC_STREAM_WRITES=0) a run writes the same rows in every table; a chunk that fails after an
earlier chunk was COPYed leaves every table as it was; a stream that fails on PostgreSQL falls back to the stage
and completes; a run whose tables another transaction holds waits for it (the global lock order)."""

from __future__ import annotations

import threading
import time
from contextlib import closing
from typing import Any

import psycopg2
import pytest

from poc_tasks.cloud import flow
from poc_tasks.db.connection import connect
from poc_tasks.db.run_stream import StreamedSwap
from poc_tasks.io.staging import Stage
from poc_tasks.ocp import pipeline
from poc_tasks.stream_writes import StreamedRun
from tests.integration.fault_support import ocp_dataset, ocp_spec, side_tables, waiting_on_advisory
from tests.integration.ocp_support import summary_multiset
from tests.integration.test_ocp_on_cloud import _all_tables, _dataset, _run_ocp
from tests.integration.test_ocp_on_cloud import _spec as cloud_spec

pytestmark = pytest.mark.integration


@pytest.fixture
def one_day_chunks(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Three chunks of a day each (the sample has three days): the stream COPYs between chunks."""
    monkeypatch.setenv("POC_DATE_STEP", "1")
    monkeypatch.delenv("POC_STREAM_WRITES", raising=False)
    return monkeypatch


def _idle_in_transaction(pg_url: str, schema: str) -> int:
    """Sessions left in a transaction whose last statement named the tenant's schema (a stream not rolled back)."""
    with closing(connect(pg_url)) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND state LIKE 'idle in transaction%%' AND pid <> pg_backend_pid() AND strpos(query, %s) > 0",
                    (schema,))
        return cur.fetchone()[0]


def test_an_ocp_run_streamed_or_not_writes_the_same_rows(pg_url, tenant_schema, tmp_path, one_day_chunks) -> None:
    ds = ocp_dataset(pg_url, tenant_schema, tmp_path, one_day_chunks)
    one_day_chunks.setenv("POC_DATE_STEP", "1")  # worker_env clears the POC_* settings
    one_day_chunks.setenv("POC_STREAM_WRITES", "0")
    plain = pipeline.run_ocp(ocp_spec(ds), ds.settings(pg_url))
    reference = summary_multiset(pg_url, ds.schema)
    one_day_chunks.setenv("POC_STREAM_WRITES", "1")
    streamed = pipeline.run_ocp(ocp_spec(ds), ds.settings(pg_url))
    assert (plain["timings"]["streamed"], streamed["timings"]["streamed"]) == (False, True)
    assert streamed["rows"] == plain["rows"] and streamed["chunks"] == 3
    assert summary_multiset(pg_url, ds.schema) == reference
    assert side_tables(pg_url, ds.schema) == []


@pytest.mark.parametrize("cloud", ["AWS", "GCP"])
def test_an_ocp_on_cloud_run_streamed_or_not_writes_the_same_rows(cloud, pg_url, tenant_schema, tmp_path,
                                                                  one_day_chunks) -> None:
    ds = _dataset(cloud, pg_url, tenant_schema, str(tmp_path / "bucket"))
    _run_ocp(ds, pg_url)
    p, settings = flow.provider(cloud), ds.settings(pg_url)
    one_day_chunks.setenv("POC_STREAM_WRITES", "0")
    plain = flow.run(p, cloud_spec(cloud, ds), settings)
    reference = _all_tables(cloud, pg_url, ds.schema)
    one_day_chunks.setenv("POC_STREAM_WRITES", "1")
    streamed = flow.run(p, cloud_spec(cloud, ds), settings)
    assert (plain["timings"]["streamed"], streamed["timings"]["streamed"]) == (False, True)
    assert streamed["rows"] == plain["rows"]
    assert _all_tables(cloud, pg_url, ds.schema) == reference
    assert side_tables(pg_url, ds.schema) == []


class _Injected(RuntimeError):
    pass


def test_a_chunk_failing_after_an_earlier_chunk_was_streamed_leaves_every_table_as_it_was(
    pg_url, tenant_schema, tmp_path, one_day_chunks
) -> None:
    """One process (POC_COMPUTE_WORKERS=1) so the order is fixed: chunk 1 COPYed into the open transaction, chunk
    2 fails; the run fails with its error, the earlier run's rows and stamps are all there, no session is left
    in a transaction; a re-run equals the earlier run."""
    cloud = "AWS"
    ds = _dataset(cloud, pg_url, tenant_schema, str(tmp_path / "bucket"))
    _run_ocp(ds, pg_url)
    p, settings = flow.provider(cloud), ds.settings(pg_url)
    flow.run(p, cloud_spec(cloud, ds), settings)
    reference = _all_tables(cloud, pg_url, ds.schema)
    flow.run(p, cloud_spec(cloud, ds, markup="10"), settings)
    before = _all_tables(cloud, pg_url, ds.schema)
    assert before != reference  # the test can see a half-replaced table
    one_day_chunks.setenv("POC_COMPUTE_WORKERS", "1")
    copied: list[str] = []
    real_done, real_chunk = StreamedRun.chunk_done, flow.compute_chunk

    def spy(self: StreamedRun, i: int, result: dict[str, Any]) -> None:
        real_done(self, i, result)
        copied.extend(self.copied[len(copied):])

    def failing(settings: Any, stage: Any, start: Any, end: Any, progress: Any = None) -> dict[str, Any]:
        if str(start) != ds.config.start_date.isoformat():  # every chunk after the first
            raise _Injected("chunk 2 fails")
        return real_chunk(settings, stage, start, end, progress)

    one_day_chunks.setattr(StreamedRun, "chunk_done", spy)
    one_day_chunks.setattr(flow, "compute_chunk", failing)
    with pytest.raises(_Injected, match="chunk 2 fails"):
        flow.run(p, cloud_spec(cloud, ds), settings)
    assert copied == [ds.config.start_date.isoformat()]  # chunk 1 was in the transaction when chunk 2 failed
    assert _all_tables(cloud, pg_url, ds.schema) == before
    assert _idle_in_transaction(pg_url, ds.schema) == 0 and side_tables(pg_url, ds.schema) == []
    one_day_chunks.setattr(flow, "compute_chunk", real_chunk)
    flow.run(p, cloud_spec(cloud, ds), settings)
    assert _all_tables(cloud, pg_url, ds.schema) == reference


def test_a_stream_that_postgresql_drops_falls_back_to_the_stage_and_completes(
    pg_url, tenant_schema, tmp_path, one_day_chunks
) -> None:
    ds = ocp_dataset(pg_url, tenant_schema, tmp_path, one_day_chunks)
    one_day_chunks.setenv("POC_DATE_STEP", "1")  # worker_env clears the POC_* settings
    one_day_chunks.setenv("POC_STREAM_WRITES", "0")
    pipeline.run_ocp(ocp_spec(ds), ds.settings(pg_url))
    reference = summary_multiset(pg_url, ds.schema)
    one_day_chunks.setenv("POC_STREAM_WRITES", "1")
    calls = []
    real_copy = StreamedSwap.copy

    def blip(self: StreamedSwap, table: str, batches: Any) -> int:
        calls.append(table)
        if len(calls) == 2:
            raise psycopg2.OperationalError("server closed the connection unexpectedly")
        return real_copy(self, table, batches)

    one_day_chunks.setattr(StreamedSwap, "copy", blip)
    result = pipeline.run_ocp(ocp_spec(ds), ds.settings(pg_url))
    assert result["timings"]["streamed"] is False and len(calls) == 2  # no COPY after the failure
    assert summary_multiset(pg_url, ds.schema) == reference
    assert _idle_in_transaction(pg_url, ds.schema) == 0


def test_a_run_waits_for_another_transaction_holding_its_tables_then_completes(
    pg_url, tenant_schema, tmp_path, one_day_chunks
) -> None:
    """Another run's streamed transaction holds the OCP summary's months: this run's stream waits at its first
    lock (nothing deleted, nothing copied) until that one commits, then writes its rows."""
    ds = ocp_dataset(pg_url, tenant_schema, tmp_path, one_day_chunks)
    one_day_chunks.setenv("POC_DATE_STEP", "1")  # worker_env clears the POC_* settings
    reference_run = pipeline.run_ocp(ocp_spec(ds), ds.settings(pg_url))
    reference = summary_multiset(pg_url, ds.schema)
    stage = pipeline.new_stage(ds.settings(pg_url))
    stage.write_manifest({"run": {"schema_name": ds.schema}, "start_date": ds.config.start_date.isoformat(),
                          "end_date": ds.config.end_date.isoformat(),
                          "report_period_id": reference_run["report_period_id"]})
    rule = pipeline._summary_replace(stage.read_manifest())
    stage.discard()
    outcome: dict[str, Any] = {}
    with closing(connect(pg_url)) as holder:
        other = StreamedSwap(holder, ds.schema, [rule])
        other.open()  # holds every write lock of the table's months, its delete not committed
        worker = threading.Thread(target=lambda: outcome.update(pipeline.run_ocp(ocp_spec(ds), ds.settings(pg_url))))
        worker.start()
        deadline = time.monotonic() + 60
        while waiting_on_advisory(pg_url) == 0 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert waiting_on_advisory(pg_url) == 1 and worker.is_alive()
        other.commit()  # the other run's (empty) replacement commits: the summary rows are gone
        worker.join(120)
    assert outcome["timings"]["streamed"] is True
    assert summary_multiset(pg_url, ds.schema) == reference


@pytest.mark.parametrize("cloud", ["AWS", "Azure", "GCP"])
def test_ocp_on_cloud_chunks_never_read_the_ocp_summary_table(cloud, pg_url, tenant_schema, tmp_path,
                                                             monkeypatch) -> None:
    """The streamed run COPYs the back-populated rows into the OCP summary while the chunks compute, so the chunks
    must not read that table (ocp_input.export_ocp_rows): with another session holding it ACCESS EXCLUSIVE after
    prepare (a DDL, say), every chunk still computes, and the rows equal those of an unlocked run."""
    ds = _dataset(cloud, pg_url, tenant_schema, str(tmp_path / "bucket"))
    _run_ocp(ds, pg_url)
    p, settings = flow.provider(cloud), ds.settings(pg_url)
    stage = Stage(settings.effective_staging_root(), "0" * 31 + "1", settings.storage_options())
    manifest = flow.prepare(p, cloud_spec(cloud, ds), settings, stage)
    assert manifest["ocp_summary_rows"] > 0
    free = [flow.compute_chunk(settings, stage, a, b) for a, b in manifest["chunks"]]
    # a chunk that reads the locked table fails after 3 s instead of waiting (libpq reads PGOPTIONS)
    monkeypatch.setenv("PGOPTIONS", "-c lock_timeout=3000")
    with closing(psycopg2.connect(pg_url)) as holder, holder.cursor() as cur:
        cur.execute(f'LOCK TABLE "{ds.schema}".reporting_ocpusagelineitem_daily_summary IN ACCESS EXCLUSIVE MODE')
        locked = [flow.compute_chunk(settings, stage, a, b) for a, b in manifest["chunks"]]
        holder.rollback()
    assert [c["rows"] for c in locked] == [c["rows"] for c in free]
    assert sum(sum(c["rows"].values()) for c in locked) > 0
    stage.discard()
