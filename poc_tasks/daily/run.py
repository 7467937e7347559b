"""The shared run of a cloud daily summary (AWS, Azure, GCP, the EC2 compute summary):
prepare -> compute chunks -> write tables -> finalize.

A provider module (daily/aws.py, daily/azure.py, daily/gcp.py) describes its flow as a :class:`DailyFlow`
registered in :data:`FLOWS`; this module runs it, as a Celery chord (poc_tasks/tasks.py: ``summarize_aws`` ...,
``daily_compute_chunk``, ``daily_write_tables``, ``daily_write_table``, ``daily_finalize_run``) or in-process
(:func:`run`, the CLI's ``poc-tasks run aws``). The steps:

- ``prepare`` (one task): the flow's checks and small PostgreSQL reads (bill, enabled keys, aliases ...) go into
  the run's manifest, with the Koku date chunks of the range (``flow.chunks``; Koku's 5-day ``date_range_pair`` by
  default). Nothing is written to the tenant.
- ``compute_chunk`` (one task per chunk, any worker): ``flow.compute`` streams the chunk's Parquet (row-group
  streaming through poc_tasks/io/parquet.py) and yields ``(table, Arrow rows)``; the rows are staged as Parquet
  (one part per chunk: a retried chunk rewrites its part).
- ``write_table`` (one task per table): the staged rows COPYed into a side table of the run
  (poc_tasks/db/run_swap.py ``stage_table``); nothing a reader sees changes yet.
- ``finalize``: in ONE transaction, every table's Koku delete of the run's range and the side table's rows
  (``swap_tables``), then ``flow.finalize`` (e.g. the bill's summary timestamps): a failure leaves every table
  as before the run, a re-run the same rows. The stage dropped, a summary of the run returned.

Staged rows are in the Arrow types of :func:`staged_schema`: numeric columns as decimal128 values computed exactly as
Koku's SQL casts them (daily/numbers.py; decimal text is cast on staging), so the writer sends them to PostgreSQL
unchanged; ARRAY columns as lists, turned into PostgreSQL array literals by :func:`write_table`.
"""

from __future__ import annotations

import datetime as dt
import importlib
import os
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, closing
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from poc_tasks.db import tables_daily  # noqa: F401  (declares the tables the flows write)
from poc_tasks.db.connection import connect
from poc_tasks.db.run_swap import TableReplace, side_tables_needed, stage_table, swap_tables
from poc_tasks.db.tables import get_table
from poc_tasks.errors import InvalidArgument
from poc_tasks.inprocess import run_in_process
from poc_tasks.io.staging import Stage
from poc_tasks.memory import release_memory, tune_allocators
from poc_tasks.runspec import TenantMonthPaths, date_range_pair
from poc_tasks.settings import Settings
from poc_tasks.stream_writes import StreamPlan
from poc_tasks.validate import date_range, optional_int, parse_date, validate_schema, validate_uuid

__all__ = [
    "FLOWS",
    "DEFAULT_DATE_STEP",
    "WRITE_BATCH_ROWS",
    "DailyRunSpec",
    "DailyTable",
    "DailyFlow",
    "ChunkInput",
    "Progress",
    "flow",
    "koku_markup",
    "date_range_pair",
    "staged_schema",
    "prepare",
    "compute_chunk",
    "write_table",
    "finalize",
    "run",
]

Progress = Callable[[str, dict[str, Any]], None]
DEFAULT_DATE_STEP = 5  # Koku's TRINO_DATE_STEP
WRITE_BATCH_ROWS = 16_384  # rows per COPY batch read back from the stage
# flow name -> "module:attribute" of its DailyFlow (imported on first use)
FLOWS = {
    "AWS": "poc_tasks.daily.aws:DAILY",
    "AWS-EC2": "poc_tasks.daily.aws_ec2:EC2_COMPUTE",
    "Azure": "poc_tasks.daily.azure:DAILY",
    "GCP": "poc_tasks.daily.gcp:DAILY",
}


def _noop(_step: str, _meta: dict[str, Any]) -> None:
    return None


def koku_markup(value: Any, what: str = "markup_value") -> float:
    """Koku's markup as its summary updaters pass it: a fraction (``float(markup["value"]) / 100``)."""
    if value in (None, ""):
        return 0.0
    try:
        out = float(value)
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"{what} {value!r} is not a number") from exc
    if out != out or out in (float("inf"), float("-inf")):
        raise InvalidArgument(f"{what} {value!r} is not a finite number")
    return out


# --- the run's arguments ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DailyRunSpec(TenantMonthPaths):
    """One cloud source's daily summary over days of one month, with Koku's accessor argument names.

    ``markup_value`` is the fraction Koku's updaters pass (``float(markup["value"]) / 100``); ``invoice_month``
    (GCP, ``YYYYMM``) is optional and only used by flows that need it.
    """

    provider: str
    schema_name: str
    source_uuid: str
    start_date: dt.date
    end_date: dt.date
    bill_id: int | None = None
    markup_value: float = 0.0
    invoice_month: str | None = None

    @classmethod
    def build(cls, provider: str, schema_name: Any, source_uuid: Any, start_date: Any, end_date: Any,
              bill_id: Any = None, markup_value: Any = None, invoice_month: Any = None) -> DailyRunSpec:
        if provider not in FLOWS:
            raise InvalidArgument(f"no daily summary flow {provider!r} (known: {', '.join(FLOWS)})")
        schema = validate_schema(schema_name)
        source = validate_uuid(source_uuid, "source_uuid")
        start, end = date_range(start_date, end_date, one_month=False)
        # GCP's invoice month spans the days its lines ran, a few of them in the month before or after: with an
        # invoice_month the range may cross a month boundary (at most 62 days), else it lies in one month
        if invoice_month in (None, "") and (start.year, start.month) != (end.year, end.month):
            raise InvalidArgument(f"start_date {start} and end_date {end} are not in one month (Koku summarises "
                                  "a bill month at a time)")
        if (end - start).days > 62:
            raise InvalidArgument(f"start_date {start} .. end_date {end} spans more than an invoice month")
        bill = optional_int(None if bill_id == "" else bill_id, "bill_id")
        month: str | None = None
        if invoice_month not in (None, ""):
            month = str(invoice_month)
            if not (len(month) == 6 and month.isdigit()):
                raise InvalidArgument(f"invoice_month {invoice_month!r} is not YYYYMM")
        return cls(provider, schema, source, start, end, bill, koku_markup(markup_value), month)

    @property
    def month_start(self) -> dt.date:
        return self.start_date.replace(day=1)

    def to_kwargs(self) -> dict[str, Any]:
        return {"provider": self.provider, "schema_name": self.schema_name, "source_uuid": self.source_uuid,
                "start_date": self.start_date.isoformat(), "end_date": self.end_date.isoformat(),
                "bill_id": self.bill_id, "markup_value": self.markup_value, "invoice_month": self.invoice_month}

    @classmethod
    def from_kwargs(cls, kwargs: dict[str, Any]) -> DailyRunSpec:
        return cls.build(**kwargs)


# --- what a provider module describes ---------------------------------------------------------------------------

@dataclass(frozen=True)
class DailyTable:
    """A table a flow writes, and Koku's delete for it.

    ``delete_where`` is SQL (code, not data) with ``%(name)s`` placeholders filled from ``params(manifest)``;
    ``partition_range(manifest)`` gives the (first, last) usage_start the run replaces (default the run's range):
    the writer creates the month partitions and refuses staged rows outside it.
    """

    name: str
    delete_where: str
    params: Callable[[dict[str, Any]], dict[str, Any]]
    partition_range: Callable[[dict[str, Any]], tuple[dt.date, dt.date]] | None = None

    def range_of(self, manifest: dict[str, Any]) -> tuple[dt.date, dt.date]:
        if self.partition_range is not None:
            return self.partition_range(manifest)
        return parse_date(manifest["start_date"], "start_date"), parse_date(manifest["end_date"], "end_date")


@dataclass(frozen=True)
class ChunkInput:
    """What ``flow.compute`` gets: the run, its manifest (with the flow's prepare results), the settings and the
    chunk's first and last day."""

    spec: DailyRunSpec
    manifest: dict[str, Any]
    settings: Settings
    first: dt.date
    last: dt.date
    progress: Progress = _noop


@dataclass(frozen=True)
class DailyFlow:
    """A cloud daily summary flow.

    - ``prepare(spec, settings, conn) -> dict``: checks (input Parquet present, bill found) and the small reads the
      chunks need; JSON-safe, merged into the manifest. It must return ``bill_id``. Runs in a transaction that is
      rolled back afterwards: prepare writes nothing.
    - ``compute(ChunkInput) -> iterator of (table name, pa.Table in staged_schema(table))``.
    - ``chunks(spec, step)``: the compute chunks (default Koku's date_range_pair of the run's range).
    - ``finalize(conn, manifest) -> dict[table, rows]`` (optional): after the writes, in one transaction.
    - ``lock_name``: the run lock's provider name (one run at a time per schema, source and month).
    """

    name: str
    tables: tuple[DailyTable, ...]
    prepare: Callable[[DailyRunSpec, Settings, Any], dict[str, Any]]
    compute: Callable[[ChunkInput], Iterator[tuple[str, pa.Table]]]
    chunks: Callable[[DailyRunSpec, int], list[tuple[dt.date, dt.date]]] | None = None
    finalize: Callable[[Any, dict[str, Any]], dict[str, int]] | None = None
    lock_name: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def table(self, name: str) -> DailyTable:
        for t in self.tables:
            if t.name == name:
                return t
        raise InvalidArgument(f"flow {self.name} writes no table {name!r}")


def flow(name: str) -> DailyFlow:
    """The registered flow of that name ('AWS', 'AWS-EC2', 'Azure', 'GCP')."""
    try:
        module, attr = FLOWS[name].split(":")
    except KeyError:
        raise InvalidArgument(f"no daily summary flow {name!r} (known: {', '.join(FLOWS)})") from None
    return getattr(importlib.import_module(module), attr)


def _arrow_type(t: sa.types.TypeEngine) -> pa.DataType:
    if isinstance(t, sa.Float):
        return pa.float64()
    if isinstance(t, sa.Numeric):  # exact decimals (daily/numbers.py), written as their text by the COPY
        return pa.decimal128(38, t.scale if t.scale is not None else 9)
    if isinstance(t, sa.Integer):
        return pa.int64()
    if isinstance(t, sa.DateTime):
        return pa.timestamp("us", tz="UTC")
    if isinstance(t, sa.Date):
        return pa.date32()
    if isinstance(t, sa.Boolean):
        return pa.bool_()
    if isinstance(t, pg.ARRAY):
        return pa.list_(pa.string())
    return pa.string()  # text, varchar, jsonb (JSON text), uuid


def staged_schema(table: str, exclude: tuple[str, ...] = ("uuid",)) -> pa.Schema:
    """The staged Arrow schema of a declared table: every column but `exclude` (uuid: generated at the COPY)."""
    t = get_table(table)
    return pa.schema([pa.field(c.name, _arrow_type(c.type)) for c in t.columns if c.name not in exclude])


# --- the steps ----------------------------------------------------------------------------------------------------

def prepare(f: DailyFlow, spec: DailyRunSpec, settings: Settings, stage: Stage, progress: Progress = _noop,
            date_step: int | None = None) -> dict[str, Any]:
    """The flow's checks and reads, and the manifest that tells the chunk tasks what to do."""
    tune_allocators()
    t0 = time.perf_counter()
    progress("prepare", {"source_uuid": spec.source_uuid})
    with closing(connect(settings.require_database_url())) as conn:
        try:
            extra = f.prepare(spec, settings, conn)
        finally:
            conn.rollback()
    if extra.get("bill_id") is None:
        raise RuntimeError(f"flow {f.name}: prepare returned no bill_id")
    step = date_step or int(os.environ.get("POC_DATE_STEP", DEFAULT_DATE_STEP))
    chunks = f.chunks(spec, step) if f.chunks else date_range_pair(spec.start_date, spec.end_date, step)
    manifest = {
        "flow": f.name,
        "provider": f"daily-{f.name}",
        "run": spec.to_kwargs(),
        "start_date": spec.start_date.isoformat(),
        "end_date": spec.end_date.isoformat(),
        "tables": [t.name for t in f.tables],
        "chunks": [[a.isoformat(), b.isoformat()] for a, b in chunks],
        **extra,
        "timings": {"prepare_s": round(time.perf_counter() - t0, 3)},
    }
    stage.write_manifest(manifest)
    return manifest


def compute_chunk(settings: Settings, stage: Stage, chunk_start: str | dt.date, chunk_end: str | dt.date,
                  progress: Progress = _noop) -> dict[str, Any]:
    """Compute one chunk's rows of every table into the stage (one part per chunk and table)."""
    t0 = time.perf_counter()
    tune_allocators()
    manifest = stage.read_manifest()
    f = flow(manifest["flow"])
    spec = DailyRunSpec.from_kwargs(manifest["run"])
    first, last = parse_date(chunk_start, "chunk_start"), parse_date(chunk_end, "chunk_end")
    if [first.isoformat(), last.isoformat()] not in manifest["chunks"]:
        raise InvalidArgument(f"chunk {first}..{last} is not a chunk of run {stage.run_id}")
    part = first.isoformat()
    rows = {t: 0 for t in manifest["tables"]}
    stats: dict[str, Any] = {}
    with ExitStack() as stack:
        writers: dict[str, Any] = {}
        for name in manifest["tables"]:  # every table gets its part, empty or not: a retry replaces it
            writers[name] = stack.enter_context(stage.writer(name, staged_schema(name), part=part))
        ctx = ChunkInput(spec, manifest, settings, first, last, progress)
        for name, table in f.compute(ctx):
            if name == "__stats__":  # a flow may report what it read (rows, bytes) as a one-row table
                for k, v in table.to_pylist()[0].items():
                    stats[k] = stats.get(k, 0) + v
                continue
            writers[name].write_table(table.select(staged_schema(name).names).cast(staged_schema(name)))
            rows[name] += table.num_rows
            del table  # before the memory is given back: the day's rows are staged
            release_memory()
    return {"chunk": [first.isoformat(), last.isoformat()], "rows": rows, **stats,
            "seconds": round(time.perf_counter() - t0, 3)}


def pg_array_text(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    """A list<string> column as PostgreSQL array literals ('{"a",NULL}'), vectorised (the COPY sends the text)."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    offsets = pc.subtract(arr.offsets, arr.offsets[0])  # a sliced batch's offsets start past 0
    flat = arr.flatten()
    escaped = pc.replace_substring(pc.replace_substring(flat, "\\", "\\\\"), '"', '\\"')
    quoted = pc.if_else(pc.is_null(flat), pa.scalar("NULL"), pc.binary_join_element_wise('"', escaped, '"', ""))
    lists = pa.ListArray.from_arrays(offsets, quoted, mask=pc.is_null(arr))
    return pc.binary_join_element_wise("{", pc.binary_join(lists, ","), "}", "")


def _arrays_as_literals(table: str, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    arrays = [c.name for c in get_table(table).columns if isinstance(c.type, pg.ARRAY)]
    for batch in batches:
        for name in arrays:
            if name in batch.schema.names and pa.types.is_list(batch.schema.field(name).type):
                i = batch.schema.get_field_index(name)
                batch = batch.set_column(i, name, pg_array_text(batch.column(i)))
        yield batch


def _replace(f: DailyFlow, manifest: dict[str, Any], table: str) -> TableReplace:
    """Koku's delete rule of one table of the run."""
    t = f.table(table)
    return TableReplace(table, t.delete_where, t.params(manifest), partition_range=t.range_of(manifest))


def _staged_batches(stage: Stage, table: str) -> Any:
    return _arrays_as_literals(table, stage.read_batches(table, batch_size=WRITE_BATCH_ROWS))


def write_table(settings: Settings, stage: Stage, table: str) -> int:
    """Stage the run's rows of one table in its side table (db.run_swap: finalize swaps every table in at once);
    returns the rows staged."""
    manifest = stage.read_manifest()
    if table not in manifest["tables"]:
        raise InvalidArgument(f"run {stage.run_id} staged no table {table!r}")
    f = flow(manifest["flow"])
    spec = DailyRunSpec.from_kwargs(manifest["run"])
    batches = _staged_batches(stage, table)
    if not side_tables_needed(manifest["tables"]):
        return 0  # one table: finalize COPYs it straight from the stage, in its swap transaction
    with closing(connect(settings.require_database_url())) as conn:
        return stage_table(conn, spec.schema_name, stage.run_id, _replace(f, manifest, table), batches)


def finalize(settings: Settings, stage: Stage, written: dict[str, int],
             chunk_results: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """After every table is staged, in ONE transaction (db.run_swap.swap_tables): every table swapped in with
    Koku's delete rule, then the flow's finalize; the stage dropped; the run's summary."""
    manifest = stage.read_manifest()
    f = flow(manifest["flow"])
    then = (lambda conn: f.finalize(conn, manifest)) if f.finalize is not None else None
    direct = {} if side_tables_needed(manifest["tables"]) else {
        t: (lambda t=t: _staged_batches(stage, t)) for t in manifest["tables"]}
    with closing(connect(settings.require_database_url())) as conn:
        swapped = swap_tables(conn, DailyRunSpec.from_kwargs(manifest["run"]).schema_name, stage.run_id,
                              [_replace(f, manifest, t) for t in manifest["tables"]], then=then, direct=direct)
    return _result(stage, manifest, {**written, **{t: r.inserted for t, r in swapped.items()}}, chunk_results)


def stream_plan(settings: Settings, stage: Stage) -> StreamPlan:
    """The run's streamed write (poc_tasks.stream_writes): every table COPYed chunk by chunk, the flow's
    finalize at the end."""
    manifest = stage.read_manifest()
    f = flow(manifest["flow"])
    then = (lambda conn: f.finalize(conn, manifest)) if f.finalize is not None else None
    return StreamPlan(DailyRunSpec.from_kwargs(manifest["run"]).schema_name, manifest["tables"],
                      [_replace(f, manifest, t) for t in manifest["tables"]],
                      lambda t, part: _arrays_as_literals(t, stage.read_part(t, part, batch_size=WRITE_BATCH_ROWS)),
                      then, lambda written, chunks: _result(stage, manifest, written, chunks))


def _result(stage: Stage, manifest: dict[str, Any], written: dict[str, int],
            chunk_results: list[dict[str, Any]] | None) -> dict[str, Any]:
    """After the commit: the stage dropped, the run summarised."""
    f = flow(manifest["flow"])
    stage.discard()  # after the commit: a staging endpoint that fails now must not fail the run (swept later)
    chunks = chunk_results or []
    timings = dict(manifest["timings"])
    timings["compute_s"] = round(sum(c.get("seconds", 0) for c in chunks), 3)
    return {"run_id": stage.run_id, "provider": manifest["provider"], "flow": f.name, "rows": written,
            "start_date": manifest["start_date"], "end_date": manifest["end_date"],
            "bill_id": manifest["bill_id"], "chunks": len(manifest["chunks"]),
            "rows_read": sum(c.get("rows_read", 0) for c in chunks),
            "bytes_read": sum(c.get("bytes_read", 0) for c in chunks),
            "timings": timings}


def run(spec: DailyRunSpec, settings: Settings, progress: Progress = _noop,
        date_step: int | None = None) -> dict[str, Any]:
    """The whole run in-process (the CLI's ``poc-tasks run aws``): the chord's steps, table writes in threads."""
    f = flow(spec.provider)
    return run_in_process(settings, lambda stage: prepare(f, spec, settings, stage, progress, date_step),
                          compute_chunk, write_table, finalize, progress, stream_plan=stream_plan)
