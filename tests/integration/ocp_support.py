"""Helpers of the OCP run tests (tests/integration/test_ocp_*.py): sample datasets, the CLI, summary reads.

A dataset is the deterministic sample of poc_tasks.sample written for one test's tenant (the Parquet paths
carry the tenant's account, so every test gets its own files) and seeded into that tenant the way the demo
and the parity runs seed it (enabled OCP keys, the extra cost-category pattern).
"""

from __future__ import annotations

import collections
import decimal
import io
import json
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass
from typing import Any

import pandas as pd
import psycopg2
import pyarrow as pa
import pyarrow.parquet as pq
from psycopg2 import sql

from poc_tasks import cli
from poc_tasks.db.connection import connect, qualified
from poc_tasks.db.init import init_tenant
from poc_tasks.db.tables import SUMMARY_TABLE, get_table
from poc_tasks.io.fs import filesystem, list_parquet, strip_scheme
from poc_tasks.io.layout import ocp_prefix
from poc_tasks.sample import SampleConfig, write_sample
from poc_tasks.sample.scenario import seed_tenant
from poc_tasks.settings import Settings, libpq_url

GIB = 2.0**30
UNALLOCATED = ("Platform unallocated", "Worker unallocated")
SUMMARY_COLUMNS = [c.name for c in get_table(SUMMARY_TABLE).columns]
JSON_COLUMNS = [c.name for c in get_table(SUMMARY_TABLE).columns if c.type.__class__.__name__ == "JSONB"]
# a small cluster: 1 master, 1 infra, 2 workers; runs in well under a second
SMALL = {"nodes": 4, "pods": 30, "days": 2}


@dataclass(frozen=True)
class Dataset:
    root: str  # a local directory or s3://bucket
    storage_options: dict[str, Any] | None
    config: SampleConfig
    scenario: dict[str, Any]

    @property
    def schema(self) -> str:
        return self.config.schema

    @property
    def source(self) -> str:
        return self.config.source_uuid

    @property
    def endpoint(self) -> str | None:
        return ((self.storage_options or {}).get("client_kwargs") or {}).get("endpoint_url")

    def fs(self) -> Any:
        return filesystem(self.root, self.storage_options)

    def folder(self, report_type: str, daily: bool, month: int | None = None) -> str:
        m = self.config.month if month is None else month
        return ocp_prefix(self.root, self.scenario["account"], report_type, self.source, f"{self.config.year:04d}",
                          f"{m:02d}", daily)

    def files(self, report_type: str, daily: bool) -> list[str]:
        """Paths as the filesystem names them (no scheme), sorted."""
        return list_parquet(self.fs(), self.folder(report_type, daily))

    def read(self, report_type: str, daily: bool) -> pd.DataFrame:
        """Every Parquet file of one report type, read with pyarrow (not through poc_tasks' reader)."""
        fs = self.fs()
        tables = []
        for path in self.files(report_type, daily):
            with fs.open(path, "rb") as fh:
                tables.append(pq.read_table(fh))
        frame = pa.concat_tables(tables, promote_options="default").to_pandas()
        frame["day"] = frame["interval_start"].dt.date
        return frame

    def run_argv(self, start: str | None = None, end: str | None = None, *extra: str) -> list[str]:
        return ["run", "ocp", "--schema", self.schema, "--source-uuid", self.source,
                "--cluster-id", self.config.cluster_id, "--cluster-alias", self.config.cluster_alias,
                "--start", start or self.config.start_date.isoformat(),
                "--end", end or self.config.end_date.isoformat(), *extra]

    def settings(self, pg_url: str, staging_root: str | None = None) -> Settings:
        options = self.storage_options or {}
        return Settings(database_url=pg_url, data_root=self.root, s3_endpoint_url=self.endpoint,
                        aws_access_key_id=options.get("key"), aws_secret_access_key=options.get("secret"),
                        staging_root=staging_root)

    def staging_root(self) -> str:
        return f"{self.root.rstrip('/')}/poc_tasks_staging"


@contextmanager
def fresh_tenant(pg_url: str) -> Iterator[str]:
    """A tenant schema of its own (org_t<hex>, Koku's tables and seeds) for fixtures wider than one test; dropped
    at the end."""
    schema = f"org_t{uuid.uuid4().hex[:12]}"
    init_tenant(pg_url, schema)
    try:
        yield schema
    finally:
        with closing(psycopg2.connect(libpq_url(pg_url))) as conn:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def make_dataset(pg_url: str, schema: str, root: str, storage_options: dict[str, Any] | None = None,
                 **config: Any) -> Dataset:
    """Write the sample for `schema` under `root` and seed the tenant (which must exist) from its scenario."""
    cfg = SampleConfig(schema=schema, **{**SMALL, **config})
    scenario = write_sample(root, cfg, storage_options)
    with closing(connect(pg_url)) as conn:
        seed_tenant(conn, schema, scenario)
        conn.commit()
    return Dataset(root, storage_options, cfg, scenario)


# --- the CLI ----------------------------------------------------------------------------------------------


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.stdout)


def run_cli(*argv: str) -> CliResult:
    """poc_tasks.cli.main in this process, stdout and stderr captured."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = cli.main(list(argv))
    return CliResult(code, out.getvalue(), err.getvalue())


# --- the summary table -----------------------------------------------------------------------------------


def _fetch(pg_url: str, query: sql.Composable, params: Any = ()) -> tuple[list[str], list[tuple]]:
    with closing(connect(pg_url)) as conn:
        with conn.cursor() as cur:
            cur.execute(query, params)
            names = [d.name for d in cur.description]
            rows = cur.fetchall()
        conn.rollback()
    return names, rows


def fetch(pg_url: str, schema: str, table: str, columns: str = "*", where: str = "true",
          params: Any = ()) -> list[tuple]:
    """Rows of schema.table (`columns` and `where` are test-written SQL, values go in `params`)."""
    query = sql.SQL("SELECT {} FROM {} WHERE {}").format(sql.SQL(columns), qualified(schema, table), sql.SQL(where))
    return _fetch(pg_url, query, params)[1]


def count_rows(pg_url: str, schema: str, table: str = SUMMARY_TABLE) -> int:
    return fetch(pg_url, schema, table, "count(*)")[0][0]


def _select_list(exclude: tuple[str, ...]) -> sql.Composable:
    # jsonb as its text form: PostgreSQL prints a jsonb value canonically, so equal maps give equal texts
    return sql.SQL(", ").join(
        sql.SQL("{}::text").format(sql.Identifier(c)) if c in JSON_COLUMNS else sql.Identifier(c)
        for c in SUMMARY_COLUMNS if c not in exclude
    )


def summary_multiset(pg_url: str, schema: str, exclude: tuple[str, ...] = ("uuid",),
                     where: str = "true", params: Any = ()) -> collections.Counter:
    """The summary rows as a multiset of tuples (every column but `exclude`), exact values (Decimal, text)."""
    query = sql.SQL("SELECT {} FROM {} WHERE {}").format(
        _select_list(exclude), qualified(schema, SUMMARY_TABLE), sql.SQL(where))
    return collections.Counter(_fetch(pg_url, query, params)[1])


def summary_uuids(pg_url: str, schema: str, where: str = "true", params: Any = ()) -> set[str]:
    return {r[0] for r in fetch(pg_url, schema, SUMMARY_TABLE, "uuid::text", where, params)}


def summary_frame(pg_url: str, schema: str) -> pd.DataFrame:
    """Every summary row as a DataFrame: numeric as float, JSON columns parsed (dict or None), dates as date."""
    names, rows = _fetch(pg_url, sql.SQL("SELECT * FROM {}").format(qualified(schema, SUMMARY_TABLE)))
    frame = pd.DataFrame(rows, columns=names)
    for col in frame.columns:
        sample = frame[col].dropna()
        if len(sample) and isinstance(sample.iloc[0], decimal.Decimal):
            frame[col] = frame[col].astype(float)
    return frame


def report_period(pg_url: str, schema: str) -> dict[str, Any]:
    query = sql.SQL("SELECT * FROM {}").format(qualified(schema, "reporting_ocpusagereportperiod"))
    names, rows = _fetch(pg_url, query)
    assert len(rows) == 1, rows
    return dict(zip(names, rows[0], strict=True))


def write_parquet(fs: Any, path: str, table: pa.Table) -> None:
    with fs.open(strip_scheme(path), "wb") as fh:
        pq.write_table(table, fh)


def read_parquet(fs: Any, path: str) -> pa.Table:
    with fs.open(strip_scheme(path), "rb") as fh:
        return pq.read_table(fh)
